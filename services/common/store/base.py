"""The artifact store interface (:class:`ArtifactStore`), manifests, record checksums, retries.

See :mod:`services.common.store` for the store's contract; :mod:`.layout` holds the ids,
keys and paths, :mod:`.file` and :mod:`.s3` the two backends.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from motiflens.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidInputError,
    MotiflensError,
    NotFoundError,
    UnavailableError,
)
from services.common.store.layout import (
    ARTIFACTS,
    ID_PATTERN,
    MANIFEST,
    artifact_path,
    blob_path,
    check_id,
    check_key,
    new_id,
    record_path,
    records_prefix,
)

logger = logging.getLogger(__name__)

RECORD_FORMAT = "motiflens.record.v1"
BLOB_MAGIC = b"motiflens.blob.v1 "


class CorruptArtifactError(MotiflensError):
    """Stored data does not match its manifest (bad hash, unreadable manifest).

    A fault of the store, not of the caller: the gRPC error mapping reports a
    plain :class:`~motiflens.errors.MotiflensError` as INTERNAL with this message.
    """


class CorruptRecordError(CorruptArtifactError, FailedPreconditionError):
    """A stored record or blob fails its checksum or does not parse.

    Also a :class:`~motiflens.errors.FailedPreconditionError`, so the gRPC mapping
    reports FAILED_PRECONDITION with the message (which names the record): the
    request was fine, but that one id cannot be served until the record is restored
    or deleted. Listings skip such records instead of raising.
    """


class MissingBucketError(UnavailableError):
    """An S3 store's bucket does not exist: unavailable until someone creates it.

    Still an :class:`~motiflens.errors.UnavailableError` (a service reports NOT_SERVING
    and retrying after the bucket is made succeeds); the launcher tells it apart to
    answer at once with the fix instead of waiting for health checks that cannot pass.

    Attributes
    ----------
    bucket : str
        The missing bucket's name.
    endpoint : str
        ``host:port`` of the S3 server asked.
    """

    def __init__(self, message: str, *, bucket: str, endpoint: str) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.endpoint = endpoint


def utc_now() -> str:
    """RFC 3339 UTC time with seconds, e.g. 2026-11-26T13:45:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ObjectInfo:
    """One object of an artifact: its content hash and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """The JSON manifest of an artifact (written last).

    Attributes
    ----------
    artifact_id : str
    kind : str
        "dataset", "model", "result", "database", ...
    created_at : str
        RFC 3339 UTC.
    objects : dict of str to ObjectInfo
        Object name -> hash and size.
    provenance : dict
        Where it came from: data set id, config, seed, code version, ...
    metadata : dict
        Small descriptive fields for listings (name, shapes, metrics, ...).
    """

    artifact_id: str
    kind: str
    created_at: str
    objects: dict[str, ObjectInfo]
    provenance: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Serialised manifest."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse a serialised manifest."""
        raw = json.loads(data)
        raw["objects"] = {name: ObjectInfo(**info) for name, info in raw["objects"].items()}
        return cls(**raw)


#: Bytes read at a time when a file is hashed or copied (memory stays at this, whatever the size).
FILE_CHUNK_BYTES = 1024 * 1024


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a local file, read in FILE_CHUNK_BYTES pieces."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(FILE_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _a(noun: str) -> str:
    """``noun`` with its indefinite article ("a model", "an upload")."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def _canonical(body: object) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def encode_record(record: Mapping) -> bytes:
    """The stored form of a record: ``{"format", "sha256", "record"}``, the hash over canonical JSON.

    Raises
    ------
    InvalidInputError
        ``record`` is not a JSON-serialisable mapping.
    """
    try:
        # One round trip first, so the hash covers what a reader will parse (tuples become
        # lists, keys strings) and not the writer's Python objects.
        body = json.loads(json.dumps(dict(record)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"record: expected a JSON-serialisable mapping ({exc})", field="record"
        ) from exc
    envelope = {"format": RECORD_FORMAT, "sha256": sha256_hex(_canonical(body)), "record": body}
    return json.dumps(envelope, sort_keys=True).encode()


def decode_record(data: bytes, *, what: str) -> dict:
    """Parse and verify a stored record (see :func:`encode_record`); a bare JSON object is a legacy record.

    Raises
    ------
    CorruptRecordError
        Not JSON, not an object, or the checksum does not match (the message names ``what``).
    """
    try:
        stored = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(
            f"{what} is corrupt ({len(data)} bytes that do not parse as JSON: {exc}); restore it or delete it"
        ) from None
    if not isinstance(stored, dict):
        raise CorruptRecordError(f"{what} is corrupt (a JSON {type(stored).__name__}, not an object)")
    if stored.get("format") != RECORD_FORMAT:
        return stored  # written before records carried a checksum
    body = stored.get("record")
    if not isinstance(body, dict) or stored.get("sha256") != sha256_hex(_canonical(body)):
        raise CorruptRecordError(f"{what} is corrupt (its sha256 does not match); restore it or delete it")
    return body


class ArtifactStore(abc.ABC):
    """Interface of both backends; every method raises motiflens.errors types only.

    InvalidInputError for malformed ids/keys, NotFoundError for unknown artifacts,
    records or objects, AlreadyExistsError when an artifact id is reused,
    UnavailableError (with the URL and the cause) when the backend cannot be reached,
    CorruptArtifactError (a MotiflensError, so INTERNAL over gRPC) when stored
    bytes no longer match their manifest, and CorruptRecordError (FAILED_PRECONDITION)
    when a record or blob fails its checksum.

    Backends implement the primitives at the bottom; the paths they receive are
    built here from checked ids and keys, and a backend refuses any path that would
    leave the store anyway.
    """

    #: Where the store lives, for messages and logs (never holds credentials).
    url: str

    def __init__(self) -> None:
        self._warned: set[str] = set()
        self._warned_lock = threading.Lock()

    # ---- artifacts
    def put_artifact(
        self,
        kind: str,
        objects: Mapping[str, bytes | Path],
        *,
        provenance: Mapping | None = None,
        metadata: Mapping | None = None,
        artifact_id: str | None = None,
        id_prefix: str | None = None,
    ) -> Manifest:
        """Store an immutable artifact: every object first, the manifest last.

        Parameters
        ----------
        kind : str
            Artifact kind, recorded in the manifest.
        objects : mapping of name to bytes or a local file path
            Names must pass :func:`check_key`; ``manifest.json`` is reserved. Every
            name is checked before anything is written.
        provenance, metadata : mappings of JSON-serialisable values
        artifact_id : str, optional
            A pre-generated id (from :func:`new_id`); default a new id with ``id_prefix``
            (default: ``kind``'s first word).

        Returns
        -------
        Manifest
            The manifest as written.

        Raises
        ------
        InvalidInputError
            Malformed id, id prefix or object name; provenance or metadata not JSON.
        AlreadyExistsError
            ``artifact_id`` names a complete artifact.
        UnavailableError
            The backend failed part-way; no manifest was written, so readers see nothing.
        """
        if not isinstance(kind, str) or not kind:
            raise InvalidInputError(f"kind: expected a non-empty string, got {kind!r}", field="kind")
        artifact_id = check_id(artifact_id) if artifact_id else new_id(id_prefix or kind.split("_")[0][:16])
        for field_name, value in (("provenance", provenance), ("metadata", metadata)):
            try:
                json.dumps(dict(value or {}))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"{field_name}: expected JSON-serialisable values ({exc})", field=field_name
                ) from exc
        names = list(objects.keys())
        for name in names:  # validate every name before the first write
            check_key(name, field_name="object name")
            if name == MANIFEST:
                raise InvalidInputError(f"object name: {MANIFEST!r} is reserved", field="object name")
        if self._exists(artifact_path(artifact_id)):
            raise AlreadyExistsError(f"artifact {artifact_id!r} exists already; artifacts are immutable")
        infos = {}
        try:
            for name in names:
                content = objects[name]
                if isinstance(content, Path):  # streamed: a file of any size costs one chunk of memory
                    digest, size = sha256_file(content)
                    self._put_file(artifact_path(artifact_id, name), content)
                    infos[name] = ObjectInfo(sha256=digest, size=size)
                else:
                    data = bytes(content)
                    self._put(artifact_path(artifact_id, name), data)
                    infos[name] = ObjectInfo(sha256=sha256_hex(data), size=len(data))
            manifest = Manifest(
                artifact_id=artifact_id,
                kind=kind,
                created_at=utc_now(),
                objects=infos,
                provenance=dict(provenance or {}),
                metadata=dict(metadata or {}),
            )
            self._put(artifact_path(artifact_id), manifest.to_json())
        except Exception:
            self._discard(artifact_id, [*names, MANIFEST])
            raise
        return manifest

    def _discard(self, artifact_id: str, names: list[str]) -> None:
        """Remove the objects a failed put_artifact wrote (best effort: it is failing already)."""
        for name in names:
            try:
                self._delete(artifact_path(artifact_id, name))
            except Exception:  # noqa: BLE001 - invisible without a manifest anyway
                logger.warning("could not remove %s/%s of a failed write", artifact_id, name)

    def get_manifest(self, artifact_id: str, *, kind: str | None = None) -> Manifest:
        """The manifest of a complete artifact (optionally required to be of ``kind``).

        Raises NotFoundError for unknown ids, half-written artifacts and kind mismatches.
        """
        check_id(artifact_id)
        data = self._get(artifact_path(artifact_id), missing=f"artifact {artifact_id!r}")
        try:
            manifest = Manifest.from_json(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CorruptArtifactError(f"artifact {artifact_id!r}: manifest is unreadable ({exc})") from exc
        if manifest.artifact_id != artifact_id:
            raise CorruptArtifactError(
                f"artifact {artifact_id!r}: manifest names another artifact ({manifest.artifact_id!r})"
            )
        if kind is not None and manifest.kind != kind:
            raise NotFoundError(f"artifact {artifact_id!r} is {_a(manifest.kind)}, not {_a(kind)}")
        return manifest

    def read_object(self, artifact_id: str, name: str) -> bytes:
        """One object's bytes, checked against the manifest's sha256.

        Raises
        ------
        InvalidInputError
            Malformed id or object name.
        NotFoundError
            Unknown artifact, or no such object in it.
        CorruptArtifactError
            The stored bytes do not match the manifest's sha256.
        """
        check_id(artifact_id)
        check_key(name, field_name="object name")
        manifest = self.get_manifest(artifact_id)
        if name not in manifest.objects:
            names = ", ".join(sorted(manifest.objects))
            raise NotFoundError(f"artifact {artifact_id!r} has no object {name!r}; it has: {names}")
        data = self._get(artifact_path(artifact_id, name), missing=f"object {name!r} of {artifact_id!r}")
        if sha256_hex(data) != manifest.objects[name].sha256:
            raise CorruptArtifactError(
                f"artifact {artifact_id!r}: object {name!r} does not match the sha256 in its manifest; "
                "the stored copy is corrupt"
            )
        return data

    def fetch_artifact(self, artifact_id: str, directory: Path) -> Manifest:
        """Copy every object of an artifact into ``directory`` (created), verified.

        Objects are streamed to disk (memory: one chunk, whatever their size) and checked
        against the manifest's sha256 and size afterwards.

        Raises
        ------
        NotFoundError
            Unknown artifact, or an object missing from the store.
        CorruptArtifactError
            An object's bytes do not match its manifest entry (the copy is removed).
        """
        manifest = self.get_manifest(artifact_id)
        for name in manifest.objects:  # names come from the stored manifest: check before use
            check_key(name, field_name="object name")
        directory.mkdir(parents=True, exist_ok=True)
        for name, info in manifest.objects.items():
            local = directory / name
            self._get_file(
                artifact_path(artifact_id, name), local, missing=f"object {name!r} of {artifact_id!r}"
            )
            if sha256_file(local) != (info.sha256, info.size):
                local.unlink(missing_ok=True)
                raise CorruptArtifactError(
                    f"artifact {artifact_id!r}: object {name!r} does not match the sha256 in its manifest; "
                    "the stored copy is corrupt"
                )
        return manifest

    def delete_artifact(self, artifact_id: str, *, kind: str | None = None) -> Manifest:
        """Remove an artifact: its manifest first (readers then see nothing), then its objects.

        A failure after the manifest is gone leaves only objects no reader looks at (the
        layout treats an artifact without a manifest as absent).

        Returns
        -------
        Manifest
            The manifest it had.

        Raises
        ------
        InvalidInputError
            Malformed id.
        NotFoundError
            No such artifact (or not of ``kind``).
        """
        manifest = self.get_manifest(artifact_id, kind=kind)
        self._delete(artifact_path(artifact_id))
        for name in manifest.objects:
            check_key(name, field_name="object name")
            try:
                self._delete(artifact_path(artifact_id, name))
            except Exception:  # noqa: BLE001 - invisible without the manifest; the space is the cost
                logger.warning("could not remove %s/%s of a deleted artifact", artifact_id, name)
        return manifest

    def list_artifacts(self, kind: str | None = None) -> list[Manifest]:
        """Manifests of complete artifacts, newest first (optionally of one kind).

        Artifacts without a manifest are left out, and so are (with a logged warning)
        those whose manifest is unreadable.
        """
        manifests = []
        for artifact_id in self._list_prefixes(ARTIFACTS):
            if not ID_PATTERN.fullmatch(artifact_id):
                continue
            try:
                manifest = self.get_manifest(artifact_id)
            except NotFoundError:
                continue  # half-written (no manifest yet): invisible
            except CorruptArtifactError as exc:
                logger.warning("artifact store %s: skipping %s in listings: %s", self.url, artifact_id, exc)
                continue
            if kind is None or manifest.kind == kind:
                manifests.append(manifest)
        return sorted(manifests, key=lambda m: (m.created_at, m.artifact_id), reverse=True)

    # ---- records
    def put_record(self, namespace: str, key: str, record: Mapping) -> None:
        """Write (overwrite) a small JSON record, with the sha256 of its canonical JSON.

        Raises
        ------
        InvalidInputError
            Malformed namespace or key, or a record that is not JSON-serialisable.
        UnavailableError
            The backend failed; the previous version of the record (if any) is intact.
        """
        check_key(namespace, field_name="namespace")
        check_key(key)
        self._put(record_path(namespace, key), encode_record(record))

    def delete_record(self, namespace: str, key: str) -> None:
        """Remove a record; no error when it does not exist."""
        check_key(namespace, field_name="namespace")
        check_key(key)
        self._delete(record_path(namespace, key))

    def get_record(self, namespace: str, key: str) -> dict:
        """Read a record, verified against its checksum.

        Raises
        ------
        NotFoundError
            No such record.
        CorruptRecordError
            The stored record does not parse or fails its checksum (the message names it).
        """
        check_key(namespace, field_name="namespace")
        check_key(key)
        path = record_path(namespace, key)
        return decode_record(self._get(path, missing=f"{namespace} record {key!r}"), what=path)

    def list_records(self, namespace: str) -> list[dict]:
        """Every readable record of a namespace (unordered); corrupt ones are skipped with a warning."""
        check_key(namespace, field_name="namespace")
        records = []
        for name in self._list_names(records_prefix(namespace)):
            if name.endswith(".json"):
                try:
                    records.append(self.get_record(namespace, name[: -len(".json")]))
                except NotFoundError:
                    continue
                except CorruptRecordError as exc:
                    self._warn_once(f"{records_prefix(namespace)}{name}", f"skipping it in listings: {exc}")
        return records

    # ---- blobs
    def put_blob(self, namespace: str, key: str, data: bytes) -> None:
        """Write (overwrite) a mutable binary object, e.g. a training checkpoint, with its sha256."""
        check_key(namespace, field_name="namespace")
        check_key(key)
        data = bytes(data)
        self._put(blob_path(namespace, key), BLOB_MAGIC + sha256_hex(data).encode() + b"\n" + data)

    def get_blob(self, namespace: str, key: str) -> bytes:
        """Read a blob written by :meth:`put_blob`, verified.

        Raises
        ------
        NotFoundError
            No such blob.
        CorruptRecordError
            Truncated, or its bytes do not match the stored sha256.
        """
        check_key(namespace, field_name="namespace")
        check_key(key)
        path = blob_path(namespace, key)
        stored = self._get(path, missing=f"{namespace} blob {key!r}")
        header, newline, data = stored[len(BLOB_MAGIC) :].partition(b"\n")
        intact = stored.startswith(BLOB_MAGIC) and newline and header == sha256_hex(data).encode()
        if not intact:
            raise CorruptRecordError(
                f"{path} is corrupt ({len(stored)} bytes that fail their sha256 check); "
                "restore it or delete it"
            )
        return data

    def delete_blob(self, namespace: str, key: str) -> None:
        """Remove a blob; no error when it does not exist."""
        check_key(namespace, field_name="namespace")
        check_key(key)
        self._delete(blob_path(namespace, key))

    def _warn_once(self, what: str, message: str) -> None:
        """Log a warning about ``what`` the first time only (listings run every few seconds)."""
        with self._warned_lock:
            if what in self._warned:
                return
            self._warned.add(what)
        logger.warning("artifact store %s: %s: %s", self.url, what, message)

    def create_bucket(self) -> bool:
        """Create the bucket this store lives in if it is missing; True if it was created.

        Only S3 stores have one (:class:`MissingBucketError` from :meth:`ping` says it is
        missing); a file store creates its directory when opened, so this is False there.
        Never called implicitly: creating a bucket is the operator's choice
        (``motiflens up --create-bucket``).

        Raises
        ------
        UnavailableError
            The server refused or could not be reached.
        """
        return False

    # ---- backend primitives
    @abc.abstractmethod
    def ping(self) -> None:
        """Raise UnavailableError unless the backend answers (MissingBucketError: no bucket)."""

    @abc.abstractmethod
    def _put(self, path: str, data: bytes) -> None:
        """Write one object atomically (readers see all of it or none)."""

    @abc.abstractmethod
    def _get(self, path: str, *, missing: str) -> bytes:
        """Read one object; NotFoundError mentioning ``missing`` when absent."""

    def _put_file(self, path: str, local: Path) -> None:
        """Write one object from a local file atomically; backends stream it (this fallback reads it)."""
        self._put(path, local.read_bytes())

    def _get_file(self, path: str, local: Path, *, missing: str) -> None:
        """Copy one object into a local file; backends stream it (this fallback holds it in memory)."""
        local.write_bytes(self._get(path, missing=missing))

    @abc.abstractmethod
    def _exists(self, path: str) -> bool:
        """Whether an object exists."""

    @abc.abstractmethod
    def _delete(self, path: str) -> None:
        """Remove one object; no error when it does not exist."""

    @abc.abstractmethod
    def _list_prefixes(self, prefix: str) -> list[str]:
        """Names of the immediate 'directories' under prefix."""

    @abc.abstractmethod
    def _list_names(self, prefix: str) -> list[str]:
        """Names of the objects directly under prefix."""


class RetryingStore(ArtifactStore):
    """A store whose backend calls retry through an outage of up to ``retry_seconds``.

    Every primitive (read, write, list, delete, ping) that raises UnavailableError is
    tried again after 0.5 s, 1 s, 2 s, ... (at most ``max_delay`` apart) until it
    succeeds or ``retry_seconds`` have passed since its first failure; then it raises
    UnavailableError("artifact store unreachable for <retry_seconds> s: <last cause>").
    Other errors (NotFoundError, corrupt data, bad keys) are raised at once: retrying
    cannot change them. Writes are whole-object overwrites, so repeating one is safe.

    Parameters
    ----------
    inner : ArtifactStore
        The store to call.
    retry_seconds : float
        How long one call keeps retrying (0: no retries).
    first_delay, max_delay : float
        Backoff: the first wait and the cap on the doubling waits, seconds (default 0.5, 10).
    sleep : callable, optional
        ``time.sleep`` (tests may pass another clock).
    """

    def __init__(
        self,
        inner: ArtifactStore,
        retry_seconds: float,
        *,
        first_delay: float = 0.5,
        max_delay: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.url = inner.url
        self.retry_seconds = float(retry_seconds)
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"RetryingStore({self.inner!r}, retry_seconds={self.retry_seconds:g})"

    def _retry(self, operation: Callable[[], object], what: str):
        started = time.monotonic()
        delay = self.first_delay
        attempts = 0
        while True:
            try:
                return operation()
            except UnavailableError as exc:
                attempts += 1
                left = started + self.retry_seconds - time.monotonic()
                if left <= 0:
                    raise UnavailableError(
                        f"artifact store unreachable for {self.retry_seconds:g} s: {exc} "
                        f"(while {what}; {attempts} attempt(s))"
                    ) from exc
                if attempts == 1:
                    logger.warning("%s failed (%s); retrying for up to %g s", what, exc, self.retry_seconds)
                self._sleep(min(delay, left))
                delay = min(delay * 2, self.max_delay)

    def ping(self) -> None:
        """Raise UnavailableError unless the backend answers within the retry window."""
        self._retry(self.inner.ping, "ping")

    def create_bucket(self) -> bool:
        """The inner store's :meth:`ArtifactStore.create_bucket` (not retried: a one-off set-up step)."""
        return self.inner.create_bucket()

    def _put(self, path: str, data: bytes) -> None:
        self._retry(lambda: self.inner._put(path, data), f"writing {path}")

    def _get(self, path: str, *, missing: str) -> bytes:
        return self._retry(lambda: self.inner._get(path, missing=missing), f"reading {path}")

    def _put_file(self, path: str, local: Path) -> None:
        self._retry(lambda: self.inner._put_file(path, local), f"writing {path}")

    def _get_file(self, path: str, local: Path, *, missing: str) -> None:
        self._retry(lambda: self.inner._get_file(path, local, missing=missing), f"reading {path}")

    def _exists(self, path: str) -> bool:
        return self._retry(lambda: self.inner._exists(path), f"checking {path}")

    def _delete(self, path: str) -> None:
        self._retry(lambda: self.inner._delete(path), f"deleting {path}")

    def _list_prefixes(self, prefix: str) -> list[str]:
        return self._retry(lambda: self.inner._list_prefixes(prefix), f"listing {prefix}")

    def _list_names(self, prefix: str) -> list[str]:
        return self._retry(lambda: self.inner._list_names(prefix), f"listing {prefix}")
