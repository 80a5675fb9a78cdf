"""What every labelbridge operator shares: where storages.yaml is, which labeling DB, which cloud.

One convention for every job (sync, export, rotate, bucket settings): the job's base operator
serves every cloud, reading the entry's cloud from storages.yaml; one small subclass per cloud
(``S3SyncOperator``, ``GCSExportOperator``, ``AzureBlobRotateUrlsOperator``...) carries that
cloud's store class, hence its hook (``store_class.hook_class``), as the Amazon provider's
operators carry ``aws_hook_class``, and refuses an entry on another cloud. The DAGs use the
per-cloud subclasses, so a task's class names its cloud in the UI.

Lineage: each operator's ``execute`` says what it read and wrote (``self.lineage = RunLineage(...)``,
named by :mod:`labelbridge.lineage`); the base turns it into OpenLineage datasets and facets when
the OpenLineage provider's listener asks (``get_openlineage_facets_on_complete``). Without the
provider nobody asks, and nothing else changes.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from airflow.sdk import BaseOperator

from labelbridge.clouds import Cloud
from labelbridge.config import ExportTargetConfig, LabelbridgeConfig, StorageConfig, load_config
from labelbridge.connections import DEFAULT_LABELING_DB_CONN_ID, labeling_db_dsn
from labelbridge.errors import ConfigError
from labelbridge.lineage import RunLineage, operator_lineage
from labelbridge.secrets import install_log_redaction
from labelbridge.storage import ObjectStore


class ConfiguredOperator(BaseOperator):
    """An operator that reads storages.yaml when it runs (never at DAG parse time).

    :param config_path: storages.yaml to read (default: ``$LABELBRIDGE_CONFIG``).
    """

    def __init__(self, *, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        #: What this run read and wrote, set by ``execute`` (datasets first, counts when done):
        #: the OpenLineage listener reads it in the same process once the task ends.
        self.lineage: RunLineage | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The run's inputs, outputs and counts for the OpenLineage provider (also called on failure,
        then with the datasets the run named before it failed)."""
        return operator_lineage(self.lineage)

    def load_config(self) -> LabelbridgeConfig:
        """storages.yaml; first thing every ``execute`` does, so it also puts the redacting filter
        on the task process's log handlers (SDK DEBUG records print request headers)."""
        install_log_redaction()
        return load_config(self.config_path)


class LabelingDbOperator(ConfiguredOperator):
    """An operator that also writes the labeling database.

    :param labeling_db_conn_id: Postgres connection of the labeling database.
    """

    def __init__(self, *, labeling_db_conn_id: str = DEFAULT_LABELING_DB_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.labeling_db_conn_id = labeling_db_conn_id

    def labeling_dsn(self) -> str:
        return labeling_db_dsn(self.labeling_db_conn_id)


class PerCloud:
    """Mixin of a job's operator: ``None`` serves every cloud; a per-cloud subclass sets its store class."""

    #: The store class of the one cloud this operator serves (it names the hook); None: any cloud.
    store_class: ClassVar[type[ObjectStore] | None] = None

    @classmethod
    def pinned_cloud(cls) -> Cloud | None:
        return cls.store_class.cloud if cls.store_class is not None else None

    def require_cloud(self, entry: StorageConfig | ExportTargetConfig, kind: str) -> None:
        """A per-cloud operator refuses an entry on another cloud, naming the operator to use.

        :param kind: what the operator does ("sync", "export", "rotate"), for the message.
        """
        expected = self.pinned_cloud()
        if expected is not None and entry.cloud is not expected:
            what = "storage" if isinstance(entry, StorageConfig) else "export target"
            raise ConfigError(
                f"{what} {entry.name!r} is on {entry.cloud.value}; use the "
                f"{entry.cloud.value} {kind} operator, not {type(self).__name__}"
            )


_Job = TypeVar("_Job", bound=PerCloud)


def by_cloud(*operators: type[_Job]) -> dict[Cloud, type[_Job]]:
    """A job's per-cloud operators keyed by the cloud their store class names."""
    table: dict[Cloud, type[_Job]] = {}
    for operator in operators:
        cloud = operator.pinned_cloud()
        if cloud is None or cloud in table:
            raise TypeError(f"{operator.__name__}: expected one operator pinned to each cloud")
        table[cloud] = operator
    return table


__all__ = ["ConfiguredOperator", "LabelingDbOperator", "PerCloud", "by_cloud"]
