"""Artifact store backend on S3 or MinIO (``s3://bucket/prefix?endpoint=host:port``).

Objects live under ``<prefix>/`` in one bucket. A store path is written with one
PUT (atomic in S3: readers see the old object, or none, or all of the new one);
objects over 5 GiB fall back to a multipart upload, which S3 also publishes only
when it completes.

Failures. The client's connection pool uses short timeouts and few retries
(connect 3 s, read 30 s, 2 retries with 0.2 s backoff, Retry-After ignored), so a
dead server (connection refused) fails in under a second instead of hanging; an
unreachable host takes up to 3 x 3 s, and a server that accepts but never answers
up to 3 x 30 s (``read_timeout`` bounds each wait). Every failure to talk to
the server — refused or dropped connections, timeouts, 5xx answers, unexpected
responses, denied access — becomes :class:`~motiflens.errors.UnavailableError`
naming the store, the endpoint and the cause, e.g. ``artifact store
s3://bucket/prefix at 127.0.0.1:9000 is unavailable: connection refused``.
A missing bucket is :class:`~services.common.store.base.MissingBucketError`, an
UnavailableError ("bucket ... does not exist"): the store is not ready yet (on
Kubernetes the bucket is created by a set-up job), health checks keep reporting
NOT_SERVING, and retrying after it is created succeeds. :meth:`S3Store.create_bucket`
creates it when asked to (``motiflens up --create-bucket``); nothing creates it silently.
A missing object is :class:`~motiflens.errors.NotFoundError`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import minio
import urllib3
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import MAX_PART_SIZE, MIN_PART_SIZE

from motiflens.errors import InvalidInputError, NotFoundError, UnavailableError
from services.common.store.base import FILE_CHUNK_BYTES, ArtifactStore, MissingBucketError
from services.common.store.layout import KEY_PATTERN

BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
#: Part size of streamed (multipart) uploads: S3 takes 5 MiB to 5 GiB and 10,000 parts
#: (80 GB at 8 MiB); minio holds about two parts in memory.
STREAM_PART_SIZE = 8 * 1024 * 1024
#: Errors that mean "the server could not be used", turned into UnavailableError.
TRANSPORT_ERRORS = (MinioException, urllib3.exceptions.HTTPError, OSError)


class S3Store(ArtifactStore):
    """Artifacts and records as objects in an S3/MinIO bucket, through the ``minio`` SDK.

    Nothing is contacted on construction; :meth:`ping` checks that the bucket exists.

    Parameters
    ----------
    bucket : str
        An existing bucket (3-63 lower-case letters, digits, '.', '-').
    prefix : str
        Key prefix inside the bucket, without leading or trailing '/' ("" for none).
    endpoint : str
        ``host:port`` of the server, without scheme.
    access_key, secret_key : str, optional
        Credentials; both or neither (anonymous).
    secure : bool
        Use TLS (default True).
    region : str, optional
        Bucket region; default asks the server once per bucket.
    connect_timeout, read_timeout : float
        Seconds per connection attempt (default 3) and per socket read (default 30).
    retries : int
        Retries of a failed request (default 2), with 0.2 s exponential backoff.

    Raises
    ------
    InvalidInputError
        Malformed bucket, prefix or endpoint.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint: str = "",
        access_key: str | None = None,
        secret_key: str | None = None,
        secure: bool = True,
        region: str | None = None,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        retries: int = 2,
    ) -> None:
        if not isinstance(bucket, str) or not BUCKET_PATTERN.fullmatch(bucket) or ".." in bucket:
            raise InvalidInputError(
                f"S3 bucket: {bucket!r} is not a valid bucket name; expected 3-63 lower-case "
                "letters, digits, '.' or '-'"
            )
        prefix = prefix.strip("/")
        if prefix and not all(KEY_PATTERN.fullmatch(part) for part in prefix.split("/")):
            raise InvalidInputError(
                f"S3 prefix: {prefix!r} is not valid; expected '/'-separated names of letters, digits, "
                "'_', '-', '.' (not starting with '.')"
            )
        if not endpoint or "/" in endpoint:
            raise InvalidInputError(
                f"S3 endpoint: expected host:port without scheme or path, got {endpoint!r}"
            )
        if bool(access_key) != bool(secret_key):
            raise InvalidInputError("S3 credentials: give both the access key and the secret key, or neither")
        super().__init__()
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.read_timeout = read_timeout
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            maxsize=10,
            retries=urllib3.Retry(
                total=retries,
                backoff_factor=0.2,
                status_forcelist=(500, 502, 503, 504),
                respect_retry_after_header=False,
            ),
        )
        try:
            self._client = minio.Minio(
                endpoint,
                access_key=access_key or None,
                secret_key=secret_key or None,
                secure=secure,
                region=region,
                http_client=http,
            )
        except ValueError as exc:
            raise InvalidInputError(f"S3 endpoint {endpoint!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint={self.endpoint!r})"

    # ---- helpers
    def _key(self, path: str) -> str:
        """Object key for a store path, refused if it could mean anything but itself."""
        parts = path.split("/")
        if path.startswith("/") or "\\" in path or any(part in (".", "..") for part in parts):
            raise InvalidInputError(f"store path {path!r} leads outside the store; refused")
        return f"{self.prefix}/{path}" if self.prefix else path

    def _unavailable(self, exc: BaseException) -> UnavailableError:
        message = f"artifact store {self.url} at {self.endpoint} is unavailable: {self._describe(exc)}"
        if isinstance(exc, S3Error) and exc.code == "NoSuchBucket":
            return MissingBucketError(message, bucket=self.bucket, endpoint=self.endpoint)
        return UnavailableError(message)

    def _missing_bucket(self) -> MissingBucketError:
        return MissingBucketError(
            f"artifact store {self.url} at {self.endpoint} is unavailable: {self._no_bucket()}",
            bucket=self.bucket,
            endpoint=self.endpoint,
        )

    def _no_bucket(self) -> str:
        return (
            f"bucket {self.bucket!r} does not exist (create it first, e.g. `mc mb ALIAS/{self.bucket}`, "
            "or start the stack with `motiflens up --create-bucket`)"
        )

    def _describe(self, exc: BaseException) -> str:
        """A short, human cause for a transport or server error."""
        if isinstance(exc, S3Error):
            if exc.code == "NoSuchBucket":
                return self._no_bucket()
            if exc.code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return (
                    f"access denied ({exc.code}); check MOTIFLENS_S3_ACCESS_KEY / MOTIFLENS_S3_SECRET_KEY "
                    "and the bucket policy"
                )
            return f"S3 error {exc.code}: {exc.message}"
        if isinstance(exc, ServerError):
            return f"server error (HTTP {exc.status_code})"
        if isinstance(exc, InvalidResponseError):
            return f"unexpected response: {str(exc)[:200]}"
        if isinstance(exc, urllib3.exceptions.MaxRetryError):
            reason = exc.reason
            if reason is None or isinstance(reason, urllib3.exceptions.ResponseError):
                return "the server kept answering with errors (retries exhausted)"
            return self._describe(reason)
        cause: BaseException | None = exc
        for _ in range(8):  # the socket error lies behind urllib3's wrappers
            if cause is None:
                break
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return f"cannot connect ({exc})"
        if isinstance(exc, urllib3.exceptions.ConnectTimeoutError):
            return "connection timed out"
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
            return f"the server stopped answering (no data for {self.read_timeout:g} s)"
        if isinstance(exc, urllib3.exceptions.ProtocolError):
            return f"connection lost ({exc})"
        return f"{type(exc).__name__}: {exc}"

    # ---- primitives
    def ping(self) -> None:
        """Raise UnavailableError unless the server answers; MissingBucketError if there is no bucket."""
        try:
            exists = self._client.bucket_exists(self.bucket)
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc
        if not exists:
            raise self._missing_bucket()

    def create_bucket(self) -> bool:
        """Create the bucket if it does not exist (in the client's region); True if this call made it.

        Raises
        ------
        UnavailableError
            The server cannot be reached, refuses (access denied), or the name belongs
            to another account.
        """
        try:
            if self._client.bucket_exists(self.bucket):
                return False
            self._client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code == "BucketAlreadyOwnedByYou":  # made in between by someone with our keys
                return False
            if exc.code == "BucketAlreadyExists":
                raise UnavailableError(
                    f"artifact store {self.url} at {self.endpoint}: bucket {self.bucket!r} cannot be "
                    "created: the name is taken by another account; choose another bucket"
                ) from exc
            raise self._unavailable(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc
        return True

    def _put(self, path: str, data: bytes) -> None:
        key = self._key(path)
        # One part (a single PUT) for everything up to S3's 5 GiB single-PUT limit.
        part_size = max(MIN_PART_SIZE, len(data)) if len(data) <= MAX_PART_SIZE else 0
        try:
            self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                length=len(data),
                content_type="application/octet-stream",
                part_size=part_size,
            )
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc

    def _put_file(self, path: str, local: Path) -> None:
        # Multipart upload in STREAM_PART_SIZE pieces, one at a time: minio's default of three
        # parallel uploads queues every part it has read, so memory grew with the file.
        try:
            self._client.fput_object(
                self.bucket,
                self._key(path),
                str(local),
                content_type="application/octet-stream",
                part_size=STREAM_PART_SIZE,
                num_parallel_uploads=1,
            )
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc

    def _get_file(self, path: str, local: Path, *, missing: str) -> None:
        key = self._key(path)
        response = None
        try:
            response = self._client.get_object(self.bucket, key)
            with open(local, "wb") as out:
                for chunk in response.stream(FILE_CHUNK_BYTES):
                    out.write(chunk)
        except S3Error as exc:
            local.unlink(missing_ok=True)
            if exc.code == "NoSuchKey":
                raise NotFoundError(f"{missing} does not exist") from exc
            raise self._unavailable(exc) from exc
        except TRANSPORT_ERRORS as exc:
            local.unlink(missing_ok=True)
            raise self._unavailable(exc) from exc
        finally:
            if response is not None:
                response.close()
                response.release_conn()

    def _get(self, path: str, *, missing: str) -> bytes:
        key = self._key(path)
        response = None
        try:
            response = self._client.get_object(self.bucket, key)
            return response.read()
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                raise NotFoundError(f"{missing} does not exist") from exc
            raise self._unavailable(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc
        finally:
            if response is not None:
                response.close()
                response.release_conn()

    def _exists(self, path: str) -> bool:
        key = self._key(path)
        try:
            self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "ResourceNotFound"):
                return False
            raise self._unavailable(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc
        return True

    def _delete(self, path: str) -> None:
        key = self._key(path)
        try:
            self._client.remove_object(self.bucket, key)  # S3 answers 204 for a missing key too
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "ResourceNotFound"):
                return
            raise self._unavailable(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc

    def _list(self, prefix: str, *, dirs: bool) -> list[str]:
        """Names directly under ``prefix``: the 'directories' or the objects."""
        key_prefix = self._key(prefix.rstrip("/")) + "/"
        names = []
        try:
            for item in self._client.list_objects(self.bucket, prefix=key_prefix, recursive=False):
                name = item.object_name[len(key_prefix) :]
                if item.is_dir and dirs:
                    names.append(name.rstrip("/"))
                elif not item.is_dir and not dirs and name:
                    names.append(name)
        except TRANSPORT_ERRORS as exc:
            raise self._unavailable(exc) from exc
        return sorted(names)

    def _list_prefixes(self, prefix: str) -> list[str]:
        return self._list(prefix, dirs=True)

    def _list_names(self, prefix: str) -> list[str]:
        return self._list(prefix, dirs=False)
