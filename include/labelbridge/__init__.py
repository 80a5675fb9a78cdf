"""labelbridge: cloud-bucket glue for labeling teams, scheduled by Apache Airflow 3.

Package map (each package's README.md says how data flows through it and how to extend it):

- ``clouds``, ``config``: the ``Cloud``/``SyncMode`` names; storages.yaml, validated per entry.
- ``storage``: one ``ObjectStore`` base, one class per cloud carrying that cloud's facts.
- ``sync``, ``rotate`` (``urls`` is its old name), ``export``, ``compliance``: the jobs; ``db``: the
  labeling DB (schema, bulk writes, project lookups, run leases); ``secrets``: what is never shown.
- ``connections``: Airflow Connections into clients, stores, collectors and DSNs (lazy Airflow).
- ``operators``: the Airflow layer; ``cli``: the same jobs from a shell; ``ui``: the Airflow UI
  plugin (report view, task summaries). Only these (and ``connections``) know Airflow; the
  library packages above never import them.
- ``errors``: the exception tree; the CLI turns any ``LabelbridgeError`` into one line, exit 2.

Entry-point rule. A job's entry point is ``<verb>_<config noun>`` (``sync_storage``,
``rotate_storage``, ``export_target``, ``check_bucket``, ``audit_log_shard``). It takes the
labeling DB's DSN (it owns its connections and transactions) and its store as its only two
positionals; every other argument is keyword-only. Classes and helpers that run inside a job's
transaction (``StorageSync``, ``UrlRotation``, ...) take a live psycopg connection as their
first argument. Jobs without a DB take their reader and the thing judged
(``check_bucket(collector, target, *, ...)``). Every public function: keyword-only after the
second argument.
"""

from __future__ import annotations

__version__ = "0.1.0"
