"""Paging of List calls (AIP-158 style: page_size, page_token, next_page_token).

Lists are newest first. A page token is the sort key of the last item sent, so a page
boundary stays put while new items arrive at the front (an offset would shift and
repeat items). Tokens are opaque to clients: URL-safe base64 of a small JSON array.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from motiflens.errors import InvalidInputError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_TOKEN_CHARS = 512

T = TypeVar("T")
#: (creation time, id): the sort key of a listed item, newest (largest) first.
SortKey = tuple[str, str]


def page(
    items: Sequence[T], key: Callable[[T], SortKey], page_size: int, page_token: str
) -> tuple[list[T], str]:
    """One page of ``items`` and the token of the next one ("" after the last page).

    Parameters
    ----------
    items : sequence
        Every item, in any order (sorted here by ``key``, largest first).
    key : callable
        The item's (creation time, id); ids are unique, so the order is total.
    page_size : int
        0 for :data:`DEFAULT_PAGE_SIZE`; at most :data:`MAX_PAGE_SIZE`.
    page_token : str
        "" for the first page, else a ``next_page_token`` this function returned.

    Raises
    ------
    InvalidInputError
        A negative or too large ``page_size``, or a token this server did not make.
    """
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInputError(
            f"page_size: expected 0 (default {DEFAULT_PAGE_SIZE}) to {MAX_PAGE_SIZE}, got {page_size}",
            field="page_size",
        )
    size = page_size or DEFAULT_PAGE_SIZE
    ordered = sorted(items, key=key, reverse=True)
    if page_token:
        after = _decode(page_token)
        ordered = [item for item in ordered if key(item) < after]
    chosen = ordered[:size]
    more = len(ordered) > size
    return chosen, (_encode(key(chosen[-1])) if more and chosen else "")


def _encode(sort_key: SortKey) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(sort_key)).encode()).decode()


def _decode(token: str) -> SortKey:
    problem = InvalidInputError(
        "page_token: not a token of this server's List calls; pass the previous response's "
        "next_page_token, or empty for the first page",
        field="page_token",
    )
    if len(token) > MAX_TOKEN_CHARS:
        raise problem
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise problem from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value)):
        raise problem
    return value[0], value[1]
