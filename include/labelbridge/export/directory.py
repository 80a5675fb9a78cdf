"""A local directory as an export target (``labelbridge convert``), with the bucket's listing semantics."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from labelbridge.errors import StorageError
from labelbridge.export._file_process import FileWriterProcess, _WriteFailed, create, write_file
from labelbridge.export.output import COALESCE_BYTES
from labelbridge.storage.base import ObjectInfo


class DirectoryTarget:
    """A local directory as an export target, for ``labelbridge convert``; keys are relative paths.

    YOLO and VOC write a file per image, so the per-file path is kept to about one ``open``: the
    directory is made only when that fails, and keys are checked lexically (``resolve()`` costs a
    syscall per path component; the export never makes symlinks, keys come from task data).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root = os.path.abspath(root)
        self._root_slash = self._root.rstrip("/") + "/"
        self._folders: dict[str, str] = {}  # a key's folder -> its checked absolute path
        self._later = FileWriterProcess()

    def _path(self, key: str) -> str:
        # A file per image: its folder is checked once (normpath is pure Python here), the name each time.
        folder, _, name = key.rpartition("/")
        checked = self._folders.get(folder)
        if checked is not None and name not in ("", ".", ".."):
            return f"{checked}/{name}"
        path = os.path.normpath(f"{self._root}/{key}")
        if key.startswith("/") or (path != self._root and not path.startswith(self._root_slash)):
            raise StorageError(f"{key!r} leaves {self.root}")
        if name not in ("", ".", "..") and not folder.startswith("/"):
            if len(self._folders) >= 4096:
                self._folders.clear()
            self._folders[folder] = os.path.dirname(path)
        return path

    def write(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> None:
        path = self._path(key)
        if isinstance(data, bytes):
            write_file(path, data)
            return
        with open(create(path), "wb") as out:
            while chunk := data.read(COALESCE_BYTES):
                out.write(chunk)

    def iter_objects(self, prefix: str | None = None) -> Iterator[ObjectInfo]:
        """Files under ``prefix`` (as in a bucket: a key prefix, not only a folder), in name order."""
        for key, size in self._walk(prefix or "", ordered=True):
            yield ObjectInfo(key, size, None, None)

    def iter_sizes(self, prefix: str) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of the files under ``prefix``, in no set order: what verification reads.

        About half the cost of :meth:`iter_objects` a file: no record to build, no sort.
        """
        return self._walk(prefix, ordered=False)

    def _walk(self, prefix: str, *, ordered: bool) -> Iterator[tuple[str, int]]:
        # From the prefix's folder part, into folders that can hold such keys. Streams (one
        # directory listed at a time): a YOLO export of a million images verifies in flat memory.
        # Sizes come from fstatat on the folder's descriptor, not a walk of the path.
        start = prefix.rpartition("/")[0]
        base = self._path(start) if start else self._root
        pending = [(base, f"{start}/" if start else "")] if os.path.isdir(base) else []
        while pending:
            folder, folder_key = pending.pop()
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
            try:
                with os.scandir(fd) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name) if ordered else list(listing)
                subfolders = []
                for entry in entries:
                    key = folder_key + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if key.startswith(prefix) or prefix.startswith(f"{key}/"):
                            subfolders.append((f"{folder}/{entry.name}", f"{key}/"))
                    elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                        yield key, entry.stat(follow_symlinks=False).st_size
            finally:
                os.close(fd)
            pending.extend(reversed(subfolders) if ordered else subfolders)  # ordered: depth first, by name

    def write_later(self, key: str, data: bytes) -> None:
        """Hand a small file to the writer process (see :mod:`labelbridge.export._file_process`)."""
        try:
            self._later.write(self._path(key), data)
        except _WriteFailed as failed:  # the child stopped at an earlier file while this one was handed over
            raise self._upload_failed(failed) from None

    def finish_writes(self) -> None:
        try:
            self._later.finish()
        except _WriteFailed as failed:
            raise self._upload_failed(failed) from None

    def _upload_failed(self, failed: _WriteFailed) -> StorageError:
        # Where the writer process's private _WriteFailed becomes the library's StorageError.
        key = failed.path[len(self._root_slash) :] if failed.path.startswith(self._root_slash) else failed.path
        return StorageError(f"{key or self.root}: upload failed: {failed.why}")

    def abandon_writes(self) -> None:
        self._later.abandon()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

    def read_bytes(self, key: str) -> bytes:
        return Path(self._path(key)).read_bytes()
