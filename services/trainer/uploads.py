"""Uploads: files of any size sent as a stream of chunks, stored as ``upload`` artifacts.

A genome FASTA is gigabytes, more than one gRPC message may carry, so ``Upload`` is a
client stream: an :class:`UploadHeader` (name, size, optional sha256) first, then data
chunks. :func:`receive_upload` writes the chunks to a scratch file (memory: one chunk),
checks that they add up to the declared size and digest, and only then stores the file
as one artifact (streamed into the store, :meth:`ArtifactStore.put_artifact` with a
path). A stream that ends early, sends too much, or whose caller leaves stores nothing.
Data sets then name the upload by id (``GenomeIntervalsImport.genome_upload_id``), and
:func:`fetch_upload` copies it back to a scratch folder for reading.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from motiflens.errors import CancelledError, InvalidInputError, ResourceExhaustedError
from services.common.datasets import disk_errors, scratch_directory
from services.common.limits import check_name
from services.common.store import ArtifactStore, Manifest
from services.common.uploads import CONTENT_OBJECT, UPLOAD_KIND, fetch_upload  # noqa: F401  (re-exported)

#: Largest data chunk accepted, bytes (the SDK sends 1 MiB chunks).
MAX_CHUNK_BYTES = 4 * 1024 * 1024
#: Upload names: a file name, not a path.
MAX_UPLOAD_NAME_CHARS = 256
_SHA256 = re.compile(r"[0-9a-f]{64}")


def receive_upload(
    store: ArtifactStore, chunks: Iterable, *, max_bytes: int, should_stop: Callable[[], bool]
) -> Manifest:
    """Store the file an ``Upload`` stream carries; returns the upload artifact's manifest.

    Parameters
    ----------
    store : ArtifactStore
    chunks : iterable of pb.UploadChunk
        The request stream: one ``header``, then ``data`` chunks.
    max_bytes : int
        Largest ``header.size`` accepted (``MOTIFLENS_MAX_UPLOAD_MB``).
    should_stop : callable
        True once the caller has gone; the partial file is then dropped.

    Returns
    -------
    Manifest
        Kind "upload"; metadata ``name``, ``size``, ``sha256``.

    Raises
    ------
    InvalidInputError
        No header first, a second header, a bad name/size/digest, a chunk over
        :data:`MAX_CHUNK_BYTES`, or bytes that do not add up to the header.
    ResourceExhaustedError
        ``size`` over ``max_bytes``, or the server's disk is full.
    CancelledError
        The caller left before the last chunk.
    """
    stream = iter(chunks)
    header = _header(next(stream, None), max_bytes)
    with scratch_directory() as tmp:
        path = tmp / CONTENT_OBJECT
        digest = _write_chunks(stream, path, header.size, should_stop)
        if header.sha256 and digest != header.sha256:
            raise InvalidInputError(
                f"header.sha256: the {header.size} bytes received have sha256 {digest}, not "
                f"{header.sha256}; the file was changed or damaged on the way (nothing stored)",
                field="header.sha256",
            )
        metadata = {"name": header.name, "size": header.size, "sha256": digest}
        return store.put_artifact(UPLOAD_KIND, {CONTENT_OBJECT: path}, metadata=metadata, provenance={})


def _header(first, max_bytes: int):
    if first is None or first.WhichOneof("part") != "header":
        raise InvalidInputError(
            "header: the first message of an Upload must be an UploadHeader (name, size), then data chunks",
            field="header",
        )
    header = first.header
    name = check_name(header.name, "header.name")
    if not name or len(name) > MAX_UPLOAD_NAME_CHARS or "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInputError(
            f"header.name: expected a file name (1 to {MAX_UPLOAD_NAME_CHARS} characters, no path), "
            f"got {name!r}",
            field="header.name",
        )
    if header.size < 1:
        raise InvalidInputError(
            f"header.size: expected 1 byte or more, got {header.size}", field="header.size"
        )
    if header.size > max_bytes:
        raise ResourceExhaustedError(
            f"header.size: {header.size} bytes is over this server's upload limit of "
            f"{max_bytes // 2**20} MiB (MOTIFLENS_MAX_UPLOAD_MB)"
        )
    if header.sha256 and not _SHA256.fullmatch(header.sha256):
        raise InvalidInputError(
            f"header.sha256: expected 64 lower-case hex digits, got {header.sha256[:80]!r}",
            field="header.sha256",
        )
    return header


def _write_chunks(stream: Iterator, path: Path, size: int, should_stop: Callable[[], bool]) -> str:
    """Write the data chunks to ``path``; returns their sha256 once exactly ``size`` bytes came."""
    digest = hashlib.sha256()
    received = 0
    with disk_errors("data"), open(path, "wb") as out:
        for index, chunk in enumerate(stream, start=1):
            if should_stop():
                raise CancelledError("upload: the caller left before the last chunk (nothing stored)")
            if chunk.WhichOneof("part") != "data":
                raise InvalidInputError(
                    f"data: message {index + 1} is a second header; expected data chunks after the first",
                    field="data",
                )
            data = chunk.data
            if len(data) > MAX_CHUNK_BYTES:
                raise InvalidInputError(
                    f"data: chunk {index} holds {len(data)} bytes; at most {MAX_CHUNK_BYTES} per message",
                    field="data",
                )
            received += len(data)
            if received > size:
                raise InvalidInputError(
                    f"data: more than the {size} bytes the header declared arrived (nothing stored)",
                    field="data",
                )
            digest.update(data)
            out.write(data)
    if received != size:
        raise InvalidInputError(
            f"data: the stream ended after {received} of the {size} bytes the header declared "
            "(nothing stored)",
            field="data",
        )
    return digest.hexdigest()


def upload_info(manifest: Manifest) -> dict:
    """The UploadInfo fields of an upload artifact."""
    return {
        "upload_id": manifest.artifact_id,
        "name": str(manifest.metadata.get("name", "")),
        "size": int(manifest.metadata.get("size", 0)),
        "sha256": str(manifest.metadata.get("sha256", "")),
        "created_at": manifest.created_at,
    }
