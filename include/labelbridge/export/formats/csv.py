"""``csv``: label-studio-converter's CSV: the ``json_min`` records as rows, flattened.

Columns are the sorted union of data keys, ``from_name``s and the fixed annotation columns, so the
header is known before the first row: the source scans the keys first (one SQL query), then rows
stream. Nested values are JSON strings; quoting is ``QUOTE_NONNUMERIC``, as the converter's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from labelbridge.export.formats.base import FormatWriter, ReadPlan
from labelbridge.export.formats.json_min import annotation_fields, annotator, records
from labelbridge.export.output import RunOutput, Tally
from labelbridge.export.records import MalformedTask, TaskRecord, dumps_json

FIXED_COLUMNS = ("annotator", "annotation_id", "created_at", "updated_at", "lead_time", "id")


class CsvFormat(FormatWriter):
    name = "csv"
    read_plan = ReadPlan(csv_keys=True)

    def write(self, tasks: Iterator[TaskRecord | MalformedTask], out: RunOutput) -> None:
        tally = Tally()
        out.write_stream("result.csv", self._rows(tasks, tally), tally=tally, content_type="text/csv")

    def _rows(self, tasks: Iterator[TaskRecord | MalformedTask], tally: Tally) -> Iterator[bytes]:
        columns = sorted(set(self.csv_keys) | set(FIXED_COLUMNS))
        buffer = io.StringIO()
        # csv.writer over lists in column order: what DictWriter(restval="", extrasaction="ignore") writes.
        writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(columns)
        blanks = [""] * len(columns)  # row.get(column, "") for each column, called from C
        for task in self.good_tasks(tasks):
            wrote = False
            for annotation, grouped in records(self, task):
                row: dict[str, object] = {"id": task.id}
                for name, pretty in grouped.items():
                    row[name] = pretty if isinstance(pretty, str) else dumps_json(pretty)
                for name, value in task.data.items():
                    row[name] = dumps_json(value) if isinstance(value, (dict, list)) else value
                row["annotator"] = annotator(annotation, int_id=False)
                row.update(annotation_fields(annotation))
                writer.writerow(map(row.get, columns, blanks))
                if annotation is not None:
                    tally.annotations += 1
                    self.stats.annotations_exported += 1
                wrote = True
            if wrote:
                tally.tasks += 1
                self.stats.tasks_exported += 1
            if buffer.tell() >= 65536:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()
