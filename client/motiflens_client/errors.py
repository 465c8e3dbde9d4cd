"""Exceptions of the motiflens client: one class per gRPC status code.

Every failed call raises a :class:`MotiflensClientError` subclass chosen by the
status code; ``.code`` is the :class:`grpc.StatusCode` and ``.message`` the
server's message, which names the offending field, e.g.
``InvalidArgument("INVALID_ARGUMENT: sequences.strings.sequences[1]: invalid character 'X' ...")``.

=================================== ===================================================
code                                class
=================================== ===================================================
INVALID_ARGUMENT                    :class:`InvalidArgument` (also a ``ValueError``)
NOT_FOUND                           :class:`NotFound` (also a ``LookupError``)
FAILED_PRECONDITION                 :class:`FailedPrecondition`
ALREADY_EXISTS                      :class:`AlreadyExists`
RESOURCE_EXHAUSTED                  :class:`ResourceExhausted`
UNAVAILABLE                         :class:`Unavailable` (the only code retried)
UNAUTHENTICATED                     :class:`Unauthenticated` (no token sent)
PERMISSION_DENIED                   :class:`PermissionDenied` (wrong token)
DEADLINE_EXCEEDED                   :class:`DeadlineExceeded`
INTERNAL                            :class:`Internal`
any other                           :class:`MotiflensClientError`
=================================== ===================================================

:class:`JobFailed` is raised by :meth:`motiflens_client.Job.wait` when a training
job ends FAILED or CANCELLED; it carries the final :class:`~motiflens_client.types.JobInfo`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from motiflens_client.types import JobInfo

__all__ = [
    "MotiflensClientError",
    "InvalidArgument",
    "NotFound",
    "FailedPrecondition",
    "AlreadyExists",
    "ResourceExhausted",
    "Unavailable",
    "Unauthenticated",
    "PermissionDenied",
    "DeadlineExceeded",
    "Internal",
    "JobFailed",
    "from_rpc_error",
]


class MotiflensClientError(Exception):
    """A failed motiflens call.

    Parameters
    ----------
    code : grpc.StatusCode
        Status of the call.
    message : str
        The server's message (or the client's, for errors found before sending).

    Attributes
    ----------
    code : grpc.StatusCode
    message : str

    Notes
    -----
    ``str(error)`` is ``"<CODE_NAME>: <message>"``, e.g. ``"NOT_FOUND: unknown model ..."``.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class _CodeError(MotiflensClientError):
    """Base of the per-code classes: constructed from the message alone."""

    default_code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(self.default_code, message)
        self.args = (message,)


class InvalidArgument(_CodeError, ValueError):
    """INVALID_ARGUMENT: a malformed request (bad bases, wrong shape, malformed id); names the field."""

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(_CodeError, LookupError):
    """NOT_FOUND: unknown data set, job, model or database id."""

    default_code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(_CodeError):
    """FAILED_PRECONDITION: a valid request in the wrong state (e.g. a data set without ground truth)."""

    default_code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(_CodeError):
    """ALREADY_EXISTS: the thing to create exists."""

    default_code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(_CodeError):
    """RESOURCE_EXHAUSTED: job queue full, or a request or data set over the size limits."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(_CodeError):
    """UNAVAILABLE: server unreachable or its store down; raised after the client's retries."""

    default_code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(_CodeError):
    """UNAUTHENTICATED: the server wants a bearer token and none was sent."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(_CodeError):
    """PERMISSION_DENIED: the token sent is wrong."""

    default_code = grpc.StatusCode.PERMISSION_DENIED


class DeadlineExceeded(_CodeError):
    """DEADLINE_EXCEEDED: the call took longer than its timeout."""

    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(_CodeError):
    """INTERNAL: a server fault; the server log has the details."""

    default_code = grpc.StatusCode.INTERNAL


#: Status code -> exception class.
ERROR_BY_CODE: dict[grpc.StatusCode, type[_CodeError]] = {
    cls.default_code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        FailedPrecondition,
        AlreadyExists,
        ResourceExhausted,
        Unavailable,
        Unauthenticated,
        PermissionDenied,
        DeadlineExceeded,
        Internal,
    )
}


class JobFailed(MotiflensClientError):
    """A training job ended FAILED or CANCELLED (raised by ``Job.wait``).

    Parameters
    ----------
    job : JobInfo
        The job in its final state; ``job.error`` says why.

    Attributes
    ----------
    job : JobInfo
    code : grpc.StatusCode
        CANCELLED for a cancelled job, ABORTED for a failed one.
    message : str
        ``"job <id> <state>: <error>"``.
    """

    def __init__(self, job: JobInfo) -> None:
        code = grpc.StatusCode.CANCELLED if job.state == "CANCELLED" else grpc.StatusCode.ABORTED
        message = f"job {job.job_id} {job.state.lower()}"
        if job.error:
            message += f": {job.error}"
        super().__init__(code, message)
        self.args = (job,)
        self.job = job


def from_rpc_error(error: grpc.RpcError) -> MotiflensClientError:
    """The client exception for a failed gRPC call.

    Parameters
    ----------
    error : grpc.RpcError
        As raised by a stub (it is also a ``grpc.Call`` with ``code()`` and ``details()``).

    Returns
    -------
    MotiflensClientError
        The subclass for the code (the base class for codes without one), with the
        server's message.
    """
    code = error.code() if callable(getattr(error, "code", None)) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    message = error.details() if callable(getattr(error, "details", None)) else None
    if not message:
        message = str(error) or code.name
    cls = ERROR_BY_CODE.get(code)
    return cls(message) if cls is not None else MotiflensClientError(code, message)
