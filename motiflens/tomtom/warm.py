"""A warm start for Tomtom: memelite's numba kernels loaded (or compiled) before the first real call.

memelite compiles its Tomtom kernels with numba on their first call in a process: about
45-75 s on two cores when numba's on-disk cache is cold, well over a client's 60 s
deadline. With the cache filled, the same first call loads the compiled code in about
0.1 s. :func:`warm_up` makes that first call on a tiny comparison, so that a server can
hold its readiness until it returns (:func:`services.common.server.create_server`'s
``warm_up``) and its first real Compare then costs what a warm one does.

Which kernels a call compiles (found by reading the dispatchers' ``signatures`` after
real calls): one ``memelite.tomtom._tomtom`` signature and the 25 kernels it calls (one
of them for two signatures), the same for ``ed`` and ``pearson`` (both hand memelite
float64 columns, see :mod:`~motiflens.tomtom.scoring`) and for trimmed or untrimmed
queries (widths are values, not types). memelite passes its arrays in fixed layouts and
dtypes, and the batched and single-query paths are compiled together, so any comparison
compiles everything; :func:`warm_up` still runs both distances, queries of two widths and
a batch of equal widths, so a future memelite that specialises on any of these stays
covered. Importing memelite also compiles (or loads) ``memelite.fimo.logaddexp2``, which
declares its signature. With a filled cache only ``_tomtom`` and ``logaddexp2`` are
loaded (the callees are linked into ``_tomtom``'s cached code). :func:`kernel_stats`
counts what this process has loaded and compiled.

numba's on-disk cache (numba 0.68)
----------------------------------
- Location: ``NUMBA_CACHE_DIR`` when set and writable, else ``__pycache__`` next to
  memelite's source when writable (a ``make install`` venv), else a per-user cache
  directory. numba checks writability by creating a file there and skips a read-only
  directory, so a cache baked into a read-only image is not read in place.
- Validity: an entry is used when the source file's content hash (numba 0.68 hashes the
  content; older releases compared mtime and size), numba's version, the function's
  bytecode and the CPU name and features all match. Under ``NUMBA_CACHE_DIR`` each
  source folder gets a subfolder named after the folder's absolute path, so a cache is
  valid where the package sits at the same path (an image's ``/opt/venv``), whatever
  the files' mtimes.
- Images: the build runs ``python -m motiflens.tomtom.bake`` with ``NUMBA_CACHE_DIR``
  pointing at :data:`BAKED_CACHE` (inside the venv); in a pod ``NUMBA_CACHE_DIR`` is a
  writable emptyDir, and :func:`seed_cache` copies the baked files there before the
  kernels are looked up. The baked code is the build machine's CPU's: a node with another
  CPU compiles once during the warm-up (docker/motifmatch.Dockerfile says why not
  ``NUMBA_CPU_NAME=generic``, portable code that made warm calls 1.4-1.9x slower).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motiflens.motifs import Motif, MotifDatabase

__all__ = ["BAKED_CACHE", "KernelStats", "kernel_stats", "seed_cache", "warm_up"]

logger = logging.getLogger(__name__)

#: Where an image keeps the numba cache filled at build time: inside the virtual
#: environment, so the cached code's source paths are the ones the process imports.
BAKED_CACHE = Path(sys.prefix) / "share" / "motiflens" / "numba-cache"

# The synthetic comparison: MIN_TARGETS targets (no small-database warning), queries of
# two widths, two of them equal (memelite batches equal widths).
_TARGETS = 50
_QUERY_WIDTHS = (10, 10, 7)


@dataclass(frozen=True)
class KernelStats:
    """memelite's numba kernels in this process (Tomtom's, and fimo's one compiled at import).

    Attributes
    ----------
    signatures : int
        Compiled signatures held by the dispatchers (loaded or compiled).
    loaded : int
        Signatures loaded from numba's on-disk cache.
    compiled : int
        Signatures compiled in this process (not found in the cache).
    """

    signatures: int
    loaded: int
    compiled: int


def _dispatchers() -> Iterator[Any]:
    """The numba dispatchers of memelite's imported modules; none before memelite is imported.

    ``memelite.tomtom``'s kernels, and ``memelite.fimo.logaddexp2``, which has an explicit
    signature and so compiles (or loads) when memelite is imported.
    """
    if "memelite" not in sys.modules:
        return  # importing it costs about 0.6 s; nothing is compiled before
    from numba.core.dispatcher import Dispatcher

    # Copies (list(...)) throughout: a metrics scrape may count while another thread imports
    # memelite or compiles, and iterating a dict that changes size raises.
    seen: set[int] = set()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "memelite" or name.startswith("memelite.")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and id(value) not in seen:
                seen.add(id(value))
                yield value


def kernel_stats() -> KernelStats:
    """Count the memelite kernel signatures this process has loaded from the cache or compiled.

    A call that needs a kernel signature the process does not hold yet raises ``loaded``
    or ``compiled``; after :func:`warm_up`, real comparisons leave all three unchanged.

    Returns
    -------
    KernelStats
        All zero while memelite is not imported.
    """
    signatures = loaded = compiled = 0
    for dispatcher in _dispatchers():
        signatures += len(dispatcher.signatures)
        stats = dispatcher.stats
        loaded += sum(list(stats.cache_hits.values()))
        compiled += sum(list(stats.cache_misses.values()))
    return KernelStats(signatures=signatures, loaded=loaded, compiled=compiled)


def _cache_entries(folder: Path) -> dict[str, list[Path]]:
    """A cache folder's files by function: ``f-12.py311.nbi`` with its ``f-12.py311.<k>.nbc``.

    numba's index (``.nbi``) names the data files (``.nbc``) by number only, so a function's
    files are copied together or not at all: a baked index next to another run's data file
    of the same number would load the wrong code. Data files come first in each list and
    the index last, the order numba itself writes them.
    """
    entries: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        name = path.name
        if name.endswith(".nbc"):
            key = name[: -len(".nbc")].rpartition(".")[0]
        elif name.endswith(".nbi"):
            key = name[: -len(".nbi")]
        else:
            key = name
        entries.setdefault(key, []).append(path)
    for files in entries.values():
        files.sort(key=lambda path: path.name.endswith(".nbi"))
    return entries


def seed_cache(baked: Path = BAKED_CACHE, cache_dir: str | os.PathLike[str] | None = None) -> int:
    """Copy the functions of a baked numba cache that ``cache_dir`` lacks; what is there is kept.

    Why a copy: numba only uses a cache directory it can write to (it checks by creating
    a file), so a baked cache in a read-only image cannot be read in place. Copying the
    few MB into the writable ``NUMBA_CACHE_DIR`` (a pod's emptyDir) before the first
    kernel lookup makes that lookup a hit. A function's index and data files are copied
    together, only when none of them is there yet (see :func:`_cache_entries`); each file
    goes to a temporary name and is renamed, so a concurrent reader never sees half a file.

    Parameters
    ----------
    baked : Path, default :data:`BAKED_CACHE`
        A tree in ``NUMBA_CACHE_DIR`` layout (one folder per source folder); nothing
        happens when it does not exist.
    cache_dir : path, optional
        Default: numba's ``NUMBA_CACHE_DIR``; nothing happens when it is unset or is
        ``baked`` itself (an image build filling it).

    Returns
    -------
    int
        Files copied. An unwritable ``cache_dir`` logs a warning and returns what was
        copied so far (numba then compiles what is missing, as it would have).
    """
    if not baked.is_dir():  # checked first: nothing to seed needs no numba import
        return 0
    if cache_dir is None:
        from numba.core import config

        # numba sets its settings as module attributes when it is imported (mypy cannot see them).
        cache_dir = getattr(config, "CACHE_DIR", "") or None
    if cache_dir is None:
        return 0
    target_root = Path(cache_dir)
    if target_root.resolve() == baked.resolve():
        return 0
    copied = 0
    try:
        for folder in sorted(path for path in baked.iterdir() if path.is_dir()):
            target_folder = target_root / folder.name
            for files in _cache_entries(folder).values():
                if any((target_folder / source.name).exists() for source in files):
                    continue
                target_folder.mkdir(parents=True, exist_ok=True)
                for source in files:
                    _copy(source, target_folder / source.name)
                    copied += 1
    except OSError as error:
        logger.warning("numba cache: could not copy the baked cache %s into %s: %s", baked, cache_dir, error)
    return copied


def _copy(source: Path, target: Path) -> None:
    """Copy to a temporary file beside ``target``, then rename it into place."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@functools.cache
def _synthetic() -> tuple[tuple[Motif, ...], MotifDatabase]:
    """Queries and targets for the warm-up comparison (seeded; one database object per process)."""
    rng = np.random.default_rng(0)

    def motif(prefix: str, index: int, width: int) -> Motif:
        return Motif(
            motif_id=f"{prefix}{index}",
            name=f"{prefix}{index}",
            pwm=rng.dirichlet(np.full(4, 0.5), size=width),
        )

    queries = tuple(motif("warm-up-query", i, width) for i, width in enumerate(_QUERY_WIDTHS))
    targets = tuple(motif("warm-up-target", i, 6 + i % 7) for i in range(_TARGETS))
    return queries, MotifDatabase("warm-up", targets)


def warm_up(database: MotifDatabase | None = None, *, baked: Path | None = BAKED_CACHE) -> KernelStats:
    """Load (or compile) every Tomtom kernel a comparison uses, with a tiny comparison per distance.

    Seeds ``NUMBA_CACHE_DIR`` from a baked cache first (:func:`seed_cache`), then runs
    three queries (widths 10, 10 and 7) against ``database`` with ``ed`` and with
    ``pearson``. Seconds with a filled cache (mostly importing memelite); 45-75 s on two
    cores with a cold one, after which the cache holds the kernels for later processes.
    Safe to call again (then it costs milliseconds) and from any thread.

    Parameters
    ----------
    database : MotifDatabase, optional
        Targets; pass the database the first calls will use (e.g. JASPAR2016) to have its
        target columns cached too. Default: 50 synthetic motifs.
    baked : Path or None, default :data:`BAKED_CACHE`
        Baked cache to seed from; None skips seeding.

    Returns
    -------
    KernelStats
        After the warm-up.
    """
    from motiflens.tomtom import DISTANCES, tomtom_table

    if baked is not None:
        copied = seed_cache(baked)
        if copied:
            logger.info("numba cache: %d files copied from the baked cache %s", copied, baked)
    queries, synthetic = _synthetic()
    for distance in DISTANCES:
        tomtom_table(queries, synthetic if database is None else database, distance=distance)
    return kernel_stats()
