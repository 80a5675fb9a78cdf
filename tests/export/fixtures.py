"""One small project of image tasks covering every case the formats treat differently.

- task 1: a rectangle (cat, rotated 0), a polygon (dog), a per-region text (textarea) and a choice;
- task 2: a cancelled annotation and a newer rectangle (bird) by another annotator;
- task 3: no annotations (a negative example);
- task 4: text labels (``labels`` with start/end), which no image format can hold;
- task 5: only a cancelled annotation.
Images are 200x100 pixels, so percentages become pixels by x*2 and y*1.
"""

from __future__ import annotations

from typing import Any

W, H = 200, 100
LABELS = ("bird", "cat", "dog")


def _region(rid: str, kind: str, value: dict[str, Any], *, from_name: str = "label") -> dict[str, Any]:
    return {"id": rid, "from_name": from_name, "to_name": "image", "type": kind,
            "original_width": W, "original_height": H, "image_rotation": 0, "value": value}


CAT_BOX = _region("r1", "rectanglelabels", {"x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0,
                                            "rotation": 0, "rectanglelabels": ["cat"]})
DOG_POLYGON = _region("r2", "polygonlabels", {"points": [[10.0, 10.0], [50.0, 10.0], [50.0, 50.0]],
                                              "polygonlabels": ["dog"]}, from_name="poly")
NOTE = _region("r1", "textarea", {"text": ["a note"]}, from_name="note")
CHOICE = {"id": "c1", "from_name": "scene", "to_name": "image", "type": "choices",
          "value": {"choices": ["indoor"]}}
BIRD_BOX = _region("r3", "rectanglelabels", {"x": 50.0, "y": 50.0, "width": 25.0, "height": 10.0,
                                             "rotation": 0, "rectanglelabels": ["bird"]})
TEXT_SPAN = {"id": "t1", "from_name": "ner", "to_name": "text", "type": "labels",
             "value": {"start": 0, "end": 5, "text": "hello", "labels": ["cat"]}}

# (task data, [(annotation fields)]) in task id order.
TASKS: list[dict[str, Any]] = [
    {"data": {"image": "s3://bkt/images/cat1.jpg"},
     "annotations": [{"id": 101, "completed_by": 7, "result": [CAT_BOX, DOG_POLYGON, NOTE, CHOICE],
                      "was_cancelled": False, "ground_truth": False, "lead_time": 12.5,
                      "created_at": "2025-01-02T10:00:00.000000Z"}]},
    {"data": {"image": "s3://bkt/images/dog2.png"},
     "annotations": [{"id": 102, "completed_by": 7, "result": [], "was_cancelled": True, "ground_truth": False,
                      "lead_time": 1.0, "created_at": "2025-01-02T11:00:00.000000Z"},
                     {"id": 103, "completed_by": 8, "result": [BIRD_BOX], "was_cancelled": False,
                      "ground_truth": False, "lead_time": 3.0, "created_at": "2025-01-02T12:00:00.000000Z"}]},
    {"data": {"image": "s3://bkt/images/empty3.jpg"}, "annotations": []},
    {"data": {"image": "s3://bkt/images/text4.jpg", "text": "hello world"},
     "annotations": [{"id": 104, "completed_by": 9, "result": [TEXT_SPAN], "was_cancelled": False,
                      "ground_truth": False, "lead_time": 2.0, "created_at": "2025-01-02T13:00:00.000000Z"}]},
    {"data": {"image": "s3://bkt/images/skip5.jpg"},
     "annotations": [{"id": 105, "completed_by": 9, "result": [], "was_cancelled": True, "ground_truth": False,
                      "lead_time": 0.5, "created_at": "2025-01-02T14:00:00.000000Z"}]},
]


def export_file_tasks() -> list[dict[str, Any]]:
    """The fixture as a Label Studio JSON export (task ids 1..5), for ``convert``."""
    out = []
    for index, task in enumerate(TASKS, 1):
        annotations = [{**a, "updated_at": a["created_at"], "task": index} for a in task["annotations"]]
        out.append({"id": index, "data": task["data"], "annotations": annotations, "predictions": [],
                    "meta": {}, "created_at": "2025-01-01T00:00:00.000000Z",
                    "updated_at": "2025-01-01T00:00:00.000000Z"})
    return out
