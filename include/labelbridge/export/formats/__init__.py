"""One module per export format, each a :class:`FormatWriter` subclass."""

from __future__ import annotations

from labelbridge.export.formats.base import ExportStats, FormatContext, FormatWriter, ReadPlan
from labelbridge.export.formats.coco import CocoFormat
from labelbridge.export.formats.csv import CsvFormat
from labelbridge.export.formats.json import JsonFormat
from labelbridge.export.formats.json_min import JsonMinFormat
from labelbridge.export.formats.jsonl import JsonLinesFormat
from labelbridge.export.formats.voc import VocFormat
from labelbridge.export.formats.yolo import YoloFormat

FORMATS: dict[str, type[FormatWriter]] = {
    cls.name: cls
    for cls in (JsonFormat, JsonMinFormat, JsonLinesFormat, CsvFormat, CocoFormat, YoloFormat, VocFormat)
}

__all__ = ["FORMATS", "ExportStats", "FormatContext", "FormatWriter", "ReadPlan"]
