"""The four server interceptors, outermost first, and thread-free response streams.

1. :class:`ObservabilityInterceptor`: one structured log line per call (method, status
   code, duration, request id) and the Prometheus request counter, latency histogram
   and in-flight gauge (:mod:`services.common.metrics`). The request id is the caller's
   ``x-request-id`` metadata when it is a short token, else a new one; it is sent back
   in the initial metadata ``x-request-id`` and added to every log record written while
   the call runs (:func:`services.common.logging.current_request_id`). Servicers must
   therefore not send initial metadata themselves;
2. :class:`AuthInterceptor`, when ``Settings.token`` is set: metadata
   ``authorization: Bearer <token>``; missing -> UNAUTHENTICATED, wrong ->
   PERMISSION_DENIED;
3. :class:`AdmissionInterceptor`: at most ``Settings.max_calls`` unary-response calls,
   ``Settings.max_streams`` thread-bound streaming calls and ``Settings.max_watchers``
   thread-free watch streams (:func:`watch_handler`) at once; beyond them
   RESOURCE_EXHAUSTED at once, so the remaining handler threads stay free for health
   checks; once shutdown begins (the signal itself, not the end of the main loop's
   wait) every new call is UNAVAILABLE;
4. :class:`ErrorInterceptor`: a call whose deadline has already passed when a handler
   thread picks it up is rejected with DEADLINE_EXCEEDED without running the handler;
   an exception raised by a handler (also from inside a server-streaming generator)
   aborts the call with :func:`services.common.errors.status_for`. INVALID_ARGUMENT
   carries a ``google.rpc.BadRequest`` detail naming the field; INTERNAL logs the
   traceback and sends a fixed message.

Health checking and reflection bypass all four (:func:`is_infrastructure`), so probes
work without a token and the health ``Watch`` stream keeps its non-blocking mode.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from motiflens.errors import MotiflensError
from services.common.config import DEFAULT_MAX_WATCHERS
from services.common.errors import status_for
from services.common.logging import bind_request_id, current_request_id, unbind_request_id
from services.common.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

#: Methods that skip the interceptors (no token needed, so that probes work).
INFRASTRUCTURE_PREFIXES = (
    f"/{health.SERVICE_NAME}/",
    f"/{reflection.SERVICE_NAME}/",
    "/grpc.reflection.v1.ServerReflection/",
)
REQUEST_ID_KEY = "x-request-id"
#: Longest error message sent to a client, characters.
MAX_ERROR_CHARS = 1000
_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def is_infrastructure(method: str) -> bool:
    """Whether a full method name belongs to health checking or reflection."""
    return method.startswith(INFRASTRUCTURE_PREFIXES)


class _HandlerInterceptor(grpc.ServerInterceptor):
    """Wraps the behaviour of every non-infrastructure handler, unary or streaming.

    Subclasses implement :meth:`around_unary` (returns the response) and
    :meth:`around_stream` (a generator of responses) for calls whose response is a
    single message or a stream.
    """

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or is_infrastructure(method):
            return handler
        if handler.response_streaming:
            behavior = handler.unary_stream or handler.stream_stream
            if getattr(behavior, "experimental_non_blocking", False):

                def wrapped_watch(request, context, send_response_callback):
                    self.around_watch(method, behavior, request, context, send_response_callback)

                wrapped: Any = wrapped_watch
                wrapped.experimental_non_blocking = True
            else:

                def wrapped_stream(request, context):
                    return self.around_stream(method, behavior, request, context)

                wrapped = wrapped_stream
        else:
            behavior = handler.unary_unary or handler.stream_unary

            def wrapped_unary(request, context):
                return self.around_unary(method, behavior, request, context)

            wrapped = wrapped_unary

        factory = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(handler.request_streaming, handler.response_streaming)]
        return factory(
            wrapped,
            request_deserializer=self.wrap_deserializer(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def wrap_deserializer(self, deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
        """The request deserializer this layer hands outwards (default: unchanged)."""
        return deserializer

    def around_unary(self, method: str, behavior, request, context: grpc.ServicerContext):
        """Call ``behavior(request, context)`` and return its response."""
        raise NotImplementedError

    def around_stream(self, method: str, behavior, request, context: grpc.ServicerContext) -> Iterator:
        """Yield the responses of ``behavior(request, context)``."""
        raise NotImplementedError

    def around_watch(
        self, method: str, behavior, request, context: grpc.ServicerContext, send: SendResponse
    ) -> None:
        """Call ``behavior(request, context, send)``, a thread-free stream (see :func:`watch_handler`).

        The behaviour returns at once; it sends messages later from another thread with
        ``send(message)`` and ends the stream with ``send(None)`` (or
        :func:`end_stream_with_error`). What must happen when the stream ends goes in
        :func:`when_call_ends`.
        """
        raise NotImplementedError


class ObservabilityInterceptor(_HandlerInterceptor):
    """Request id, one JSON log line and the Prometheus metrics of every call."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics

    def _begin(self, method: str, context: grpc.ServicerContext) -> tuple[contextvars.Token, float]:
        request_id = None
        for key, value in context.invocation_metadata() or ():
            if key == REQUEST_ID_KEY and isinstance(value, str) and _REQUEST_ID_PATTERN.fullmatch(value):
                request_id = value
                break
        request_id = request_id or uuid.uuid4().hex[:16]
        token = bind_request_id(request_id)
        try:
            context.send_initial_metadata(((REQUEST_ID_KEY, request_id),))
        except ValueError:  # initial metadata already sent: nothing to add
            pass
        self._metrics.call_started(method)
        return token, time.perf_counter()

    def _finish(
        self,
        method: str,
        context: grpc.ServicerContext,
        token: contextvars.Token,
        started: float,
        failed: bool,
    ) -> None:
        seconds = time.perf_counter() - started
        code = context.code()
        if code is None:
            if failed:
                code = grpc.StatusCode.UNKNOWN
            elif not context.is_active():
                # The client went away first: deadline passed or cancelled.
                code = (
                    grpc.StatusCode.DEADLINE_EXCEEDED
                    if context.time_remaining() <= 0
                    else grpc.StatusCode.CANCELLED
                )
            else:
                code = grpc.StatusCode.OK
        self._record(method, code, seconds, current_request_id())
        unbind_request_id(token)

    def _record(self, method: str, code: grpc.StatusCode, seconds: float, request_id: str | None) -> None:
        self._metrics.call_finished(method, code.name, seconds)
        level = logging.ERROR if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) else logging.INFO
        logger.log(
            level,
            "rpc %s %s",
            method,
            code.name,
            extra={
                "method": method,
                "code": code.name,
                "duration_ms": round(seconds * 1000, 3),
                "request_id": request_id,
            },
        )

    def around_unary(self, method, behavior, request, context):
        """Log and measure a unary-response call."""
        token, started = self._begin(method, context)
        failed = True
        try:
            response = behavior(request, context)
            failed = False
            return response
        finally:
            self._finish(method, context, token, started, failed)

    def around_watch(self, method, behavior, request, context, send):
        """Log and measure a thread-free stream when it ends (its last message, error or cancel)."""
        token, started = self._begin(method, context)
        request_id = current_request_id()  # finish() runs on grpc's thread, outside this context
        ended = threading.Event()

        def counted(response) -> None:
            if response is None:
                ended.set()
            send(response)

        def finish() -> None:
            code = context.code()
            if code is None:
                if ended.is_set():
                    code = grpc.StatusCode.OK
                else:
                    remaining = context.time_remaining()
                    expired = remaining is not None and remaining <= 0
                    code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
            self._record(method, code, time.perf_counter() - started, request_id)

        try:
            behavior(request, context, counted)
        finally:
            when_call_ends(context, finish)
            unbind_request_id(token)

    def around_stream(self, method, behavior, request, context):
        """Log and measure a streaming-response call, from the call to its last message."""
        token, started = self._begin(method, context)
        failed = True
        try:
            yield from behavior(request, context)
            failed = False
        except GeneratorExit:
            failed = False  # the client stopped reading (cancelled): not a handler failure
            raise
        finally:
            self._finish(method, context, token, started, failed)


class AuthInterceptor(_HandlerInterceptor):
    """Require ``authorization: Bearer <token>`` on every non-infrastructure call.

    Parameters
    ----------
    token : str
        The expected token (non-empty); compared in constant time.
    """

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("token: expected a non-empty token")
        self._token = token.encode()

    def _check(self, context: grpc.ServicerContext) -> None:
        values = [value for key, value in context.invocation_metadata() or () if key == "authorization"]
        if not values:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing credentials: send metadata 'authorization: Bearer <token>'",
            )
        scheme, _, given = str(values[0]).partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "malformed authorization metadata: expected 'Bearer <token>'",
            )
        if not hmac.compare_digest(given.strip().encode(), self._token):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "invalid bearer token")

    def around_unary(self, method, behavior, request, context):
        """Check the token, then call the handler."""
        self._check(context)
        return behavior(request, context)

    def around_stream(self, method, behavior, request, context):
        """Check the token, then stream the handler's responses."""
        self._check(context)
        yield from behavior(request, context)

    def around_watch(self, method, behavior, request, context, send):
        """Check the token, then start the thread-free stream."""
        self._check(context)
        behavior(request, context, send)


class AdmissionInterceptor(_HandlerInterceptor):
    """Bound the calls and streams handled at once; refuse everything once shutdown begins.

    A sync gRPC server runs a unary call, and a stream that computes its messages, on
    one handler thread for its whole life. Without a bound, ``max_workers`` slow calls
    take every thread and health checks queue behind them until the liveness probe
    restarts the server. Calls beyond ``max_calls`` and streams beyond ``max_streams``
    are answered RESOURCE_EXHAUSTED at once (a rejection holds a thread for
    microseconds), so ``max_workers - max_calls - max_streams`` threads stay free for
    health and reflection whatever the load. Thread-free watch streams
    (:func:`watch_handler`, e.g. WatchJob) hold no thread once started and have their
    own, larger limit ``max_watchers``.

    Parameters
    ----------
    max_calls, max_streams : int
        Limits on unary-response calls and thread-bound streams in progress.
    max_watchers : int, optional
        Limit on open thread-free watch streams (default :data:`DEFAULT_MAX_WATCHERS`).
    metrics : ServiceMetrics, optional
        Counts rejections (``motiflens_rejected_calls_total`` by reason).
    """

    def __init__(
        self,
        max_calls: int,
        max_streams: int,
        metrics: ServiceMetrics | None = None,
        *,
        max_watchers: int = DEFAULT_MAX_WATCHERS,
    ) -> None:
        self._slots = {
            "calls": (threading.BoundedSemaphore(max_calls), max_calls, "MOTIFLENS_MAX_CALLS"),
            "streams": (threading.BoundedSemaphore(max_streams), max_streams, "MOTIFLENS_MAX_STREAMS"),
            "watchers": (
                threading.BoundedSemaphore(max_watchers),
                max_watchers,
                "MOTIFLENS_MAX_WATCHERS",
            ),
        }
        self._draining = threading.Event()
        self._metrics = metrics

    def begin_draining(self) -> None:
        """From now on every new call is refused with UNAVAILABLE (shutdown has begun)."""
        self._draining.set()

    @property
    def draining(self) -> bool:
        """Whether shutdown has begun."""
        return self._draining.is_set()

    def _admit(self, kind: str, context: grpc.ServicerContext) -> threading.BoundedSemaphore:
        if self._draining.is_set():
            self._reject("shutdown")
            context.abort(
                grpc.StatusCode.UNAVAILABLE, "the server is shutting down; retry on another replica"
            )
        semaphore, limit, variable = self._slots[kind]
        if not semaphore.acquire(blocking=False):
            self._reject(kind)
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"server busy: {limit} {kind} in progress, the limit ({variable}); retry with backoff",
            )
        return semaphore

    def _reject(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.call_rejected(reason)

    def around_unary(self, method, behavior, request, context):
        """Take a call slot for the handler's duration."""
        semaphore = self._admit("calls", context)
        try:
            return behavior(request, context)
        finally:
            semaphore.release()

    def around_stream(self, method, behavior, request, context):
        """Take a stream slot until the stream ends (or the client goes away)."""
        semaphore = self._admit("streams", context)
        try:
            yield from behavior(request, context)
        finally:
            semaphore.release()

    def around_watch(self, method, behavior, request, context, send):
        """Take a watcher slot until the thread-free stream ends (or the client goes away)."""
        semaphore = self._admit("watchers", context)
        released = threading.Lock()

        def release() -> None:
            if released.acquire(blocking=False):  # once, whether the start failed or the call ended
                semaphore.release()

        try:
            behavior(request, context, send)
        except BaseException:
            release()
            raise
        when_call_ends(context, release)


class _UndecodableRequest:
    """Stands in for a request whose bytes did not parse (e.g. invalid UTF-8 in a string field)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class ErrorInterceptor(_HandlerInterceptor):
    """Reject undecodable requests and calls past their deadline; map handler exceptions to codes.

    grpc answers a request it cannot deserialize with INTERNAL, blaming the server for
    the client's bytes; the deserializer is wrapped so such a request reaches this
    layer as :class:`_UndecodableRequest` and is answered INVALID_ARGUMENT.
    """

    def wrap_deserializer(self, deserializer):
        """A deserializer that returns :class:`_UndecodableRequest` instead of raising."""
        if deserializer is None:
            return None

        def safe(data: bytes):
            try:
                return deserializer(data)
            except Exception as error:  # noqa: BLE001 - any parse failure is the client's bytes
                return _UndecodableRequest(
                    str(error).splitlines()[0][:200] if str(error) else type(error).__name__
                )

        return safe

    def _check_request(self, request, context: grpc.ServicerContext) -> None:
        if isinstance(request, _UndecodableRequest):
            context.abort_with_status(
                _bad_request_status(
                    f"request: not a valid protobuf message of this method ({request.reason}); "
                    "string fields must be UTF-8",
                    "request",
                )
            )

    def _check_deadline(self, context: grpc.ServicerContext) -> None:
        if context.time_remaining() <= 0:
            context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "the call's deadline passed before a handler thread was free; retry with a longer deadline",
            )

    def _abort(self, method: str, error: Exception, context: grpc.ServicerContext) -> None:
        code = context.code()
        if code is not None and code != grpc.StatusCode.OK:
            raise error  # the handler aborted the call itself: keep its status
        code, message = _status_of(error)
        if code == grpc.StatusCode.INTERNAL:
            logger.error(
                "unhandled exception in %s",
                method,
                exc_info=(type(error), error, error.__traceback__),
                extra={"method": method},
            )
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            field = error.field if isinstance(error, MotiflensError) else None
            context.abort_with_status(_bad_request_status(message, field))
        context.abort(code, message)

    def around_unary(self, method, behavior, request, context):
        """Check the request and deadline, call the handler, map its exception to a status."""
        self._check_request(request, context)
        self._check_deadline(context)
        try:
            return behavior(request, context)
        except Exception as error:  # noqa: BLE001 - every exception becomes a status
            self._abort(method, error, context)

    def around_stream(self, method, behavior, request, context):
        """Check the request and deadline, stream the responses, map an exception (also mid-stream)."""
        self._check_request(request, context)
        self._check_deadline(context)
        try:
            yield from behavior(request, context)
        except Exception as error:  # noqa: BLE001 - every exception becomes a status
            self._abort(method, error, context)

    def around_watch(self, method, behavior, request, context, send):
        """Check the request and deadline, start the stream, map an exception raised while starting.

        Later failures are the behaviour's to report, with :func:`end_stream_with_error`.
        """
        self._check_request(request, context)
        self._check_deadline(context)
        try:
            behavior(request, context, send)
        except Exception as error:  # noqa: BLE001 - every exception becomes a status
            self._abort(method, error, context)


# --------------------------------------------------------------------------- thread-free streams

#: ``send(message)`` sends one response of a thread-free stream; ``send(None)`` ends it with OK.
SendResponse = Callable[[Any], None]
#: A thread-free stream handler: ``(request, context, send)``, or a method taking ``self`` first.
_StreamHandler = TypeVar("_StreamHandler", bound=Callable[..., None])


def watch_handler(behavior: _StreamHandler) -> _StreamHandler:
    """Mark a servicer method as a thread-free response stream.

    grpc's sync server calls such a method as ``behavior(request, context, send)`` on a
    handler thread; the method validates the request, registers ``send`` somewhere
    that delivers events later (from any thread), and returns at once, so the thread
    is free again while the stream stays open for hours. It ends the stream with
    ``send(None)`` or :func:`end_stream_with_error`; :func:`when_call_ends` runs
    clean-up when the call ends for any reason (client cancelled, deadline, shutdown).
    The interceptors treat such streams like others (log line, metrics, token,
    admission under ``max_watchers``, error mapping while it starts).

    Uses grpc's ``experimental_non_blocking`` handler flag, the mechanism of grpc's own
    health ``Watch``.
    """
    marked: Any = behavior  # grpc reads the flag as a function attribute
    marked.experimental_non_blocking = True
    return behavior


def when_call_ends(context: grpc.ServicerContext, callback: Callable[[], None]) -> None:
    """Run ``callback()`` once when the call ends, or now if it has ended already.

    The callback runs on grpc's completion thread: it must be quick and never block.
    """
    if not context.add_callback(callback):
        callback()


def end_stream_with_error(context: grpc.ServicerContext, send: SendResponse, error: Exception) -> None:
    """End a thread-free stream with the status of ``error`` (:func:`services.common.errors.status_for`)."""
    code, message = _status_of(error)
    if code == grpc.StatusCode.INTERNAL:
        trace = (type(error), error, error.__traceback__)
        logger.error("unhandled exception in a watch stream", exc_info=trace)
    context.set_code(code)
    context.set_details(message)
    send(None)


def _status_of(error: Exception) -> tuple[grpc.StatusCode, str]:
    """:func:`status_for` with the message cut at :data:`MAX_ERROR_CHARS`."""
    code, message = status_for(error)
    if len(message) > MAX_ERROR_CHARS:
        # A message quoting a client's huge value must not become a huge trailer.
        message = f"{message[:MAX_ERROR_CHARS]}... (message cut at {MAX_ERROR_CHARS} characters)"
    return code, message


def _bad_request_status(message: str, field: str | None) -> grpc.Status:
    """INVALID_ARGUMENT with a google.rpc.BadRequest detail for ``field`` (the error's attribute).

    The description is the message without its leading ``"<field>: "``; without a field
    the violation names none ("") and carries the whole message.
    """
    prefix = f"{field}: "
    description = message[len(prefix) :] if field and message.startswith(prefix) else message
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=field or "", description=description)
            ]
        )
    )
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    )
