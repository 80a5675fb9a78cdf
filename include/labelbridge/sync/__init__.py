"""Sync: bucket listings (objects as tasks) and Label Studio JSON task files into the labeling DB.

A run (:class:`StorageSync`, in :mod:`.engine`; :func:`sync_storage` opens the connection for
it) registers the storage's project and storage rows (:mod:`labelbridge.db.projects`), lists its
:class:`Scope` (:mod:`.scope`) page by page and hands each batch of a few pages to the writer of
the storage's mode, chosen once from ``engine.WRITERS``: :class:`ObjectsWriter` (:mod:`.objects`,
each object one task, compared with the tasks in its key range) or :class:`TaskFilesWriter`
(:mod:`.taskfiles`, each object a file parsed by :mod:`.taskfile_parser`, with annotations,
predictions and quarantine). Each batch commits on its own. Once the listing completed,
:mod:`.vanished` soft-deletes what it no longer returned; after all runs, :func:`quarantine_gate`
(:mod:`.gate`) fails a run that quarantined files. A large storage is split by
:func:`plan_shards` (:mod:`.shards`) into one run per shard, then
:func:`soft_delete_outside_shards` catches folders deleted whole.
"""

from __future__ import annotations

from labelbridge.db.projects import register_storage
from labelbridge.sync.context import ChangeReporter, SyncContext
from labelbridge.sync.engine import WRITERS, StorageSync, soft_delete_outside_shards, sync_storage
from labelbridge.sync.gate import quarantine_gate
from labelbridge.sync.objects import ObjectsWriter
from labelbridge.sync.scope import Scope, SyncCounts
from labelbridge.sync.shards import Shard, plan_shards
from labelbridge.sync.taskfile_parser import ParsedTask, parse_task_file
from labelbridge.sync.taskfiles import TaskFilesWriter
from labelbridge.sync.writer import ModeWriter

__all__ = [
    "WRITERS", "ChangeReporter", "ModeWriter", "ObjectsWriter", "ParsedTask", "Scope", "Shard", "StorageSync",
    "SyncContext", "SyncCounts", "TaskFilesWriter", "parse_task_file", "plan_shards", "quarantine_gate",
    "register_storage", "soft_delete_outside_shards", "sync_storage",
]
