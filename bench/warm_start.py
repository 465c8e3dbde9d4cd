"""Tomtom's first call in a fresh process against a warm one: cold and filled numba caches (not a test).

memelite compiles its Tomtom kernels with numba on their first call in a process
(issue 19: about 72 s, so a first Compare through the SDK, deadline 60 s, failed). This
prints, for 32 random queries (width 12) against JASPAR2016 (519 motifs, ``-dist ed``):

- in process, each row a fresh ``python`` whose numba cache (``NUMBA_CACHE_DIR``, a new
  temporary folder) is cold or was filled by the row before: the first ``tomtom`` call
  (memelite's import and kernel load or compile included; motiflens and JASPAR loaded
  before), the median of ``--repeats`` warm calls, and first / warm; the ``+ warm_up`` row
  runs :func:`motiflens.tomtom.warm_up` first, as a motifmatch server does before it
  reports SERVING;
- through the service, a fresh ``python -m services.motifmatch``: seconds from start to
  health SERVING, the first Compare through the SDK, the median warm Compare and first /
  warm, each Compare from a new ``Client`` (so both include connecting); once with a cold
  cache, then with the cache it filled.

A first call is one sample per process, so the filled-cache ``warm_up`` and service rows
pool ``--processes`` fresh processes (default 5): the median first call against the median
of all their warm calls, with the range of the first calls.

The target (issue 19) is first / warm <= 2 for what a client sees: the ``+ warm_up`` and
service rows. ``--generic`` adds the in-process rows with ``NUMBA_CPU_NAME=generic``: the
portable code an image could bake to hit on any node (docker/motifmatch.Dockerfile), and
what it costs.

Usage: ``python bench/warm_start.py [--repeats 7] [--processes 5] [--generic]`` (about 5
minutes on two cores, 2 more with ``--generic``: each cold row compiles for 45-75 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from motiflens_client import Client

from services.launcher import wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
QUERIES, WIDTH = 32, 12

# One fresh process per row: argv = mode ("plain" or "warm-up"), repeats; JSON on the last line.
IN_PROCESS = """
import json, sys, time
import numpy as np
from motiflens.motifs import Motif, motif_database
from motiflens.tomtom import kernel_stats, tomtom, warm_up
mode, repeats, count, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
database = motif_database("JASPAR2016")
rng = np.random.default_rng(0)
queries = [Motif(motif_id=f"q{i}", name=f"q{i}", pwm=rng.dirichlet(np.full(4, 0.5), size=width))
           for i in range(count)]
warm_up_seconds = None
if mode == "warm-up":
    started = time.perf_counter()
    warm_up(database)
    warm_up_seconds = time.perf_counter() - started
started = time.perf_counter()
tomtom(queries, database)
first = time.perf_counter() - started
warm = []
for _ in range(repeats):
    started = time.perf_counter()
    tomtom(queries, database)
    warm.append(time.perf_counter() - started)
stats = kernel_stats()
print(json.dumps({"warm_up": warm_up_seconds, "first": first, "warm": warm,
                  "loaded": stats.loaded, "compiled": stats.compiled}))
"""


def _queries(count: int, width: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(f"q{i}", rng.dirichlet(np.full(4, 0.5), size=width)) for i in range(count)]


def in_process(mode: str, cache: Path, repeats: int, env_extra: dict[str, str]) -> dict:
    """One fresh process: the first and the warm tomtom calls (and the warm-up's seconds)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), **env_extra}
    result = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, mode, str(repeats), str(QUERIES), str(WIDTH)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def through_service(cache: Path, store: Path, repeats: int) -> dict:
    """A fresh motifmatch process: seconds to SERVING, the first and the warm Compares (SDK)."""
    port = _free_port()
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(cache),
        "MOTIFLENS_HOST": "127.0.0.1",
        "MOTIFLENS_MOTIFMATCH_PORT": str(port),
        "MOTIFLENS_MOTIFMATCH_METRICS_PORT": "-1",
        "MOTIFLENS_STORE": store.as_uri(),
        "MOTIFLENS_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.motifmatch"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        wait_until_serving(f"127.0.0.1:{port}", timeout=600, process=process)
        serving = time.perf_counter() - started
        queries = _queries(QUERIES, WIDTH)
        # Each Compare from a new Client, so that first and warm calls both include connecting.
        calls = []
        for _ in range(repeats + 1):
            with Client(f"127.0.0.1:{port}", motifmatch_address=f"127.0.0.1:{port}") as client:
                begun = time.perf_counter()
                client.tomtom(queries)
                calls.append(time.perf_counter() - begun)
        first, warm = calls[0], calls[1:]
    finally:
        process.terminate()
        process.wait(30)
    return {"serving": serving, "first": first, "warm": warm}


def _pooled(results: list[dict]) -> dict:
    """Fresh processes of one kind: the median first call, all warm calls, the firsts' range."""
    firsts = [result["first"] for result in results]
    pooled = {key: value for key, value in results[-1].items() if key not in ("first", "warm")}
    pooled["first"] = statistics.median(firsts)
    pooled["warm"] = [seconds for result in results for seconds in result["warm"]]
    pooled["range"] = (
        f"first {min(firsts) * 1e3:.0f}-{max(firsts) * 1e3:.0f} ms over {len(results)} processes"
    )
    return pooled


def _row(label: str, result: dict, extra: str = "") -> None:
    warm = statistics.median(result["warm"])
    if "range" in result:
        extra = f"{extra}; {result['range']}"
    print(
        f"{label:<46} {result['first'] * 1e3:>10.1f} {warm * 1e3:>9.1f} "
        f"{result['first'] / warm:>9.1f}x  {extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="warm calls per row (median); default 7")
    parser.add_argument(
        "--processes", type=int, default=5, help="fresh processes per filled-cache row (median first call)"
    )
    parser.add_argument("--generic", action="store_true", help="add rows with NUMBA_CPU_NAME=generic")
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}"
    )
    print(f"# {QUERIES} queries of width {WIDTH} vs JASPAR2016 (519 motifs), -dist ed; times in ms")
    variants = [("host CPU", {})]
    if args.generic:
        print("# generic: NUMBA_CPU_NAME=generic, portable code (a cache that hits on any x86-64 CPU)")
        variants.append(("generic", {"NUMBA_CPU_NAME": "generic"}))
    print(f"{'':<46} {'first':>10} {'warm':>9} {'first/warm':>10}")
    with tempfile.TemporaryDirectory(prefix="warm-start-") as scratch:
        for name, env_extra in variants:
            cache = Path(scratch) / f"cache-{len(env_extra)}"
            cold = in_process("plain", cache, args.repeats, env_extra)
            _row(f"in process, cold cache ({name})", cold, f"compiled {cold['compiled']} kernels")
            filled = in_process("plain", cache, args.repeats, env_extra)
            _row(f"in process, filled cache ({name})", filled, f"loaded {filled['loaded']}")
            warmed = _pooled(
                [in_process("warm-up", cache, args.repeats, env_extra) for _ in range(args.processes)]
            )
            _row(f"in process, filled cache + warm_up ({name})", warmed, f"warm_up {warmed['warm_up']:.2f} s")
        store = Path(scratch) / "store"
        cache = Path(scratch) / "cache-service"
        cold = through_service(cache, store, args.repeats)
        _row("service, cold cache (after SERVING)", cold, f"SERVING after {cold['serving']:.1f} s")
        filled = _pooled([through_service(cache, store, args.repeats) for _ in range(args.processes)])
        _row("service, filled cache (after SERVING)", filled, f"SERVING after {filled['serving']:.1f} s")


if __name__ == "__main__":
    main()
