"""The ``label_studio`` connection type: a Label Studio server and a user's token.

In the Airflow UI (the form is declared in ``labelbridge/get_provider_info.py``, as Airflow 3.2+ wants
it): Host = the server's URL (``https://label-studio.example.com``), Password = the
token (a legacy token or a personal access token, told apart by shape), with a Test button that
asks Label Studio who the token belongs to. As an environment variable::

    AIRFLOW_CONN_LABEL_STUDIO_DEFAULT='{"conn_type": "label_studio", "host": "http://127.0.0.1:8080",
                                        "password": "<token>"}'
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from labelbridge.errors import LabelbridgeError
from labelbridge.tools.label_studio.client import LabelStudioClient


class LabelStudioHook(BaseHook):
    """A :class:`~labelbridge.tools.label_studio.client.LabelStudioClient` from an Airflow Connection."""

    conn_name_attr = "label_studio_conn_id"
    default_conn_name = "label_studio_default"
    conn_type = "label_studio"
    hook_name = "Label Studio"

    def __init__(self, label_studio_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label_studio_conn_id = label_studio_conn_id

    def url(self) -> str:
        conn = self.get_connection(self.label_studio_conn_id)
        host = (conn.host or "").rstrip("/")
        if not host:
            raise LabelbridgeError(f"connection {self.label_studio_conn_id}: set Host to Label Studio's URL")
        if "://" not in host:
            host = f"{conn.schema or 'http'}://{host}{f':{conn.port}' if conn.port else ''}"
        return host

    def get_conn(self) -> LabelStudioClient:
        conn = self.get_connection(self.label_studio_conn_id)
        return LabelStudioClient(self.url(), conn.password or "")

    def test_connection(self) -> tuple[bool, str]:
        """What the connection form's Test button shows: whose token it is, or why it failed."""
        try:
            with self.get_conn() as client:
                user = client.whoami()
        except LabelbridgeError as exc:
            return False, str(exc)
        return True, f"Connected to Label Studio as {user.get('email') or user.get('username') or user.get('id')}"
