"""Key layout of the artifact store: ids, keys and the paths built from them.

Ids are generated here (``<kind>-<32 hex>``), never taken from user paths, and every
id or key is checked against a strict pattern before it touches a path or an object
name, so ``../`` can never reach outside the store. The store's paths are:

- ``artifacts/<artifact_id>/<object name>`` and ``artifacts/<artifact_id>/manifest.json``
  (written last);
- ``records/<namespace>/<key>.json``;
- ``blobs/<namespace>/<key>``.
"""

from __future__ import annotations

import re
import secrets
import time

from motiflens.errors import InvalidInputError
from services.common.limits import quote

ID_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,15}-[0-9a-f]{32}$")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MANIFEST = "manifest.json"
#: Prefix of every artifact's folder.
ARTIFACTS = "artifacts/"


def new_id(prefix: str) -> str:
    """A fresh id ``<prefix>-<32 hex>``; prefix is a short lower-case word such as "ds" or "model".

    The hex is 12 digits of the creation time in milliseconds, then 20 random ones (80
    bits), so ids of one kind sort in creation order: List pages (newest first, by
    creation second and then id) keep their boundaries while new items arrive.
    """
    if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", prefix):
        raise InvalidInputError(f"id prefix: expected 1-16 lower-case letters/digits, got {prefix!r}")
    return f"{prefix}-{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


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
            "as returned by the service",
            field=field_name,
        )
    if prefix is not None and not artifact_id.startswith(prefix + "-"):
        raise InvalidInputError(
            f"{field_name}: expected an id starting with '{prefix}-', got {quote(artifact_id)}",
            field=field_name,
        )
    return artifact_id


def check_key(key: str, *, field_name: str = "key") -> str:
    """Return ``key`` if it is a safe object/record name (no '/', no leading '.'), else raise."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise InvalidInputError(
            f"{field_name}: {quote(key)} is not a valid name; expected letters, digits, '_', '-', '.' "
            "(not starting with '.'), at most 128 characters",
            field=field_name,
        )
    return key


def artifact_path(artifact_id: str, name: str = MANIFEST) -> str:
    """Path of object ``name`` (default: the manifest) of an artifact; both already checked."""
    return f"{ARTIFACTS}{artifact_id}/{name}"


def records_prefix(namespace: str) -> str:
    """Folder of the records of ``namespace`` (already checked)."""
    return f"records/{namespace}/"


def record_path(namespace: str, key: str) -> str:
    """Path of one record (namespace and key already checked)."""
    return f"{records_prefix(namespace)}{key}.json"


def blob_path(namespace: str, key: str) -> str:
    """Path of one blob (namespace and key already checked)."""
    return f"blobs/{namespace}/{key}"
