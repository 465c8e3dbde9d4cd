"""Artifact store: one interface, two backends chosen by URL.

The package: :mod:`.layout` (ids, keys, paths), :mod:`.base` (:class:`ArtifactStore`,
manifests, record checksums, :class:`RetryingStore`), :mod:`.file` and :mod:`.s3` (the
backends) and :func:`open_store` here, with :func:`check_store` (open, ping and, when
asked, create the bucket: what the launcher runs before it starts a service).

- ``file:///absolute/path`` — a local directory (the embedded default).
- ``s3://bucket/prefix?endpoint=host:port&secure=false`` — MinIO or any S3 through
  the ``minio`` SDK; credentials from ``MOTIFLENS_S3_ACCESS_KEY`` /
  ``MOTIFLENS_S3_SECRET_KEY`` (falling back to ``AWS_ACCESS_KEY_ID`` /
  ``AWS_SECRET_ACCESS_KEY``); ``secure`` defaults to true (TLS). The bucket must
  exist; a missing one makes the store unavailable (:class:`MissingBucketError`) until
  it is created — by an operator (``mc mb``, a set-up job) or explicitly through
  :meth:`ArtifactStore.create_bucket` (``motiflens up --create-bucket``), never silently.

Two kinds of things are stored:

Artifacts (data sets, models, results) are immutable. An artifact is a set of
named objects under ``artifacts/<artifact_id>/`` plus ``manifest.json`` written
*last*; an artifact without a manifest does not exist for readers, so a writer
that dies half-way leaves nothing visible. The manifest records the kind, the
sha256 and size of every object, provenance (data set, config, seed, code
version) and the creation time.

Records (job state and events) are small mutable JSON documents under
``records/<namespace>/<key>.json``, overwritten whole and atomically (the file
backend renames a complete temporary file into place; an S3 PUT is atomic). Each
is stored as ``{"format": "motiflens.record.v1", "sha256": ..., "record": {...}}``,
the hash taken over the record's canonical JSON, and checked on every read, so a
truncated or edited record is reported as :class:`CorruptRecordError` naming it
instead of being half-parsed. Records written before the checksum (a bare JSON
object) are still read. Listings skip a corrupt record (with one logged warning
per record), so one damaged record never hides the others.

Blobs are mutable binary objects under ``blobs/<namespace>/<key>`` (a training
job's checkpoint), overwritten whole and atomically like records, with a sha256
header checked on read.

Ids are generated here (``<kind>-<32 hex>``), never taken from user paths, and
every id or key is checked against a strict pattern before it touches a path or
an object name, so ``../`` can never reach outside the store. The backends check
again when they build a path or object key (a second line of defence).

Errors: InvalidInputError (malformed id, key or URL), NotFoundError (unknown or
half-written artifact, unknown object or record), AlreadyExistsError (artifact id
reused), UnavailableError (the backend cannot be reached, or its bucket/directory
is missing; the message names the store and the cause),
:class:`CorruptArtifactError` (stored bytes no longer match the manifest: a
server-side fault, reported as INTERNAL rather than blamed on the caller) and
:class:`CorruptRecordError` (a record or blob fails its checksum: FAILED_PRECONDITION
naming it, since that one id is unusable until an operator restores or deletes it).

:class:`RetryingStore` wraps a store so that every backend call rides out an outage
of up to ``retry_seconds`` (exponential backoff); the trainer's worker processes use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from motiflens.errors import InvalidInputError, UnavailableError
from services.common.config import ConfigError, s3_credentials
from services.common.store.base import (
    BLOB_MAGIC,
    RECORD_FORMAT,
    ArtifactStore,
    CorruptArtifactError,
    CorruptRecordError,
    Manifest,
    MissingBucketError,
    ObjectInfo,
    RetryingStore,
    decode_record,
    encode_record,
    sha256_hex,
    utc_now,
)
from services.common.store.layout import ID_PATTERN, KEY_PATTERN, MANIFEST, check_id, check_key, new_id

__all__ = [
    "BLOB_MAGIC",
    "ID_PATTERN",
    "KEY_PATTERN",
    "MANIFEST",
    "RECORD_FORMAT",
    "URL_FORMS",
    "ArtifactStore",
    "CorruptArtifactError",
    "CorruptRecordError",
    "Manifest",
    "MissingBucketError",
    "ObjectInfo",
    "RetryingStore",
    "check_id",
    "check_key",
    "check_store",
    "decode_record",
    "encode_record",
    "new_id",
    "open_store",
    "sha256_hex",
    "utc_now",
]

URL_FORMS = (
    "file:///absolute/path",
    "s3://bucket[/prefix]?endpoint=host:port[&secure=true|false][&region=name]",
)


def _parse_bool(value: str, *, field_name: str) -> bool:
    """Parse a URL flag such as ``secure=false``."""
    flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if value.lower() not in flags:
        raise InvalidInputError(f"{field_name}: expected true or false, got {value!r}", field=field_name)
    return flags[value.lower()]


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
    # The backends are imported on use: s3 pulls in the minio SDK.
    accepted = "; accepted forms: " + ", ".join(URL_FORMS)
    if not isinstance(url, str) or not url:
        raise InvalidInputError(f"store URL: expected a URL, got {url!r}{accepted}")
    parts = urlsplit(url)
    if parts.scheme == "file":
        from services.common.store.file import FileStore

        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InvalidInputError(
                f"store URL {url!r}: a file URL is file:// followed by an absolute path{accepted}"
            )
        path = Path(unquote(parts.path))
        if not path.is_absolute() or ".." in path.parts:
            raise InvalidInputError(f"store URL {url!r}: the path must be absolute, without '..'{accepted}")
        return FileStore(path)
    if parts.scheme == "s3":
        from services.common.store.s3 import S3Store

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
        access_key, secret_key = s3_credentials(environ)
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


def check_store(
    url: str, *, create_bucket: bool = False, environ: Mapping[str, str] | None = None
) -> str | None:
    """Open the store at ``url`` and check that it answers, before a process starts serving it.

    What ``python -m services.launcher`` (``motiflens up``) runs before it starts any
    service, so that a store that cannot work is refused in seconds with its fix rather
    than by health checks that never pass. A file store's directory is created.

    Parameters
    ----------
    url : str
        As for :func:`open_store`.
    create_bucket : bool
        Create an ``s3://`` store's bucket if it does not exist; without it a missing
        bucket is refused (nothing creates one silently).
    environ : mapping, optional
        Where S3 credentials are read (default ``os.environ``).

    Returns
    -------
    str or None
        "created bucket 'name' on host:port" when this call created the bucket, else None.

    Raises
    ------
    ConfigError
        A malformed URL, a store that cannot be reached or refuses access, or a missing
        bucket without ``create_bucket``; the message names the store and the fix.
    """
    try:
        store = open_store(url, environ=environ)
    except (InvalidInputError, UnavailableError) as error:
        raise ConfigError(str(error)) from None
    try:
        store.ping()
    except MissingBucketError as error:
        missing = error
    except UnavailableError as error:
        raise ConfigError(f"{error}; start the store or give another one") from None
    else:
        return None
    if not create_bucket:
        raise ConfigError(
            f"{store.url}: bucket {missing.bucket!r} does not exist on {missing.endpoint}; create it "
            f"(e.g. `mc mb ALIAS/{missing.bucket}` or `aws s3 mb s3://{missing.bucket}`) or start the "
            "stack with --create-bucket"
        )
    try:
        store.create_bucket()
        store.ping()
    except UnavailableError as error:
        raise ConfigError(f"bucket {missing.bucket!r} could not be created: {error}") from None
    return f"created bucket {missing.bucket!r} on {missing.endpoint}"
