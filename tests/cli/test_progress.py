"""The live progress line: on a terminal, long commands show done, rate and elapsed on stderr;
with stderr not a terminal, or with --json, their output is what it was, byte for byte.

Each command runs as a user runs it, the ``labelbridge`` console script in a subprocess, against
the emulators; "a terminal" is a pseudo-terminal (``os.openpty``) holding the child's stderr
(and, in one test, its stdout too).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from labelbridge.config import Cloud
from tests.compliance.accesslog.lines import line
from tests.conftest import StoreFactory
from tests.tools.test_label_studio_jobs import connection, write_config  # noqa: F401  (connection: a fixture)

BIN = Path(sys.executable).parent
OBJECTS = 2500  # three listing pages of moto's 1,000
#: What rich draws: the count, the rate, then the elapsed time (h:mm:ss).
LINE = r"(?P<done>[\d,]+) {unit} +(?P<rate>[\d,]+) {unit}/s +\d+:\d\d:\d\d"
COLOUR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str  # with the terminal's control sequences taken out when it was a terminal


def run(
    args: list[str], env: dict[str, str], *, stderr_tty: bool, stdout_tty: bool = False, term: str = "xterm-256color"
) -> Run:
    """Run ``labelbridge ARGS``; stderr (and stdout, if asked) on a pseudo-terminal, or on pipes."""
    env = {k: v for k, v in env.items() if k not in ("AIRFLOW__CORE__UNIT_TEST_MODE", "NO_COLOR", "COLUMNS")}
    env["TERM"] = term
    command = [str(BIN / "labelbridge"), *args]
    if not stderr_tty:
        done = subprocess.run(command, capture_output=True, env=env, stdin=subprocess.DEVNULL, timeout=300)
        return Run(done.returncode, done.stdout.decode(), done.stderr.decode())
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    child = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=slave if stdout_tty else subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    screen = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end of the terminal
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=read_terminal)
    reader.start()
    stdout = child.stdout.read() if child.stdout else b""
    status = child.wait(timeout=300)
    reader.join(timeout=60)
    os.close(master)
    return Run(status, stdout.decode(), CONTROL.sub("\n", COLOUR.sub("", screen.decode(errors="replace"))))


def last_line(text: str, unit: str) -> re.Match[str]:
    """The final drawing of the progress line (it is drawn again on the way out)."""
    found = list(re.finditer(LINE.format(unit=re.escape(unit)), text))
    assert found, f"no progress line counting {unit} in:\n{text}"
    return found[-1]


@pytest.fixture
def many_objects(tmp_path: Path, new_store: StoreFactory, labeling_dsn: str) -> tuple[dict[str, str], str]:
    store = new_store(Cloud.S3)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: store.write(f"img/{n:05d}.jpg", b"x"), range(OBJECTS)))
    config = tmp_path / "storages.yaml"
    config.write_text(
        "projects: [{name: p}]\nstorages:\n"
        f"  - {{name: imgs, project: p, cloud: s3, bucket: {store.bucket}, prefix: img/, url_ttl: 1h}}\n"
        "export_targets:\n"
        f"  - {{name: out, project: p, cloud: s3, bucket: {store.bucket}, prefix: exports/, formats: [json]}}\n"
    )
    return {**os.environ, "LABELBRIDGE_CONFIG": str(config)}, store.bucket


def test_ls_on_a_terminal_shows_objects_rate_and_elapsed_on_stderr_and_stdout_is_unchanged(
    many_objects: tuple[dict[str, str], str],
) -> None:
    env, _ = many_objects
    piped = run(["ls", "imgs"], env, stderr_tty=False)
    shown = run(["ls", "imgs"], env, stderr_tty=True)

    assert shown.status == piped.status == 0
    final = last_line(shown.stderr, "objects")
    assert final["done"] == f"{OBJECTS:,}" and int(final["rate"].replace(",", "")) > 0
    assert "ls imgs" in shown.stderr
    # stdout went to a file: the listing, byte for byte what it is without a terminal.
    assert shown.stdout == piped.stdout and len(piped.stdout.splitlines()) == OBJECTS
    # And without a terminal, no trace of the line: the count as before, nothing else.
    assert piped.stderr.strip().splitlines()[-1] == f"{OBJECTS} objects"
    assert "objects/s" not in piped.stderr
    # A dumb terminal (Emacs' shell, some CI consoles) cannot redraw a line: none is drawn.
    dumb = run(["ls", "imgs"], env, stderr_tty=True, term="dumb")
    assert dumb.stdout == piped.stdout and "objects/s" not in dumb.stderr


def test_ls_with_stdout_on_the_terminal_too_prints_every_key_above_the_line(
    many_objects: tuple[dict[str, str], str],
) -> None:
    env, bucket = many_objects
    shown = run(["ls", "imgs"], env, stderr_tty=True, stdout_tty=True)

    assert shown.status == 0
    keys = re.findall(rf"s3://{bucket}/img/\d{{5}}\.jpg", shown.stderr)
    assert len(keys) == OBJECTS and len(set(keys)) == OBJECTS
    assert last_line(shown.stderr, "objects")["done"] == f"{OBJECTS:,}"


def test_sync_rotate_and_export_show_their_progress_and_json_shows_none(
    many_objects: tuple[dict[str, str], str], labeling_dsn: str
) -> None:
    env, _ = many_objects
    synced = run(["sync", "imgs"], env, stderr_tty=True)
    assert synced.status == 0, synced.stderr
    assert last_line(synced.stderr, "objects")["done"] == f"{OBJECTS:,}"
    assert f"imgs: synced: listed={OBJECTS} inserted={OBJECTS}" in synced.stderr  # the summary still follows

    # --json on a terminal: the JSON line on stdout, and no live line on stderr.
    again = run(["sync", "imgs", "--json"], env, stderr_tty=True)
    assert again.status == 0
    assert json.loads(again.stdout)["unchanged"] == OBJECTS
    assert "objects/s" not in again.stderr

    rotated = run(["rotate", "imgs"], env, stderr_tty=True)
    assert rotated.status == 0, rotated.stderr
    assert last_line(rotated.stderr, "URLs")["done"] == f"{OBJECTS:,}"
    assert rotated.stdout.startswith(f"imgs: {OBJECTS} of {OBJECTS} due URLs re-signed")

    # export prints JSON whatever the flags: stdout is that JSON, the line is on the terminal only.
    exported = run(["export", "out", "--run-key", "r1"], env, stderr_tty=True)
    assert exported.status == 0, exported.stderr
    assert last_line(exported.stderr, "tasks")["done"] == f"{OBJECTS:,}"
    assert json.loads(exported.stdout)["tasks_exported"] == OBJECTS


def test_an_error_closes_the_line_and_its_message_still_shows(tmp_path: Path, services: object) -> None:
    config = tmp_path / "storages.yaml"
    config.write_text(
        "projects: [{name: p}]\nstorages:\n  - {name: gone, project: p, cloud: s3, bucket: no-such-bucket-lb}\n"
    )
    failed = run(["ls", "gone"], {**os.environ, "LABELBRIDGE_CONFIG": str(config)}, stderr_tty=True)

    assert failed.status == 2
    last = [text for text in failed.stderr.splitlines() if text.strip()][-1]
    assert last.startswith("labelbridge: error: ") and "no-such-bucket-lb" in last
    assert "Traceback" not in failed.stderr


def test_logs_parse_and_audit_count_lines(tmp_path: Path) -> None:
    log = tmp_path / "2019-02-06-00-00-00-A"
    lines = 3000
    log.write_text("\n".join(line() for _ in range(lines)) + "\nbroken line\n", encoding="utf-8")
    config = tmp_path / "storages.yaml"
    config.write_text("compliance:\n  allowed_cidrs: ['192.0.2.0/24']\n", encoding="utf-8")
    env = dict(os.environ)

    parsed = run(["logs", "parse", str(log)], env, stderr_tty=True)
    plain = run(["logs", "parse", str(log)], env, stderr_tty=False)
    assert parsed.status == plain.status == 1  # one unparsed line
    assert last_line(parsed.stderr, "lines")["done"] == f"{lines + 1:,}"
    assert f"{log}:{lines + 1}: " in parsed.stderr  # the bad line's report, printed above the line
    assert parsed.stdout == plain.stdout
    assert plain.stderr.endswith(f"{lines} records, 1 unparsed lines\n") and "lines/s" not in plain.stderr

    jsonl = run(["logs", "parse", str(log), "--jsonl"], env, stderr_tty=True)
    assert "lines/s" not in jsonl.stderr and len(jsonl.stdout.splitlines()) == lines

    audited = run(["logs", "audit", "--config", str(config), "--files", str(log), "--day", "2019-02-06"], env,
                  stderr_tty=True)
    assert last_line(audited.stderr, "lines")["done"] == f"{lines + 1:,}"
    assert json.loads(audited.stdout)["lines_read"] == lines + 1


def test_ctrl_c_closes_the_line_restores_the_terminal_and_says_so(tmp_path: Path) -> None:
    # logs parse reading a pipe that stays open: it parses what came, then waits for more.
    env = {k: v for k, v in os.environ.items() if k not in ("AIRFLOW__CORE__UNIT_TEST_MODE", "COLUMNS")}
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    child = subprocess.Popen(
        [str(BIN / "labelbridge"), "logs", "parse", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=slave, env={**env, "TERM": "xterm-256color"},
    )
    os.close(slave)
    screen = bytearray()
    counting = threading.Event()

    def read_terminal() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                screen.extend(chunk)
                if re.search(rb"[1-9][\d,]* lines +[\d,]+ lines/s", screen):
                    counting.set()

    reader = threading.Thread(target=read_terminal)
    reader.start()
    assert child.stdin is not None
    child.stdin.write(("\n".join(line() for _ in range(2000)) + "\n").encode())
    child.stdin.flush()
    assert counting.wait(timeout=120), bytes(screen).decode(errors="replace")

    child.send_signal(signal.SIGINT)
    status = child.wait(timeout=60)
    reader.join(timeout=60)
    os.close(master)
    child.stdin.close()
    text = bytes(screen).decode(errors="replace")
    assert status == 130
    assert text.rstrip().endswith("labelbridge: interrupted")
    assert "\x1b[?25h" in text  # the cursor rich hid is shown again
    assert "Traceback" not in text
    # Drawn once more on the way out: the lines parsed when the signal came (the last batch waits for more).
    assert 0 < int(last_line(CONTROL.sub("\n", COLOUR.sub("", text)), "lines")["done"].replace(",", "")) <= 2000


@pytest.mark.usefixtures("connection")  # AIRFLOW_CONN_LABEL_STUDIO_DEFAULT: the session's Label Studio
def test_label_studio_push_pull_and_renew_count_tasks(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path
) -> None:
    store = new_store(Cloud.S3)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: store.write(f"img/{n:03d}.png", b"x"), range(40)))
    config, _ = write_config(tmp_path, store.bucket)
    env = {**os.environ, "LABELBRIDGE_CONFIG": str(config)}
    assert run(["sync", "src", "--dsn", labeling_dsn], env, stderr_tty=False).status == 0
    common = ["--dsn", labeling_dsn]

    pushed = run(["label-studio", "push", "birds", *common], env, stderr_tty=True)
    assert pushed.status == 0, pushed.stderr
    assert last_line(pushed.stderr, "tasks")["done"] == "40" and "push birds" in pushed.stderr
    assert ": 40 imported" in pushed.stdout

    pulled = run(["label-studio", "pull", "birds", *common], env, stderr_tty=True)
    assert pulled.status == 0 and "pull birds" in pulled.stderr and "tasks/s" in pulled.stderr

    # renew knows how many tasks it chose: the line says "N of M tasks".
    renewed = run(["label-studio", "renew", "birds", *common], env, stderr_tty=True)
    assert renewed.status == 0, renewed.stderr
    assert re.search(r"renew birds ([\d,]+) of \1 tasks", renewed.stderr), renewed.stderr

    as_json = run(["label-studio", "push", "birds", *common, "--json"], env, stderr_tty=True)
    assert json.loads(as_json.stdout)["imported"] == 0 and "tasks/s" not in as_json.stderr
