"""``json``: Label Studio's JSON export: a list of tasks with ``annotations`` and ``predictions``.

Every annotation is kept, cancelled ones too (``was_cancelled: true``), as Label Studio's own JSON
export does. One task per line inside the array, so the file streams and diffs well.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from labelbridge.export.formats.base import FormatWriter, ReadPlan
from labelbridge.export.output import RunOutput, Tally
from labelbridge.export.records import MalformedTask, TaskRecord


def json_array(lines: Iterable[bytes]) -> Iterator[bytes]:
    """A JSON array with one element per line: ``[\\n{...},\\n{...}\\n]\\n``."""
    first = True
    for line in lines:
        yield (b"[\n" if first else b",\n") + line
        first = False
    yield b"[]\n" if first else b"\n]\n"


class JsonFormat(FormatWriter):
    name = "json"
    file_name = "result.json"
    read_plan = ReadPlan(decode_results=False)

    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        tally = Tally()
        out.write_stream(self.file_name, json_array(self._lines(tasks, tally)), tally=tally,
                         content_type="application/json")

    def _lines(self, tasks: Iterator[TaskRecord | MalformedTask], tally: Tally) -> Iterator[bytes]:
        for task in self.good_tasks(tasks):
            tally.tasks += 1
            tally.annotations += len(task.annotations)
            self.stats.tasks_exported += 1
            self.stats.annotations_exported += len(task.annotations)
            yield task.export_json().encode()
