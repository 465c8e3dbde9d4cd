"""Slow: DiscoverMotifs recovers Task 3's planted core motifs from a trained exponential CNN-local.

The same steps as ``bench/discover_motifs.py`` (which prints the table), through the
local stack: Task 3 with 10,000 sequences, CNN-local/exponential trained up to 15
epochs, DiscoverMotifs on the test positives. Done when at least 4 of the 5 core TFs
have a pattern with a Tomtom hit (E < 0.1) to their JASPAR matrix. About 3 minutes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from motiflens_client import Client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "discover_motifs.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("discover_motifs_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_task3_core_motifs_are_discovered():
    bench = load_bench()
    with Client.local(temporary=True, timeout=3600) as client:
        report = bench.run(client, num_sequences=10_000, epochs=15, activation="exponential")
    assert report["job"].test_metrics.auroc > 0.9
    recovered = report["recovered"]
    assert sum(found is not None for found in recovered.values()) >= 4, recovered
    assert all(found[1] < 0.1 for found in recovered.values() if found is not None)
