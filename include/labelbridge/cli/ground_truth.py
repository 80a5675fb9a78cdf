"""``labelbridge ground-truth manifest|ingest|quarantine PROJECT``: the Ground Truth DAG's jobs without a scheduler.

S3 is reached through the Amazon connection the project's ``ground_truth.conn_id`` names
(``AIRFLOW_CONN_AWS_DEFAULT`` or the metadata DB), exactly as in a DAG run.
"""

from __future__ import annotations

import argparse
from typing import Any

from labelbridge.cli._common import Subparsers, add_project_verbs, load_project, print_json, print_result
from labelbridge.display import escaped


def register(subparsers: Subparsers) -> None:
    add_project_verbs(
        subparsers,
        "ground-truth",
        help="write SageMaker Ground Truth input manifests, ingest its output manifests, list quarantined lines",
        description="The Ground Truth DAG's jobs for one project of storages.yaml. Prints counts and s3:// URIs.",
        verbs=(
            ("manifest", "write the tasks no manifest held yet as an input manifest under ground_truth.manifests"),
            ("ingest", "ingest the output manifests under ground_truth.outputs not ingested yet as annotations"),
            ("quarantine", "list the output lines set aside: manifest, line number and why"),
        ),
        project_help="a project with a ground_truth section",
        verb_options={
            "manifest": lambda parser: parser.add_argument(
                "--full", action="store_true", help="every live task, not only new ones"
            ),
            "ingest": lambda parser: parser.add_argument(
                "--full", action="store_true", help="re-read every output manifest"
            ),
        },
        json_help="JSON instead of sentences",  # not "one JSON object": quarantine prints a list
        handler=cmd_ground_truth,
    )


def cmd_ground_truth(args: argparse.Namespace) -> int:
    from labelbridge.connections import project_stores
    from labelbridge.operators.ground_truth import location_store
    from labelbridge.tools.ground_truth import ingest_outputs, write_manifest

    config, project, dsn = load_project(args, "ground_truth")
    gt = project.ground_truth
    assert gt is not None
    name = escaped(project.name)
    out: dict[str, Any]
    if args.verb == "quarantine":
        return _quarantine(args, dsn, project.name, gt.manifests)
    if args.verb == "manifest":
        written = write_manifest(
            dsn, project=project, stores=project_stores(config, project.name),
            manifest_store=location_store(gt, gt.manifests), full=args.full,
        )  # fmt: skip
        out = written.as_dict()
        c = written.counts
        where = escaped(written.manifest) if written.manifest else "no manifest (no new task)"
        text = (f"{name} -> {where}: {c.lines} lines ({'full' if args.full else 'new tasks'}), "
                f"{sum(c.refused.values())} tasks refused, {c.no_source} without a usable {escaped(gt.source_field)!r}")
        for reason in written.refusals.values():
            text += f"\nrefused: {escaped(reason)}"
    else:
        ingested = ingest_outputs(dsn, project=project, output_store=location_store(gt, gt.outputs), full=args.full)
        out = ingested.as_dict()
        i = ingested.counts
        text = (f"{name} <- Ground Truth: {i.manifests_read} output manifests read ({i.manifests_skipped} already "
                f"ingested), {i.lines} lines: {i.created} annotations created, {i.updated} updated, {i.unchanged} "
                f"unchanged; {i.unlabeled} objects not labeled, {i.quarantined} lines quarantined, "
                f"{i.boxes_clipped} boxes cut back to the image")  # fmt: skip
    return print_result(args, out, text)


def _quarantine(args: argparse.Namespace, dsn: str, project: str, manifests: str) -> int:
    from labelbridge.db import connect

    with connect(dsn) as conn:
        rows = conn.execute(
            "SELECT q.manifest_uri, q.line, q.reason, q.last_seen_at FROM ground_truth_quarantine q "
            "JOIN tool_project p ON p.id = q.tool_project_id JOIN project r ON r.id = p.project_id "
            "WHERE r.name = %s AND p.tool = 'ground_truth' AND p.remote_project = %s "
            "ORDER BY q.manifest_uri, q.line",
            (project, manifests),
        ).fetchall()
    items = [{"manifest": r[0], "line": r[1], "reason": r[2], "last_seen_at": r[3].isoformat()} for r in rows]
    if args.json:
        print_json(items)
    else:
        for item in items:
            print(f"{escaped(item['manifest'])}:{item['line']}: {escaped(item['reason'])}")
        print(f"{len(items)} lines quarantined")
    return 0
