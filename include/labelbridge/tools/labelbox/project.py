"""A labeling project's side in Labelbox: the dataset its rows are written for."""

from __future__ import annotations

from labelbridge.config import LabelboxConfig, ProjectConfig
from labelbridge.errors import ConfigError
from labelbridge.tools.base import ToolBinding

#: Where, under ``labelbox.prefix``, import files are written and exports are read.
IMPORTS = "imports/"
EXPORTS = "exports/"
QUARANTINE = "quarantine/"


class LabelboxBinding(ToolBinding):
    """``tool_project`` rows of Labelbox: ``remote_project`` is the dataset's name; ``tool_task``'s
    ``remote_id`` is labelbridge's own task id (Labelbox rows are named by their global key)."""

    tool = "labelbox"


def labelbox_config(project: ProjectConfig) -> LabelboxConfig:
    if project.labelbox is None:
        raise ConfigError(f"project {project.name!r} has no labelbox section")
    return project.labelbox
