"""Exceptions raised by the core library.

Each kind of mistake has its own type so that the services can map it to one
gRPC status code (see docs/architecture.md). Messages name the field, what was
expected and what was found.
"""


class MotiflensError(Exception):
    """Base class of every error the core raises on purpose."""


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
