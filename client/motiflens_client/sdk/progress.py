"""Progress bars of the SDK's long calls: one decision and one bar maker, used by every call.

Every call that streams or waits takes ``progress``:

- ``None`` (the default): a bar when it helps, i.e. stderr is a terminal or the code runs in
  a Jupyter kernel, *and* the work comes in more than one step (more than one streamed
  chunk; waiting on a job always qualifies: it takes minutes even for one epoch);
- ``True``: always. On a stream that is neither a terminal nor a notebook (a log file, a
  pipe) the bar is printed as whole lines without carriage returns: one per epoch, shard or
  sweep change of a wait, at most one a second of a stream, and always the final state;
- ``False``: never;
- a callable: a tqdm-compatible factory, called as ``factory(total=..., desc=..., unit=...)``;
  what it returns gets ``update(n)``, ``set_postfix_str(text, refresh=False)`` and
  ``close()``, e.g. ``functools.partial(tqdm.tqdm, file=log)`` or ``tqdm.rich.tqdm``.

Where bars go: a terminal gets tqdm's text bar on stderr; a notebook gets the widget of
``tqdm.auto`` (with ipywidgets installed; without it, lines on stderr, and no warning);
nothing is ever written to stdout. A bar is closed when its call ends, by an error or
Ctrl-C too, so none is left dangling. tqdm's own ``TQDM_DISABLE=1`` silences the built-in bars.

Totals are real: sequences (or rows, alleles) of the call, epochs of a job, jobs of a sweep,
bytes of an uploaded file.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from motiflens_client.errors import InvalidArgument

__all__ = [
    "Bar",
    "BarFactory",
    "NullBar",
    "Progress",
    "close_bar",
    "in_notebook",
    "is_tty",
    "open_bar",
    "wants_bar",
]


class Bar(Protocol):
    """What the SDK uses of a bar (a subset of ``tqdm.tqdm``'s interface)."""

    n: float
    total: float | None

    def update(self, n: float = 1) -> bool | None:
        """Advance by ``n`` units."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text after the counts (metrics, states)."""

    def close(self) -> None:
        """End the bar (idempotent)."""


#: A tqdm-compatible factory: ``factory(total=..., desc=..., unit=...) -> Bar``.
BarFactory = Callable[..., Any]
#: The type of every ``progress`` argument (see the module docstring).
Progress = bool | BarFactory | None


class NullBar:
    """A bar that shows nothing (``progress`` False, or the automatic choice said no).

    It still counts, so callers treat every bar alike.
    """

    def __init__(self, total: float | None = None) -> None:
        self.n: float = 0
        self.total = total

    def update(self, n: float = 1) -> bool | None:
        """Count ``n`` more units; nothing is shown."""
        self.n += n
        return None

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Ignored."""

    def close(self) -> None:
        """Nothing to close."""


def in_notebook() -> bool:
    """True inside a Jupyter/IPython kernel (not a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a broken IPython only means "not a notebook"
        return False
    return shell is not None and hasattr(shell, "kernel")


def is_tty(stream: TextIO | None) -> bool:
    """True when ``stream`` is an interactive terminal (False for files, pipes, StringIO, None)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def wants_bar(progress: Progress, *, steps: int | None, tty: bool, notebook: bool) -> bool:
    """Whether a call shows a bar: the one decision behind every ``progress`` argument.

    Parameters
    ----------
    progress : None, bool or callable
        The caller's choice (module docstring).
    steps : int or None
        Updates the bar will get (streamed chunks); None when unknown or when the wait
        itself is long (a job).
    tty : bool
        stderr is a terminal.
    notebook : bool
        Running in a Jupyter kernel.

    Returns
    -------
    bool
        True, False and a factory decide alone; None: ``(tty or notebook)`` and more
        than one step (``steps`` None counts as more).

    Raises
    ------
    InvalidArgument
        ``progress`` of another type.
    """
    if progress is None:
        return (tty or notebook) and (steps is None or steps > 1)
    if isinstance(progress, bool):
        return progress
    if callable(progress):
        return True
    raise InvalidArgument(
        f"progress: expected None (automatic), True, False or a tqdm-compatible factory, "
        f"got {type(progress).__name__}"
    )


def open_bar(
    progress: Progress,
    *,
    total: float | Callable[[], float | None] | None,
    desc: str,
    unit: str,
    per_step: int | None = None,
    bar_format: str | None = None,
    unit_scale: bool = False,
    every_step: bool = False,
    stream: TextIO | None = None,
    tty: bool | None = None,
    notebook: bool | None = None,
) -> Bar:
    """A bar for one call, chosen by :func:`wants_bar`; close it when the call ends.

    Parameters
    ----------
    progress : None, bool or callable
        The call's ``progress`` argument.
    total : float, callable or None
        Units of the whole call (sequences, rows, epochs, jobs), or a function giving
        them, called only when a bar may show (it may make a call of its own); None when
        unknown (the bar then counts without a percentage; set ``bar.total`` once known).
    desc, unit : str
        Label before the bar, and the unit's name ("seq", "epoch").
    per_step : int, optional
        Units per update (a stream's chunk size): with ``total`` it gives the number of
        steps for the automatic choice. None: a wait, always worth a bar.
    bar_format : str, optional
        tqdm's ``bar_format`` for the built-in bars (a factory gets only total, desc, unit).
    unit_scale : bool, default False
        Built-in bars show counts with SI prefixes ("3.67M/10.5MB" of an upload in
        bytes); the count itself stays in units. A factory gets only total, desc, unit.
    every_step : bool, default False
        Draw every update (job epochs) rather than at most one line a second in a log.
    stream : text stream, optional
        Where a text bar goes; default: ``sys.stderr`` as of this call.
    tty, notebook : bool, optional
        The environment; default :func:`is_tty` of ``stream`` and :func:`in_notebook`.

    Returns
    -------
    Bar
        A tqdm bar, a line bar, the factory's bar or a :class:`NullBar`. Use it with
        ``contextlib.closing`` so that an error or Ctrl-C closes it too.

    Raises
    ------
    InvalidArgument
        ``progress`` of another type.
    """
    stream = sys.stderr if stream is None else stream
    tty = is_tty(stream) if tty is None else tty
    notebook = in_notebook() if notebook is None else notebook
    if not wants_bar(progress, steps=None, tty=tty, notebook=notebook):
        return NullBar()  # decided without asking for the total
    units = total() if callable(total) else total
    steps = None if units is None or not per_step else -(-int(units) // per_step)
    if not wants_bar(progress, steps=steps, tty=tty, notebook=notebook):
        return NullBar(units)
    if callable(progress) and not isinstance(progress, bool):
        return progress(total=units, desc=desc, unit=unit)
    options: dict[str, Any] = {"total": units, "desc": desc, "unit": unit, "leave": True}
    if bar_format is not None and units is not None:  # without a total, tqdm's plain counter reads better
        options["bar_format"] = bar_format
    if unit_scale:
        options["unit_scale"] = True
    auto_class, widgets = _tqdm_auto()
    if notebook and widgets:
        return auto_class(**options)  # the ipywidgets bar, drawn in the cell's output
    if tty and not notebook:
        if every_step:
            options["mininterval"] = 0.0
        return auto_class(file=stream, **options)  # tqdm.std's text bar in a terminal
    # A log file, a pipe, or a notebook without ipywidgets: whole lines, never "\r".
    return _line_bar_class()(file=stream, mininterval=0.0 if every_step else 1.0, **options)


def close_bar(bar: Bar, progress: Progress, summary: str, *, stream: TextIO | None = None) -> None:
    """Close ``bar`` and say how the work ended.

    After a built-in bar ``summary`` is a line on ``stream`` (default ``sys.stderr``);
    a factory's bar gets it as its postfix instead; a :class:`NullBar` says nothing.
    """
    if isinstance(bar, NullBar):
        return
    if callable(progress) and not isinstance(progress, bool):
        bar.set_postfix_str(summary, refresh=True)
        bar.close()
        return
    bar.close()
    stream = sys.stderr if stream is None else stream
    try:
        stream.write(f"{summary}\n")
        stream.flush()
    except (OSError, ValueError):  # a closed stream never fails the call
        pass


@functools.cache
def _tqdm_auto() -> tuple[type, bool]:
    """tqdm.auto's class, and whether it is the notebook widget (imported once, when first needed).

    tqdm.autonotebook warns ("IProgress not found") in a kernel without ipywidgets and
    falls back to the text bar; the SDK then prints lines instead, so the warning is muted.
    """
    from tqdm.std import TqdmWarning
    from tqdm.std import tqdm as std_tqdm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        from tqdm import autonotebook
        from tqdm.auto import tqdm as auto_tqdm
    return auto_tqdm, autonotebook.tqdm is not std_tqdm


class _Discard:
    """The stream tqdm itself writes to in a line bar: its carriage returns and padding go nowhere."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


@functools.cache
def _line_bar_class() -> type:
    """``LineBar``, a tqdm subclass (defined on first use: tqdm is imported only when a bar shows)."""
    from tqdm.std import tqdm as std_tqdm

    class LineBar(std_tqdm):
        """tqdm's bar as whole lines on ``file``: one per update that changed the count or postfix.

        tqdm redraws a bar in place with carriage returns, which a log file or a notebook
        without widgets shows as one long line; this prints tqdm's own text as lines.
        ``mininterval`` spaces them (seconds); the final state is always printed on close.
        Nothing is printed before the first unit is done unless a postfix says something.
        """

        def __init__(self, *args: Any, file: TextIO, **kwargs: Any) -> None:
            self._lines = file
            self._printed: tuple[float, str] = (0, "")  # (count, postfix) last printed
            kwargs.setdefault("ascii", True)  # no ncols: lines are never trimmed, the bar is 10 wide
            super().__init__(*args, file=_Discard(), miniters=1, **kwargs)

        def display(self, msg: str | None = None, pos: int | None = None) -> bool:
            shown = (self.n, self.postfix or "")
            if msg is not None or shown == self._printed:  # a clear request, or nothing new
                return True
            self._printed = shown
            try:
                self._lines.write(f"{self}\n")
                self._lines.flush()
            except (OSError, ValueError):  # a closed or broken stream never fails the call
                pass
            return True

    LineBar.__qualname__ = "LineBar"  # reads as the class it is, not as a local of this function
    return LineBar
