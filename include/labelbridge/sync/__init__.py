"""Sync: bucket listings (objects as tasks) and Label Studio JSON task files into the labeling DB."""

from __future__ import annotations

from labelbridge.sync.engine import (
    Scope,
    StorageSync,
    SyncCounts,
    quarantine_gate,
    register_storage,
    sync_storage,
)
from labelbridge.sync.shards import Shard, plan_shards
from labelbridge.sync.taskfile import ParsedTask, parse_task_file

__all__ = [
    "ParsedTask", "Scope", "Shard", "StorageSync", "SyncCounts", "parse_task_file", "plan_shards",
    "quarantine_gate", "register_storage",
    "sync_storage",
]
