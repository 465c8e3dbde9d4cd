"""Artifact store backend on a local directory (``file:///absolute/path``).

Every object is one file under the root; a write goes to a temporary file in the
same directory (named ``.<name>.<random>.tmp``, which no id or key can match) and
is renamed into place with :func:`os.replace`, so a reader sees the whole file or
none of it; the directory is synced after the rename, so a record survives a power
cut as either its old or its new version. Paths arrive already checked by :class:`ArtifactStore`; each one is
also resolved here and refused unless it stays inside the root (symbolic links
included).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from motiflens.errors import InvalidInputError, NotFoundError, ResourceExhaustedError, UnavailableError
from services.common.store.base import FILE_CHUNK_BYTES, ArtifactStore


class FileStore(ArtifactStore):
    """Artifacts and records as files under ``root``.

    Parameters
    ----------
    root : Path
        The store's directory; created (with parents) if missing.

    Raises
    ------
    InvalidInputError
        ``root`` exists and is not a directory.
    UnavailableError
        ``root`` cannot be created (permissions, read-only file system).
    """

    def __init__(self, root: Path) -> None:
        super().__init__()
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise InvalidInputError(f"store root {str(root)!r} exists and is not a directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UnavailableError(f"artifact store {root.as_uri()} cannot be created: {exc}") from exc
        self.root = root.resolve()
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    # ---- helpers
    def _path(self, path: str) -> Path:
        """The file for a store path, refused unless it resolves inside the root."""
        full = (self.root / path).resolve()
        if not full.is_relative_to(self.root) or full == self.root:
            raise InvalidInputError(f"store path {path!r} leads outside the store; refused")
        return full

    def _unavailable(self, exc: OSError) -> UnavailableError | ResourceExhaustedError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            # Not a retry-soon outage: the operator must free space (RESOURCE_EXHAUSTED).
            return ResourceExhaustedError(
                f"artifact store {self.url} is full: {exc.strerror or exc}; nothing stored"
            )
        return UnavailableError(f"artifact store {self.url} is unavailable: {exc.strerror or exc}")

    # ---- primitives
    def ping(self) -> None:
        """Raise UnavailableError unless the root is a writable directory."""
        if not self.root.is_dir():
            raise UnavailableError(f"artifact store {self.url} is unavailable: the directory does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise UnavailableError(f"artifact store {self.url} is unavailable: the directory is not writable")

    def _put(self, path: str, data: bytes) -> None:
        self._write(path, lambda handle: handle.write(data))

    def _put_file(self, path: str, local: Path) -> None:
        def copy(handle) -> None:
            with open(local, "rb") as source:
                shutil.copyfileobj(source, handle, FILE_CHUNK_BYTES)

        self._write(path, copy)

    def _get_file(self, path: str, local: Path, *, missing: str) -> None:
        source = self._path(path)
        try:
            with open(source, "rb") as handle, open(local, "wb") as out:
                shutil.copyfileobj(handle, out, FILE_CHUNK_BYTES)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            local.unlink(missing_ok=True)
            raise NotFoundError(f"{missing} does not exist") from exc
        except OSError as exc:
            local.unlink(missing_ok=True)
            raise self._unavailable(exc) from exc

    def _write(self, path: str, fill: Callable[[BinaryIO], object]) -> None:
        """Write ``path`` atomically: ``fill`` writes a temporary file, renamed into place once synced."""
        target = self._path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    fill(handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            self._sync_directory(target.parent)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    @staticmethod
    def _sync_directory(directory: Path) -> None:
        """Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems refuse fsync on directories; the rename itself is atomic
        finally:
            os.close(fd)

    def _delete(self, path: str) -> None:
        target = self._path(path)
        try:
            target.unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as exc:
            raise self._unavailable(exc) from exc
        try:
            target.parent.rmdir()  # an artifact folder emptied by a failed write goes too
        except OSError:
            pass  # not empty (the usual case), or already gone

    def _get(self, path: str, *, missing: str) -> bytes:
        target = self._path(path)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"{missing} does not exist") from exc
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def _exists(self, path: str) -> bool:
        return self._path(path).is_file()

    def _list_prefixes(self, prefix: str) -> list[str]:
        return sorted(entry.name for entry in self._entries(prefix) if entry.is_dir(follow_symlinks=False))

    def _list_names(self, prefix: str) -> list[str]:
        return sorted(
            entry.name
            for entry in self._entries(prefix)
            if entry.is_file(follow_symlinks=False) and not entry.name.startswith(".")
        )

    def _entries(self, prefix: str) -> list[os.DirEntry]:
        """Entries of the directory for ``prefix`` (none when it does not exist yet)."""
        directory = self._path(prefix)
        try:
            with os.scandir(directory) as entries:
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise self._unavailable(exc) from exc
