"""Motif discovery from attribution maps: TF-MoDISco (modisco-lite) and Tomtom of its patterns.

:func:`discover_motifs` runs TF-MoDISco (``modiscolite.tfmodisco.TFMoDISco``, the pinned
modisco-lite package) on one-hot sequences and their *hypothetical* contributions
(:mod:`motiflens.attribution.forms`), both (N, L, 4). The defaults are those of
modisco-lite's command line (``modisco motifs``): seqlet cores of 20 nt
(``-z``), 5 nt flanks (``-f``), patterns trimmed to 30 nt (``-t``) then padded by 10
(``-g``) and 0 (``-j``), seqlet FDR 0.05, 2 Leiden runs (``-l``), the central window of
400 nt (``-w``; the whole sequence when it is shorter). ``max_seqlets`` (``-n``, which
the command line requires) defaults to 2,000 per sign.

Each :class:`Pattern` carries the three matrices TF-MoDISco reports — the PWM of its
seqlets' bases (``sequence``), the contribution-weighted matrix (CWM, mean projected
contributions) and the hypothetical CWM — and its seqlets (sequence index, start, end,
strand, in the input's coordinates). :meth:`Pattern.motif` trims the PWM as
modisco-lite's report does before Tomtom (positions whose Σ|CWM| is at least 0.3 of
the maximum, first to last); :func:`match_patterns` runs :func:`motiflens.tomtom.tomtom`
on those motifs.

TF-MoDISco forks worker processes (numba kernels compile in children; the negative
patterns are found in a child). Call it from a process that may fork: the services
run it in a child process of their own (``services.common.discovery``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from motiflens.errors import FailedPreconditionError, InvalidInputError
from motiflens.motifs import Motif, MotifDatabase
from motiflens.sequences import check_one_hot
from motiflens.tomtom import TomtomHit, tomtom

__all__ = [
    "DiscoverySettings",
    "Pattern",
    "Seqlet",
    "discover_motifs",
    "discovery_bytes",
    "match_patterns",
]

#: modisco-lite's report trims a pattern to positions with Σ|CWM| >= this share of the maximum.
TRIM_THRESHOLD = 0.3
#: modisco-lite's ``-w`` default: the central window searched for seqlets.
DEFAULT_WINDOW = 400


@dataclass(frozen=True)
class DiscoverySettings:
    """TF-MoDISco settings; the defaults are modisco-lite's command line (``modisco motifs``).

    Attributes
    ----------
    max_seqlets : int, default 2000
        Seqlets kept per sign (``-n``), in input order.
    window : int or None, default None
        Central window searched for seqlets (``-w``); None: min(400, L).
    sliding_window_size : int, default 20
        Seqlet core width (``-z``).
    flank_size : int, default 5
        Flank added to each seqlet (``-f``).
    trim_to_window_size : int, default 30
        Width patterns are trimmed to (``-t``).
    initial_flank_to_add, final_flank_to_add : int, default 10 and 0
        ``-g`` and ``-j``.
    target_seqlet_fdr : float, default 0.05
    n_leiden_runs : int, default 2
        Leiden clusterings with different seeds (``-l``).
    """

    max_seqlets: int = 2000
    window: int | None = None
    sliding_window_size: int = 20
    flank_size: int = 5
    trim_to_window_size: int = 30
    initial_flank_to_add: int = 10
    final_flank_to_add: int = 0
    target_seqlet_fdr: float = 0.05
    n_leiden_runs: int = 2

    def checked(self, length: int) -> DiscoverySettings:
        """These settings validated against sequences of ``length`` nt, ``window`` resolved."""
        bounds = {
            "max_seqlets": (1, 100_000),
            "sliding_window_size": (4, 100),
            "flank_size": (0, 50),
            "trim_to_window_size": (4, 200),
            "initial_flank_to_add": (0, 50),
            "final_flank_to_add": (0, 50),
            "n_leiden_runs": (1, 50),
        }
        for name, (low, high) in bounds.items():
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or not low <= value <= high
            ):
                raise InvalidInputError(
                    f"{name}: expected an integer in [{low}, {high}], got {value!r}", field=name
                )
        fdr = self.target_seqlet_fdr
        if not (isinstance(fdr, (int, float)) and math.isfinite(fdr) and 0 < fdr < 1):
            raise InvalidInputError(
                f"target_seqlet_fdr: expected a number in (0, 1), got {fdr!r}", field="target_seqlet_fdr"
            )
        window = min(DEFAULT_WINDOW, length) if self.window is None else self.window
        seqlet = self.sliding_window_size + 2 * self.flank_size
        if (
            isinstance(window, bool)
            or not isinstance(window, (int, np.integer))
            or not seqlet <= window <= length
        ):
            raise InvalidInputError(
                f"window: expected an integer in [{seqlet}, {length}] (a seqlet with its flanks is "
                f"{seqlet} nt; the sequences are {length} nt), got {window!r}",
                field="window",
            )
        return DiscoverySettings(**{**self.__dict__, "window": int(window)})


@dataclass(frozen=True)
class Seqlet:
    """One seqlet of a pattern: ``sequence`` index, [start, end) in the input, and strand."""

    sequence: int
    start: int
    end: int
    reverse_complement: bool


@dataclass(frozen=True, eq=False)
class Pattern:
    """A TF-MoDISco pattern.

    Attributes
    ----------
    name : str
        ``"pos_patterns.pattern_0"`` ... (modisco-lite's HDF5 group names).
    sign : str
        "positive" (seqlets of high contribution) or "negative".
    pwm : np.ndarray, shape (W, 4), float64
        Base frequencies of the aligned seqlets (modisco's ``sequence``).
    cwm : np.ndarray, shape (W, 4), float64
        Mean projected contributions (modisco's ``contrib_scores``).
    hypothetical_cwm : np.ndarray, shape (W, 4), float64
        Mean hypothetical contributions (modisco's ``hypothetical_contribs``).
    seqlets : tuple of Seqlet
    """

    name: str
    sign: str
    pwm: np.ndarray
    cwm: np.ndarray
    hypothetical_cwm: np.ndarray
    seqlets: tuple[Seqlet, ...] = field(default=())

    @property
    def num_seqlets(self) -> int:
        """Seqlets in the pattern."""
        return len(self.seqlets)

    def trim_span(self, threshold: float = TRIM_THRESHOLD) -> tuple[int, int]:
        """[start, end) of the positions modisco-lite's report keeps (Σ|CWM| >= threshold × max)."""
        score = np.abs(self.cwm).sum(axis=1)
        kept = np.flatnonzero(score >= threshold * score.max())
        return int(kept[0]), int(kept[-1]) + 1

    def motif(self, threshold: float = TRIM_THRESHOLD) -> Motif:
        """The trimmed PWM as a Motif named after the pattern (``nsites`` = seqlets), for Tomtom."""
        start, end = self.trim_span(threshold)
        pwm = np.clip(self.pwm[start:end], 0, None)
        pwm = pwm / pwm.sum(axis=1, keepdims=True)
        return Motif(self.name, self.name, pwm, nsites=float(self.num_seqlets))


def discovery_bytes(num_sequences: int, length: int, settings: DiscoverySettings) -> int:
    """Peak bytes of :func:`discover_motifs` for N sequences of ``length`` nt, before it runs.

    The inputs as float32 and TF-MoDISco's track set (one-hot, hypothetical and projected
    maps and their cumulative sums, float64: about 10 copies of N × W × 4), plus the
    seqlets' matrices and its nearest-neighbour affinity work (quadratic in the seqlets
    kept, at most 2 × ``max_seqlets``), with a factor of two for numpy temporaries.
    """
    window = settings.window or min(DEFAULT_WINDOW, length)
    tracks = 10 * num_sequences * window * 4 * 8
    seqlets = 2 * settings.max_seqlets
    width = settings.sliding_window_size + 2 * settings.flank_size
    per_seqlet = 3 * width * 4 * 8 * 4
    affinity = seqlets * min(seqlets, 500) * 8 * 4 + seqlets * seqlets * 8
    return 2 * (tracks + seqlets * per_seqlet + affinity) + 2 * num_sequences * length * 4 * 4


def discover_motifs(
    one_hot: np.ndarray,
    hypothetical: np.ndarray,
    settings: DiscoverySettings | None = None,
) -> list[Pattern]:
    """TF-MoDISco patterns of a set of attribution maps.

    Parameters
    ----------
    one_hot : np.ndarray, shape (N, L, 4)
        Hard one-hot DNA (A, C, G, T; an all-zero column for N).
    hypothetical : np.ndarray, shape (N, L, 4)
        Hypothetical contributions of those sequences (``Attribution.hypothetical``).
    settings : DiscoverySettings, optional
        modisco-lite's command-line defaults when omitted.

    Returns
    -------
    list of Pattern
        Positive patterns, then negative ones, each in TF-MoDISco's order (most seqlets
        first). Seqlet coordinates are in the input's coordinates (the window offset added).

    Raises
    ------
    InvalidInputError
        Shapes that differ, non-finite scores, a sequence that is not one-hot, bad settings.
    FailedPreconditionError
        No pattern: too few seqlets passed the FDR (the message says how many it needs).
    """
    one_hot = check_one_hot(one_hot, "one_hot", dtype=np.float32)
    hypothetical = np.asarray(hypothetical, dtype=np.float32)
    if hypothetical.shape != one_hot.shape:
        raise InvalidInputError(
            f"hypothetical: expected the shape of one_hot {one_hot.shape}, got {hypothetical.shape}",
            field="hypothetical",
        )
    if not np.isfinite(hypothetical).all():
        raise InvalidInputError("hypothetical: NaN or infinite scores", field="hypothetical")
    if not np.isin(one_hot, (0.0, 1.0)).all():
        raise InvalidInputError("one_hot: expected hard one-hot columns (0 and 1)", field="one_hot")
    settings = (settings or DiscoverySettings()).checked(one_hot.shape[1])
    assert settings.window is not None
    start = one_hot.shape[1] // 2 - settings.window // 2
    window = slice(start, start + settings.window)

    from modiscolite.tfmodisco import TFMoDISco  # heavy (numba, igraph); only when run

    try:
        positive, negative = TFMoDISco(
            one_hot=np.ascontiguousarray(one_hot[:, window]),
            hypothetical_contribs=np.ascontiguousarray(hypothetical[:, window]),
            max_seqlets_per_metacluster=settings.max_seqlets,
            sliding_window_size=settings.sliding_window_size,
            flank_size=settings.flank_size,
            trim_to_window_size=settings.trim_to_window_size,
            initial_flank_to_add=settings.initial_flank_to_add,
            final_flank_to_add=settings.final_flank_to_add,
            target_seqlet_fdr=settings.target_seqlet_fdr,
            n_leiden_runs=settings.n_leiden_runs,
            verbose=False,
        )
    except ValueError as error:  # e.g. no window passes the FDR threshold
        raise FailedPreconditionError(f"TF-MoDISco found no seqlets: {error}") from None
    patterns = [
        _pattern(raw, f"{group}.pattern_{index}", sign, start)
        for group, sign, found in (
            ("pos_patterns", "positive", positive),
            ("neg_patterns", "negative", negative),
        )
        for index, raw in enumerate(found or ())
    ]
    if not patterns:
        raise FailedPreconditionError(
            f"TF-MoDISco found no pattern in {one_hot.shape[0]} sequences: a sign needs more than 100 "
            "seqlets passing the FDR (attribute more sequences, or ones the model scores high)"
        )
    return patterns


def _pattern(raw, name: str, sign: str, offset: int) -> Pattern:
    seqlets = tuple(
        Seqlet(int(s.example_idx), int(s.start) + offset, int(s.end) + offset, bool(s.is_revcomp))
        for s in raw.seqlets
    )
    return Pattern(
        name=name,
        sign=sign,
        pwm=np.array(raw.sequence, dtype=np.float64),
        cwm=np.array(raw.contrib_scores, dtype=np.float64),
        hypothetical_cwm=np.array(raw.hypothetical_contribs, dtype=np.float64),
        seqlets=seqlets,
    )


def match_patterns(
    patterns: Sequence[Pattern],
    database: MotifDatabase | Iterable[Motif],
    *,
    evalue_threshold: float = 0.1,
    distance: str = "ed",
) -> dict[str, list[TomtomHit]]:
    """Tomtom hits of each pattern's trimmed PWM (:meth:`Pattern.motif`) in a database.

    Returns
    -------
    dict of str to list of TomtomHit
        Pattern name -> its significant hits (E <= ``evalue_threshold``), best first;
        every pattern has an entry, [] when nothing matches.
    """
    if not patterns:
        return {}
    hits = tomtom(
        [pattern.motif() for pattern in patterns],
        database,
        evalue_threshold=evalue_threshold,
        distance=distance,
    )
    matches: dict[str, list[TomtomHit]] = {pattern.name: [] for pattern in patterns}
    for hit in hits:
        matches[hit.query_id].append(hit)
    return matches
