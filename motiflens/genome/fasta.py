"""The reference genome: :class:`Genome`, a plain or bgzip FASTA read by position through pyfaidx.

Compressions pyfaidx cannot read by position (plain gzip, bzip2, xz, ...) and corrupt
files are refused with messages that name the file and what to do.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from types import TracebackType

import pyfaidx

from motiflens.errors import InvalidInputError, NotFoundError

# Magic numbers of compressions pyfaidx cannot read, so that we name them instead of failing later.
_OTHER_COMPRESSIONS = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
# What reading a corrupt BGZF or FASTA file raises inside pyfaidx and Bio.bgzf
# (checked with pyfaidx 0.9.2.2 and biopython 1.88 on truncated and bit-flipped files).
_READ_ERRORS = (
    pyfaidx.FastaIndexingError,
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    IndexError,
    struct.error,
    zlib.error,
)


# --------------------------------------------------------------------------- genome


class Genome:
    """A reference genome FASTA (plain or bgzip-compressed), read by position through pyfaidx.

    Open with :meth:`Genome.open`; use as a context manager or call :meth:`close`.
    pyfaidx builds a ``.fai`` index (and for bgzip a ``.gzi`` index) when it is missing
    or older than the FASTA. By default the indexes are written next to the FASTA, so
    that folder must be writable (or pass ``index_dir``, or open a writable copy).
    """

    def __init__(self, fasta: pyfaidx.Fasta, path: Path, *, compressed: bool = False) -> None:
        self._fasta = fasta
        self.path = path
        self._compressed = compressed
        self._sizes = {name: len(fasta[name]) for name in fasta.keys()}

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, index_dir: str | os.PathLike | None = None, field: str = "genome"
    ) -> Genome:
        """Open a FASTA file, building its index if needed.

        Parameters
        ----------
        path : path
            Uncompressed FASTA, or FASTA compressed with ``bgzip`` (BGZF) and named
            ``.gz`` or ``.bgz``. Contigs are named by the first word of their header.
        index_dir : path, optional
            Folder for the ``.fai``/``.gzi`` indexes (named after the FASTA); default:
            next to the FASTA.
        field : str, default "genome"
            Name used in error messages.

        Raises
        ------
        NotFoundError
            No file at ``path``.
        InvalidInputError
            Plain gzip (not BGZF) or another compression, a truncated or corrupt bgzip
            file, or a file pyfaidx cannot index (inconsistent line lengths, duplicate
            contig names, no record); the message names the file.
        """
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"{field}: {path}: no such FASTA file", field=field)
        compressed = _check_compression(path, field)
        indexes = {}
        if index_dir is not None:
            indexes = {
                "indexname": str(Path(index_dir) / f"{path.name}.fai"),
                "gzi_indexname": str(Path(index_dir) / f"{path.name}.gzi"),
            }
        try:
            fasta = pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True, **indexes)
        except _READ_ERRORS as exc:
            raise _read_error(path, field, compressed, exc) from None
        return cls(fasta, path, compressed=compressed)

    @property
    def sizes(self) -> dict[str, int]:
        """Contig name -> length in nt, in FASTA order (a copy)."""
        return dict(self._sizes)

    def contig_length(self, chrom: str, *, field: str = "chrom") -> int:
        """Length of contig ``chrom``; an unknown contig raises, with a naming hint.

        Raises
        ------
        InvalidInputError
            ``chrom`` is not in the genome. When its ``chr``-toggled form (chr1 vs 1,
            chrM vs MT) is, the message says "genome/BED contig naming differs".
        """
        if chrom in self._sizes:
            return self._sizes[chrom]
        raise InvalidInputError(f"{field}: {self._missing_contig_message(chrom)}", field=field)

    def _missing_contig_message(self, chrom: str) -> str:
        message = f"contig {chrom!r} is not in the genome {self.path.name}"
        alternative = next((name for name in contig_aliases(chrom) if name in self._sizes), None)
        if alternative is not None:
            return (
                f"{message}; genome/BED contig naming differs: the genome has {alternative!r} "
                f"where the intervals say {chrom!r}; rename the contigs of one of them"
            )
        shown = ", ".join(list(self._sizes)[:5])
        more = f", ... ({len(self._sizes)} in all)" if len(self._sizes) > 5 else ""
        return f"{message}; its contigs are {shown}{more}"

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of ``[start, end)`` on ``chrom``, upper case.

        Raises
        ------
        InvalidInputError
            Unknown contig, or not ``0 <= start < end <= contig length``.
        """
        size = self.contig_length(chrom)
        if not 0 <= start < end <= size:
            raise InvalidInputError(
                f"region: expected 0 <= start < end <= {size} (length of {chrom}), got [{start}, {end})",
                field="region",
            )
        try:
            return str(self._fasta[chrom][start:end])
        except _READ_ERRORS as exc:
            raise _read_error(self.path, "genome", self._compressed, exc) from None

    def close(self) -> None:
        """Close the FASTA file (closing twice is harmless)."""
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def contig_aliases(chrom: str) -> list[str]:
    """Names the same contig has in the other common convention (UCSC chr1/chrM, Ensembl 1/MT)."""
    mitochondrial = {"chrM": "MT", "MT": "chrM", "M": "chrM"}
    toggled = chrom[3:] if chrom.startswith("chr") else f"chr{chrom}"
    return [toggled] + ([mitochondrial[chrom]] if chrom in mitochondrial else [])


def _check_compression(path: Path, field: str) -> bool:
    """Refuse compressions pyfaidx cannot read by position; return whether the file is BGZF."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    named_gz = path.name.lower().endswith((".gz", ".bgz"))
    for magic, kind in _OTHER_COMPRESSIONS.items():
        if head.startswith(magic):
            raise InvalidInputError(
                f"{field}: {path} is {kind}-compressed; accepted: uncompressed FASTA or FASTA "
                f"compressed with bgzip (decompress it, then run `bgzip {path.name}`)",
                field=field,
            )
    if head[:2] == b"\x1f\x8b" and len(head) < 18:
        raise InvalidInputError(
            f"{field}: {path} is a truncated gzip file ({len(head)} bytes); re-create it with bgzip",
            field=field,
        )
    if head[:2] == b"\x1f\x8b":
        # BGZF is gzip whose first member carries the extra subfield "BC" (SAM spec 4.1).
        if not (head[3] & 0x04 and head[12:14] == b"BC"):
            plain = path.name.removesuffix(".gz").removesuffix(".bgz")
            plain = plain if plain != path.name else f"{plain}.plain"
            raise InvalidInputError(
                f"{field}: {path} is compressed with plain gzip, which cannot be read by position; "
                f"recompress it with bgzip: gunzip -c {path.name} > {plain} && bgzip {plain}",
                field=field,
            )
        if not named_gz:
            # pyfaidx decides by the name whether to decompress.
            raise InvalidInputError(
                f"{field}: {path} is bgzip-compressed but its name does not end in .gz or .bgz; rename it",
                field=field,
            )
        return True
    if named_gz:
        raise InvalidInputError(
            f"{field}: {path} is named .gz but is not gzip-compressed; rename it or compress it with bgzip",
            field=field,
        )
    return False


def _read_error(path: Path, field: str, compressed: bool, exc: BaseException) -> InvalidInputError:
    detail = str(exc) or type(exc).__name__
    # Bio.bgzf fails on bad data with these; pyfaidx's own OSError names a missing EOF block.
    corrupt = isinstance(exc, (struct.error, zlib.error, EOFError, RuntimeError)) or "EOF marker" in detail
    if compressed and corrupt:
        return InvalidInputError(
            f"{field}: cannot read {path}: the bgzip file is truncated or corrupt ({detail}); "
            "re-create it with bgzip",
            field=field,
        )
    return InvalidInputError(f"{field}: cannot read {path} as a FASTA genome: {detail}", field=field)
