"""A thin client for the few Label Studio REST endpoints labelbridge uses (Label Studio 1.23).

Why httpx and not ``label-studio-sdk``: httpx is already in Airflow's lock, while the SDK takes
about 8 s and 230 MB just to import (in every Airflow task process) and pins ``pyjwt`` below the
lock. The endpoints, their traps and timings: docs/label-studio.md.

Two token kinds, told apart by their shape:

- a legacy token (``Authorization: Token <key>``);
- a personal access token: a JWT refresh token, exchanged at ``POST /api/token/refresh/`` for a
  short-lived access token (``Authorization: Bearer <access>``), renewed when it is refused.

No token, header or signed URL appears in an error this client raises: messages name the
server, method, endpoint and status, with Label Studio's own message passed through
:func:`~labelbridge.secrets.redact_text` and cut short (it can quote task data).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from labelbridge.errors import LabelStudioError
from labelbridge.secrets import redact_text

DEFAULT_TIMEOUT_S = 120.0
#: Tasks per page when listing; Label Studio runs two COUNT queries per page, so pages are large.
LIST_PAGE_SIZE = 1000
_MESSAGE_CHARS = 300


def is_personal_access_token(token: str) -> bool:
    """Personal access tokens are JWTs (three base64url parts); legacy tokens are plain keys."""
    return token.startswith("eyJ") and token.count(".") == 2


class LabelStudioClient:
    """Label Studio's REST API for one server and one user.

    :param url: the server's base URL (``https://label-studio.example.com``).
    :param token: a legacy token or a personal access token (see the module docstring).
    :param timeout_s: per request; a 50k-task import takes ~17 s on a small server.
    :param transport: for tests that route the client through a proxy; default httpx's, retrying
        a refused connection twice (a request that was never sent is safe to send again).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise LabelStudioError(f"Label Studio URL must start with http:// or https://, got {url!r}")
        if not token:
            raise LabelStudioError(f"no Label Studio token for {url}: set the connection's password")
        self.url = url.rstrip("/")
        self._token = token
        self._pat = is_personal_access_token(token)
        self._access: str | None = None
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            transport=transport or httpx.HTTPTransport(retries=2),
            headers={"Accept": "application/json"},
        )

    def __enter__(self) -> LabelStudioClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never the token
        return f"LabelStudioClient({self.url!r}, token=<{'personal access' if self._pat else 'legacy'}>)"

    # -- transport ------------------------------------------------------------------------------

    def _auth_header(self, *, renew: bool = False) -> str:
        if not self._pat:
            return f"Token {self._token}"
        with self._lock:
            if self._access is None or renew:
                answer = self._send("POST", "/api/token/refresh/", None, json_body={"refresh": self._token})
                access = answer.json().get("access") if answer.status_code == 200 else None
                if not isinstance(access, str):
                    raise self._error(
                        "POST", "/api/token/refresh/", answer, hint="the personal access token was refused"
                    )
                self._access = access
            return f"Bearer {self._access}"

    def _send(
        self,
        method: str,
        path: str,
        auth: str | None,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        headers = {"Authorization": auth} if auth else {}
        try:
            return self._http.request(method, path, params=params, json=json_body, headers=headers)
        except httpx.HTTPError as exc:
            # The exception's text can hold the request URL; its class says enough.
            raise LabelStudioError(
                f"Label Studio at {self.url} did not answer {method} {path}: {type(exc).__name__}"
            ) from None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        ok: Sequence[int] = (200, 201, 204),
    ) -> httpx.Response:
        """One call, authenticated; an answer outside ``ok`` raises :class:`LabelStudioError`."""
        answer = self._send(method, path, self._auth_header(), params=params, json_body=json_body)
        if answer.status_code == 401 and self._pat:
            # The short-lived access token expired: buy another once.
            answer = self._send(method, path, self._auth_header(renew=True), params=params, json_body=json_body)
        if answer.status_code not in ok:
            raise self._error(method, path, answer)
        return answer

    def _error(self, method: str, path: str, answer: httpx.Response, *, hint: str = "") -> LabelStudioError:
        detail = redact_text(answer.text.strip().replace("\n", " "))
        if len(detail) > _MESSAGE_CHARS:
            detail = detail[:_MESSAGE_CHARS] + "..."
        if answer.status_code == 401:
            hint = hint or "check the connection's token (a legacy token needs legacy tokens enabled)"
        return LabelStudioError(
            f"Label Studio at {self.url}: {method} {path} answered {answer.status_code}"
            f"{f' ({hint})' if hint else ''}: {detail}",
            status=answer.status_code,
        )

    # -- endpoints ------------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The token's user: what a connection test calls."""
        return dict(self.request("GET", "/api/current-user/whoami").json())

    def health(self) -> bool:
        try:
            return self._http.get("/health", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def project(self, project_id: int) -> dict[str, Any]:
        return dict(self.request("GET", f"/api/projects/{project_id}").json())

    def projects_titled(self, title: str) -> list[dict[str, Any]]:
        """Every project whose title is exactly ``title`` (Label Studio does not make titles unique)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.request(
                "GET", "/api/projects", params={"page": page, "page_size": 100, "title": title}, ok=(200, 404)
            )
            if answer.status_code == 404:
                break
            body = answer.json()
            rows = body.get("results", []) if isinstance(body, dict) else body
            found += [p for p in rows if p.get("title") == title]
            if not isinstance(body, dict) or not body.get("next"):
                break
            page += 1
        return found

    def create_project(self, title: str, label_config: str) -> dict[str, Any]:
        body = {"title": title, "label_config": label_config}
        return dict(self.request("POST", "/api/projects", json_body=body).json())

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> list[int]:
        """Import ``tasks`` in one request; Label Studio's new task ids, in input order."""
        answer = self.request(
            "POST",
            f"/api/projects/{project_id}/import",
            params={"return_task_ids": "true", "commit_to_project": "true"},
            json_body=list(tasks),
        ).json()
        ids = answer.get("task_ids") if isinstance(answer, dict) else None
        if not isinstance(ids, list) or len(ids) != len(tasks):
            # Label Studio Enterprise imports in the background and answers {"import": id}.
            raise LabelStudioError(
                f"Label Studio at {self.url} did not return the ids of {len(tasks)} imported tasks "
                f"(got {sorted(answer) if isinstance(answer, dict) else type(answer).__name__}); "
                "only synchronous imports (Label Studio Community) are supported"
            )
        return [int(i) for i in ids]

    def update_task_data(self, task_id: int, data: Mapping[str, Any]) -> None:
        """Replace a task's ``data`` whole (Label Studio does not merge it); annotations stay."""
        self.request("PATCH", f"/api/tasks/{task_id}", json_body={"data": dict(data)})

    def task(self, task_id: int) -> dict[str, Any] | None:
        answer = self.request("GET", f"/api/tasks/{task_id}", ok=(200, 404))
        return None if answer.status_code == 404 else dict(answer.json())

    def delete_tasks(self, project_id: int, task_ids: Sequence[int]) -> int:
        """Delete exactly these tasks. Refuses an empty selection: Label Studio reads a missing one
        as "every task of the project"."""
        ids = [int(i) for i in task_ids]
        if not ids:
            raise LabelStudioError("refusing to send a delete without task ids (it would delete the whole project)")
        self.request(
            "POST",
            "/api/dm/actions",
            params={"id": "delete_tasks", "project": project_id},
            json_body={"selectedItems": {"all": False, "included": ids}},
        )
        return len(ids)

    def list_tasks(
        self,
        project_id: int,
        *,
        include: Sequence[str] = (),
        filters: Sequence[Mapping[str, Any]] = (),
        ordering: Sequence[str] = ("tasks:id",),
        page_size: int = LIST_PAGE_SIZE,
        page: int = 1,
    ) -> list[dict[str, Any]]:
        """One page of the project's tasks (only the ``include`` fields, else every field), filtered
        and ordered as the Data Manager does. A page past the end is empty (Label Studio answers 404 "Invalid page")."""
        query = {"filters": {"conjunction": "and", "items": list(filters)}, "ordering": list(ordering)}
        answer = self.request(
            "GET",
            "/api/tasks",
            params={
                "project": project_id,
                "fields": "all",
                "resolve_uri": "false",
                "page_size": page_size,
                "page": page,
                "query": json.dumps(query),
                # With "include", annotations come as {id, updated_at} only; without it, whole.
                **({"include": ",".join(include)} if include else {}),
            },
            ok=(200, 404),
        )
        if answer.status_code == 404:
            return []
        body = answer.json()
        return list(body.get("tasks", []) if isinstance(body, dict) else body)

    def iter_task_ids(self, project_id: int, *, page_size: int = LIST_PAGE_SIZE) -> Iterator[int]:
        """Every task id of the project, in id order, page by page (a keyset on the id: rows added or
        deleted while paging neither shift nor repeat a page)."""
        after = 0
        while True:
            page = self.list_tasks(
                project_id,
                include=("id",),
                filters=[number_filter("id", "greater", after)],
                page_size=page_size,
            )
            if not page:
                return
            for task in page:
                yield int(task["id"])
            after = int(page[-1]["id"])
            if len(page) < page_size:
                return


def number_filter(column: str, operator: str, value: int) -> dict[str, Any]:
    """A Data Manager filter on a numeric task column (``id``, ``total_annotations``, ...)."""
    return {"filter": f"filter:tasks:{column}", "operator": operator, "type": "Number", "value": value}


def datetime_filter(column: str, operator: str, value: str) -> dict[str, Any]:
    """A Data Manager filter on a task timestamp (``updated_at``), compared on the server's clock."""
    return {"filter": f"filter:tasks:{column}", "operator": operator, "type": "Datetime", "value": value}
