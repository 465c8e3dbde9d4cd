"""The one error type of the wire layer; the SDK and the services map it to their own."""

from __future__ import annotations

__all__ = ["WireError"]


class WireError(ValueError):
    """A message or value that the wire format cannot carry, or a malformed one.

    Parameters
    ----------
    field : str
        Path of the offending field, e.g. ``"sequences.one_hot.shape"``; the message
        starts with it.
    message : str
        What was wrong and what is accepted.

    Attributes
    ----------
    field : str
        The field path, so callers need not re-parse the message text.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
