"""Genome intervals to fixed-length one-hot windows: peaks, reference FASTA, labels, negatives, splits.

The path from a peak file to a data set:

1. :func:`read_bed` parses BED3+ or narrowPeak into :class:`Interval` objects.
2. :class:`Genome` reads a reference FASTA (plain or bgzip) through pyfaidx.
3. :func:`extract_windows` cuts one window of ``length`` nt around each peak's summit
   (or midpoint) and one-hot encodes it; windows off a chromosome end or rich in N are
   dropped and counted in :class:`WindowCounts`.
4. :func:`label_windows` gives each window one label per peak track (multi-task).
5. Negatives: :func:`background_windows`, :func:`gc_matched_windows`, :func:`shuffled_windows`.
6. Splits: :func:`chromosome_split` (hold out whole chromosomes) or :func:`random_split`.

Conventions:

- Coordinates are 0-based and half-open, as in BED: ``[start, end)``.
- The centre of an interval is its summit when it has one (narrowPeak), else its
  midpoint ``(start + end) // 2``. A window of length L centred on base c spans
  ``[c - L // 2, c - L // 2 + L)``, so c is the window's base ``L // 2``.
- One-hot windows are uint8 of shape (N, L, 4), channels A, C, G, T, all-zero for N, as
  :mod:`motiflens.sequences` (which uses float32; ``X.astype(np.float32)`` converts).
  They take N × L × 4 bytes (100,000 windows of 1,000 nt: 400 MB; float32 is four
  times that). Every other step streams over the intervals and keeps only small
  per-interval numbers, so that output is the only large array.
"""

from motiflens.genome.fasta import Genome
from motiflens.genome.intervals import (
    BED_ACCEPTED,
    MAX_LINE_BYTES,
    MAX_WINDOW_LENGTH,
    NARROWPEAK_COLUMNS,
    Centre,
    Interval,
    centred_window,
    read_bed,
)
from motiflens.genome.windows import (
    GcMatchCounts,
    WindowCounts,
    background_windows,
    chromosome_split,
    extract_windows,
    gc_content,
    gc_matched_windows,
    label_windows,
    random_split,
    shuffled_windows,
)

__all__ = [
    "BED_ACCEPTED",
    "Centre",
    "GcMatchCounts",
    "Genome",
    "Interval",
    "MAX_LINE_BYTES",
    "MAX_WINDOW_LENGTH",
    "NARROWPEAK_COLUMNS",
    "WindowCounts",
    "background_windows",
    "centred_window",
    "chromosome_split",
    "extract_windows",
    "gc_content",
    "gc_matched_windows",
    "label_windows",
    "random_split",
    "read_bed",
    "shuffled_windows",
]
