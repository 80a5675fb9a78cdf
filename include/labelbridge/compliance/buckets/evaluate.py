"""Run every rule of a snapshot's cloud over it: one finding per rule, whatever happens."""

from __future__ import annotations

from labelbridge.compliance.buckets.facts import resource
from labelbridge.compliance.buckets.rules import rules_for
from labelbridge.compliance.buckets.snapshot import BucketSnapshot, Unreadable
from labelbridge.compliance.model import Finding
from labelbridge.config import ComplianceConfig


def evaluate_snapshot(snapshot: BucketSnapshot, settings: ComplianceConfig) -> list[Finding]:
    """One :class:`Finding` per rule of the snapshot's cloud, in rule-id order.

    A rule that reads a section the collector could not read (:class:`Unreadable`) yields an
    ERROR with the reason, caught here once for every rule: "unreadable" is never "non-compliant".
    Rules that combine several sections (through ``facts.Checks``) catch it themselves, to
    judge the parts they could read. A rule that trips over an unexpected snapshot shape (a
    hand-edited or recorded document) yields an ERROR naming the rule and the problem; the other
    rules still run.
    """
    findings = []
    for rule in rules_for(snapshot.cloud):
        try:
            findings.append(rule.evaluate(snapshot, settings))
        except Unreadable as exc:
            findings.append(Finding.error(rule.meta, resource(snapshot), str(exc)))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            detail = f"snapshot not shaped as the {snapshot.cloud.value} API returns it: {type(exc).__name__}: {exc}"
            findings.append(Finding.error(rule.meta, resource(snapshot), detail))
    return findings
