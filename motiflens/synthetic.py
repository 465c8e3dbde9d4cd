"""The paper's synthetic data sets: Task 1 (12 TFs, multi-label) and Task 3 (in-vivo-like, binary).

Both tasks embed JASPAR 2016 motifs in a uniform background, as in Koo & Ploenzke
(2021), Methods "Synthetic data". Each sequence gets k motifs drawn from a pool of
position probability matrices; the k motifs and k + 1 background gaps are laid end
to end into an (L, 4) sequence model, and every base is sampled from its column.
The sequence model is kept as the ground truth of where the motifs are.

Gaps: k + 1 uniform draws are normalised to sum to the free length (L minus the
total motif width), rounded to integers, and redrawn until the rounded gaps add up
to the free length exactly. Motifs therefore never overlap and never run off the
sequence. Arguments are checked up front so that the widest possible motif set
always fits (``sequence_length >= max motifs per sequence x widest pool motif``);
no draw is ever truncated or discarded for lack of room.

Every implanted motif is recorded in an implant table per split, an int32 array of
shape (K, 4) whose columns are :data:`IMPLANT_COLUMNS`: the sequence index within
the split, the start position (0-based), the motif's index in ``SyntheticTask.motifs``
and the strand (0 forward, 1 reverse complement). Rows are sorted by sequence, then
start.

All randomness comes from one ``np.random.default_rng(seed)``; the same seed gives the
same arrays and a byte-identical HDF5 file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.motifs import Motif, jaspar_motif, jaspar_motifs
from motiflens.sequences import SPLITS, Dataset, Split, load_hdf5, save_hdf5

RELEASE = "JASPAR2016"

# Task 1 ground-truth motifs (JASPAR 2016 ids); the order is the label order.
TASK1_MOTIF_IDS: dict[str, str] = {
    "Arid3a": "MA0151.1",
    "CEBPB": "MA0466.2",
    "FOSL1": "MA0477.1",
    "Gabpa": "MA0062.2",
    "MAFK": "MA0496.1",
    "MAX": "MA0058.3",
    "MEF2A": "MA0052.3",
    "NFYB": "MA0502.1",
    "SP1": "MA0079.3",
    "SRF": "MA0083.3",
    "STAT1": "MA0137.3",
    "YY1": "MA0095.2",
}

# Task 3 core motifs, the same JASPAR 2016 versions as in Task 1.
TASK3_CORE_MOTIF_IDS: dict[str, str] = {
    name: TASK1_MOTIF_IDS[name] for name in ("SP1", "Gabpa", "CEBPB", "MAX", "YY1")
}

TASK1_MOTIF_COUNTS = (1, 2, 3, 4, 5)
TASK3_MOTIF_COUNTS = (3, 4, 5, 6, 7)
MOTIF_COUNT_PROBABILITIES = (0.50, 0.25, 0.17, 0.05, 0.03)
TASK3_NUM_BACKGROUND_MOTIFS = 50

# Name prefixes (upper case) of TF families whose motifs resemble a Task 3 core motif.
# A heterodimer name such as "MAX::MYC" is matched part by part.
TASK3_FAMILY_PREFIXES: dict[str, tuple[str, ...]] = {
    "SP1": ("SP", "KLF"),
    "Gabpa": ("GABP", "ELK", "ETS", "ELF", "ETV", "ERG", "ERF", "FLI1", "FEV", "SPI", "SPDEF", "EHF"),
    "CEBPB": ("CEBP",),
    "MAX": ("MAX", "MYC", "MNT", "MLX", "USF", "TFE", "MITF", "SREBF", "HEY", "BHLHE", "ARNT"),
    "YY1": ("YY",),
}
SIMILARITY_THRESHOLD = 0.8
SIMILARITY_MIN_OVERLAP = 5

IMPLANT_COLUMNS = ("sequence", "start", "motif", "strand")
DEFAULT_SPLIT_FRACTIONS = (0.7, 0.1, 0.2)

# Sequences sampled per block, to bound the float64 temporaries of base sampling.
_SAMPLE_BLOCK = 4096


@dataclass
class SyntheticTask:
    """A generated synthetic data set with its ground truth.

    Attributes
    ----------
    name : str
        "task1" or "task3".
    dataset : Dataset
        Train/valid/test splits: ``X`` (N, L, 4) float32 one-hot, ``y`` (N, T) float32
        labels, ``model`` (N, L, 4) float32 ground-truth sequence model (per-position
        base probabilities: 0.25 in the background, the PWM rows at implants).
        ``dataset.attrs`` holds the generation settings (task, seed, sequence_length,
        split_fractions, motif counts and probabilities, motif ids and names, label names).
    motifs : tuple of Motif
        The motif pool; the index into this tuple is the ``motif`` column of the
        implant tables. Reverse complements are separate entries with ids ending in
        "(rc)".
    motif_labels : np.ndarray, shape (P,), int32
        Label index that each pool motif stands for: its TF's column of ``y`` in Task 1,
        0 for the core motifs of Task 3 and -1 for the Task 3 background-only motifs.
    label_names : list of str
        Names of the T label columns.
    implants : dict of str to np.ndarray, shape (K, 4), int32
        Per split, one row per implanted motif; columns :data:`IMPLANT_COLUMNS`.
    """

    name: str
    dataset: Dataset
    motifs: tuple[Motif, ...]
    motif_labels: np.ndarray
    label_names: list[str]
    implants: dict[str, np.ndarray]

    def save(self, path: str | os.PathLike) -> None:
        """Write the task in the paper's HDF5 layout, plus its ground truth.

        The standard keys (``X_<split>`` as (N, 4, L), ``Y_<split>``, ``model_<split>``)
        are written by :func:`motiflens.sequences.save_hdf5`, so ``load_hdf5`` reads the
        file. Extra datasets: ``implants_<split>`` (K, 4) int32, ``motif_pwms``
        (P, W_max, 4) float64 zero-padded, ``motif_widths`` (P,) int32 and
        ``motif_labels`` (P,) int32. Read it back with :func:`load_synthetic`.

        Parameters
        ----------
        path : path of the .h5 file to write (replaced if it exists)
        """
        widths = np.array([motif.width for motif in self.motifs], dtype=np.int32)
        pwms = np.zeros((len(self.motifs), int(widths.max()), 4), dtype=np.float64)
        for index, motif in enumerate(self.motifs):
            pwms[index, : motif.width] = motif.pwm
        extra = {f"implants_{split}": self.implants[split] for split in SPLITS}
        extra.update(motif_pwms=pwms, motif_widths=widths, motif_labels=self.motif_labels)
        save_hdf5(path, self.dataset, extra_datasets=extra)


def load_synthetic(
    path: str | os.PathLike, *, dataset: Dataset | None = None, origin: str | None = None
) -> SyntheticTask:
    """Read a file written by :meth:`SyntheticTask.save`.

    Parameters
    ----------
    path : path to the .h5 file
    dataset : Dataset, optional
        The file's standard arrays when the caller has loaded them already with
        :func:`motiflens.sequences.load_hdf5` (so they are not read twice).
    origin : str, optional
        How error messages name the file (default: the path).

    Returns
    -------
    SyntheticTask
        Equal, array for array, to the task that was saved.

    Raises
    ------
    NotFoundError
        The file does not exist, or lacks a standard key or one of the synthetic-task
        keys (the message names it).
    InvalidInputError
        The file is not HDF5, is refused as untrusted (:mod:`motiflens.hdf5`), or its
        arrays disagree in shape.
    """
    from motiflens.hdf5 import open_untrusted

    origin = str(path) if origin is None else origin
    dataset = load_hdf5(path, origin=origin) if dataset is None else dataset
    with open_untrusted(path, origin=origin) as file:
        required = [f"implants_{split}" for split in SPLITS] + ["motif_pwms", "motif_widths", "motif_labels"]
        for key in required:
            if key not in file:
                raise NotFoundError(
                    f"{origin}: missing key {key!r}; not a file written by SyntheticTask.save "
                    f"(needs {', '.join(required)})"
                )
        implants = {split: file.read_int(f"implants_{split}").astype(np.int32) for split in SPLITS}
        pwms = file.read_float("motif_pwms", dtype=np.float64, low=0.0, high=1.0)
        widths = file.read_int("motif_widths").astype(np.int32)
        motif_labels = file.read_int("motif_labels").astype(np.int32)
    if (
        pwms.ndim != 3
        or pwms.shape[2] != 4
        or widths.ndim != 1
        or np.any(widths < 1)
        or np.any(widths > pwms.shape[1])
    ):
        raise InvalidInputError(
            f"{origin}: motif_pwms must be (P, W, 4) and motif_widths (P,) in 1..W; "
            f"got {pwms.shape} and {widths.shape}"
        )
    attrs = dataset.attrs
    for key in ("task", "motif_ids", "motif_names", "label_names"):
        if key not in attrs:
            raise NotFoundError(
                f"{origin}: missing attribute {key!r}; not a file written by SyntheticTask.save"
            )
    if not isinstance(attrs["task"], str) or not all(
        isinstance(attrs[key], list) and all(isinstance(item, str) for item in attrs[key])
        for key in ("motif_ids", "motif_names", "label_names")
    ):
        raise InvalidInputError(
            f"{origin}: attributes task, motif_ids, motif_names and label_names must be text "
            "and lists of text"
        )
    if not (len(attrs["motif_ids"]) == len(attrs["motif_names"]) == pwms.shape[0] == widths.size):
        raise InvalidInputError(
            f"{origin}: motif_pwms has {pwms.shape[0]} motifs, motif_widths {widths.size}, "
            f"motif_ids {len(attrs['motif_ids'])}, motif_names {len(attrs['motif_names'])}"
        )
    try:
        pairs = zip(attrs["motif_ids"], attrs["motif_names"], strict=True)
        motifs = tuple(
            Motif(motif_id=motif_id, name=name, pwm=pwms[index, : widths[index]])
            for index, (motif_id, name) in enumerate(pairs)
        )
    except InvalidInputError as exc:
        raise InvalidInputError(f"{origin}: motif_pwms: {exc}") from None
    return SyntheticTask(
        name=attrs["task"],
        dataset=dataset,
        motifs=motifs,
        motif_labels=motif_labels,
        label_names=list(attrs["label_names"]),
        implants=implants,
    )


# --------------------------------------------------------------------------- motif pools


def _column_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``a`` (W1, 4) with every column of ``b`` (W2, 4).

    A column with no variance (all 0.25) has no defined correlation; it counts as 0.
    """
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    norm_a = np.linalg.norm(a, axis=1)
    norm_b = np.linalg.norm(b, axis=1)
    denominator = np.outer(norm_a, norm_b)
    numerator = a @ b.T
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def motif_similarity(a: Motif, b: Motif, *, min_overlap: int = SIMILARITY_MIN_OVERLAP) -> float:
    """Best mean column correlation of two motifs over ungapped alignments.

    Every offset of ``b`` (and of its reverse complement) against ``a`` that overlaps
    by at least ``min(min_overlap, a.width, b.width)`` columns is scored by the mean
    Pearson correlation of the aligned columns (zero-variance columns count as 0);
    the best score is returned.

    Parameters
    ----------
    a, b : Motif
    min_overlap : int, default 5
        Fewest aligned columns an alignment needs.

    Returns
    -------
    float
        In [-1, 1]; 1 for identical motifs (or a motif and its reverse complement).
    """
    best = -1.0
    for other in (b.pwm, b.pwm[::-1, ::-1]):
        correlations = _column_correlations(a.pwm, other)
        overlap_needed = min(min_overlap, a.width, b.width)
        # Diagonal d of the (W1, W2) matrix holds column i of a against column i - d of b.
        for offset in range(-(b.width - 1), a.width):
            diagonal = np.diagonal(correlations, offset=-offset)
            if diagonal.size >= overlap_needed:
                best = max(best, float(diagonal.mean()))
    return best


def _resembles_core_family(name: str) -> bool:
    parts = [part.strip().upper() for part in name.split("::")]
    prefixes = [prefix for family in TASK3_FAMILY_PREFIXES.values() for prefix in family]
    return any(part.startswith(prefix) for part in parts for prefix in prefixes)


@functools.lru_cache(maxsize=1)
def task3_background_candidates() -> tuple[Motif, ...]:
    """JASPAR 2016 CORE vertebrate motifs that do not resemble a Task 3 core motif.

    A motif resembles the core motifs, and is dropped, when either

    1. its name (each part of a heterodimer name such as "MAX::MYC", case-insensitive)
       starts with a prefix of a core TF's family in :data:`TASK3_FAMILY_PREFIXES`
       (SP*/KLF* for SP1; GABP*/ELK*/ETS*/ELF*/ETV*/ERG/ERF/FLI1/FEV/SPI*/SPDEF/EHF for
       Gabpa; CEBP* for CEBPB; MAX/MYC*/MNT/MLX*/USF*/TFE*/MITF/SREBF*/HEY*/BHLHE*/ARNT*
       for MAX; YY* for YY1), which also drops every version of the core motifs; or
    2. :func:`motif_similarity` with any core motif exceeds 0.8 (best ungapped
       alignment, either orientation, at least 5 aligned columns, mean column Pearson
       correlation). This catches look-alikes from other families, e.g. EGR1 (SP1-like
       GC box), ZNF740 and PLAG1 (G-rich), HLF/DBP/TEF (CEBP-like PAR bZIPs).

    Of the 519 motifs, 418 remain.

    Returns
    -------
    tuple of Motif
        In the order that :func:`motiflens.motifs.jaspar_motifs` gives.
    """
    core = [jaspar_motif(motif_id, RELEASE) for motif_id in TASK3_CORE_MOTIF_IDS.values()]
    kept = []
    for motif in jaspar_motifs(RELEASE, "CORE", "vertebrates"):
        if _resembles_core_family(motif.name):
            continue
        if max(motif_similarity(reference, motif) for reference in core) > SIMILARITY_THRESHOLD:
            continue
        kept.append(motif)
    return tuple(kept)


# --------------------------------------------------------------------------- generation


def _check_common(
    num_sequences: int, seed: int, sequence_length: int, split_fractions: Sequence[float]
) -> tuple[int, int, int]:
    """Validate shared arguments; return the split sizes (train, valid, test)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed: expected a non-negative integer, got {seed!r}", field="seed")
    if isinstance(num_sequences, bool) or not isinstance(num_sequences, (int, np.integer)):
        raise InvalidInputError(
            f"num_sequences: expected an integer, got {num_sequences!r}", field="num_sequences"
        )
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, (int, np.integer)):
        raise InvalidInputError(
            f"sequence_length: expected an integer, got {sequence_length!r}", field="sequence_length"
        )
    fractions = tuple(float(f) for f in split_fractions)
    if len(fractions) != 3:
        raise InvalidInputError(
            f"split_fractions: expected 3 fractions (train, valid, test), got {len(fractions)}",
            field="split_fractions",
        )
    if any(not np.isfinite(f) or f <= 0 for f in fractions):
        raise InvalidInputError(
            f"split_fractions: expected positive fractions, got {fractions}", field="split_fractions"
        )
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise InvalidInputError(
            f"split_fractions: expected fractions summing to 1, got sum {sum(fractions):.6g}",
            field="split_fractions",
        )
    num_train = round(fractions[0] * num_sequences)
    num_valid = round(fractions[1] * num_sequences)
    sizes = (num_train, num_valid, num_sequences - num_train - num_valid)
    if min(sizes) < 1:
        raise InvalidInputError(
            f"num_sequences: {num_sequences} is too few to give every split at least one sequence "
            f"with split_fractions {fractions} (sizes {sizes})",
            field="num_sequences",
        )
    return sizes


def _check_fits(sequence_length: int, max_count: int, widths: np.ndarray, motifs: Sequence[Motif]) -> None:
    widest = int(np.argmax(widths))
    needed = max_count * int(widths[widest])
    if sequence_length < needed:
        raise InvalidInputError(
            f"sequence_length: expected >= {needed} so that {max_count} copies of the widest pool motif "
            f"({motifs[widest].motif_id}, width {widths[widest]}) fit, got {sequence_length}",
            field="sequence_length",
        )


def _draw_gaps(rng: np.random.Generator, counts: np.ndarray, free: np.ndarray, gap_high: float) -> np.ndarray:
    """Background gap lengths, shape (n, max(counts) + 1), int64; unused entries are 0.

    Row i has counts[i] + 1 gaps summing exactly to free[i]: uniform(0, gap_high) draws
    normalised to free[i] and rounded, redrawn until the rounded gaps add up.
    """
    gaps = np.zeros((counts.size, int(counts.max()) + 1), dtype=np.int64)
    for count in np.unique(counts):
        pending = np.flatnonzero(counts == count)
        while pending.size:
            draws = rng.uniform(0.0, gap_high, size=(pending.size, count + 1))
            target = free[pending]
            rounded = np.rint(draws / draws.sum(axis=1, keepdims=True) * target[:, None]).astype(np.int64)
            accepted = rounded.sum(axis=1) == target
            gaps[pending[accepted], : count + 1] = rounded[accepted]
            pending = pending[~accepted]
    return gaps


def _sample_bases(rng: np.random.Generator, model: np.ndarray) -> np.ndarray:
    """One-hot sequences, shape (N, L, 4) float32, each base drawn from its model column."""
    X = np.empty_like(model)
    eye = np.eye(4, dtype=np.float32)
    for start in range(0, model.shape[0], _SAMPLE_BLOCK):
        block = model[start : start + _SAMPLE_BLOCK]
        cumulative = np.cumsum(block, axis=-1, dtype=np.float64)
        # Scaling u by the column total samples the float32 column exactly as stored,
        # and ">=" never picks a base of probability 0.
        u = rng.random(block.shape[:2]) * cumulative[..., 3]
        codes = (u[..., None] >= cumulative[..., :3]).sum(axis=-1)
        X[start : start + block.shape[0]] = eye[codes]
    return X


def _simulate(
    rng: np.random.Generator,
    num_sequences: int,
    pool: Sequence[Motif],
    allowed: np.ndarray,
    count_values: Sequence[int],
    gap_high: float,
    sequence_length: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Sequence models and implant table for ``num_sequences`` sequences.

    Motifs are drawn uniformly with replacement from ``pool[allowed]``.

    Returns
    -------
    model : np.ndarray, shape (num_sequences, sequence_length, 4), float32
    implants : np.ndarray, shape (K, 3), int64
        Columns sequence, start, motif (pool index), sorted by sequence then start.
    """
    widths_of_pool = np.array([motif.width for motif in pool], dtype=np.int64)
    counts = rng.choice(np.asarray(count_values), size=num_sequences, p=MOTIF_COUNT_PROBABILITIES)
    total = int(counts.sum())
    motif_index = allowed[rng.integers(allowed.size, size=total)]
    sequence_index = np.repeat(np.arange(num_sequences), counts)
    widths = widths_of_pool[motif_index]
    free = sequence_length - np.bincount(sequence_index, weights=widths, minlength=num_sequences).astype(
        np.int64
    )
    gaps = _draw_gaps(rng, counts, free, gap_high)

    # Motif j of a sequence starts after gaps 0..j and motifs 0..j-1.
    first = np.cumsum(counts) - counts
    position_in_sequence = np.arange(total) - first[sequence_index]
    step = gaps[sequence_index, position_in_sequence] + widths
    cumulative = np.cumsum(step)
    before_sequence = cumulative[first] - step[first]
    starts = cumulative - widths - before_sequence[sequence_index]

    model = np.full((num_sequences, sequence_length, 4), 0.25, dtype=np.float32)
    for index in np.unique(motif_index):
        chosen = motif_index == index
        columns = starts[chosen, None] + np.arange(widths_of_pool[index])
        model[sequence_index[chosen, None], columns] = pool[index].pwm.astype(np.float32)
    implants = np.stack([sequence_index, starts, motif_index], axis=1)
    return model, implants


def _assemble(
    name: str,
    rng: np.random.Generator,
    model: np.ndarray,
    y: np.ndarray,
    implants: np.ndarray,
    strands: np.ndarray,
    sizes: tuple[int, int, int],
    attrs: dict,
    pool: tuple[Motif, ...],
    motif_labels: np.ndarray,
    label_names: list[str],
) -> SyntheticTask:
    """Sample the bases, cut the splits and renumber the implant tables per split."""
    X = _sample_bases(rng, model)
    table = np.concatenate([implants, strands[implants[:, 2], None]], axis=1)
    splits = {}
    tables = {}
    offset = 0
    for split, size in zip(SPLITS, sizes, strict=True):
        stop = offset + size
        splits[split] = Split(X=X[offset:stop], y=y[offset:stop], model=model[offset:stop])
        rows = table[(table[:, 0] >= offset) & (table[:, 0] < stop)]
        rows[:, 0] -= offset
        tables[split] = np.ascontiguousarray(rows[np.lexsort((rows[:, 1], rows[:, 0]))], dtype=np.int32)
        offset = stop
    attrs = {
        **attrs,
        "task": name,
        "motif_ids": [motif.motif_id for motif in pool],
        "motif_names": [motif.name for motif in pool],
        "label_names": list(label_names),
        "implant_columns": list(IMPLANT_COLUMNS),
    }
    return SyntheticTask(
        name=name,
        dataset=Dataset(train=splits["train"], valid=splits["valid"], test=splits["test"], attrs=attrs),
        motifs=pool,
        motif_labels=motif_labels.astype(np.int32),
        label_names=list(label_names),
        implants=tables,
    )


def make_task1(
    num_sequences: int = 30000,
    *,
    seed: int = 0,
    sequence_length: int = 200,
    split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
) -> SyntheticTask:
    """Task 1: sequences with 1-5 motifs of 12 TFs, multi-label.

    The pool is the 12 JASPAR 2016 motifs of :data:`TASK1_MOTIF_IDS` followed by their
    reverse complements (24 motifs; pool index i and i + 12 share label i). Each
    sequence gets k = 1..5 motifs with probabilities 0.50, 0.25, 0.17, 0.05, 0.03,
    drawn uniformly with replacement from the pool, separated by uniform(0, 1) gaps
    (see the module docstring). ``y[n, t]`` is 1 when TF t is implanted at least once
    in sequence n. The sequences come out in random order, so the splits are
    consecutive blocks.

    Parameters
    ----------
    num_sequences : int, default 30000
        Total over the three splits.
    seed : int, default 0
        Seed of ``np.random.default_rng``; the same seed gives the same data.
    sequence_length : int, default 200
        L; at least 5 x the widest motif (SRF, 16), i.e. 80.
    split_fractions : (float, float, float), default (0.7, 0.1, 0.2)
        Train, valid, test fractions; positive, summing to 1. Train and valid sizes are
        rounded; test takes the rest.

    Returns
    -------
    SyntheticTask
        y has shape (N, 12), columns in :data:`TASK1_MOTIF_IDS` order.

    Raises
    ------
    InvalidInputError
        A negative or non-integer seed, fractions that are not three positive numbers
        summing to 1, too few sequences to fill every split, or a sequence too short
        for 5 of the widest motif.
    """
    sizes = _check_common(num_sequences, seed, sequence_length, split_fractions)
    forward = [jaspar_motif(motif_id, RELEASE) for motif_id in TASK1_MOTIF_IDS.values()]
    pool = tuple(forward + [motif.reverse_complement() for motif in forward])
    widths = np.array([motif.width for motif in pool])
    _check_fits(sequence_length, max(TASK1_MOTIF_COUNTS), widths, pool)
    num_labels = len(forward)
    motif_labels = np.arange(len(pool)) % num_labels
    strands = (np.arange(len(pool)) >= num_labels).astype(np.int64)

    rng = np.random.default_rng(seed)
    model, implants = _simulate(
        rng, num_sequences, pool, np.arange(len(pool)), TASK1_MOTIF_COUNTS, 1.0, sequence_length
    )
    y = np.zeros((num_sequences, num_labels), dtype=np.float32)
    y[implants[:, 0], motif_labels[implants[:, 2]]] = 1.0
    attrs = _settings(seed, sequence_length, split_fractions, TASK1_MOTIF_COUNTS, 1.0)
    return _assemble(
        "task1", rng, model, y, implants, strands, sizes, attrs, pool, motif_labels, list(TASK1_MOTIF_IDS)
    )


def make_task3(
    num_sequences: int = 20000,
    *,
    seed: int = 0,
    sequence_length: int = 200,
    split_fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
) -> SyntheticTask:
    """Task 3: in-vivo-like binary task, core motifs against a background of other motifs.

    The pool (``SyntheticTask.motifs``) is, in order: the 5 core motifs of
    :data:`TASK3_CORE_MOTIF_IDS` (SP1, Gabpa, CEBPB, MAX, YY1), their reverse
    complements (pool indices 0-9, the core pool), then 50 motifs chosen at random
    (without replacement, with this seed) from :func:`task3_background_candidates`,
    then their reverse complements (indices 10-109). Positives (label 1) draw their
    motifs from the core pool only; negatives (label 0) from the whole pool of 110,
    core motifs included, so a negative can carry core motifs too. Each sequence gets
    k = 3..7 motifs with probabilities 0.50, 0.25, 0.17, 0.05, 0.03, separated by
    uniform(0, 2) gaps (see the module docstring). Half the sequences are positive; all
    are shuffled before the split.

    Parameters
    ----------
    num_sequences : int, default 20000
        Total over the three splits (half positive, half negative); must be even.
    seed : int, default 0
        Seed of ``np.random.default_rng``; it also picks the 50 background motifs.
    sequence_length : int, default 200
        L; at least 7 x the widest candidate motif (21), i.e. 147, so that the check
        does not depend on which background motifs the seed picks.
    split_fractions : (float, float, float), default (0.7, 0.1, 0.2)
        Train, valid, test fractions, as in :func:`make_task1`.

    Returns
    -------
    SyntheticTask
        y has shape (N, 1); ``motif_labels`` is 0 for the core pool and -1 otherwise.

    Raises
    ------
    InvalidInputError
        As :func:`make_task1`, and for an odd ``num_sequences``.
    """
    sizes = _check_common(num_sequences, seed, sequence_length, split_fractions)
    if num_sequences % 2:
        raise InvalidInputError(
            f"num_sequences: expected an even number (half positive, half negative), got {num_sequences}",
            field="num_sequences",
        )
    core = [jaspar_motif(motif_id, RELEASE) for motif_id in TASK3_CORE_MOTIF_IDS.values()]
    candidates = task3_background_candidates()
    candidate_widths = np.array([motif.width for motif in core + list(candidates)])
    _check_fits(sequence_length, max(TASK3_MOTIF_COUNTS), candidate_widths, core + list(candidates))

    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(candidates), size=TASK3_NUM_BACKGROUND_MOTIFS, replace=False))
    background = [candidates[i] for i in picked]
    pool = tuple(
        core
        + [motif.reverse_complement() for motif in core]
        + background
        + [motif.reverse_complement() for motif in background]
    )
    num_core = 2 * len(core)
    motif_labels = np.where(np.arange(len(pool)) < num_core, 0, -1)
    strands = np.concatenate([np.repeat([0, 1], len(core)), np.repeat([0, 1], len(background))]).astype(
        np.int64
    )

    half = num_sequences // 2
    positive_model, positive_implants = _simulate(
        rng, half, pool, np.arange(num_core), TASK3_MOTIF_COUNTS, 2.0, sequence_length
    )
    negative_model, negative_implants = _simulate(
        rng, half, pool, np.arange(len(pool)), TASK3_MOTIF_COUNTS, 2.0, sequence_length
    )
    negative_implants[:, 0] += half
    y = np.concatenate([np.ones(half), np.zeros(half)]).astype(np.float32)[:, None]
    model = np.concatenate([positive_model, negative_model])
    implants = np.concatenate([positive_implants, negative_implants])

    order = rng.permutation(num_sequences)
    new_index = np.empty_like(order)
    new_index[order] = np.arange(num_sequences)
    implants[:, 0] = new_index[implants[:, 0]]
    attrs = _settings(seed, sequence_length, split_fractions, TASK3_MOTIF_COUNTS, 2.0)
    attrs["background_candidates"] = len(candidates)
    return _assemble(
        "task3", rng, model[order], y[order], implants, strands, sizes, attrs, pool, motif_labels, ["core"]
    )


def _settings(
    seed: int,
    sequence_length: int,
    split_fractions: Sequence[float],
    count_values: Sequence[int],
    gap_high: float,
) -> dict:
    """Generation settings recorded in the HDF5 attributes (lists, so they round-trip as lists)."""
    return {
        "seed": int(seed),
        "sequence_length": int(sequence_length),
        "split_fractions": [float(f) for f in split_fractions],
        "motif_counts": list(count_values),
        "motif_count_probabilities": list(MOTIF_COUNT_PROBABILITIES),
        # Normalising makes the scale of the gap draws irrelevant; it is recorded
        # because the paper states it (uniform(0, 1) for Task 1, (0, 2) for Task 3).
        "gap_draw_high": float(gap_high),
        "jaspar_release": RELEASE,
    }
