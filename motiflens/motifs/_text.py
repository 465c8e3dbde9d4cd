"""Line access shared by the motif file readers: paths or streams, numbers, errors that name the line."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TextIO

from motiflens.errors import InvalidInputError, NotFoundError


def _open_text(path_or_stream: str | os.PathLike | TextIO) -> tuple[list[str], str]:
    """The lines of a file or text stream, and a label for error messages."""
    if isinstance(path_or_stream, (str, os.PathLike)):
        path = Path(path_or_stream)
        try:
            with path.open(encoding="utf-8") as handle:
                return handle.read().splitlines(), str(path)
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InvalidInputError(f"{path}: expected a motif file, got a directory") from None
        except UnicodeDecodeError as error:
            raise InvalidInputError(f"{path}: expected a UTF-8 text file ({error.reason})") from None
    if not hasattr(path_or_stream, "read"):
        raise InvalidInputError(
            f"path_or_stream: expected a path or a text stream, got {type(path_or_stream).__name__}",
            field="path_or_stream",
        )
    text = path_or_stream.read()
    if isinstance(text, bytes):
        raise InvalidInputError(
            "path_or_stream: expected a text stream, got a binary one", field="path_or_stream"
        )
    return text.splitlines(), getattr(path_or_stream, "name", "<stream>")


def _parse_float(token: str) -> float | None:
    """A finite float, or None when ``token`` is not one (``nan`` and ``inf`` included)."""
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _Lines:
    """Numbered access to the lines of one input, with errors that name the line."""

    def __init__(self, lines: list[str], source: str) -> None:
        self.lines = lines
        self.source = source

    def __len__(self) -> int:
        return len(self.lines)

    def text(self, index: int) -> str:
        return self.lines[index].strip()

    def error(self, index: int, reason: str) -> InvalidInputError:
        """An InvalidInputError for the 0-based line ``index`` (reported 1-based)."""
        return InvalidInputError(f"{self.source}: line {index + 1}: {reason}")
