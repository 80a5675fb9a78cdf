"""``jsonl``: the ``json`` format's tasks, one JSON object per line (JSON Lines)."""

from __future__ import annotations

from collections.abc import Iterator

from labelbridge.export.formats.json import JsonFormat
from labelbridge.export.output import RunOutput, Tally
from labelbridge.export.records import MalformedTask, TaskRecord


class JsonLinesFormat(JsonFormat):
    name = "jsonl"
    file_name = "result.jsonl"

    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        tally = Tally()
        lines = (line + b"\n" for line in self._lines(tasks, tally))
        out.write_stream(self.file_name, lines, tally=tally, content_type="application/x-ndjson")
