"""``python -m motiflens.tomtom.bake``: fill numba's on-disk cache with memelite's Tomtom kernels.

Run by ``make install`` (numba then caches in memelite's ``__pycache__`` inside the venv)
and by the image builds (with ``NUMBA_CACHE_DIR`` set to
:data:`motiflens.tomtom.warm.BAKED_CACHE`), so that a later process's
:func:`~motiflens.tomtom.warm.warm_up` loads the kernels instead of compiling them.
Prints one line: kernels loaded and compiled, seconds, the cache directory.
"""

from __future__ import annotations

import sys
import time

from motiflens.tomtom.warm import warm_up


def main() -> int:
    """Warm up once (no seeding: this fills the cache); returns 0."""
    from numba.core import config

    started = time.perf_counter()
    stats = warm_up(baked=None)
    where = getattr(config, "CACHE_DIR", "") or "memelite's __pycache__ (else numba's user cache directory)"
    sys.stdout.write(
        f"tomtom kernels: {stats.loaded} loaded from the numba cache, {stats.compiled} compiled, "
        f"in {time.perf_counter() - started:.1f} s; cache: {where}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
