"""Which Label Studio project a labeling project goes to: by id, by title, or created on first use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labelbridge.config import LabelStudioConfig, ProjectConfig
from labelbridge.errors import ConfigError, LabelStudioError
from labelbridge.tools.base import ToolBinding
from labelbridge.tools.label_studio.client import LabelStudioClient


class LabelStudioBinding(ToolBinding):
    tool = "label_studio"


@dataclass(frozen=True)
class RemoteProject:
    id: int
    title: str
    #: The ``$variables`` of its label config: the data fields every task must carry.
    data_fields: tuple[str, ...]


def label_studio_config(project: ProjectConfig) -> LabelStudioConfig:
    if project.label_studio is None:
        raise ConfigError(f"project {project.name!r} has no label_studio entry in storages.yaml")
    return project.label_studio


def resolve_project(client: LabelStudioClient, project: ProjectConfig, *, config_dir: Path) -> RemoteProject:
    """The Label Studio project configured for ``project``; created when asked and missing."""
    ls = label_studio_config(project)
    if isinstance(ls.project, int):
        return _remote(client.project(ls.project))
    found = client.projects_titled(ls.project)
    if len(found) > 1:
        ids = ", ".join(str(p["id"]) for p in found)
        raise LabelStudioError(
            f"project {project.name!r}: {len(found)} Label Studio projects are titled {ls.project!r} "
            f"(ids {ids}); name one by id in storages.yaml"
        )
    if found:
        return _remote(client.project(int(found[0]["id"])))
    if not ls.create or ls.label_config is None:
        raise LabelStudioError(
            f"project {project.name!r}: no Label Studio project titled {ls.project!r} at {client.url}; "
            "create it, or set label_studio.create: true with a label_config file"
        )
    path = Path(ls.label_config)
    path = path if path.is_absolute() else config_dir / path
    try:
        xml = path.read_text()
    except OSError as exc:
        raise ConfigError(f"project {project.name!r}: label_studio.label_config {path}: {exc.strerror}") from None
    return _remote(client.create_project(ls.project, xml))


def _remote(body: dict[str, object]) -> RemoteProject:
    parsed = body.get("parsed_label_config")
    fields: set[str] = set()
    if isinstance(parsed, dict):
        for control in parsed.values():
            for item in control.get("inputs", []) if isinstance(control, dict) else []:
                if isinstance(item, dict) and isinstance(item.get("value"), str):
                    fields.add(item["value"])
    return RemoteProject(int(str(body["id"])), str(body.get("title", "")), tuple(sorted(fields)))
