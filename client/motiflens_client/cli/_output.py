"""What commands print: stdout lines, JSON, aligned tables, progress bars and the one-line error on stderr."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from motiflens_client.cli._args import PROG
from motiflens_client.sdk.progress import is_tty
from motiflens_client.types import JobInfo


def out(text: str = "") -> None:
    """One line on stdout."""
    sys.stdout.write(f"{text}\n")


def fail(message: str) -> None:
    """``motiflens: error: MESSAGE`` on stderr, folded to one line."""
    one_line = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    sys.stderr.write(f"{PROG}: error: {one_line}\n")
    sys.stderr.flush()


def note(message: str) -> None:
    """``motiflens: MESSAGE`` on stderr: progress or a hint, never the command's result."""
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


def progress_choice(args: argparse.Namespace) -> bool | None:
    """The ``progress`` a command passes to the SDK's long calls.

    Bars go to stderr only, and only when it is a terminal: None there (the SDK's automatic
    choice: a bar when the work takes more than one step); False with ``--no-progress``
    or when stderr is a pipe or a file, so that scripts and logs see no bar.
    """
    if getattr(args, "no_progress", False) or not is_tty(sys.stderr):
        return False
    return None


def job_failed_message(info: JobInfo) -> str:
    """``job ID ended STATE: ERROR``, the failure line of a job."""
    detail = f": {info.error}" if info.error else ""
    return f"job {info.job_id} ended {info.state}{detail}"


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as objects, arrays as lists, NaN and bytes as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return None
    return value


def print_json(value: Any) -> None:
    """``value`` as indented JSON on stdout (see :func:`jsonable`)."""
    out(json.dumps(jsonable(value), indent=2, allow_nan=False))


def format_value(value: Any) -> str:
    """A table cell: ``-`` for nothing, floats to 4 decimals."""
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows under headers, columns aligned by padding."""
    cells = [[format_value(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``name  value`` lines, names padded to one width."""
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        out(f"{name.ljust(width)}  {format_value(value)}")


def metric(metrics: Any, name: str) -> str:
    """``MEAN +/- STD`` of one metric of a ``Metrics`` (``-`` when there are none)."""
    if metrics is None:
        return "-"
    return f"{format_value(getattr(metrics, name))} +/- {format_value(getattr(metrics, f'{name}_std'))}"


def params_text(params: Mapping[str, float]) -> str:
    """Activation parameters as ``a=1,b=2`` (``-`` when there are none)."""
    return ",".join(f"{key}={value:g}" for key, value in sorted(params.items())) or "-"
