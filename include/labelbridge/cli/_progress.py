"""The live progress line of long commands: done so far, rate, elapsed (and the total when known).

Drawn with ``rich.progress`` (rich is in the lock): it keeps the count, the total and the start
time, lays out columns, hides and restores the cursor, and redraws from its own thread, so the
elapsed time moves while a slow page or request is awaited. ``rich.live``, on which it is built,
would leave the counting, timing and layout to us.

Only on a terminal: when stderr is not a tty, or the command prints JSON, nothing changes, byte for
byte. While the line is drawn, whatever else reaches the terminal (log records, warnings, and
stdout when it is the terminal too) is caught at the file descriptor, so that Airflow's
structlog handlers, which hold the real stderr, are caught too, and printed above the line rather
than through it. A redirected stdout is left alone. On the way out, error or Ctrl-C included, the
line is drawn one last time, the descriptors are restored and the error's message follows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import IO

from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text

from labelbridge.progress import NO_PROGRESS, Progress

__all__ = ["REFRESH_PER_SECOND", "live_progress", "wants_progress"]

#: Redraws per second: the elapsed time moves, and each redraw costs about 0.6 ms of CPU
#: (bench/progress.py), 0.3% of a core in all.
REFRESH_PER_SECOND = 5


def wants_progress(args: argparse.Namespace) -> bool:
    """A live line only for a person at a terminal: stderr is a tty (not a dumb one: no cursor
    control) and the output is not JSON."""
    if getattr(args, "json", False) or getattr(args, "jsonl", False):
        return False
    return _is_terminal(sys.stderr, 2) and os.environ.get("TERM") != "dumb"


def _is_terminal(stream: IO[str], fd: int) -> bool:
    """``stream`` is the process's own descriptor ``fd`` and a tty: the line works at the descriptor."""
    try:
        return stream.isatty() and stream.fileno() == fd
    except (AttributeError, ValueError, OSError):  # replaced by an object with no descriptor, or closed
        return False


@contextlib.contextmanager
def live_progress(args: argparse.Namespace, what: str, unit: str) -> Iterator[Progress]:
    """A :class:`~labelbridge.progress.Progress` for the job ``what`` counting ``unit``: the live
    line when :func:`wants_progress`, else :data:`~labelbridge.progress.NO_PROGRESS`."""
    if not wants_progress(args):
        yield NO_PROGRESS
        return
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")
    # Measured now: while the line is drawn, fds 1 and 2 lead to a pipe, where rich would find no size.
    try:
        width, height = os.get_terminal_size(terminal.fileno())
    except OSError:
        width, height = 80, 25
    console = Console(file=terminal, highlight=False, width=width or 80, height=height or 25)
    line = RichProgress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        _CountColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        console=console,
        redirect_stdout=False,
        redirect_stderr=False,
        refresh_per_second=REFRESH_PER_SECOND,
    )
    task = line.add_task(what, total=None, unit=unit)
    try:
        with line, _printed_above(console, stdout_too=_is_terminal(sys.stdout, 1)):
            yield _LiveLine(line, task)
    finally:
        terminal.close()


class _LiveLine:
    """The :class:`~labelbridge.progress.Progress` a job gets: advances the line's task."""

    def __init__(self, line: RichProgress, task: TaskID) -> None:
        self._line = line
        self._task = task

    def advance(self, done: int) -> None:
        self._line.advance(self._task, done)

    def expect(self, total: int) -> None:
        self._line.update(self._task, total=total)


class _CountColumn(ProgressColumn):
    """``12,500 objects`` or ``3,000 of 10,000 tasks``."""

    def render(self, task: Task) -> Text:
        done = f"{int(task.completed):,}"
        if task.total is not None:
            done += f" of {int(task.total):,}"
        return Text(f"{done} {task.fields['unit']}")


class _RateColumn(ProgressColumn):
    """``2,340 objects/s``: done so far over the time elapsed. Not rich's own windowed speed, which
    needs two advances to say anything: a sync of one batch advances once, at its end."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        rate = f"{task.completed / elapsed:,.0f}" if elapsed and task.completed else "-"
        return Text(f"{rate} {task.fields['unit']}/s")


@contextlib.contextmanager
def _printed_above(console: Console, *, stdout_too: bool) -> Iterator[None]:
    """Send what the process writes to stderr (and stdout, when it is the terminal too) through
    ``console``, above the live line. At the descriptor: Airflow's log handlers write to the
    stderr they were configured with, not to whatever ``sys.stderr`` is now."""
    fds = [2, 1] if stdout_too else [2]
    read_end, write_end = os.pipe()
    saved = {fd: os.dup(fd) for fd in fds}
    for fd in fds:
        os.dup2(write_end, fd)
    os.close(write_end)
    reader = threading.Thread(target=_print_lines, args=(read_end, console), name="progress-output", daemon=True)
    reader.start()
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd, original in saved.items():
            os.dup2(original, fd)  # the pipe's last write end closes: the reader reaches its end
            os.close(original)
        reader.join()
        os.close(read_end)


def _print_lines(read_end: int, console: Console) -> None:
    """Relay the pipe's whole lines above the live line, a read's worth at a time: rich redraws the
    line after each print, so a listing of 100,000 keys must not be 100,000 prints."""
    pending = b""
    while chunk := os.read(read_end, 65536):
        lines, newline, pending = (pending + chunk).rpartition(b"\n")
        if newline:
            _print(console, lines)
    if pending:
        _print(console, pending)


def _print(console: Console, raw: bytes) -> None:
    # The terminal gone is no reason to stop draining: the job would block on a full pipe.
    with contextlib.suppress(Exception):
        # soft_wrap: a long line is left for the terminal to wrap, not cut by rich into several.
        console.print(Text(raw.decode("utf-8", errors="replace")), soft_wrap=True)
