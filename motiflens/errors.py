"""Exceptions raised by the core library.

Each kind of mistake has its own type so that the services can map it to one
gRPC status code (see docs/architecture.md). Messages name the field, what was
expected and what was found; the field path also rides as ``error.field``.
"""

from __future__ import annotations


class MotiflensError(Exception):
    """Base class of every error the core raises on purpose.

    Parameters
    ----------
    *args
        As for :class:`Exception`; ``str(error)`` is unchanged by ``field``, so a
        message that begins with its field path ("num_steps: expected ...") still does.
    field : str, optional
        Path of the request field or argument at fault, e.g. ``"num_steps"`` or
        ``"sequences[3]"``; None (the default) when no single field is to blame.

    Attributes
    ----------
    field : str or None
        The ``field`` given, so that a service reports the violation without
        parsing the message.
    """

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field

    @property
    def description(self) -> str:
        """The message without its leading ``"<field>: "`` (the whole message if it has none)."""
        message = str(self)
        prefix = f"{self.field}: "
        return message[len(prefix) :] if self.field and message.startswith(prefix) else message


class InvalidInputError(MotiflensError, ValueError):
    """The input can never be valid (bad alphabet, wrong shape, unknown name)."""


class NotFoundError(MotiflensError, LookupError):
    """A named thing (file key, motif id, model) does not exist."""


class FailedPreconditionError(MotiflensError):
    """The request is valid but the current state does not allow it."""


class AlreadyExistsError(MotiflensError):
    """A thing with that id or name exists already (artifacts are immutable)."""


class ResourceExhaustedError(MotiflensError):
    """A limit was reached: queue full, request too large."""


class UnavailableError(MotiflensError):
    """A dependency (the artifact store) cannot be reached; retrying may succeed."""


class CancelledError(MotiflensError):
    """The caller stopped waiting (it cancelled, or its deadline passed): the work was abandoned."""
