"""The motif type: a position probability matrix, its information content and reverse complement.

:func:`information_content` is the one home of the bits-per-position computation
(motifs, first-layer filter PWMs, logos, ground-truth sequence models);
:class:`Motif` validates its matrix on construction and trims uninformative flanks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from motiflens.errors import InvalidInputError

# Suffix that marks a reverse-complemented motif id, e.g. "MA0151.1(rc)".
RC_SUFFIX = "(rc)"


def information_content(pwm: npt.ArrayLike) -> np.ndarray:
    """Information content of each position in bits, against a uniform background.

    ``IC = 2 + sum_b p_b log2 p_b`` with ``0 log 0 = 0`` and no pseudocount: a column
    ``[1, 0, 0, 0]`` has 2 bits, a uniform column 0 bits, an all-zero column (no
    model there) 2 bits. The one home of this computation: motifs, first-layer
    filter PWMs, logos and the ground-truth sequence models of the synthetic tasks.

    Parameters
    ----------
    pwm : array_like, shape (W, 4) or (..., W, 4)
        Base probabilities per position (A, C, G, T); a stack such as ground-truth
        models (N, L, 4) is computed position by position.

    Returns
    -------
    np.ndarray, shape (W,) or (..., W), float64
        Values clipped to [0, 2].
    """
    pwm = np.asarray(pwm, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pwm > 0, pwm * np.log2(pwm), 0.0)
    # Round-off can leave a uniform column a hair below zero.
    return np.clip(2.0 + terms.sum(axis=-1), 0.0, 2.0)


@dataclass(frozen=True, eq=False)
class Motif:
    """A DNA motif as a position probability matrix.

    Attributes
    ----------
    motif_id : str
        Database id, e.g. ``"MA0151.1"``; ids of reverse complements end in ``"(rc)"``.
    name : str
        Transcription factor name as the database spells it, e.g. ``"Arid3a"``.
    pwm : np.ndarray, shape (W, 4), float64
        Base probabilities per position, columns A, C, G, T; every row sums to 1.
        Stored as a read-only copy, so motifs shared through caches cannot be altered.
    nsites : float, default 0
        Number of sites the matrix was counted from (MEME's ``nsites=``, JASPAR's
        column total); 0 when unknown. Tomtom's pseudocount weighs by it (MEME takes
        20 when it is unknown).

    Raises
    ------
    InvalidInputError
        If ``pwm`` is not (W, 4) with W >= 1, has negative or non-finite entries, or
        a row that does not sum to 1 (tolerance 1e-6).
    """

    motif_id: str
    name: str
    pwm: np.ndarray
    nsites: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.nsites, (int, float, np.integer, np.floating)) or not (
            math.isfinite(self.nsites) and self.nsites >= 0
        ):
            raise InvalidInputError(
                f"{self.motif_id}: nsites: expected a finite number >= 0, got {self.nsites!r}"
            )
        object.__setattr__(self, "nsites", float(self.nsites))
        pwm = np.array(self.pwm, dtype=np.float64)
        if pwm.ndim != 2 or pwm.shape[1] != 4 or pwm.shape[0] == 0:
            raise InvalidInputError(f"{self.motif_id}: pwm: expected shape (W, 4), W >= 1, got {pwm.shape}")
        if not np.all(np.isfinite(pwm)) or np.any(pwm < 0):
            raise InvalidInputError(f"{self.motif_id}: pwm: expected finite non-negative probabilities")
        row_sums = pwm.sum(axis=1)
        bad = np.flatnonzero(np.abs(row_sums - 1.0) > 1e-6)
        if bad.size:
            raise InvalidInputError(
                f"{self.motif_id}: pwm row {int(bad[0])}: expected probabilities summing to 1, "
                f"got {row_sums[bad[0]]:.6g}"
            )
        pwm.setflags(write=False)
        # The dataclass is frozen; this is the one sanctioned write, in construction.
        object.__setattr__(self, "pwm", pwm)

    @property
    def width(self) -> int:
        """W, the number of positions."""
        return int(self.pwm.shape[0])

    @property
    def consensus(self) -> str:
        """The most probable base at each position (ties go to the first of A, C, G, T)."""
        return "".join("ACGT"[i] for i in self.pwm.argmax(axis=1))

    def reverse_complement(self) -> Motif:
        """The motif on the opposite strand.

        Rows are reversed and, with columns in A, C, G, T order, the complement is the
        column axis reversed. The id gains the suffix ``"(rc)"`` (``"MA0151.1"`` becomes
        ``"MA0151.1(rc)"``) and loses it again on a second reverse complement, so the
        operation is its own inverse. The name stays the TF name: both strands are
        bound by the same factor.

        Returns
        -------
        Motif
        """
        if self.motif_id.endswith(RC_SUFFIX):
            motif_id = self.motif_id[: -len(RC_SUFFIX)]
        else:
            motif_id = self.motif_id + RC_SUFFIX
        return Motif(motif_id=motif_id, name=self.name, pwm=self.pwm[::-1, ::-1], nsites=self.nsites)

    @property
    def information_content(self) -> np.ndarray:
        """Information content of each position in bits (:func:`information_content` of the PWM).

        Returns
        -------
        np.ndarray, shape (W,), float64
            Values in [0, 2].
        """
        return information_content(self.pwm)

    @property
    def total_information_content(self) -> float:
        """Sum of :attr:`information_content` over the positions, in bits."""
        return float(self.information_content.sum())

    def trim(self, threshold: float = 0.5, padding: int = 3) -> Motif | None:
        """Cut uninformative flanks, as the paper did before running Tomtom on filters.

        Keeps the positions from the first to the last one whose information
        content exceeds ``threshold`` (strictly), plus up to ``padding`` positions on
        each side (fewer where the motif ends). Interior positions below the
        threshold are kept. The id and name are unchanged.

        Parameters
        ----------
        threshold : float, default 0.5
            Bits a position must exceed to count as informative.
        padding : int, default 3
            Positions kept on each side of the informative span.

        Returns
        -------
        Motif or None
            The trimmed motif, or ``None`` when no position exceeds ``threshold``:
            such a motif has nothing to compare, and ``None`` lets callers drop it
            rather than pass a flat matrix on to Tomtom.

        Raises
        ------
        InvalidInputError
            If ``padding`` is negative or ``threshold`` is not finite.
        """
        if not math.isfinite(threshold):
            raise InvalidInputError(
                f"threshold: expected a finite number of bits, got {threshold!r}", field="threshold"
            )
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise InvalidInputError(f"padding: expected an integer >= 0, got {padding!r}", field="padding")
        informative = np.flatnonzero(self.information_content > threshold)
        if informative.size == 0:
            return None
        start = max(0, int(informative[0]) - int(padding))
        stop = min(self.width, int(informative[-1]) + int(padding) + 1)
        return Motif(motif_id=self.motif_id, name=self.name, pwm=self.pwm[start:stop], nsites=self.nsites)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Motif):
            return NotImplemented
        return (
            self.motif_id == other.motif_id
            and self.name == other.name
            and self.pwm.shape == other.pwm.shape
            and bool(np.array_equal(self.pwm, other.pwm))
        )

    def __hash__(self) -> int:
        return hash((self.motif_id, self.name, self.pwm.tobytes()))
