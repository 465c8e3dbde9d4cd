"""Mapping of core exceptions to gRPC status codes, applied in one place.

Servicers raise :mod:`motiflens.errors` exceptions; :func:`status_for` gives the
code, and the server's error interceptor aborts the call with it. Anything else
is INTERNAL with a fixed message (the traceback goes to the log, not the client).
"""

from __future__ import annotations

import grpc
from motiflens_client.wire.errors import WireError

from motiflens.errors import (
    AlreadyExistsError,
    CancelledError,
    FailedPreconditionError,
    InvalidInputError,
    MotiflensError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)

#: Core exception type -> gRPC status code (first match in this order wins).
STATUS_BY_ERROR: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFoundError, grpc.StatusCode.NOT_FOUND),
    (FailedPreconditionError, grpc.StatusCode.FAILED_PRECONDITION),
    (AlreadyExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (UnavailableError, grpc.StatusCode.UNAVAILABLE),
    (CancelledError, grpc.StatusCode.CANCELLED),
)

INTERNAL_MESSAGE = "internal error; the server log has the details"


class PortUnavailableError(RuntimeError):
    """A server's gRPC or metrics port cannot be bound; the message names the address."""


def invalid(field: str, problem: str) -> InvalidInputError:
    """``InvalidInputError("<field>: <problem>", field=field)``: the one way services name a bad field."""
    return InvalidInputError(f"{field}: {problem}", field=field)


def from_wire(error: WireError) -> InvalidInputError:
    """The wire layer's error as the core's InvalidInputError: same message, same field path."""
    return InvalidInputError(str(error), field=error.field)


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message for an exception raised by a servicer."""
    for error_type, code in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return code, str(error)
    if isinstance(error, MotiflensError):
        return grpc.StatusCode.INTERNAL, str(error)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE
