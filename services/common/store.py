"""Artifact store: one interface, two backends chosen by URL.

- ``file:///absolute/path`` — a local directory (the embedded default).
- ``s3://bucket/prefix?endpoint=host:port&secure=false`` — MinIO or any S3 through
  the ``minio`` SDK; credentials from ``MOTIFLENS_S3_ACCESS_KEY`` /
  ``MOTIFLENS_S3_SECRET_KEY`` (falling back to ``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY``); ``secure`` defaults to true (TLS). The bucket must
  exist; a missing one makes the store unavailable until it is created.

Two kinds of things are stored:

Artifacts (data sets, models, results) are immutable. An artifact is a set of
named objects under ``artifacts/<artifact_id>/`` plus ``manifest.json`` written
*last*; an artifact without a manifest does not exist for readers, so a writer
that dies half-way leaves nothing visible. The manifest records the kind, the
sha256 and size of every object, provenance (data set, config, seed, code
version) and the creation time.

Records (job state and events) are small mutable JSON documents under
``records/<namespace>/<key>.json``, overwritten whole.

Ids are generated here (``<kind>-<32 hex>``), never taken from user paths, and
every id or key is checked against a strict pattern before it touches a path or
an object name, so ``../`` can never reach outside the store. The backends check
again when they build a path or object key (a second line of defence).

Errors: InvalidInputError (malformed id, key or URL), NotFoundError (unknown or
half-written artifact, unknown object or record), AlreadyExistsError (artifact id
reused), UnavailableError (the backend cannot be reached, or its bucket/directory
is missing; the message names the store and the cause) and
:class:`CorruptArtifactError` (stored bytes no longer match the manifest: a
server-side fault, reported as INTERNAL rather than blamed on the caller).
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from motiflens.errors import AlreadyExistsError, InvalidInputError, MotiflensError, NotFoundError
from services.common.limits import quote

logger = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,15}-[0-9a-f]{32}$")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MANIFEST = "manifest.json"
URL_FORMS = (
    "file:///absolute/path",
    "s3://bucket[/prefix]?endpoint=host:port[&secure=true|false][&region=name]",
)


class CorruptArtifactError(MotiflensError):
    """Stored data does not match its manifest (bad hash, unreadable manifest).

    A fault of the store, not of the caller: the gRPC error mapping reports a
    plain :class:`~motiflens.errors.MotiflensError` as INTERNAL with this message.
    """


def utc_now() -> str:
    """RFC 3339 UTC time with seconds, e.g. 2026-11-26T13:45:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(prefix: str) -> str:
    """A fresh id ``<prefix>-<32 hex>``; prefix is a short lower-case word such as "ds" or "model"."""
    if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", prefix):
        raise InvalidInputError(f"id prefix: expected 1-16 lower-case letters/digits, got {prefix!r}")
    return f"{prefix}-{uuid.uuid4().hex}"


def check_id(artifact_id: str, *, field_name: str = "id", prefix: str | None = None) -> str:
    """Return ``artifact_id`` if it is a well-formed id (optionally with ``prefix``), else raise.

    Raises
    ------
    InvalidInputError
        Malformed id (this is where ``../`` and other paths are stopped).
    """
    if not isinstance(artifact_id, str) or not ID_PATTERN.fullmatch(artifact_id):
        raise InvalidInputError(
            f"{field_name}: {quote(artifact_id)} is not a valid id; expected '<kind>-<32 hex digits>' "
            "as returned by the service"
        )
    if prefix is not None and not artifact_id.startswith(prefix + "-"):
        raise InvalidInputError(
            f"{field_name}: expected an id starting with '{prefix}-', got {quote(artifact_id)}"
        )
    return artifact_id


def check_key(key: str, *, field_name: str = "key") -> str:
    """Return ``key`` if it is a safe object/record name (no '/', no leading '.'), else raise."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise InvalidInputError(
            f"{field_name}: {quote(key)} is not a valid name; expected letters, digits, '_', '-', '.' "
            "(not starting with '.'), at most 128 characters"
        )
    return key


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


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


class ArtifactStore(abc.ABC):
    """Interface of both backends; every method raises motiflens.errors types only.

    InvalidInputError for malformed ids/keys, NotFoundError for unknown artifacts,
    records or objects, AlreadyExistsError when an artifact id is reused,
    UnavailableError (with the URL and the cause) when the backend cannot be reached,
    and CorruptArtifactError (a MotiflensError, so INTERNAL over gRPC) when stored
    bytes no longer match their manifest.

    Backends implement the primitives at the bottom; the paths they receive are
    built here from checked ids and keys, and a backend refuses any path that would
    leave the store anyway.
    """

    #: Where the store lives, for messages and logs (never holds credentials).
    url: str

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
            raise InvalidInputError(f"kind: expected a non-empty string, got {kind!r}")
        artifact_id = check_id(artifact_id) if artifact_id else new_id(id_prefix or kind.split("_")[0][:16])
        for field_name, value in (("provenance", provenance), ("metadata", metadata)):
            try:
                json.dumps(dict(value or {}))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"{field_name}: expected JSON-serialisable values ({exc})") from exc
        names = list(objects.keys())
        for name in names:  # validate every name before the first write
            check_key(name, field_name="object name")
            if name == MANIFEST:
                raise InvalidInputError(f"object name: {MANIFEST!r} is reserved")
        if self._exists(f"artifacts/{artifact_id}/{MANIFEST}"):
            raise AlreadyExistsError(f"artifact {artifact_id!r} exists already; artifacts are immutable")
        infos = {}
        for name in names:
            content = objects[name]
            data = Path(content).read_bytes() if isinstance(content, Path) else bytes(content)
            self._put(f"artifacts/{artifact_id}/{name}", data)
            infos[name] = ObjectInfo(sha256=sha256_hex(data), size=len(data))
        manifest = Manifest(
            artifact_id=artifact_id,
            kind=kind,
            created_at=utc_now(),
            objects=infos,
            provenance=dict(provenance or {}),
            metadata=dict(metadata or {}),
        )
        self._put(f"artifacts/{artifact_id}/{MANIFEST}", manifest.to_json())
        return manifest

    def get_manifest(self, artifact_id: str, *, kind: str | None = None) -> Manifest:
        """The manifest of a complete artifact (optionally required to be of ``kind``).

        Raises NotFoundError for unknown ids, half-written artifacts and kind mismatches.
        """
        check_id(artifact_id)
        data = self._get(f"artifacts/{artifact_id}/{MANIFEST}", missing=f"artifact {artifact_id!r}")
        try:
            manifest = Manifest.from_json(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CorruptArtifactError(f"artifact {artifact_id!r}: manifest is unreadable ({exc})") from exc
        if manifest.artifact_id != artifact_id:
            raise CorruptArtifactError(
                f"artifact {artifact_id!r}: manifest names another artifact ({manifest.artifact_id!r})"
            )
        if kind is not None and manifest.kind != kind:
            raise NotFoundError(f"artifact {artifact_id!r} is a {manifest.kind}, not a {kind}")
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
        data = self._get(f"artifacts/{artifact_id}/{name}", missing=f"object {name!r} of {artifact_id!r}")
        if sha256_hex(data) != manifest.objects[name].sha256:
            raise CorruptArtifactError(
                f"artifact {artifact_id!r}: object {name!r} does not match the sha256 in its manifest; "
                "the stored copy is corrupt"
            )
        return data

    def fetch_artifact(self, artifact_id: str, directory: Path) -> Manifest:
        """Copy every object of an artifact into ``directory`` (created), verified."""
        manifest = self.get_manifest(artifact_id)
        for name in manifest.objects:  # names come from the stored manifest: check before use
            check_key(name, field_name="object name")
        directory.mkdir(parents=True, exist_ok=True)
        for name in manifest.objects:
            (directory / name).write_bytes(self.read_object(artifact_id, name))
        return manifest

    def list_artifacts(self, kind: str | None = None) -> list[Manifest]:
        """Manifests of complete artifacts, newest first (optionally of one kind).

        Artifacts without a manifest are left out, and so are (with a logged warning)
        those whose manifest is unreadable.
        """
        manifests = []
        for artifact_id in self._list_prefixes("artifacts/"):
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
        """Write (overwrite) a small JSON record."""
        check_key(namespace, field_name="namespace")
        check_key(key)
        self._put(f"records/{namespace}/{key}.json", json.dumps(record, sort_keys=True).encode())

    def get_record(self, namespace: str, key: str) -> dict:
        """Read a record; NotFoundError when absent."""
        check_key(namespace, field_name="namespace")
        check_key(key)
        return json.loads(self._get(f"records/{namespace}/{key}.json", missing=f"{namespace} record {key!r}"))

    def list_records(self, namespace: str) -> list[dict]:
        """Every record of a namespace (unordered)."""
        check_key(namespace, field_name="namespace")
        records = []
        for name in self._list_names(f"records/{namespace}/"):
            if name.endswith(".json"):
                try:
                    records.append(self.get_record(namespace, name[: -len(".json")]))
                except NotFoundError:
                    continue
        return records

    # ---- backend primitives
    @abc.abstractmethod
    def ping(self) -> None:
        """Raise UnavailableError unless the backend answers."""

    @abc.abstractmethod
    def _put(self, path: str, data: bytes) -> None:
        """Write one object atomically (readers see all of it or none)."""

    @abc.abstractmethod
    def _get(self, path: str, *, missing: str) -> bytes:
        """Read one object; NotFoundError mentioning ``missing`` when absent."""

    @abc.abstractmethod
    def _exists(self, path: str) -> bool:
        """Whether an object exists."""

    @abc.abstractmethod
    def _list_prefixes(self, prefix: str) -> list[str]:
        """Names of the immediate 'directories' under prefix."""

    @abc.abstractmethod
    def _list_names(self, prefix: str) -> list[str]:
        """Names of the objects directly under prefix."""


def _parse_bool(value: str, *, field_name: str) -> bool:
    """Parse a URL flag such as ``secure=false``."""
    flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if value.lower() not in flags:
        raise InvalidInputError(f"{field_name}: expected true or false, got {value!r}")
    return flags[value.lower()]


def _s3_credentials(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Access and secret key from MOTIFLENS_S3_* or else AWS_* (both of a pair, or neither)."""
    for access_var, secret_var in (
        ("MOTIFLENS_S3_ACCESS_KEY", "MOTIFLENS_S3_SECRET_KEY"),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ):
        access_key, secret_key = environ.get(access_var), environ.get(secret_var)
        if access_key or secret_key:
            if not (access_key and secret_key):
                raise InvalidInputError(f"S3 credentials: {access_var} and {secret_var} must be set together")
            return access_key, secret_key
    return None, None


def open_store(url: str, *, environ: Mapping[str, str] | None = None) -> ArtifactStore:
    """Open the store named by ``url``; nothing is contacted until the first call.

    Parameters
    ----------
    url : str
        ``file:///absolute/path`` (the directory is created) or
        ``s3://bucket[/prefix]?endpoint=host:port[&secure=true|false][&region=name]``.
        ``secure`` defaults to true (TLS); ``region`` defaults to asking the server.
        The bucket must exist (see :meth:`ArtifactStore.ping`).
    environ : mapping, optional
        Where S3 credentials are read (default ``os.environ``):
        ``MOTIFLENS_S3_ACCESS_KEY`` / ``MOTIFLENS_S3_SECRET_KEY``, else
        ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``; none means anonymous.

    Returns
    -------
    ArtifactStore

    Raises
    ------
    InvalidInputError
        Unsupported scheme or malformed URL (the message lists the accepted forms).
    """
    # Backends import this module, so they are imported here rather than at the top.
    accepted = "; accepted forms: " + ", ".join(URL_FORMS)
    if not isinstance(url, str) or not url:
        raise InvalidInputError(f"store URL: expected a URL, got {url!r}{accepted}")
    parts = urlsplit(url)
    if parts.scheme == "file":
        from services.common.store_file import FileStore

        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InvalidInputError(
                f"store URL {url!r}: a file URL is file:// followed by an absolute path{accepted}"
            )
        path = Path(unquote(parts.path))
        if not path.is_absolute() or ".." in path.parts:
            raise InvalidInputError(f"store URL {url!r}: the path must be absolute, without '..'{accepted}")
        return FileStore(path)
    if parts.scheme == "s3":
        from services.common.store_s3 import S3Store

        if not parts.hostname or parts.username or parts.password or parts.fragment:
            raise InvalidInputError(
                f"store URL {url!r}: expected s3://bucket[/prefix]?endpoint=host:port (credentials come "
                f"from the environment, never the URL){accepted}"
            )
        try:
            query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        except ValueError as exc:
            raise InvalidInputError(f"store URL {url!r}: malformed query ({exc}){accepted}") from exc
        unknown = sorted(set(query) - {"endpoint", "secure", "region"})
        repeated = sorted(name for name, values in query.items() if len(values) > 1)
        if unknown or repeated:
            raise InvalidInputError(
                f"store URL {url!r}: unknown or repeated parameters {unknown + repeated}; "
                f"expected endpoint, secure, region{accepted}"
            )
        endpoint = query.get("endpoint", [""])[0]
        if not endpoint:
            raise InvalidInputError(f"store URL {url!r}: endpoint=host:port is required{accepted}")
        secure = _parse_bool(query.get("secure", ["true"])[0], field_name=f"store URL {url!r}: secure")
        access_key, secret_key = _s3_credentials(os.environ if environ is None else environ)
        return S3Store(
            bucket=parts.netloc,
            prefix=unquote(parts.path).strip("/"),
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=query.get("region", [None])[0] or None,
        )
    raise InvalidInputError(f"store URL {url!r}: unsupported scheme {parts.scheme!r}{accepted}")
