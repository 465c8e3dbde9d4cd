"""Labels on artifacts: key=value pairs a lab sets to find its data sets and models again.

Artifacts are immutable, labels are not: they live in the store as one record per
artifact (namespace ``labels``), set when a data set or model is made
(``CreateDatasetRequest.labels``, ``TrainRequest.labels``) or later with ``SetLabels``,
and removed with the artifact. List calls filter by a selector ``key=value[,key=value]``
(every pair must match), as Kubernetes label selectors do for equality.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from motiflens.errors import InvalidInputError, NotFoundError
from services.common.store import ArtifactStore

LABELS_NAMESPACE = "labels"
MAX_LABELS = 32
MAX_VALUE_CHARS = 128
MAX_SELECTOR_CHARS = 4096
_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


def check_labels(labels: Mapping[str, str], field: str = "labels") -> dict[str, str]:
    """The labels as a plain dict, checked.

    Raises
    ------
    InvalidInputError
        More than :data:`MAX_LABELS`, a key outside ``[a-z0-9][a-z0-9_.-]{0,62}``, or a value
        longer than :data:`MAX_VALUE_CHARS` or holding non-printable characters.
    """
    if len(labels) > MAX_LABELS:
        raise InvalidInputError(f"{field}: {len(labels)} labels; at most {MAX_LABELS}", field=field)
    checked = {}
    for key, value in labels.items():
        if not _KEY.fullmatch(key):
            raise InvalidInputError(
                f"{field}: key {key[:80]!r}: expected 1 to 63 of a-z, 0-9, '_', '.', '-' (starting with a "
                "letter or digit)",
                field=f"{field}[{key[:80]}]",
            )
        if len(value) > MAX_VALUE_CHARS or not value.isprintable():
            raise InvalidInputError(
                f"{field}[{key}]: expected at most {MAX_VALUE_CHARS} printable characters",
                field=f"{field}[{key}]",
            )
        checked[key] = value
    return checked


def parse_selector(selector: str, field: str = "label_selector") -> dict[str, str]:
    """``"k=v,k2=v2"`` as {k: v, k2: v2} ("" selects everything).

    Raises
    ------
    InvalidInputError
        Too long, a term without ``=``, or a key/value :func:`check_labels` refuses.
    """
    if len(selector) > MAX_SELECTOR_CHARS:
        raise InvalidInputError(f"{field}: at most {MAX_SELECTOR_CHARS} characters", field=field)
    wanted: dict[str, str] = {}
    for term in (part.strip() for part in selector.split(",")):
        if not term:
            continue
        key, equals, value = term.partition("=")
        if not equals:
            raise InvalidInputError(
                f"{field}: term {term[:80]!r} is not key=value; expected key=value[,key=value...]",
                field=field,
            )
        wanted[key.strip()] = value.strip()
    return check_labels(wanted, field)


def matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Whether ``labels`` carries every pair of ``wanted``."""
    return all(labels.get(key) == value for key, value in wanted.items())


def all_labels(store: ArtifactStore) -> dict[str, dict[str, str]]:
    """Artifact id -> its labels, for every labelled artifact (one listing of the namespace)."""
    return {
        str(record["id"]): dict(record.get("labels", {}))
        for record in store.list_records(LABELS_NAMESPACE)
        if isinstance(record.get("id"), str)
    }


def labels_of(store: ArtifactStore, artifact_id: str) -> dict[str, str]:
    """One artifact's labels ({} when it has none)."""
    try:
        return dict(store.get_record(LABELS_NAMESPACE, artifact_id).get("labels", {}))
    except NotFoundError:
        return {}


def set_labels(store: ArtifactStore, artifact_id: str, labels: Mapping[str, str]) -> None:
    """Replace an artifact's labels (none: the record goes)."""
    if labels:
        store.put_record(LABELS_NAMESPACE, artifact_id, {"id": artifact_id, "labels": dict(labels)})
    else:
        forget_labels(store, artifact_id)


def forget_labels(store: ArtifactStore, artifact_id: str) -> None:
    """Remove an artifact's labels record, if any."""
    store.delete_record(LABELS_NAMESPACE, artifact_id)
