"""Sync: bucket listings (objects as tasks) and Label Studio JSON task files into the labeling DB."""

from __future__ import annotations

from labelbridge.sync.engine import Scope, StorageSync, SyncCounts, register_storage
from labelbridge.sync.taskfile import ParsedTask, parse_task_file

__all__ = ["ParsedTask", "Scope", "StorageSync", "SyncCounts", "parse_task_file", "register_storage"]
