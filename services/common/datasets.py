"""The read side of stored data sets: describe, list and load (cached per process).

A data set is an artifact of kind ``"dataset"`` (ids ``ds-<32 hex>``) holding one
object, ``data.h5``, in the paper's HDF5 layout (X as (N, 4, L), Y as (N, T),
``model_<split>`` for ground-truth sequence models). A synthetic task's file also
holds its motif pool and implant tables, so :func:`load_dataset` gives the
:class:`~motiflens.synthetic.SyntheticTask` back. The manifest's ``metadata`` holds
the :class:`DatasetInfo` fields.

Every service that reads stored data sets (the trainer's jobs, sweeps and ReadSplit,
the interpreter) imports them from here; the write side (create, import) lives in
:mod:`services.trainer.datasets`. Also here: the scratch folders both sides use
(:func:`scratch_directory`, :func:`remove_stale_uploads`) and :func:`disk_errors`.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motiflens.errors import InvalidInputError, NotFoundError, ResourceExhaustedError
from motiflens.sequences import Dataset, load_hdf5
from motiflens.synthetic import SyntheticTask, load_synthetic
from services.common.store import ArtifactStore, CorruptArtifactError, Manifest, check_id

__all__ = [
    "DATASET_KIND",
    "DATASET_ID_PREFIX",
    "DATA_OBJECT",
    "DATASET_CACHE_SIZE",
    "UPLOAD_DIR_PREFIX",
    "DatasetInfo",
    "scratch_directory",
    "remove_stale_uploads",
    "disk_errors",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "clear_dataset_cache",
    "load_split",
]

DATASET_KIND = "dataset"
DATASET_ID_PREFIX = "ds"
DATA_OBJECT = "data.h5"
#: Optional object of a data set: each split's row names, JSON {"train": [...], "valid": [...],
#: "test": [...]} in row order (FASTA record ids, genome windows "chrom:start-end").
ROW_NAMES_OBJECT = "row_names.json"
#: Data sets kept loaded per process by :func:`load_dataset`.
DATASET_CACHE_SIZE = 2
#: Prefix of the scratch folders; the pid after it lets a restarted service remove the
#: folders of a process that was killed mid-import or mid-load.
UPLOAD_DIR_PREFIX = "motiflens-ds-"


# --------------------------------------------------------------------------- scratch folders


@contextmanager
def scratch_directory() -> Iterator[Path]:
    """A temporary folder for one import or load, removed afterwards (see :func:`remove_stale_uploads`)."""
    with disk_errors("upload"):
        tmp = tempfile.mkdtemp(prefix=f"{UPLOAD_DIR_PREFIX}{os.getpid()}-")
    try:
        yield Path(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_uploads(directory: str | None = None) -> int:
    """Remove the temporary folders of dead processes (killed mid-import); returns how many."""
    root = Path(directory or tempfile.gettempdir())
    removed = 0
    for entry in root.glob(f"{UPLOAD_DIR_PREFIX}*-*"):
        pid_text = entry.name[len(UPLOAD_DIR_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _process_alive(int(pid_text)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


@contextmanager
def disk_errors(field_name: str) -> Iterator[None]:
    """A full disk (or quota) while writing becomes RESOURCE_EXHAUSTED naming ``field_name``."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ResourceExhaustedError(
                f"{field_name}: the server's disk is full; nothing was stored "
                "(retry later or ask the operator)"
            ) from None
        raise


# --------------------------------------------------------------------------- describe and load


@dataclass(frozen=True)
class DatasetInfo:
    """Description of a stored data set (the manifest's metadata plus id and time).

    Attributes
    ----------
    dataset_id : str
        ``ds-<32 hex>``.
    name : str
        Human-readable name given at creation ("" when none).
    kind : str
        "task1", "task3", "hdf5" or "fasta".
    num_train, num_valid, num_test : int
        Sequences per split (train counts reverse-complement copies when augmented).
    sequence_length : int
        L, nt per sequence.
    num_targets : int
        T, labels per sequence.
    label_names : list of str
        Names of the T labels (empty when unknown).
    has_ground_truth : bool
        Ground-truth sequence models are stored (synthetic tasks).
    seed : int
        Seed used to generate or split the data (0 for HDF5 imports).
    created_at : str
        RFC 3339 UTC.
    synthetic_task : bool
        ``data.h5`` is a full synthetic task (motif pool and implant tables), readable
        with :func:`motiflens.synthetic.load_synthetic`.
    reverse_complement : bool
        The training split was augmented with reverse complements.
    """

    dataset_id: str
    name: str
    kind: str
    num_train: int
    num_valid: int
    num_test: int
    sequence_length: int
    num_targets: int
    label_names: list[str] = field(default_factory=list)
    has_ground_truth: bool = False
    seed: int = 0
    created_at: str = ""
    synthetic_task: bool = False
    reverse_complement: bool = False

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> DatasetInfo:
        """Build from a data set artifact's manifest."""
        known = set(cls.__dataclass_fields__) - {"dataset_id", "created_at"}
        fields = {key: value for key, value in manifest.metadata.items() if key in known}
        return cls(dataset_id=manifest.artifact_id, created_at=manifest.created_at, **fields)


def get_dataset_info(store: ArtifactStore, dataset_id: str, *, field_name: str = "dataset_id") -> DatasetInfo:
    """Describe a stored data set.

    Raises
    ------
    InvalidInputError
        Malformed id.
    NotFoundError
        No data set with that id.
    """
    check_id(dataset_id, field_name=field_name, prefix=DATASET_ID_PREFIX)
    try:
        manifest = store.get_manifest(dataset_id, kind=DATASET_KIND)
    except NotFoundError:
        raise NotFoundError(f"{field_name}: no data set {dataset_id!r}") from None
    return DatasetInfo.from_manifest(manifest)


def list_datasets(store: ArtifactStore) -> list[DatasetInfo]:
    """Every stored data set, newest first."""
    return [DatasetInfo.from_manifest(manifest) for manifest in store.list_artifacts(DATASET_KIND)]


class _LoadedCache:
    """A small thread-safe LRU of loaded data sets, keyed by (store, data set id).

    Artifacts are immutable, so an entry never goes stale.
    """

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str], tuple[Dataset, SyntheticTask | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[Dataset, SyntheticTask | None] | None:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            return None

    def put(self, key: tuple[str, str], value: tuple[Dataset, SyntheticTask | None]) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def pop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)


_CACHE = _LoadedCache(DATASET_CACHE_SIZE)


def load_dataset(store: ArtifactStore, dataset_id: str) -> tuple[Dataset, SyntheticTask | None]:
    """Load a stored data set's splits (and its synthetic task, when it is one).

    Results are kept in a per-process LRU of :data:`DATASET_CACHE_SIZE` entries keyed
    by the store (its repr: root directory, or bucket, prefix and endpoint) and the id
    (artifacts are immutable, so entries never go stale).
    Callers must not modify the returned arrays.

    Parameters
    ----------
    store : ArtifactStore
    dataset_id : str

    Returns
    -------
    (Dataset, SyntheticTask or None)
        X as (N, L, 4) float32 and y as (N, T) float32 per split; the task (motif pool,
        implant tables, label names) for synthetic data sets, else None. For a
        synthetic task, ``task.dataset`` is the returned Dataset.

    Raises
    ------
    InvalidInputError
        Malformed id.
    NotFoundError
        Unknown data set.
    """
    check_id(dataset_id, field_name="dataset_id", prefix=DATASET_ID_PREFIX)
    key = (repr(store), dataset_id)
    # Data sets are immutable: a cached one is served without touching the store, so
    # a store outage does not break calls on data sets already loaded.
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    info = get_dataset_info(store, dataset_id)
    with scratch_directory() as tmp:
        path = Path(tmp) / DATA_OBJECT
        with disk_errors("dataset_id"):
            path.write_bytes(store.read_object(dataset_id, DATA_OBJECT))
        loaded: tuple[Dataset, SyntheticTask | None]
        if info.synthetic_task:
            task = load_synthetic(path)
            loaded = (task.dataset, task)
        else:
            loaded = (load_hdf5(path), None)
    _CACHE.put(key, loaded)
    return loaded


def clear_dataset_cache() -> None:
    """Forget every data set kept by :func:`load_dataset` (tests; memory pressure)."""
    _CACHE.clear()
    _NAMES_CACHE.clear()


def forget_dataset(store: ArtifactStore, dataset_id: str) -> None:
    """Drop one data set from this process's caches (after it was deleted)."""
    key = (repr(store), dataset_id)
    _CACHE.pop(key)
    with _NAMES_LOCK:
        _NAMES_CACHE.pop(key, None)


_NAMES_CACHE: OrderedDict[tuple[str, str], dict[str, list[str]] | None] = OrderedDict()
_NAMES_LOCK = threading.Lock()


def load_row_names(store: ArtifactStore, dataset_id: str) -> dict[str, list[str]] | None:
    """Each split's row names, or None when the data set stores none (synthetic, HDF5).

    Kept in a small LRU beside :func:`load_dataset`'s (artifacts are immutable).

    Raises
    ------
    CorruptArtifactError
        The stored names are not a JSON object of three string lists matching the splits.
    """
    key = (repr(store), dataset_id)
    with _NAMES_LOCK:
        if key in _NAMES_CACHE:
            return _NAMES_CACHE[key]
    manifest = store.get_manifest(dataset_id)
    names = None
    if ROW_NAMES_OBJECT in manifest.objects:
        try:
            raw = json.loads(store.read_object(dataset_id, ROW_NAMES_OBJECT))
            names = {split: [str(name) for name in raw[split]] for split in ("train", "valid", "test")}
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptArtifactError(
                f"data set {dataset_id!r}: {ROW_NAMES_OBJECT} is unreadable ({exc})"
            ) from exc
    with _NAMES_LOCK:
        _NAMES_CACHE[key] = names
        while len(_NAMES_CACHE) > 4 * DATASET_CACHE_SIZE:
            _NAMES_CACHE.popitem(last=False)
    return names


def load_split(
    store: ArtifactStore,
    dataset_id: str,
    split: str,
    offset: int = 0,
    limit: int = 0,
    *,
    field: str = "dataset_split",
) -> np.ndarray:
    """Rows [offset, offset + limit) of one split's one-hot X (the ``load_split`` hook of convert.py).

    Parameters
    ----------
    store : ArtifactStore
    dataset_id : str
    split : {"train", "valid", "test"}
    offset : int, default 0
        First row.
    limit : int, default 0
        Number of rows; 0 = every row from ``offset`` on.
    field : str, default "dataset_split"
        Request path used in error messages.

    Returns
    -------
    np.ndarray, shape (N, L, 4), float32
        A read-only view into the cached data set.

    Raises
    ------
    InvalidInputError
        Malformed id, unknown split, negative numbers, or ``offset`` past the end.
    NotFoundError
        Unknown data set.
    """
    dataset, _ = load_dataset(store, dataset_id)
    X = dataset.split(split).X
    if offset < 0 or limit < 0:
        raise InvalidInputError(f"{field}: expected offset >= 0 and limit >= 0, got {offset} and {limit}")
    if offset >= X.shape[0]:
        raise InvalidInputError(
            f"{field}.offset: the {split} split of {dataset_id!r} has {X.shape[0]} rows, got offset {offset}"
        )
    view = X[offset : offset + limit] if limit else X[offset:]
    view = view.view()
    view.flags.writeable = False
    return view
