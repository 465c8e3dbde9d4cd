"""Windows, labels, negatives and splits: from intervals and a genome to one-hot rows.

:func:`extract_windows` and :class:`WindowCounts`; :func:`label_windows`; negatives
(:func:`background_windows`, :func:`gc_matched_windows`, :func:`shuffled_windows`);
splits (:func:`chromosome_split`, :func:`random_split`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
import numpy.typing as npt

from motiflens.errors import InvalidInputError
from motiflens.genome.fasta import Genome
from motiflens.genome.intervals import (
    _CODE,
    _N_CODE,
    _ONE_HOT,
    MAX_WINDOW_LENGTH,
    Centre,
    Interval,
    _check_positive_int,
    _window_start,
)
from motiflens.sequences import SPLITS, check_one_hot, dinucleotide_shuffle
from motiflens.synthetic import DEFAULT_SPLIT_FRACTIONS

# --------------------------------------------------------------------------- windows


@dataclass
class WindowCounts:
    """What happened to the intervals given to :func:`extract_windows` (or background_windows).

    Attributes
    ----------
    requested : int
        Intervals examined.
    kept : int
        Windows returned.
    off_chromosome_end : int
        Dropped: the window runs past either end of its chromosome.
    too_many_n : int
        Dropped: more than ``max_n_fraction`` of the window is N (or another non-ACGT letter).
    overlapping_excluded : int
        Dropped: the window overlaps an excluded interval (background_windows only).
    """

    requested: int = 0
    kept: int = 0
    off_chromosome_end: int = 0
    too_many_n: int = 0
    overlapping_excluded: int = 0


def extract_windows(
    genome: Genome,
    intervals: Sequence[Interval],
    *,
    length: int,
    centre: Centre = "summit",
    max_n_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, WindowCounts]:
    """One-hot windows of ``length`` nt centred on each interval.

    Window i is ``centred_window(intervals[kept_index[i]], length=length, centre=centre)``.
    Windows running off either chromosome end, and windows with more than
    ``max_n_fraction`` N, are dropped and counted. The intervals are read twice (check,
    then fetch), one at a time; memory beyond the output is O(1) per interval.

    Parameters
    ----------
    genome : Genome
    intervals : sequence of Interval
    length : int
        Window length L, 1 to 100,000.
    centre : {"summit", "midpoint"}, default "summit"
        Centre on the summit when an interval has one (narrowPeak), else its midpoint;
        "midpoint" always uses the midpoint.
    max_n_fraction : float, default 0.1
        Keep windows whose fraction of N (any letter other than ACGT) is at most this.

    Returns
    -------
    X : np.ndarray, shape (N, L, 4), uint8
        One-hot windows, channels A, C, G, T; N columns are all zero. N × L × 4 bytes
        (at most len(intervals) × L × 4 while filling).
    kept_index : np.ndarray, shape (N,), int64
        Index into ``intervals`` of each window, increasing.
    counts : WindowCounts

    Raises
    ------
    InvalidInputError
        Bad ``length``, ``centre`` or ``max_n_fraction``; an interval on a contig the
        genome lacks; ``length`` longer than every chromosome the intervals lie on.
    """
    return _extract(
        genome, intervals, range(len(intervals)), length, centre, max_n_fraction, limit=None, exclude=None
    )


def _check_length(length: int, max_n_fraction: float) -> None:
    """Validate the window length and the N fraction shared by every window function."""
    if (
        isinstance(length, bool)
        or not isinstance(length, (int, np.integer))
        or not 1 <= length <= MAX_WINDOW_LENGTH
    ):
        raise InvalidInputError(
            f"length: expected an integer from 1 to {MAX_WINDOW_LENGTH} nt, got {length!r}", field="length"
        )
    # NaN fails both comparisons, so this also refuses it.
    if (
        isinstance(max_n_fraction, bool)
        or not isinstance(max_n_fraction, (int, float, np.floating))
        or not (0.0 <= max_n_fraction <= 1.0)
    ):
        raise InvalidInputError(
            f"max_n_fraction: expected a finite number in [0, 1], got {max_n_fraction!r}",
            field="max_n_fraction",
        )


def _count_in_bounds(genome: Genome, intervals: Sequence[Interval], length: int, centre: Centre) -> int:
    """Windows that fit on their chromosome; raises for unknown contigs and a too-long length."""
    in_bounds = 0
    longest = 0
    for index, interval in enumerate(intervals):
        size = genome.contig_length(interval.chrom, field=f"intervals[{index}].chrom")
        longest = max(longest, size)
        start = _window_start(interval, length, centre)
        in_bounds += start >= 0 and start + length <= size
    if intervals and length > longest:
        raise InvalidInputError(
            f"length: a window of {length} nt is longer than every chromosome the intervals lie on "
            f"(the longest is {longest} nt)",
            field="length",
        )
    return in_bounds


def _extract(
    genome: Genome,
    intervals: Sequence[Interval],
    order: Sequence[int],
    length: int,
    centre: Centre,
    max_n_fraction: float,
    *,
    limit: int | None,
    exclude: _IntervalIndex | None,
) -> tuple[np.ndarray, np.ndarray, WindowCounts]:
    """Windows of ``intervals[order]`` until ``limit`` are kept, skipping those overlapping ``exclude``."""
    _check_length(length, max_n_fraction)
    if centre not in ("summit", "midpoint"):
        raise InvalidInputError(f"centre: expected 'summit' or 'midpoint', got {centre!r}", field="centre")
    rows = _count_in_bounds(genome, intervals, length, centre)
    rows = rows if limit is None else min(rows, limit)
    X = np.empty((rows, length, 4), dtype=np.uint8)
    kept_index = np.empty(rows, dtype=np.int64)
    counts = WindowCounts()
    for index in order:
        if limit is not None and counts.kept == limit:
            break
        counts.requested += 1
        chrom, start = intervals[index].chrom, _window_start(intervals[index], length, centre)
        if start < 0 or start + length > genome.contig_length(chrom):
            counts.off_chromosome_end += 1
            continue
        if exclude is not None and exclude.overlaps(chrom, start, start + length):
            counts.overlapping_excluded += 1
            continue
        codes = _codes(genome.fetch(chrom, start, start + length))
        if np.count_nonzero(codes == _N_CODE) > max_n_fraction * length:
            counts.too_many_n += 1
            continue
        X[counts.kept] = _ONE_HOT[codes]
        kept_index[counts.kept] = index
        counts.kept += 1
    return _shrink(X, counts.kept), _shrink(kept_index, counts.kept), counts


def _codes(sequence: str) -> np.ndarray:
    """Codes 0-3 (ACGT) and 4 (anything else) of a sequence, shape (L,), uint8."""
    return _CODE[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]


def _shrink(array: np.ndarray, rows: int) -> np.ndarray:
    # Resizing in place avoids a second copy of the (possibly large) output.
    if array.shape[0] != rows:
        array.resize((rows, *array.shape[1:]), refcheck=False)
    return array


# --------------------------------------------------------------------------- labels


class _IntervalIndex:
    """Intervals sorted by start per chromosome, with the running maximum of their ends.

    Among the intervals starting before a query's end, some overlap the query exactly
    when the largest of their ends passes the query's start: one binary search per query,
    O(log P) after an O(P log P) build.
    """

    def __init__(self, intervals: Sequence[Interval]) -> None:
        by_chrom: dict[str, tuple[list[int], list[int]]] = {}
        for interval in intervals:
            starts, ends = by_chrom.setdefault(interval.chrom, ([], []))
            starts.append(interval.start)
            ends.append(interval.end)
        self._starts: dict[str, np.ndarray] = {}
        self._max_end: dict[str, np.ndarray] = {}
        for chrom, (starts, ends) in by_chrom.items():
            order = np.argsort(starts, kind="stable")
            self._starts[chrom] = np.asarray(starts, dtype=np.int64)[order]
            self._max_end[chrom] = np.maximum.accumulate(np.asarray(ends, dtype=np.int64)[order])

    def overlaps(self, chrom: str, start: int, end: int) -> bool:
        """Whether any interval overlaps ``[start, end)`` on ``chrom``."""
        starts = self._starts.get(chrom)
        if starts is None:
            return False
        last = int(np.searchsorted(starts, end, side="left")) - 1
        return last >= 0 and bool(self._max_end[chrom][last] > start)

    def covers(self, chrom: str, positions: np.ndarray) -> np.ndarray:
        """Whether some interval covers each base in ``positions`` (shape (K,)) on ``chrom``."""
        starts = self._starts.get(chrom)
        if starts is None:
            return np.zeros(positions.shape, dtype=bool)
        last = np.searchsorted(starts, positions, side="right") - 1
        return (last >= 0) & (self._max_end[chrom][np.maximum(last, 0)] > positions)


def label_windows(windows: Sequence[Interval], tracks: Sequence[Sequence[Interval]]) -> np.ndarray:
    """Multi-task labels: whether a peak of each track covers each window's centre base.

    Rule: ``labels[i, t] = 1`` when some peak ``p`` of track ``t`` on window i's
    chromosome has ``p.start <= c < p.end``, where ``c = w.start + (w.end - w.start) // 2``
    is the centre base of window ``w = windows[i]`` (for a :func:`centred_window`, the
    summit or midpoint it was centred on); else 0. Cost O((N + P) log P) for P peaks.

    Parameters
    ----------
    windows : sequence of Interval
        N windows, e.g. ``centred_window`` of the kept intervals.
    tracks : sequence of sequences of Interval
        T peak sets (one per BED file or task), T >= 1.

    Returns
    -------
    np.ndarray, shape (N, T), float32
        Values 0 or 1.
    """
    if isinstance(tracks, (str, bytes)) or len(tracks) == 0:
        raise InvalidInputError("tracks: expected at least one list of peaks (one per task)", field="tracks")
    centres = np.fromiter(
        (w.start + (w.end - w.start) // 2 for w in windows), dtype=np.int64, count=len(windows)
    )
    rows_by_chrom: dict[str, list[int]] = {}
    for row, window in enumerate(windows):
        rows_by_chrom.setdefault(window.chrom, []).append(row)
    labels = np.zeros((len(windows), len(tracks)), dtype=np.float32)
    for task, peaks in enumerate(tracks):
        index = _IntervalIndex(peaks)
        for chrom, rows in rows_by_chrom.items():
            labels[rows, task] = index.covers(chrom, centres[rows])
    return labels


# --------------------------------------------------------------------------- negatives


def background_windows(
    genome: Genome,
    intervals: Sequence[Interval],
    *,
    length: int,
    seed: int,
    count: int | None = None,
    exclude: Sequence[Interval] = (),
    centre: Centre = "summit",
    max_n_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, WindowCounts]:
    """Negative windows from a background BED, with the rules of :func:`extract_windows`.

    Without ``count``, every background interval is tried in file order (``seed`` is then
    unused). With ``count``, the intervals are tried in the order of
    ``np.random.default_rng(seed).permutation`` until ``count`` windows are kept, so the
    same seed gives the same negatives. Windows overlapping ``exclude`` (e.g. the positive
    windows) are dropped and counted in ``overlapping_excluded``.

    Parameters
    ----------
    genome : Genome
    intervals : sequence of Interval
        Background intervals.
    length : int
        Window length L, 1 to 100,000.
    seed : int
        Seed of the random order.
    count : int, optional
        Windows wanted; fewer come back when the background runs out (see ``counts``).
    exclude : sequence of Interval, default ()
        Intervals no negative may overlap.
    centre, max_n_fraction
        As for :func:`extract_windows`.

    Returns
    -------
    X : np.ndarray, shape (N, L, 4), uint8
        N × L × 4 bytes, N <= count.
    index : np.ndarray, shape (N,), int64
        Index into ``intervals`` of each window (in the order tried).
    counts : WindowCounts
    """
    if count is None:
        order: Sequence[int] = range(len(intervals))
    else:
        _check_positive_int(count, "count")
        order = np.random.default_rng(seed).permutation(len(intervals)).tolist()
    index = _IntervalIndex(exclude) if exclude else None
    return _extract(genome, intervals, order, length, centre, max_n_fraction, limit=count, exclude=index)


@dataclass
class GcMatchCounts:
    """Outcome of :func:`gc_matched_windows`.

    Attributes
    ----------
    requested : int
        Windows asked for.
    found : int
        Windows returned (fewer than requested when ``max_tries`` ran out).
    tries : int
        Random windows drawn.
    overlapping : int
        Rejected: overlaps a positive or an earlier negative.
    too_many_n : int
        Rejected: more than ``max_n_fraction`` N.
    bin_full : int
        Rejected: its GC bin already had its share.
    target_per_bin, found_per_bin : np.ndarray, shape (bins,), int64
        Windows wanted and found per GC bin.
    """

    requested: int
    found: int = 0
    tries: int = 0
    overlapping: int = 0
    too_many_n: int = 0
    bin_full: int = 0
    target_per_bin: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    found_per_bin: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def gc_content(X: npt.ArrayLike) -> np.ndarray:
    """GC fraction of the called (non-N) bases of each one-hot sequence.

    Parameters
    ----------
    X : array_like, shape (N, L, 4)
        One-hot DNA, channels A, C, G, T.

    Returns
    -------
    np.ndarray, shape (N,), float64
        (C + G) / (A + C + G + T) per sequence; 0 for a sequence of only N.
    """
    X = check_one_hot(X, allow_empty=True)
    totals = X.sum(axis=(1, 2), dtype=np.float64)
    gc = X[..., 1:3].sum(axis=(1, 2), dtype=np.float64)
    return np.divide(gc, totals, out=np.zeros_like(gc), where=totals > 0)


def _gc_bin(gc: np.ndarray | float, bins: int) -> np.ndarray:
    """Bin of GC fractions in ``bins`` equal bins over [0, 1] (1.0 falls in the last)."""
    return np.minimum((np.asarray(gc) * bins).astype(np.int64), bins - 1)


def _bin_targets(positive_bins: np.ndarray, count: int, bins: int) -> np.ndarray:
    """Split ``count`` over bins in proportion to the positives (largest remainders round up)."""
    share = np.bincount(positive_bins, minlength=bins) * count / positive_bins.size
    targets = np.floor(share).astype(np.int64)
    extra = count - int(targets.sum())
    targets[np.argsort(-(share - targets), kind="stable")[:extra]] += 1
    return targets


def gc_matched_windows(
    genome: Genome,
    positives_one_hot: npt.ArrayLike,
    positive_intervals: Sequence[Interval],
    *,
    count: int,
    length: int,
    seed: int,
    max_tries: int | None = None,
    bins: int = 20,
    max_n_fraction: float = 0.1,
) -> tuple[np.ndarray, list[Interval], GcMatchCounts]:
    """Random genome windows whose GC-content histogram matches the positives'.

    Procedure: the positives' GC fractions (of non-N bases) are binned into ``bins``
    equal bins over [0, 1] and ``count`` is shared out over the bins in proportion (largest
    remainders round up). Then windows are drawn uniformly over every start position of
    every chromosome at least ``length`` long, from ``np.random.default_rng(seed)``; a
    window is rejected when it overlaps a positive or an earlier negative, has more than
    ``max_n_fraction`` N, or falls in a GC bin that already has its share. Drawing stops
    when every bin is full or after ``max_tries`` draws, so a small genome gives fewer
    windows than asked (``counts.found``), never an endless loop.

    Parameters
    ----------
    genome : Genome
    positives_one_hot : array_like, shape (P, L, 4)
        The positive windows.
    positive_intervals : sequence of Interval
        Their P genome windows (e.g. ``centred_window`` of the kept peaks); negatives
        overlap none of them.
    count : int
        Negatives wanted.
    length : int
        Window length L; must equal the positives' length.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same negatives.
    max_tries : int, optional
        Most windows drawn; default 100 × count.
    bins : int, default 20
        GC bins over [0, 1] (width 0.05).
    max_n_fraction : float, default 0.1

    Returns
    -------
    X : np.ndarray, shape (M, L, 4), uint8
        M = ``counts.found`` <= count windows, in the order found; M × L × 4 bytes.
    windows : list of Interval
        Their genome coordinates (name "gc_matched").
    counts : GcMatchCounts
    """
    X_pos = check_one_hot(positives_one_hot, "positives_one_hot")
    _check_positive_int(count, "count")
    _check_positive_int(bins, "bins")
    _check_length(length, max_n_fraction)
    max_tries = 100 * count if max_tries is None else max_tries
    _check_positive_int(max_tries, "max_tries")
    if X_pos.shape[1] != length:
        raise InvalidInputError(
            f"positives_one_hot: expected length {length} nt, got {X_pos.shape[1]}", field="positives_one_hot"
        )
    if len(positive_intervals) != X_pos.shape[0]:
        raise InvalidInputError(
            f"positive_intervals: expected {X_pos.shape[0]} intervals (one per positive window), "
            f"got {len(positive_intervals)}",
            field="positive_intervals",
        )
    targets = _bin_targets(_gc_bin(gc_content(X_pos), bins), count, bins)
    counts = GcMatchCounts(requested=count, target_per_bin=targets, found_per_bin=np.zeros(bins, np.int64))
    X, windows = _draw_gc_matched(
        genome, _IntervalIndex(positive_intervals), length, seed, max_tries, max_n_fraction, counts
    )
    return X, windows, counts


def _draw_gc_matched(
    genome: Genome,
    positives: _IntervalIndex,
    length: int,
    seed: int,
    max_tries: int,
    max_n_fraction: float,
    counts: GcMatchCounts,
) -> tuple[np.ndarray, list[Interval]]:
    """The sampling loop of :func:`gc_matched_windows`; fills ``counts`` as it goes."""
    chroms = [chrom for chrom, size in genome.sizes.items() if size >= length]
    if not chroms:
        raise InvalidInputError(
            f"length: a window of {length} nt is longer than every chromosome "
            f"(the longest is {max(genome.sizes.values())} nt)",
            field="length",
        )
    # Every start position of every chromosome, laid end to end, drawn uniformly.
    first_start = np.cumsum([0] + [genome.sizes[chrom] - length + 1 for chrom in chroms])
    rng = np.random.default_rng(seed)
    bins = counts.target_per_bin.size
    X = np.empty((counts.requested, length, 4), dtype=np.uint8)
    windows: list[Interval] = []
    # Starts of accepted negatives per chromosome, sorted: all have length L, so a new
    # one overlaps an old one exactly when their starts differ by less than L.
    taken: dict[str, list[int]] = {}
    while counts.tries < max_tries and counts.found < counts.requested:
        draws = rng.integers(0, first_start[-1], size=min(1024, max_tries - counts.tries))
        for draw in draws.tolist():
            counts.tries += 1
            chrom_index = int(np.searchsorted(first_start, draw, side="right")) - 1
            chrom, start = chroms[chrom_index], draw - int(first_start[chrom_index])
            starts = taken.setdefault(chrom, [])
            position = bisect.bisect_left(starts, start)
            near = starts[max(position - 1, 0) : position + 1]
            if positives.overlaps(chrom, start, start + length) or any(abs(s - start) < length for s in near):
                counts.overlapping += 1
                continue
            codes = _codes(genome.fetch(chrom, start, start + length))
            if np.count_nonzero(codes == _N_CODE) > max_n_fraction * length:
                counts.too_many_n += 1
                continue
            called = max(int(np.count_nonzero(codes < _N_CODE)), 1)
            gc_bin = int(_gc_bin(np.count_nonzero((codes == 1) | (codes == 2)) / called, bins))
            if counts.found_per_bin[gc_bin] >= counts.target_per_bin[gc_bin]:
                counts.bin_full += 1
                continue
            X[counts.found] = _ONE_HOT[codes]
            windows.append(Interval(chrom, start, start + length, None, "gc_matched"))
            starts.insert(position, start)
            counts.found_per_bin[gc_bin] += 1
            counts.found += 1
            if counts.found == counts.requested:
                break
    return _shrink(X, counts.found), windows


def shuffled_windows(positives_one_hot: npt.ArrayLike, seed: int) -> np.ndarray:
    """Dinucleotide-shuffled copies of the positives (one per positive).

    Each is :func:`motiflens.sequences.dinucleotide_shuffle` of a positive: the same
    dinucleotide counts (so the same composition and GC), with motifs destroyed.

    Parameters
    ----------
    positives_one_hot : array_like, shape (N, L, 4)
        Hard one-hot windows (uint8 from :func:`extract_windows`, or float).
    seed : int
        The same seed gives the same shuffles.

    Returns
    -------
    np.ndarray, shape (N, L, 4), same dtype
    """
    X = check_one_hot(positives_one_hot, "positives_one_hot", allow_empty=True)
    return dinucleotide_shuffle(X, num_shuffles=1, seed=seed)[:, 0]


# --------------------------------------------------------------------------- splits


def chromosome_split(
    chroms: Sequence[str], *, valid_chroms: Sequence[str], test_chroms: Sequence[str]
) -> np.ndarray:
    """Assign windows to splits by chromosome, so no chromosome spans two splits.

    Parameters
    ----------
    chroms : sequence of str
        Chromosome of each of N windows.
    valid_chroms, test_chroms : sequence of str
        Chromosomes held out for validation and for test; all others train.

    Returns
    -------
    np.ndarray, shape (N,), str
        "train", "valid" or "test" per window.

    Raises
    ------
    InvalidInputError
        A chromosome in both lists, or a listed chromosome no window lies on (a typo
        or a naming mismatch would otherwise leave a split silently empty).
    """
    both = sorted(set(valid_chroms) & set(test_chroms))
    if both:
        raise InvalidInputError(
            f"test_chroms: {', '.join(both)} also in valid_chroms; a chromosome goes to one split",
            field="test_chroms",
        )
    present = set(chroms)
    for name, listed in (("valid_chroms", valid_chroms), ("test_chroms", test_chroms)):
        missing = sorted(set(listed) - present)
        if missing:
            raise InvalidInputError(
                f"{name}: no window lies on {', '.join(missing)}; windows lie on "
                f"{', '.join(sorted(present)) or 'no chromosome'}",
                field=name,
            )
    chrom_array = np.asarray(chroms, dtype=str)
    splits = np.full(chrom_array.shape, SPLITS[0], dtype=f"<U{max(map(len, SPLITS))}")
    splits[np.isin(chrom_array, list(valid_chroms))] = "valid"
    splits[np.isin(chrom_array, list(test_chroms))] = "test"
    return splits


def random_split(n: int, seed: int, fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS) -> np.ndarray:
    """Assign n rows to splits at random.

    The rule of the trainer's FASTA import: shuffle with
    ``np.random.default_rng(seed).permutation(n)``; the first ``round(f_train * n)`` rows
    of it train, the next ``round(f_valid * n)`` validate, the rest test.

    Parameters
    ----------
    n : int
        Number of rows, >= 0.
    seed : int
    fractions : (float, float, float), default (0.7, 0.1, 0.2)
        Train, valid and test fractions, positive, summing to 1.

    Returns
    -------
    np.ndarray, shape (n,), str
        "train", "valid" or "test" per row.
    """
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or not all(math.isfinite(f) and f > 0 for f in values) or abs(sum(values) - 1) > 1e-9:
        raise InvalidInputError(
            f"fractions: expected 3 positive fractions (train, valid, test) summing to 1, got {values}",
            field="fractions",
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InvalidInputError(f"n: expected a non-negative integer, got {n!r}", field="n")
    order = np.random.default_rng(seed).permutation(n)
    num_train, num_valid = round(values[0] * n), round(values[1] * n)
    splits = np.full(n, "test", dtype=f"<U{max(map(len, SPLITS))}")
    splits[order[:num_train]] = "train"
    splits[order[num_train : num_train + num_valid]] = "valid"
    return splits
