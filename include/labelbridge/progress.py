"""How a long job tells whoever runs it how far it got: objects listed, lines read, tasks sent.

The jobs take a :class:`Progress` and call it once per batch or page (never per object: a call
costs a little, a batch of thousands costs nothing). The default, :data:`NO_PROGRESS`, does
nothing; DAG runs keep it, so their logs are what they were. The CLI passes a live line on a
terminal (:mod:`labelbridge.cli._progress`), and only there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """Told how much more of a job is done, in the job's own unit (objects, lines, tasks, URLs)."""

    def advance(self, done: int) -> None:
        """``done`` more units are finished (a batch written, a page read)."""

    def expect(self, total: int) -> None:
        """The job now knows it has ``total`` units in all (e.g. the tasks chosen for renewal)."""


class _NoProgress:
    """Tells no one: what every job does unless its caller asks."""

    def advance(self, done: int) -> None:
        pass

    def expect(self, total: int) -> None:
        pass


#: The default of every job's ``progress`` parameter.
NO_PROGRESS: Progress = _NoProgress()


def counted(items: Iterable[T], progress: Progress, *, every: int = 1000) -> Iterator[T]:
    """``items`` unchanged, advancing ``progress`` by ``every`` each ``every`` items and by the rest
    at the end, for a job that streams one item at a time. With :data:`NO_PROGRESS` the items pass
    through untouched: a DAG run pays nothing."""
    if progress is NO_PROGRESS:
        return iter(items)
    return _counting(items, progress, every)


def _counting(items: Iterable[T], progress: Progress, every: int) -> Iterator[T]:
    pending = 0
    for item in items:
        yield item
        pending += 1
        if pending == every:
            progress.advance(pending)
            pending = 0
    if pending:
        progress.advance(pending)
