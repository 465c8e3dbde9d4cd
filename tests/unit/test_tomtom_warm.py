"""The Tomtom warm start: seeding numba's cache from a baked copy, and a warm-up after which
real comparisons load and compile nothing (fresh processes, so nothing else warmed them)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motiflens.tomtom import seed_cache, warm_up

pytestmark = pytest.mark.timeout(400)  # a cold numba cache compiles for about 75 s first

ROOT = Path(__file__).resolve().parents[2]

# Warm up, then compare differently shaped queries (widths 4-22; 19, 1 and 18 queries; trimmed
# copies; both distances) against JASPAR2016: the kernel counts must not move.
FRESH_PROCESS = """
import json, sys
from pathlib import Path
import numpy as np
from motiflens.motifs import Motif, motif_database
from motiflens.tomtom import kernel_stats, tomtom, warm_up
baked = None if sys.argv[1] == "-" else Path(sys.argv[1])
before = kernel_stats()
after_warm_up = warm_up(baked=baked)
rng = np.random.default_rng(7)
database = motif_database("JASPAR2016")
queries = [Motif(motif_id=f"q{i}", name=f"q{i}", pwm=rng.dirichlet(np.full(4, 0.3), size=4 + i))
           for i in range(19)]
trimmed = [Motif(motif_id=f"t{i}", name=f"t{i}", pwm=q.pwm[1:-1]) for i, q in enumerate(queries[2:])]
for distance in ("ed", "pearson"):
    tomtom(queries, database, distance=distance)
    tomtom(queries[:1], database, distance=distance)
    tomtom([*trimmed, queries[-1].reverse_complement()], database, distance=distance)
after_calls = kernel_stats()
print(json.dumps({"before": vars(before), "warm_up": vars(after_warm_up), "calls": vars(after_calls)}))
"""


def _fresh(baked: str, env: dict[str, str]) -> dict[str, dict[str, int]]:
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, baked],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_after_a_warm_up_real_comparisons_load_and_compile_no_kernel():
    counts = _fresh("-", dict(os.environ))
    assert counts["before"] == {"signatures": 0, "loaded": 0, "compiled": 0}
    warmed = counts["warm_up"]
    assert warmed["signatures"] >= 1
    # Every signature came from the disk cache or was compiled here, nothing else.
    assert warmed["loaded"] + warmed["compiled"] == warmed["signatures"]
    assert counts["calls"] == warmed


def _cache_folder_of_memelite() -> Path:
    """Where numba caches memelite.tomtom for this environment (filled first if it is cold)."""
    script = (
        "import importlib; from motiflens.tomtom import warm_up; warm_up(baked=None); "
        "print(importlib.import_module('memelite.tomtom')._tomtom.stats.cache_path)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=360, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(result.stdout.strip().splitlines()[-1])


def test_a_baked_cache_copied_into_an_empty_numba_cache_dir_is_loaded_not_compiled(tmp_path):
    import memelite
    from numba.core.caching import UserProvidedCacheLocator

    # A baked cache in NUMBA_CACHE_DIR layout, as an image build leaves it: one folder per
    # source folder, named after its absolute path (the image's paths equal the build's).
    source_file = str(Path(memelite.__file__).with_name("tomtom.py"))
    folder = UserProvidedCacheLocator.get_suitable_cache_subpath(source_file)
    baked = tmp_path / "baked"
    (baked / folder).mkdir(parents=True)
    for entry in _cache_folder_of_memelite().glob("*.nb[ic]"):  # memelite's fimo compiles at import
        shutil.copyfile(entry, baked / folder / entry.name)
    assert any((baked / folder).glob("tomtom._tomtom-*.nbi"))

    empty = tmp_path / "numba-cache"  # the pod's emptyDir
    counts = _fresh(str(baked), {**os.environ, "NUMBA_CACHE_DIR": str(empty)})
    assert counts["warm_up"]["compiled"] == 0
    assert counts["warm_up"]["loaded"] >= 1
    assert counts["calls"] == counts["warm_up"]
    assert sorted(p.name for p in (empty / folder).iterdir()) == sorted(
        p.name for p in (baked / folder).iterdir()
    )


def test_seed_cache_copies_the_functions_the_cache_dir_lacks_index_and_data_together(tmp_path):
    baked = tmp_path / "baked"
    (baked / "pkg_1").mkdir(parents=True)
    for name in ("f-1.py311.nbi", "f-1.py311.1.nbc", "g-5.py311.nbi", "g-5.py311.1.nbc", "g-5.py311.2.nbc"):
        (baked / "pkg_1" / name).write_bytes(f"baked {name}".encode())
    (baked / "pkg_2").mkdir()
    (baked / "pkg_2" / "h-3.py311.nbi").write_bytes(b"baked h")
    cache = tmp_path / "cache"
    (cache / "pkg_1").mkdir(parents=True)
    # Another run's data file of f, without its index: a baked f index next to it would name
    # this file for the baked code, so f is left alone.
    (cache / "pkg_1" / "f-1.py311.1.nbc").write_bytes(b"written by numba here")

    assert seed_cache(baked, cache) == 4
    assert sorted(p.name for p in (cache / "pkg_1").iterdir()) == [
        "f-1.py311.1.nbc",
        "g-5.py311.1.nbc",
        "g-5.py311.2.nbc",
        "g-5.py311.nbi",
    ]
    assert (cache / "pkg_1" / "f-1.py311.1.nbc").read_bytes() == b"written by numba here"
    assert (cache / "pkg_1" / "g-5.py311.2.nbc").read_bytes() == b"baked g-5.py311.2.nbc"
    assert (cache / "pkg_2" / "h-3.py311.nbi").read_bytes() == b"baked h"
    assert seed_cache(baked, cache) == 0  # idempotent


def test_seed_cache_does_nothing_without_a_baked_cache_or_a_separate_cache_dir(tmp_path):
    cache = tmp_path / "cache"
    assert seed_cache(tmp_path / "absent", cache) == 0
    assert not cache.exists()
    baked = tmp_path / "baked"
    (baked / "pkg").mkdir(parents=True)
    (baked / "pkg" / "f-1.py311.nbi").write_bytes(b"x")
    assert seed_cache(baked, baked) == 0  # an image build filling the baked cache itself
    assert sorted(p.name for p in baked.rglob("*")) == ["f-1.py311.nbi", "pkg"]


def test_seed_cache_into_an_unusable_cache_dir_warns_and_returns(tmp_path, caplog):
    baked = tmp_path / "baked"
    (baked / "pkg").mkdir(parents=True)
    (baked / "pkg" / "f-1.py311.nbi").write_bytes(b"x")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # unwritable whoever runs the test (root ignores modes)
    with caplog.at_level(logging.WARNING, logger="motiflens.tomtom.warm"):
        assert seed_cache(baked, blocker / "cache") == 0
    assert any("could not copy the baked cache" in r.getMessage() for r in caplog.records)


def test_warm_up_returns_the_kernel_counts_of_this_process():
    stats = warm_up(baked=None)
    assert stats.signatures >= 1
    assert stats.loaded + stats.compiled == stats.signatures
    assert warm_up(baked=None) == stats  # a second warm-up loads nothing more
