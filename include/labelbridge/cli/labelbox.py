"""``labelbridge labelbox rows|ingest PROJECT``: the Labelbox DAG's jobs without a scheduler.

The buckets' credentials come from the Airflow Connections storages.yaml names; no Labelbox key is
involved. Output holds counts and canonical URIs, never a signed URL.
"""

from __future__ import annotations

import argparse
from typing import Any

from labelbridge.cli._common import Subparsers, add_project_verbs, load_project, print_result
from labelbridge.display import escaped
from labelbridge.tools.labelbox import ingest_exports, write_rows


def register(subparsers: Subparsers) -> None:
    add_project_verbs(
        subparsers,
        "labelbox",
        help="write Labelbox data-row import files, or ingest Labelbox export files",
        description="The Labelbox DAG's jobs for one project of storages.yaml. Prints counts, never URLs.",
        verbs=(
            ("rows", "sign what is due, then write import files: new rows, changed rows (upsert by global key), "
                     "removed keys, and a manifest"),
            ("ingest", "ingest the Labelbox export v2 NDJSON files new in <prefix>exports/ into the labeling DB"),
        ),
        project_help="a project with a labelbox section",
        verb_options={
            "ingest": lambda parser: parser.add_argument(
                "--full", action="store_true", help="read every export file again, not only new ones"
            ),
        },
        handler=cmd_labelbox,
    )


def cmd_labelbox(args: argparse.Namespace) -> int:
    from labelbridge.connections import labelbox_store, project_stores

    config, project, dsn = load_project(args, "labelbox")
    name = escaped(project.name)
    out: dict[str, Any]
    lines: list[str]
    if args.verb == "rows":
        written = write_rows(
            dsn, project=project, stores=project_stores(config, project.name), target=labelbox_store(project)
        )
        c = written.counts
        out = {"project": project.name, "dataset": written.dataset, "location": written.location,
               "file_uris": written.files, **c.as_dict()}  # fmt: skip
        lines = [
            f"{name} -> Labelbox dataset {escaped(written.dataset)}: {c.new} new rows, {c.changed} changed "
            f"(URL renewed or object rewritten), {c.removed} removed, in {c.files} files"
            + (f" at {escaped(written.location)}" if written.location else ""),
            f"  {c.keys_shortened} global keys shortened to 200 characters, {c.keys_too_long_skipped} skipped "
            f"(too long), {c.no_media} tasks without media, {c.waiting_for_urls} waiting for a signed URL",
        ]
    else:
        ingested = ingest_exports(dsn, project=project, store=labelbox_store(project), full=args.full)
        i = ingested.counts
        out = ingested.as_dict()
        lines = [
            f"{name} <- Labelbox: {i.files} export files, {i.lines} lines; labels {i.created} new, {i.updated} "
            f"edited, {i.deleted} deleted, {i.unchanged} unchanged on {i.rows_matched} rows",
            f"  {i.quarantined} lines quarantined, {i.not_ours} rows labelbridge never wrote, {i.no_global_key} "
            f"without a global key, {i.unmapped_objects} objects of kinds left out, {i.clipped} coordinates cut "
            "at the image's edge",
        ]
        lines += [f"  quarantined {escaped(q.where)}: {escaped(q.reason)}" for q in ingested.quarantined]
        lines += [f"  never written by labelbridge: {escaped(k)}" for k in ingested.not_ours]
    return print_result(args, out, "\n".join(lines))
