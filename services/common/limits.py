"""Bounds on the strings and lists a client sends, and how errors quote them.

Every free-text field a client sets (data set, job, sweep, result and database
names) passes :func:`check_name`; a value quoted back in an error message passes
:func:`quote`, so a 10 KB id never becomes a 20 KB trailer. Repeated fields are
bounded with :func:`check_count`.
"""

from __future__ import annotations

from collections.abc import Sized

from motiflens.errors import InvalidInputError

#: Longest accepted name, characters.
MAX_NAME_CHARS = 200
#: Characters of a client value quoted in an error message.
QUOTE_CHARS = 64


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)``, cut to ``limit`` characters with the full length said when longer."""
    text = repr(value)
    if len(text) <= limit:
        return text
    length = len(value) if isinstance(value, Sized) else len(text)
    return f"{text[:limit]}... ({length} characters)"


def check_name(name: str, field_name: str) -> str:
    """A name: at most :data:`MAX_NAME_CHARS` printable characters (empty allowed).

    Raises
    ------
    InvalidInputError
        Too long, or holding control characters (NUL, newlines, ANSI escapes) or other
        non-printable ones.
    """
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(
            f"{field_name}: {len(name)} characters; at most {MAX_NAME_CHARS} are accepted",
            field=field_name,
        )
    if not name.isprintable():
        position = next(i for i, char in enumerate(name) if not char.isprintable())
        raise InvalidInputError(
            f"{field_name}: non-printable character {name[position]!r} at position {position}; "
            "expected printable text (no control characters, newlines or escapes)",
            field=field_name,
        )
    return name


def check_count(values: Sized, field_name: str, limit: int) -> None:
    """Raise InvalidInputError if the repeated field ``values`` has more than ``limit`` items."""
    if len(values) > limit:
        raise InvalidInputError(
            f"{field_name}: {len(values)} items; at most {limit} are accepted", field=field_name
        )
