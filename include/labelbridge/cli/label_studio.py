"""``labelbridge label-studio push|renew|pull|status PROJECT``: the Label Studio DAG's jobs without a scheduler.

The server and token come from the Airflow Connection named by the project's ``label_studio.conn_id``
(``AIRFLOW_CONN_LABEL_STUDIO_DEFAULT`` or the metadata DB), never from the command line, where
every user of the machine could read them.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from labelbridge.cli._common import Subparsers, add_project_verbs, load_project, print_json, print_result
from labelbridge.cli._progress import live_progress
from labelbridge.config import LabelbridgeConfig, ProjectConfig
from labelbridge.display import escaped
from labelbridge.tools.label_studio import label_studio_status, pull_project, push_project, renew_project


def register(subparsers: Subparsers) -> None:
    add_project_verbs(
        subparsers,
        "label-studio",
        help="push tasks to Label Studio, renew their URLs, pull annotations, or show where a project stands",
        description="The Label Studio DAG's jobs for one project of storages.yaml. Prints counts, never URLs.",
        verbs=(
            ("push", "import new tasks with signed URLs, update changed ones, delete vanished unannotated ones"),
            ("renew", "renew the signed URLs Label Studio holds that are due (and this run's share of the spread)"),
            ("pull", "bring annotations created, edited or deleted in Label Studio into the labeling DB"),
            ("status", "tasks in sync and pending, the earliest URL expiry, whether renewal keeps up (no request "
                       "to Label Studio)"),
        ),
        project_help="a project with a label_studio section",
        verb_options={
            "renew": lambda parser: parser.add_argument(
                "--max-seconds", type=float, metavar="S", help="stop PATCHing after S seconds (default: no limit)"
            ),
            "pull": lambda parser: parser.add_argument(
                "--skip-deleted-check", action="store_true", help="do not list task ids to notice hand deletions"
            ),
        },
        handler=cmd_label_studio,
    )


def cmd_label_studio(args: argparse.Namespace) -> int:
    config, project, dsn = load_project(args, "label_studio")
    if args.verb == "status":
        return _status(args, config, project, dsn)
    return _run(args, config, project, dsn)


def _run(args: argparse.Namespace, config: LabelbridgeConfig, project: ProjectConfig, dsn: str) -> int:
    out: dict[str, Any]
    from labelbridge.connections import label_studio_client, project_stores

    assert project.label_studio is not None
    name = escaped(project.name)
    with (
        label_studio_client(project.label_studio.conn_id) as client,
        live_progress(args, f"{args.verb} {name}", "tasks") as progress,
    ):
        if args.verb == "push":
            pushed = push_project(
                dsn, client, project=project, stores=project_stores(config, project.name),
                config_dir=config.path.parent, progress=progress,
            )
            c = pushed.counts
            out = {"project": project.name, "label_studio_project": pushed.label_studio_project, **c.as_dict()}
            text = (
                f"{name} -> Label Studio project {pushed.label_studio_project}: {c.imported} imported, "
                f"{c.updated} updated, {c.deleted} deleted, {c.kept_annotated} kept (annotated, object vanished), "
                f"{c.adopted} adopted after an interrupted run, {c.waiting_for_urls} waiting for a signed URL"
            )
        elif args.verb == "renew":
            renewed = renew_project(
                dsn,
                client,
                project=project,
                stores=project_stores(config, project.name),
                config_dir=config.path.parent,
                interval=project.label_studio.interval,
                max_seconds=args.max_seconds,
                progress=progress,
            )
            r, plan = renewed.counts, renewed.plan
            out = {"project": project.name, **r.as_dict(), "plan": plan.as_dict() if plan else None}
            text = (
                f"{name}: {r.renewed} URLs renewed in Label Studio of {r.chosen} chosen "
                f"({plan.due if plan else 0} due of {plan.tasks if plan else 0}), {r.patches_per_s:g} PATCH/s, "
                f"{r.canary_checked} checked by fetching them back"
            )
            if plan is not None and plan.advice():
                text += f"\nwarning: {escaped(str(plan.advice()))}"
        else:
            pulled = pull_project(
                dsn, client, project=project, config_dir=config.path.parent, check_deleted=not args.skip_deleted_check,
                progress=progress,
            )
            p = pulled.counts
            out = {"project": project.name, "label_studio_project": pulled.label_studio_project, **p.as_dict()}
            text = (
                f"{name} <- Label Studio project {pulled.label_studio_project}: {p.created} annotations created, "
                f"{p.updated} updated, {p.deleted} deleted, {p.unchanged} unchanged in {p.tasks_seen} tasks seen; "
                f"{p.deleted_in_tool} tasks deleted in Label Studio by hand"
            )
    return print_result(args, out, text)


def _status(args: argparse.Namespace, config: LabelbridgeConfig, project: ProjectConfig, dsn: str) -> int:
    status = label_studio_status(dsn, project=project, storages=config.project_storages(project.name))
    if args.json:
        print_json(status.as_dict())
        return 0
    where = f"Label Studio project {status.label_studio_project}" if status.label_studio_project else "not pushed yet"
    print(
        f"{escaped(project.name)} -> {escaped(where)}: {status.in_sync} tasks in sync, {status.pending} pending "
        f"({status.pending_new} new, {status.pending_changed} changed, {status.pending_vanished} vanished); "
        f"{status.unsigned_new} new ones not signed yet (push signs them)"
    )
    print(
        f"  {status.annotated} tasks annotated, {status.annotations_pulled} annotations pulled; "
        f"{status.kept_annotated} kept (annotated, object vanished), {status.deleted_in_tool} deleted in Label "
        f"Studio by hand"
    )
    print(f"  last push {_when(status.pushed_at)}, renewal {_when(status.renewed_at)}, pull {_when(status.pulled_at)}")
    plan = status.renewal
    if plan is not None:
        expiry = plan.earliest_expiry.isoformat(timespec="seconds") if plan.earliest_expiry else "-"
        window = (plan.url_ttl - plan.lead_time) / timedelta(hours=1)
        print(
            f"  earliest URL in Label Studio expires {expiry}; {plan.due} due now; renewing {plan.tasks} tasks "
            f"every {window:g}h needs {plan.steady_rate:.2f} PATCH/s of the {plan.max_patch_rate:g}/s it absorbs"
        )
        if plan.advice():
            print(f"warning: {escaped(str(plan.advice()))}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"
