"""Data sets in the artifact store, the write side: create (synthetic, HDF5, FASTA).

Synthetic tasks are written by :meth:`motiflens.synthetic.SyntheticTask.save`, so
their motif pool and implant tables travel with the data. Imports are validated by
the core loaders and re-saved in the normalised layout, so every stored ``data.h5``
reads the same way whatever the upload looked like. The manifest's ``metadata`` holds
the :class:`DatasetInfo` fields (what ``GetDataset`` returns) and its ``provenance``
the generator or import settings and the code version.

The read side (describe, list, load, the layout constants, the scratch folders) lives
in :mod:`services.common.datasets`, which every service may import; its public names
are re-exported here for the trainer's callers.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

import motiflens
from motiflens.errors import CancelledError, InvalidInputError, NotFoundError, ResourceExhaustedError
from motiflens.sequences import SPLITS, Dataset, Split, load_hdf5, one_hot, read_fasta, save_hdf5
from motiflens.sequences import reverse_complement as reverse_complement_one_hot
from motiflens.synthetic import (
    DEFAULT_SPLIT_FRACTIONS,
    SyntheticTask,
    load_synthetic,
    make_task1,
    make_task3,
)
from services.common.budget import MemoryBudget
from services.common.datasets import (
    DATA_OBJECT,
    DATASET_CACHE_SIZE,
    DATASET_ID_PREFIX,
    DATASET_KIND,
    ROW_NAMES_OBJECT,
    UPLOAD_DIR_PREFIX,
    DatasetInfo,
    clear_dataset_cache,
    disk_errors,
    get_dataset_info,
    list_datasets,
    load_dataset,
    load_split,
    remove_stale_uploads,
    scratch_directory,
)
from services.common.store import ArtifactStore

__all__ = [
    "HeldOut",
    # the write side
    "SYNTHETIC_TASKS",
    "DEFAULT_SEQUENCE_LENGTH",
    "MAX_SYNTHETIC_BASES",
    "MAX_IMPORT_BYTES",
    "MIN_FASTA_RECORDS",
    "UPLOAD_FIELD",
    "create_synthetic",
    "import_hdf5",
    "import_fasta",
    "write_upload",
    # re-exported from services.common.datasets
    "DATA_OBJECT",
    "DATASET_CACHE_SIZE",
    "DATASET_ID_PREFIX",
    "DATASET_KIND",
    "UPLOAD_DIR_PREFIX",
    "DatasetInfo",
    "clear_dataset_cache",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "load_split",
    "remove_stale_uploads",
]

logger = logging.getLogger(__name__)

#: Synthetic generators by task name, with their default number of sequences.
SYNTHETIC_TASKS = {"task1": (make_task1, 30000), "task3": (make_task3, 20000)}
DEFAULT_SEQUENCE_LENGTH = 200
#: Upper bound on num_sequences x sequence_length of a generated task (about 0.6 GB
#: of float32 one-hot plus as much ground truth), so one request cannot exhaust memory.
MAX_SYNTHETIC_BASES = 40_000_000
#: Upper bound on the arrays of an imported HDF5 file once read as float32 (a small,
#: compressed upload can expand a thousandfold).
MAX_IMPORT_BYTES = 4 * 1024**3
#: Smallest FASTA import that gives every split (0.7/0.1/0.2) at least one record.
MIN_FASTA_RECORDS = 10
#: How messages name an uploaded HDF5 file.
UPLOAD_FIELD = "hdf5.content"
#: The extra keys of a file written by :meth:`SyntheticTask.save`.
SYNTHETIC_KEYS = ("motif_pwms", "motif_widths", "motif_labels")


def write_upload(path: Path, content: bytes) -> None:
    """Write an upload's bytes to ``path`` (disk full -> ResourceExhaustedError)."""
    with disk_errors(UPLOAD_FIELD):
        path.write_bytes(content)


def _metadata(
    dataset: Dataset,
    *,
    name: str,
    kind: str,
    label_names: list[str],
    seed: int,
    synthetic_task: bool,
    reverse_complement: bool,
) -> dict:
    return {
        "name": name,
        "kind": kind,
        "num_train": len(dataset.train),
        "num_valid": len(dataset.valid),
        "num_test": len(dataset.test),
        "sequence_length": dataset.sequence_length,
        "num_targets": dataset.num_targets,
        "label_names": list(label_names),
        "has_ground_truth": dataset.train.model is not None,
        "seed": int(seed),
        "synthetic_task": synthetic_task,
        "reverse_complement": reverse_complement,
    }


def _store_file(
    store: ArtifactStore,
    path: Path,
    *,
    metadata: dict,
    provenance: dict,
    row_names: Mapping[str, Sequence[str]] | None = None,
) -> DatasetInfo:
    """Store ``data.h5`` (and each split's row names, when given) as one data-set artifact."""
    provenance = {**provenance, "code_version": motiflens.__version__}
    objects: dict[str, bytes | Path] = {DATA_OBJECT: path}
    if row_names is not None:
        objects[ROW_NAMES_OBJECT] = json.dumps({split: list(row_names[split]) for split in SPLITS}).encode()
    manifest = store.put_artifact(
        DATASET_KIND,
        objects,
        provenance=provenance,
        metadata=metadata,
        id_prefix=DATASET_ID_PREFIX,
    )
    info = DatasetInfo.from_manifest(manifest)
    logger.info(
        "stored dataset %s (%s, %d/%d/%d sequences, L=%d, T=%d)",
        info.dataset_id,
        info.kind,
        info.num_train,
        info.num_valid,
        info.num_test,
        info.sequence_length,
        info.num_targets,
    )
    return info


def store_dataset_file(
    store: ArtifactStore,
    path: Path,
    dataset: Dataset,
    *,
    name: str,
    kind: str,
    label_names: list[str],
    seed: int,
    reverse_complement: bool,
    provenance: dict,
    row_names: Mapping[str, Sequence[str]] | None = None,
) -> DatasetInfo:
    """Store an imported (not synthetic) data set written to ``path`` as ``data.h5``.

    ``dataset`` is what ``path`` holds (its sizes go into the manifest); ``row_names``
    each split's row names, in row order.
    """
    metadata = _metadata(
        dataset,
        name=name,
        kind=kind,
        label_names=label_names,
        seed=seed,
        synthetic_task=False,
        reverse_complement=reverse_complement,
    )
    return _store_file(store, path, metadata=metadata, provenance=provenance, row_names=row_names)


# --------------------------------------------------------------------------- create


def create_synthetic(
    store: ArtifactStore,
    task: str,
    *,
    num_sequences: int = 0,
    seed: int = 0,
    sequence_length: int = 0,
    name: str = "",
    budget: MemoryBudget | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DatasetInfo:
    """Generate a synthetic task and store it.

    Parameters
    ----------
    store : ArtifactStore
    task : {"task1", "task3"}
    num_sequences : int, default 0
        Total over the splits (0: 30,000 for Task 1, 20,000 for Task 3); split 0.7/0.1/0.2.
    seed : int, default 0
        Seed of the generator.
    sequence_length : int, default 0
        L in nt (0: 200).
    name : str, default ""
        Human-readable name (not a key).
    budget : MemoryBudget, optional
        Reserved from for the generation's arrays.
    should_stop : callable, optional
        Asked after generating and after writing the file; True abandons the data set
        before anything is stored.

    Returns
    -------
    DatasetInfo

    Raises
    ------
    InvalidInputError
        Unknown task, a negative number, too few sequences for the splits, or a sequence
        too short for the task's motifs.
    ResourceExhaustedError
        More than :data:`MAX_SYNTHETIC_BASES` bases in all.
    CancelledError
        ``should_stop()`` returned True.
    """
    if task not in SYNTHETIC_TASKS:
        raise InvalidInputError(
            f"synthetic.task: expected one of {', '.join(SYNTHETIC_TASKS)}, got {task or 'unset'!r}"
        )
    generator, default_count = SYNTHETIC_TASKS[task]
    num_sequences = int(num_sequences) or default_count
    sequence_length = int(sequence_length) or DEFAULT_SEQUENCE_LENGTH
    if num_sequences < 0:
        raise InvalidInputError(f"synthetic.num_sequences: expected >= 0, got {num_sequences}")
    if sequence_length < 0:
        raise InvalidInputError(f"synthetic.sequence_length: expected >= 0, got {sequence_length}")
    if num_sequences * sequence_length > MAX_SYNTHETIC_BASES:
        raise ResourceExhaustedError(
            f"synthetic: num_sequences x sequence_length = {num_sequences * sequence_length:,} exceeds "
            f"the limit of {MAX_SYNTHETIC_BASES:,} bases per generated data set"
        )
    # One-hot X and the ground-truth model as float32, each once more while written.
    need = num_sequences * sequence_length * 4 * 4 * 4
    with (budget or MemoryBudget(need + 1)).reserve(need, "synthetic"):
        return _generate_and_store(
            store,
            task,
            generator,
            num_sequences=num_sequences,
            seed=seed,
            sequence_length=sequence_length,
            name=name,
            should_stop=should_stop,
        )


def _check_stop(should_stop: Callable[[], bool] | None, what: str) -> None:
    if should_stop is not None and should_stop():
        raise CancelledError(f"{what}: abandoned before it was stored (the caller left)")


def _generate_and_store(
    store: ArtifactStore,
    task: str,
    generator,
    *,
    num_sequences: int,
    seed: int,
    sequence_length: int,
    name: str,
    should_stop: Callable[[], bool] | None,
) -> DatasetInfo:
    try:
        generated: SyntheticTask = generator(num_sequences, seed=int(seed), sequence_length=sequence_length)
    except InvalidInputError as exc:
        raise InvalidInputError(f"synthetic.{exc}") from None
    _check_stop(should_stop, f"synthetic {task}")
    with scratch_directory() as tmp:
        path = Path(tmp) / DATA_OBJECT
        with disk_errors("synthetic"):
            generated.save(path)
        _check_stop(should_stop, f"synthetic {task}")
        metadata = _metadata(
            generated.dataset,
            name=name,
            kind=task,
            label_names=generated.label_names,
            seed=seed,
            synthetic_task=True,
            reverse_complement=False,
        )
        provenance = {
            "source": "synthetic",
            "generator": f"motiflens.synthetic.make_{task}",
            "settings": {
                "num_sequences": num_sequences,
                "seed": int(seed),
                "sequence_length": sequence_length,
                "split_fractions": list(DEFAULT_SPLIT_FRACTIONS),
            },
        }
        return _store_file(store, path, metadata=metadata, provenance=provenance)


def import_hdf5(
    store: ArtifactStore,
    content: bytes,
    *,
    reverse_complement: bool = False,
    name: str = "",
    budget: MemoryBudget | None = None,
) -> DatasetInfo:
    """Validate an HDF5 file in the paper's layout and store it normalised.

    The upload is untrusted: :func:`motiflens.hdf5.open_untrusted` refuses links,
    external storage, virtual datasets and non-numeric dtypes before anything is read,
    and the memory the import needs is computed from the declared shapes and reserved
    from ``budget`` before any array is read. A file written by
    :meth:`SyntheticTask.save` keeps its ground truth (motif pool and implant tables)
    unless ``reverse_complement`` is set; any other file is re-saved with
    :func:`motiflens.sequences.save_hdf5` (its ``model_<split>`` arrays kept).

    Parameters
    ----------
    store : ArtifactStore
    content : bytes
        The file's bytes.
    reverse_complement : bool, default False
        Augment the training split with reverse complements (valid and test untouched).
    name : str, default ""
    budget : MemoryBudget, optional
        The process's memory budget (default: one of :data:`MAX_IMPORT_BYTES` for this call).

    Returns
    -------
    DatasetInfo
        Kind "hdf5".

    Raises
    ------
    InvalidInputError
        Empty content, not HDF5, refused as untrusted, a missing key, values that are
        not finite or outside [0, 1], or arrays that disagree (the loader's message,
        with the upload called ``hdf5.content``).
    ResourceExhaustedError
        The arrays would take more than :data:`MAX_IMPORT_BYTES` as float32, the
        import needs more memory than the budget, or the disk is full.
    """
    if not content:
        raise InvalidInputError("hdf5.content: empty; expected the bytes of an HDF5 file")
    budget = budget or MemoryBudget(2 * MAX_IMPORT_BYTES)
    with scratch_directory() as tmp:
        upload = Path(tmp) / "upload.h5"
        write_upload(upload, content)
        need = _import_memory(upload, reverse_complement=reverse_complement) + len(content)
        with budget.reserve(need, "hdf5.content"):
            info = _import_checked_hdf5(
                store, upload, content_bytes=len(content), reverse_complement=reverse_complement, name=name
            )
    return info


def _import_checked_hdf5(
    store: ArtifactStore, upload: Path, *, content_bytes: int, reverse_complement: bool, name: str
) -> DatasetInfo:
    """Load the upload (size already checked and reserved), normalise it and store it."""
    try:
        dataset = load_hdf5(upload, reverse_complement=reverse_complement, origin=UPLOAD_FIELD)
    except NotFoundError as exc:
        # A missing key in an uploaded file is the caller's mistake, not an unknown resource.
        raise InvalidInputError(str(exc)) from None
    synthetic = None
    if not reverse_complement and all(key in _top_level_keys(upload) for key in SYNTHETIC_KEYS):
        try:
            synthetic = load_synthetic(upload, dataset=dataset, origin=UPLOAD_FIELD)
        except NotFoundError:
            synthetic = None
    path = upload.with_name(DATA_OBJECT)
    with disk_errors(UPLOAD_FIELD):
        if synthetic is not None:
            synthetic.save(path)
            label_names = synthetic.label_names
        else:
            try:
                save_hdf5(path, dataset)
            except (TypeError, ValueError):
                # Attributes h5py cannot write back (odd types): keep the arrays, drop them.
                save_hdf5(path, Dataset(train=dataset.train, valid=dataset.valid, test=dataset.test))
            label_names = (
                [str(v) for v in dataset.attrs.get("label_names", [])]
                if isinstance(dataset.attrs.get("label_names"), list)
                else []
            )
            if len(label_names) != dataset.num_targets:
                label_names = []
    seed = dataset.attrs.get("seed", 0)
    metadata = _metadata(
        dataset,
        name=name,
        kind="hdf5",
        label_names=label_names,
        seed=seed if isinstance(seed, int) and 0 <= seed < 2**63 else 0,
        synthetic_task=synthetic is not None,
        reverse_complement=reverse_complement,
    )
    provenance = {
        "source": "hdf5",
        "upload_bytes": content_bytes,
        "upload_layout": dataset.layout,
        "reverse_complement": reverse_complement,
    }
    return _store_file(store, path, metadata=metadata, provenance=provenance)


def _top_level_keys(path: Path) -> set[str]:
    from motiflens.hdf5 import open_untrusted

    with open_untrusted(path, origin=UPLOAD_FIELD) as file:
        return set(file.keys())


def _import_memory(path: Path, *, reverse_complement: bool) -> int:
    """Peak bytes an import of ``path`` needs, from declared shapes only (nothing read).

    The arrays as float32 (B), plus the largest array twice (a transposed copy while
    reading (N, 4, L) and one while writing), plus the doubled training split when
    reverse complements are added.

    Raises
    ------
    InvalidInputError
        The file is refused by :func:`motiflens.hdf5.open_untrusted`.
    ResourceExhaustedError
        B exceeds :data:`MAX_IMPORT_BYTES`.
    """
    from motiflens.hdf5 import open_untrusted

    with open_untrusted(path, origin=UPLOAD_FIELD) as file:
        sizes = {key: info.size * 4 for key, info in file.arrays.items()}
    total = sum(sizes.values())
    train = sum(size for key, size in sizes.items() if key in ("X_train", "Y_train", "model_train"))
    if reverse_complement:
        total += train
    if total > MAX_IMPORT_BYTES:
        raise ResourceExhaustedError(
            f"{UPLOAD_FIELD}: the arrays take {total / 2**30:.1f} GiB as float32; the limit is "
            f"{MAX_IMPORT_BYTES / 2**30:.0f} GiB per data set"
        )
    return total + 2 * max(sizes.values(), default=0) + (train if reverse_complement else 0)


#: How a FASTA import holds records out: (valid ids, test ids, valid chromosomes, test chromosomes).
HeldOut = tuple[Sequence[str], Sequence[str], Sequence[str], Sequence[str]]


def _held_out_indices(ids: Sequence[str], held_out: HeldOut) -> dict[str, np.ndarray]:
    """Rows per split when records are held out by id or by chromosome (the rest train).

    A record's chromosome is its id up to the first ":" (``chr8:1200-1400``). Every split
    must get a record, and every id named must exist.

    Raises
    ------
    InvalidInputError
        An id named twice or missing, a chromosome held out twice, or an empty split.
    """
    valid_ids, test_ids, valid_chroms, test_chroms = (set(part) for part in held_out)
    for name, left, right in (("ids", valid_ids, test_ids), ("chroms", valid_chroms, test_chroms)):
        both = sorted(left & right)
        if both:
            raise InvalidInputError(
                f"fasta.valid_{name}, fasta.test_{name}: {both[0]!r} is in both; hold each out once",
                field=f"fasta.test_{name}",
            )
    missing = sorted((valid_ids | test_ids) - set(ids))
    if missing:
        raise InvalidInputError(
            f"fasta.valid_ids/test_ids: no record {missing[0]!r} in the FASTA ({len(missing)} missing)",
            field="fasta.test_ids",
        )
    assignment = []
    for record in ids:
        chrom = record.split(":", 1)[0]
        if record in test_ids or chrom in test_chroms:
            assignment.append("test")
        elif record in valid_ids or chrom in valid_chroms:
            assignment.append("valid")
        else:
            assignment.append("train")
    indices = {split: np.flatnonzero(np.asarray(assignment) == split) for split in SPLITS}
    empty = [split for split, rows in indices.items() if rows.size == 0]
    if empty:
        raise InvalidInputError(
            f"fasta: the {empty[0]} split gets no record; hold out other records or chromosomes",
            field="fasta.test_ids",
        )
    return indices


def _split_indices(num_records: int, seed: int) -> dict[str, np.ndarray]:
    """Random 0.7/0.1/0.2 split of ``num_records`` rows (train and valid rounded, test the rest)."""
    order = np.random.default_rng(seed).permutation(num_records)
    num_train = round(DEFAULT_SPLIT_FRACTIONS[0] * num_records)
    num_valid = round(DEFAULT_SPLIT_FRACTIONS[1] * num_records)
    return {
        "train": np.sort(order[:num_train]),
        "valid": np.sort(order[num_train : num_train + num_valid]),
        "test": np.sort(order[num_train + num_valid :]),
    }


def import_fasta(
    store: ArtifactStore,
    fasta: str,
    labels: np.ndarray,
    *,
    seed: int = 0,
    reverse_complement: bool = False,
    name: str = "",
    budget: MemoryBudget | None = None,
    label_names: Sequence[str] = (),
    held_out: HeldOut | None = None,
) -> DatasetInfo:
    """One-hot encode FASTA records, split them 0.7/0.1/0.2 at random and store them.

    Parameters
    ----------
    store : ArtifactStore
    fasta : str
        FASTA text; every record of one length.
    labels : np.ndarray, shape (N, T) or (N,)
        Targets in [0, 1], N = number of records, in record order; (N,) means T = 1.
    seed : int, default 0
        Seed of the random split.
    reverse_complement : bool, default False
        Augment the training split with reverse complements.
    name : str, default ""
    budget : MemoryBudget, optional
    label_names : sequence of str, optional
        T names of the label columns (empty: none).
    held_out : (valid_ids, test_ids, valid_chroms, test_chroms), optional
        Records held out by id, or by chromosome (the id up to its first ":"), instead of
        the random split; the rest train.

    Returns
    -------
    DatasetInfo
        Kind "fasta". ``data.h5`` also holds ``record_index_<split>`` (int64): the
        0-based FASTA record number of each row; ``row_names.json`` each row's record id
        (the first word of its header).

    Raises
    ------
    InvalidInputError
        Bad FASTA (the message gives the line, column and record), records of different
        lengths, labels of the wrong shape or outside [0, 1], fewer than
        :data:`MIN_FASTA_RECORDS` records, or a negative seed.
    """
    # Per character of FASTA text: the one-hot row (16 bytes as float32), its copy in a
    # split, the reverse-complemented training rows and the transposed copy written.
    need = len(fasta) * 48 + labels.nbytes * 3
    with (budget or MemoryBudget(need + 1)).reserve(need, "fasta.fasta"):
        return _import_fasta(
            store,
            fasta,
            labels,
            seed=seed,
            reverse_complement=reverse_complement,
            name=name,
            label_names=list(label_names),
            held_out=held_out if held_out and any(held_out) else None,
        )


def _import_fasta(
    store: ArtifactStore,
    fasta: str,
    labels: np.ndarray,
    *,
    seed: int,
    reverse_complement: bool,
    name: str,
    label_names: list[str],
    held_out: HeldOut | None,
) -> DatasetInfo:
    if isinstance(seed, bool) or int(seed) < 0:
        raise InvalidInputError(f"fasta.seed: expected a non-negative integer, got {seed!r}")
    if not fasta.strip():
        raise InvalidInputError("fasta.fasta: empty; expected FASTA text ('>name' lines, then sequence)")
    try:
        records = read_fasta(io.StringIO(fasta))
    except InvalidInputError as exc:
        raise InvalidInputError(str(exc).replace("<stream>", "fasta", 1)) from None
    lengths = [len(sequence) for sequence in records.sequences]
    for index, length in enumerate(lengths):
        if length != lengths[0]:
            raise InvalidInputError(
                f"fasta: record {index + 1} {records.names[index]!r} has {length} nt but record 1 "
                f"{records.names[0]!r} has {lengths[0]}; all records must have one length"
            )
    num_records = len(records.sequences)
    labels = np.asarray(labels)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or labels.shape[1] < 1:
        raise InvalidInputError(f"fasta.labels: expected shape (N, T) with T >= 1, got {labels.shape}")
    if labels.shape[0] != num_records:
        raise InvalidInputError(
            f"fasta.labels: expected {num_records} rows (one per FASTA record), got {labels.shape[0]}"
        )
    labels = labels.astype(np.float32)
    if not np.all(np.isfinite(labels)) or labels.min() < 0 or labels.max() > 1:
        raise InvalidInputError("fasta.labels: expected finite values in [0, 1] (binary targets)")
    if label_names and len(label_names) != labels.shape[1]:
        raise InvalidInputError(
            f"fasta.label_names: {len(label_names)} names for {labels.shape[1]} label columns; "
            "give one per column or none"
        )
    if num_records < MIN_FASTA_RECORDS:
        raise InvalidInputError(
            f"fasta: expected at least {MIN_FASTA_RECORDS} records so that every split "
            f"(0.7/0.1/0.2) gets one, got {num_records}"
        )
    X = one_hot(records.sequences)
    ids = [header.split()[0] if header.split() else f"seq{i}" for i, header in enumerate(records.names)]
    if held_out:
        indices = _held_out_indices(ids, held_out)
    else:
        indices = _split_indices(num_records, int(seed))
    splits = {split: Split(X=X[rows], y=labels[rows]) for split, rows in indices.items()}
    train_rows = indices["train"]
    if reverse_complement:
        train = splits["train"]
        X_train = np.concatenate([train.X, reverse_complement_one_hot(train.X)])
        splits["train"] = Split(X=X_train, y=np.concatenate([train.y, train.y]))
        train_rows = np.concatenate([train_rows, train_rows])
    dataset = Dataset(train=splits["train"], valid=splits["valid"], test=splits["test"])
    extra = {"record_index_train": train_rows} | {
        f"record_index_{split}": indices[split] for split in ("valid", "test")
    }
    with scratch_directory() as tmp:
        path = Path(tmp) / DATA_OBJECT
        with disk_errors("fasta"):
            save_hdf5(path, dataset, extra_datasets={key: v.astype(np.int64) for key, v in extra.items()})
        metadata = _metadata(
            dataset,
            name=name,
            kind="fasta",
            label_names=label_names,
            seed=int(seed),
            synthetic_task=False,
            reverse_complement=reverse_complement,
        )
        provenance = {
            "source": "fasta",
            "num_records": num_records,
            "split": "held_out" if held_out else "random",
            "held_out": [list(part) for part in held_out] if held_out else None,
            "split_fractions": list(DEFAULT_SPLIT_FRACTIONS),
            "seed": int(seed),
            "reverse_complement": reverse_complement,
        }
        # Record ids per row (the training split's reverse complements repeat their record's).
        rows = {"train": train_rows, "valid": indices["valid"], "test": indices["test"]}
        row_names = {split: [ids[row] for row in rows[split]] for split in SPLITS}
        return _store_file(store, path, metadata=metadata, provenance=provenance, row_names=row_names)
