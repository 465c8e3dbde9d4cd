"""Motifs as position probability matrices: information content, trimming, file formats and databases.

JASPAR comes from the ``pyjaspar`` package, which ships every release from
JASPAR2014 to JASPAR2026 as an SQLite file, so no network is needed. The paper
matched filters against JASPAR CORE 2016 vertebrates (519 motifs) and built its
synthetic data from JASPAR 2016 motifs, hence the default release.

Files: :func:`read_meme` and :func:`write_meme` handle the MEME motif format
(version 4, the "minimal" format that Tomtom and FIMO read; on reading, also MEME 5's
DNA alphabet blocks), :func:`read_jaspar`
the JASPAR matrix format (``>MA0001.1 AGL3`` then four count rows). Paths and
open text streams are both accepted. :func:`motif_database` gives an immutable,
cached :class:`MotifDatabase` for a JASPAR release or a motif file.

Where things live
-----------------
- :mod:`~motiflens.motifs.pwm`: :class:`Motif` (validation, consensus, reverse
  complement, trimming) and :func:`information_content`.
- :mod:`~motiflens.motifs.meme`: :func:`read_meme`, :func:`write_meme`.
- :mod:`~motiflens.motifs.jaspar`: the releases that pyjaspar ships
  (:func:`jaspar_releases`, :func:`jaspar_motifs`, :func:`jaspar_motif`) and
  :func:`read_jaspar` for JASPAR-format files.
- :mod:`~motiflens.motifs.database`: :class:`MotifDatabase`, :func:`motif_database`.
- ``_text``: line access and error messages shared by the two file readers.
- ``_alphabet``: MEME 5 alphabet blocks (``ALPHABET "DNA" DNA-LIKE`` ... ``END ALPHABET``).

Import from ``motiflens.motifs``; the modules are its parts.
"""

from __future__ import annotations

from motiflens.motifs.database import MotifDatabase, motif_database
from motiflens.motifs.jaspar import DEFAULT_RELEASE, jaspar_motif, jaspar_motifs, jaspar_releases, read_jaspar
from motiflens.motifs.meme import ROW_SUM_TOLERANCE, read_meme, write_meme
from motiflens.motifs.pwm import RC_SUFFIX, Motif, information_content

__all__ = [
    "DEFAULT_RELEASE",
    "RC_SUFFIX",
    "ROW_SUM_TOLERANCE",
    "Motif",
    "MotifDatabase",
    "information_content",
    "jaspar_motif",
    "jaspar_motifs",
    "jaspar_releases",
    "motif_database",
    "read_jaspar",
    "read_meme",
    "write_meme",
]
