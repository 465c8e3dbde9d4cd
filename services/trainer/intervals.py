"""Genome-interval data sets: peak files + a stored reference genome -> a stored data set.

The steps are the core's (:mod:`motiflens.genome`); this module checks the request,
reserves memory from its declared sizes before the windows are cut, fetches the genome
upload into a scratch folder (indexed there, never beside a shared file), and stores
the result like every other data set (``data.h5`` in the paper's layout, plus each
row's name ``chrom:start-end``).

Choices (said here once, and in the proto):

- One task per peak file. Peaks of every file become windows; peaks of several files
  that give the same window count once. Label ``t`` of a window is 1 when a peak of
  file ``t`` covers the window's centre base (:func:`motiflens.genome.label_windows`).
- Negatives (labels all 0): a background BED (every window, or a seeded sample of
  ``negative_ratio`` per peak window), random genome windows matched to the peaks' GC
  histogram (seeded), or one dinucleotide shuffle per peak window (seeded). A
  shuffled negative sits on its peak's chromosome, so it lands in its peak's split.
- Splits: chromosome hold-out when ``valid_chroms`` and ``test_chroms`` are given,
  else seeded random 0.7/0.1/0.2. Every split must get at least one window.
- Dropped windows (off a chromosome end, too many N) are counted in the response;
  a contig missing from the genome, or a window longer than a chromosome, is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motiflens import genome as core
from motiflens.errors import CancelledError, InvalidInputError, ResourceExhaustedError
from motiflens.sequences import SPLITS, Dataset, Split, save_hdf5
from motiflens.sequences import reverse_complement as reverse_complement_one_hot
from services.common.budget import MemoryBudget
from services.common.datasets import DATA_OBJECT, DatasetInfo, disk_errors, scratch_directory
from services.common.limits import check_name
from services.common.store import ArtifactStore
from services.trainer import uploads
from services.trainer.datasets import store_dataset_file

NEGATIVE_KINDS = ("none", "background", "gc_matched", "shuffled")
CENTRES = ("auto", "summit", "midpoint")
DEFAULT_WINDOW_LENGTH = 200
MAX_PEAK_FILES = 64
MAX_NEGATIVE_RATIO = 10.0
DEFAULT_MAX_N_FRACTION = 0.1
#: Most chromosomes named in valid_chroms / test_chroms, and the longest name.
MAX_HELD_OUT_CHROMS = 1000
MAX_CHROM_CHARS = 256
#: Peak intervals read from all files together (the core's per-file bound too).
MAX_INTERVALS = 1_000_000
#: Largest data set, bytes as float32 (as for HDF5 imports).
MAX_DATASET_BYTES = 4 * 1024**3


@dataclass(frozen=True)
class BedInput:
    """One BED file of a request: inline text or an upload id, and its task name."""

    field: str
    name: str = ""
    text: str | None = None
    upload_id: str | None = None


@dataclass(frozen=True)
class IntervalsRequest:
    """A genome-intervals import, as the API gives it (0 / "" = default)."""

    genome_upload_id: str
    peaks: Sequence[BedInput]
    negatives: str = "none"
    background: BedInput | None = None
    negative_ratio: float = 0.0
    window_length: int = 0
    centre: str = "auto"
    max_n_fraction: float = DEFAULT_MAX_N_FRACTION
    valid_chroms: Sequence[str] = ()
    test_chroms: Sequence[str] = ()
    seed: int = 0
    reverse_complement: bool = False
    name: str = ""


@dataclass
class ImportCounts:
    """The response's WindowCounts fields."""

    requested: int = 0
    kept: int = 0
    off_chromosome_end: int = 0
    too_many_n: int = 0
    negatives_requested: int = 0
    negatives_made: int = 0
    negatives: str = "none"
    split: str = "random"
    extra: dict = field(default_factory=dict)


def import_intervals(
    store: ArtifactStore,
    request: IntervalsRequest,
    *,
    budget: MemoryBudget,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[DatasetInfo, ImportCounts]:
    """Build and store the data set of ``request``; returns it and what happened to its windows.

    Raises
    ------
    InvalidInputError
        A bad parameter (named), a malformed BED (file and line), a contig missing from
        the genome, a window longer than a chromosome, a corrupt or plain-gzip genome,
        a split left empty.
    NotFoundError
        Unknown upload.
    ResourceExhaustedError
        The windows would take more than the data-set or memory limit.
    CancelledError
        The caller left.
    """
    _check(request)
    length = request.window_length or DEFAULT_WINDOW_LENGTH
    centre: core.Centre = "midpoint" if request.centre == "midpoint" else "summit"
    with ExitStack() as stack:
        tracks = [stack.enter_context(_bed(store, bed)) for bed in request.peaks]
        background = stack.enter_context(_bed(store, request.background)) if request.background else None
        total = sum(len(track) for track in tracks)
        if total == 0:
            raise InvalidInputError("peaks: the peak files hold no interval", field="peaks")
        if total > MAX_INTERVALS:
            raise ResourceExhaustedError(f"peaks: {total} intervals; at most {MAX_INTERVALS} per data set")
        ratio = request.negative_ratio or (1.0 if request.negatives == "gc_matched" else 0.0)
        most_negatives = _most_negatives(request.negatives, total, ratio, background)
        need = _memory_need(total + most_negatives, length, request.reverse_complement)
        with budget.reserve(need, "intervals"):
            genome_path, _ = stack.enter_context(
                uploads.fetch_upload(store, request.genome_upload_id, "intervals.genome_upload_id")
            )
            index_dir = stack.enter_context(scratch_directory())
            genome = stack.enter_context(
                core.Genome.open(genome_path, index_dir=index_dir, field="intervals.genome_upload_id")
            )
            _stop_if(should_stop)
            for bed, track in zip(request.peaks, tracks, strict=True):
                _check_contigs(genome, track, bed.field)
            if background is not None and request.background is not None:
                _check_contigs(genome, background, request.background.field)
            X, windows, labels, counts = _positives(genome, tracks, length, centre, request.max_n_fraction)
            _stop_if(should_stop)
            negatives = _negatives(request, genome, X, windows, background, length, centre, ratio, counts)
            _stop_if(should_stop)
            return _store(store, request, tracks, X, windows, labels, negatives, counts, length)


def _check(request: IntervalsRequest) -> None:
    """Every scalar and list of the request, before any file is read."""
    if not 1 <= len(request.peaks) <= MAX_PEAK_FILES:
        raise InvalidInputError(
            f"peaks: expected 1 to {MAX_PEAK_FILES} peak files, got {len(request.peaks)}", field="peaks"
        )
    if request.negatives not in NEGATIVE_KINDS:
        raise InvalidInputError(
            f"negatives: expected one of {', '.join(NEGATIVE_KINDS)}, got {request.negatives!r}"
        )
    if request.negatives == "none" and len(request.peaks) < 2:
        raise InvalidInputError(
            "negatives: one peak file without negatives gives every window the label 1; choose "
            "background, gc_matched or shuffled negatives, or give two or more peak files",
            field="negatives",
        )
    if (request.background is not None) != (request.negatives == "background"):
        raise InvalidInputError(
            "background: a background BED goes with negatives=background, and only with it",
            field="background",
        )
    if request.centre not in CENTRES:
        raise InvalidInputError(f"centre: expected one of {', '.join(CENTRES)}, got {request.centre!r}")
    if not 0 <= request.window_length <= core.MAX_WINDOW_LENGTH:
        raise InvalidInputError(
            f"window_length: expected 0 (200) to {core.MAX_WINDOW_LENGTH} nt, got {request.window_length}",
            field="window_length",
        )
    if not (math.isfinite(request.negative_ratio) and 0 <= request.negative_ratio <= MAX_NEGATIVE_RATIO):
        raise InvalidInputError(
            f"negative_ratio: expected 0 (default) to {MAX_NEGATIVE_RATIO:g}, got {request.negative_ratio}",
            field="negative_ratio",
        )
    if not (math.isfinite(request.max_n_fraction) and 0 <= request.max_n_fraction <= 1):
        raise InvalidInputError(
            f"max_n_fraction: expected a fraction from 0 to 1, got {request.max_n_fraction}",
            field="max_n_fraction",
        )
    if request.seed < 0:
        raise InvalidInputError(f"seed: expected a non-negative integer, got {request.seed}", field="seed")
    if bool(request.valid_chroms) != bool(request.test_chroms):
        raise InvalidInputError(
            "valid_chroms, test_chroms: a chromosome hold-out needs both (or neither, for a random split)",
            field="valid_chroms",
        )
    for name in ("valid_chroms", "test_chroms"):
        chroms = getattr(request, name)
        if len(chroms) > MAX_HELD_OUT_CHROMS:
            raise InvalidInputError(f"{name}: at most {MAX_HELD_OUT_CHROMS} chromosomes", field=name)
        for index, chrom in enumerate(chroms):
            if not chrom or len(chrom) > MAX_CHROM_CHARS or any(c.isspace() for c in chrom):
                raise InvalidInputError(
                    f"{name}[{index}]: expected a chromosome name (1 to {MAX_CHROM_CHARS} characters, no "
                    f"spaces), got {chrom[:80]!r}",
                    field=f"{name}[{index}]",
                )
    for bed in [*request.peaks, *([request.background] if request.background else [])]:
        check_name(bed.name, f"{bed.field}.name")
        if (bed.text is None) == (bed.upload_id is None):
            raise InvalidInputError(f"{bed.field}: give the BED text or an upload_id", field=bed.field)


@contextmanager
def _bed(store: ArtifactStore, bed: BedInput) -> Iterator[list[core.Interval]]:
    """The intervals of one BED input (an upload is fetched to a scratch folder and read there)."""
    if bed.text is not None:
        if not bed.text.strip():
            raise InvalidInputError(f"{bed.field}: empty BED text", field=bed.field)
        yield core.read_bed(bed.text, field=bed.field, max_intervals=MAX_INTERVALS)
        return
    with uploads.fetch_upload(store, str(bed.upload_id), f"{bed.field}.upload_id") as (path, _):
        yield core.read_bed(path, field=bed.field, max_intervals=MAX_INTERVALS)


def _check_contigs(genome: core.Genome, intervals: Sequence[core.Interval], field: str) -> None:
    """A contig of ``intervals`` missing from the genome is an error naming the file and the contig."""
    sizes = genome.sizes
    for interval in intervals:
        if interval.chrom not in sizes:
            try:
                genome.contig_length(interval.chrom)  # the core names the contig and any chr/1 mix-up
            except InvalidInputError as exc:
                raise InvalidInputError(f"{field}: {exc}", field=field) from None


def _most_negatives(kind: str, positives: int, ratio: float, background: list | None) -> int:
    if kind == "shuffled":
        return positives
    if kind == "gc_matched":
        return math.ceil(ratio * positives)
    if kind == "background":
        return (
            len(background or ()) if not ratio else min(len(background or ()), math.ceil(ratio * positives))
        )
    return 0


def _memory_need(rows: int, length: int, reverse_complement: bool) -> int:
    """Peak bytes: uint8 windows, their float32 copy split three ways, and the reverse complements."""
    float_bytes = rows * length * 4 * 4
    if float_bytes > MAX_DATASET_BYTES:
        raise ResourceExhaustedError(
            f"intervals: {rows} windows of {length} nt take {float_bytes / 2**30:.1f} GiB as float32; "
            f"the limit is {MAX_DATASET_BYTES / 2**30:.0f} GiB per data set"
        )
    return rows * length * 4 + 2 * float_bytes + (float_bytes if reverse_complement else 0)


def _positives(
    genome: core.Genome,
    tracks: Sequence[Sequence[core.Interval]],
    length: int,
    centre: core.Centre,
    max_n_fraction: float,
) -> tuple[np.ndarray, list[core.Interval], np.ndarray, ImportCounts]:
    """(X (N, L, 4) uint8, N windows, labels (N, T) float32, counts): one window per distinct peak window."""
    every = [interval for track in tracks for interval in track]
    X, kept, window_counts = core.extract_windows(
        genome, every, length=length, centre=centre, max_n_fraction=max_n_fraction
    )
    windows: list[core.Interval] = []
    rows: list[int] = []
    seen: set[tuple[str, int]] = set()
    for row, index in enumerate(kept.tolist()):
        window = core.centred_window(every[index], length=length, centre=centre)
        if (window.chrom, window.start) in seen:
            continue  # another file's peak gives this window: labels carry both
        seen.add((window.chrom, window.start))
        windows.append(window)
        rows.append(row)
    counts = ImportCounts(
        requested=window_counts.requested,
        kept=len(windows),
        off_chromosome_end=window_counts.off_chromosome_end,
        too_many_n=window_counts.too_many_n,
    )
    if not windows:
        raise InvalidInputError(
            f"peaks: every one of the {counts.requested} peak windows was dropped "
            f"({counts.off_chromosome_end} off a chromosome end, {counts.too_many_n} with too many N)",
            field="peaks",
        )
    return X[rows], windows, core.label_windows(windows, tracks), counts


@dataclass
class _Negatives:
    X: np.ndarray
    windows: list[core.Interval]
    names: list[str]


def _negatives(
    request: IntervalsRequest,
    genome: core.Genome,
    X_pos: np.ndarray,
    windows: list[core.Interval],
    background: list[core.Interval] | None,
    length: int,
    centre: core.Centre,
    ratio: float,
    counts: ImportCounts,
) -> _Negatives:
    counts.negatives = request.negatives
    empty = _Negatives(np.zeros((0, length, 4), np.uint8), [], [])
    if request.negatives == "none":
        return empty
    if request.negatives == "shuffled":
        X = core.shuffled_windows(X_pos, request.seed)
        counts.negatives_requested = counts.negatives_made = len(windows)
        return _Negatives(X, list(windows), [f"{_name(w)}/shuffled" for w in windows])
    if request.negatives == "gc_matched":
        wanted = math.ceil(ratio * len(windows))
        X, found, gc = core.gc_matched_windows(
            genome,
            X_pos,
            windows,
            count=wanted,
            length=length,
            seed=request.seed,
            max_n_fraction=request.max_n_fraction,
        )
        counts.negatives_requested, counts.negatives_made = wanted, gc.found
        return _Negatives(X, list(found), [_name(w) for w in found])
    assert background is not None
    count = math.ceil(ratio * len(windows)) if request.negative_ratio else None
    X, index, bg = core.background_windows(
        genome,
        background,
        length=length,
        seed=request.seed,
        count=count,
        exclude=windows,
        centre=centre,
        max_n_fraction=request.max_n_fraction,
    )
    counts.negatives_requested = count if count is not None else len(background)
    counts.negatives_made = int(X.shape[0])
    counts.extra = {"background_overlapping_peaks": bg.overlapping_excluded}
    found = [core.centred_window(background[i], length=length, centre=centre) for i in index.tolist()]
    return _Negatives(X, found, [_name(w) for w in found])


def _name(window: core.Interval) -> str:
    return f"{window.chrom}:{window.start}-{window.end}"


def _store(
    store: ArtifactStore,
    request: IntervalsRequest,
    tracks: Sequence[Sequence[core.Interval]],
    X_pos: np.ndarray,
    windows: list[core.Interval],
    labels: np.ndarray,
    negatives: _Negatives,
    counts: ImportCounts,
    length: int,
) -> tuple[DatasetInfo, ImportCounts]:
    X = np.concatenate([X_pos, negatives.X]).astype(np.float32)
    y = np.concatenate([labels, np.zeros((negatives.X.shape[0], labels.shape[1]), np.float32)])
    names = [_name(w) for w in windows] + negatives.names
    chroms = [w.chrom for w in windows] + [w.chrom for w in negatives.windows]
    if request.valid_chroms:
        assignment = core.chromosome_split(
            chroms, valid_chroms=request.valid_chroms, test_chroms=request.test_chroms
        )
        counts.split = "chromosomes"
    else:
        assignment = core.random_split(len(names), request.seed)
    rows = {split: np.flatnonzero(assignment == split) for split in SPLITS}
    for split, chosen in rows.items():
        if chosen.size == 0:
            where = "valid_chroms, test_chroms" if request.valid_chroms else "peaks"
            raise InvalidInputError(
                f"{where}: the {split} split gets no window of the {len(names)}; hold out other "
                "chromosomes or give more peaks",
                field="valid_chroms" if request.valid_chroms else "peaks",
            )
    splits = {split: Split(X=X[chosen], y=y[chosen]) for split, chosen in rows.items()}
    row_names = {split: [names[i] for i in chosen.tolist()] for split, chosen in rows.items()}
    if request.reverse_complement:
        train = splits["train"]
        splits["train"] = Split(
            X=np.concatenate([train.X, reverse_complement_one_hot(train.X)]),
            y=np.concatenate([train.y, train.y]),
        )
        row_names["train"] = row_names["train"] + [f"{name}/rc" for name in row_names["train"]]
    dataset = Dataset(train=splits["train"], valid=splits["valid"], test=splits["test"])
    task_names = [bed.name or f"task{i}" for i, bed in enumerate(request.peaks)]
    provenance = {
        "source": "intervals",
        "genome_upload_id": request.genome_upload_id,
        "peaks": [bed.upload_id or "inline" for bed in request.peaks],
        "peak_counts": [len(track) for track in tracks],
        "window_length": length,
        "centre": request.centre,
        "negatives": request.negatives,
        "negative_ratio": request.negative_ratio,
        "max_n_fraction": request.max_n_fraction,
        "split": counts.split,
        "valid_chroms": list(request.valid_chroms),
        "test_chroms": list(request.test_chroms),
        "seed": request.seed,
        "reverse_complement": request.reverse_complement,
        "windows": {
            "requested": counts.requested,
            "kept": counts.kept,
            "off_chromosome_end": counts.off_chromosome_end,
            "too_many_n": counts.too_many_n,
            "negatives_requested": counts.negatives_requested,
            "negatives_made": counts.negatives_made,
            **counts.extra,
        },
    }
    with scratch_directory() as tmp:
        path = Path(tmp) / DATA_OBJECT
        with disk_errors("intervals"):
            save_hdf5(path, dataset)
        info = store_dataset_file(
            store,
            path,
            dataset,
            name=request.name,
            kind="intervals",
            label_names=task_names,
            seed=request.seed,
            reverse_complement=request.reverse_complement,
            provenance=provenance,
            row_names=row_names,
        )
    return info, counts


def _stop_if(should_stop: Callable[[], bool]) -> None:
    if should_stop():
        raise CancelledError("intervals: the caller left; nothing was stored")
