"""Motifs as position probability matrices, and read access to the JASPAR database.

JASPAR comes from the ``pyjaspar`` package, which ships every release from
JASPAR2014 to JASPAR2026 as an SQLite file, so no network is needed. The paper
matched filters against JASPAR CORE 2016 vertebrates (519 motifs) and built its
synthetic data from JASPAR 2016 motifs, hence the default release.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from motiflens.errors import InvalidInputError, NotFoundError

DEFAULT_RELEASE = "JASPAR2016"

# Suffix that marks a reverse-complemented motif id, e.g. "MA0151.1(rc)".
RC_SUFFIX = "(rc)"


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

    Raises
    ------
    InvalidInputError
        If ``pwm`` is not (W, 4) with W >= 1, has negative or non-finite entries, or
        a row that does not sum to 1 (tolerance 1e-6).
    """

    motif_id: str
    name: str
    pwm: np.ndarray

    def __post_init__(self) -> None:
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
        return Motif(motif_id=motif_id, name=self.name, pwm=self.pwm[::-1, ::-1])

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


@functools.lru_cache(maxsize=1)
def jaspar_releases() -> tuple[str, ...]:
    """JASPAR releases that the installed ``pyjaspar`` ships, newest first.

    Returns
    -------
    tuple of str
        E.g. ``("JASPAR2026", ..., "JASPAR2014")``.
    """
    from pyjaspar import jaspardb

    database = jaspardb()
    try:
        return tuple(database.get_releases())
    finally:
        database.conn.close()


def _check_release(release: str) -> None:
    known = jaspar_releases()
    if release not in known:
        raise InvalidInputError(f"release: unknown JASPAR release {release!r}; known: {', '.join(known)}")


def _from_jaspar(record) -> Motif:
    """Convert a Bio.motifs.jaspar.Motif (counts) to a Motif (probabilities, no pseudocount)."""
    counts = np.array([record.counts[base] for base in "ACGT"], dtype=np.float64).T
    # JASPAR columns can have different totals (sites missing at the edges), so
    # each position is normalised by its own total.
    return Motif(motif_id=record.matrix_id, name=record.name, pwm=counts / counts.sum(axis=1, keepdims=True))


@functools.lru_cache(maxsize=16)
def jaspar_motifs(
    release: str = DEFAULT_RELEASE, collection: str = "CORE", tax_group: str = "vertebrates"
) -> tuple[Motif, ...]:
    """Every motif of one JASPAR collection and taxonomic group.

    Parameters
    ----------
    release : str, default "JASPAR2016"
        One of :func:`jaspar_releases`.
    collection : str, default "CORE"
        JASPAR collection, e.g. "CORE", "UNVALIDATED", "PBM".
    tax_group : str, default "vertebrates"
        JASPAR taxonomic group, e.g. "vertebrates", "plants", "insects".

    Returns
    -------
    tuple of Motif
        In the database's order. Each PWM is the JASPAR count matrix
        divided by its column totals. JASPAR2016 CORE vertebrates has 519 motifs.
        The result is cached per argument set.

    Raises
    ------
    InvalidInputError
        Unknown release (the message lists the known ones).
    NotFoundError
        No motif in that collection and taxonomic group.
    """
    from pyjaspar import jaspardb

    _check_release(release)
    database = jaspardb(release=release)
    try:
        records = database.fetch_motifs(collection=collection, tax_group=[tax_group])
    finally:
        database.conn.close()
    if not records:
        raise NotFoundError(f"{release}: no motif in collection {collection!r} with tax_group {tax_group!r}")
    return tuple(_from_jaspar(record) for record in records)


@functools.lru_cache(maxsize=1024)
def jaspar_motif(motif_id: str, release: str = DEFAULT_RELEASE) -> Motif:
    """One JASPAR motif by matrix id, from any collection of the release.

    Parameters
    ----------
    motif_id : str
        Matrix id with version, e.g. ``"MA0151.1"``; a base id without version
        (``"MA0151"``) gives the latest version in that release.
    release : str, default "JASPAR2016"
        One of :func:`jaspar_releases`.

    Returns
    -------
    Motif
        PWM = JASPAR counts divided by their column totals (no pseudocount).

    Raises
    ------
    InvalidInputError
        Unknown release (the message lists the known ones).
    NotFoundError
        No motif with that id in the release.
    """
    from pyjaspar import jaspardb

    _check_release(release)
    database = jaspardb(release=release)
    try:
        with warnings.catch_warnings():
            # pyjaspar warns and returns None for an unknown id; the None is handled below.
            warnings.simplefilter("ignore")
            record = database.fetch_motif_by_id(motif_id)
    finally:
        database.conn.close()
    if record is None:
        raise NotFoundError(f"motif_id: no motif {motif_id!r} in {release}")
    return _from_jaspar(record)
