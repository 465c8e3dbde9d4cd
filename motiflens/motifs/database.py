"""Motif databases: :class:`MotifDatabase` and the cached :func:`motif_database` (JASPAR release or file)."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.motifs.jaspar import (
    DEFAULT_RELEASE,
    _check_release,
    jaspar_motifs,
    jaspar_releases,
    read_jaspar,
)
from motiflens.motifs.meme import read_meme
from motiflens.motifs.pwm import Motif


@dataclass(frozen=True, eq=False)
class MotifDatabase:
    """An immutable, named collection of motifs with lookup by id.

    Equality and hashing are by identity: :func:`motif_database` returns one
    cached object per source, which lets tools such as
    :func:`motiflens.tomtom.tomtom` cache per-database work.

    Attributes
    ----------
    name : str
        E.g. ``"JASPAR2016 CORE vertebrates"`` or a file name.
    motifs : tuple of Motif
        In database order; ids are unique.

    Raises
    ------
    InvalidInputError
        If an element is not a Motif or two motifs share an id.
    """

    name: str
    motifs: tuple[Motif, ...]
    _index: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        motifs = tuple(self.motifs)
        index: dict[str, int] = {}
        for position, motif in enumerate(motifs):
            if not isinstance(motif, Motif):
                raise InvalidInputError(
                    f"motifs[{position}]: expected a Motif, got {type(motif).__name__}",
                    field=f"motifs[{position}]",
                )
            if motif.motif_id in index:
                raise InvalidInputError(
                    f"motifs[{position}]: duplicate motif id {motif.motif_id!r}", field=f"motifs[{position}]"
                )
            index[motif.motif_id] = position
        # Frozen dataclass: these are the construction-time writes.
        object.__setattr__(self, "motifs", motifs)
        object.__setattr__(self, "_index", MappingProxyType(index))

    def __len__(self) -> int:
        return len(self.motifs)

    def __iter__(self) -> Iterator[Motif]:
        return iter(self.motifs)

    def __contains__(self, motif_id: object) -> bool:
        return motif_id in self._index

    def __getitem__(self, motif_id: str) -> Motif:
        """The motif with id ``motif_id``; raises NotFoundError if there is none."""
        try:
            return self.motifs[self._index[motif_id]]
        except (KeyError, TypeError):
            raise NotFoundError(f"motif_id: no motif {motif_id!r} in {self.name}") from None

    @property
    def ids(self) -> tuple[str, ...]:
        """The motif ids in database order."""
        return tuple(motif.motif_id for motif in self.motifs)


def motif_database(
    name_or_path: str | os.PathLike = DEFAULT_RELEASE,
    *,
    collection: str = "CORE",
    tax_group: str | None = "vertebrates",
) -> MotifDatabase:
    """A cached motif database: a JASPAR release, or the motifs of a file.

    Parameters
    ----------
    name_or_path : str or os.PathLike, default "JASPAR2016"
        A JASPAR release name from :func:`jaspar_releases` (``"JASPAR2016"`` …
        ``"JASPAR2026"``), or the path of a motif file: MEME format, or JASPAR
        format when its first non-blank character is ``>``. A release name wins
        over a file of the same name in the working directory.
    collection : str, default "CORE"
        JASPAR collection; ignored for files.
    tax_group : str or None, default "vertebrates"
        JASPAR taxonomic group, None for all groups; ignored for files.

    Returns
    -------
    MotifDatabase
        The same object for repeated calls with the same arguments (files are
        re-read when their size or modification time changes). JASPAR2016 CORE
        vertebrates has 519 motifs, named ``"JASPAR2016 CORE vertebrates"``; a
        file database is named after the file.

    Raises
    ------
    InvalidInputError
        A name that looks like a JASPAR release but is not one (the message lists
        the known ones), or a malformed file (the message gives the line).
    NotFoundError
        Neither a release nor an existing file, or no JASPAR motif in that
        collection and group.
    """
    if isinstance(name_or_path, str) and name_or_path in jaspar_releases():
        return _jaspar_database(name_or_path, collection, tax_group)
    path = Path(name_or_path)
    if path.is_file():
        stat = path.stat()
        return _file_database(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if re.fullmatch(r"jaspar\d*", str(name_or_path), flags=re.IGNORECASE):
        _check_release(str(name_or_path))
    raise NotFoundError(
        f"name_or_path: {str(name_or_path)!r} is neither a motif file nor a JASPAR release "
        f"(known: {', '.join(jaspar_releases())})"
    )


@functools.lru_cache(maxsize=16)
def _jaspar_database(release: str, collection: str, tax_group: str | None) -> MotifDatabase:
    name = f"{release} {collection} {tax_group or 'all'}"
    return MotifDatabase(name, jaspar_motifs(release, collection, tax_group))


@functools.lru_cache(maxsize=16)
def _file_database(path: str, mtime_ns: int, size: int) -> MotifDatabase:
    # mtime and size are part of the cache key only, so an edited file is re-read.
    text = Path(path).read_text(encoding="utf-8")
    reader = read_jaspar if text.lstrip().startswith(">") else read_meme
    return MotifDatabase(Path(path).name, tuple(reader(path)))
