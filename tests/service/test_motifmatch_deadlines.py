"""Compare and MatchFilters stop computing once their caller is gone (deadline passed or cancelled)."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from helpers import make_settings, rpc_error, running_server
from motiflens_client.api import motifmatch_pb2_grpc, pb

import motiflens.tomtom as tomtom_module
from motiflens.errors import CancelledError
from motiflens.motifs import Motif, motif_database
from motiflens.tomtom import tomtom, tomtom_table
from services.common.budget import ComputeSlots
from services.common.convert import motif_to_proto
from services.common.store import open_store
from services.motifmatch.servicer import SERVICE_NAME, MotifMatchServicer, add_to_server

pytestmark = pytest.mark.timeout(300)


def _random_motifs(count: int, seed: int = 0) -> list[Motif]:
    rng = np.random.default_rng(seed)
    return [
        Motif(motif_id=f"q{i}", name=f"q{i}", pwm=rng.dirichlet(np.ones(4) * 0.5, size=10))
        for i in range(count)
    ]


def test_blocks_of_queries_give_the_numbers_of_one_pass(monkeypatch: pytest.MonkeyPatch):
    queries = _random_motifs(9, seed=1)
    database = motif_database("JASPAR2016")
    whole = tomtom_table(queries, database)
    monkeypatch.setattr(tomtom_module, "QUERY_BLOCK", 2)
    blocked = tomtom_table(queries, database)
    for name in ("p_values", "e_values", "q_values", "offsets", "overlaps", "orientations"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(blocked, name), err_msg=name)


def test_should_stop_abandons_between_blocks(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tomtom_module, "QUERY_BLOCK", 3)
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) > 2  # the first two blocks run, the third is abandoned

    with pytest.raises(CancelledError, match="abandoned after 6 of 10 queries"):
        tomtom(_random_motifs(10), motif_database("JASPAR2016"), should_stop=should_stop)
    assert len(asked) == 3


def test_compare_past_its_deadline_is_abandoned_by_the_server(tmp_path, monkeypatch: pytest.MonkeyPatch):
    import importlib

    module = importlib.import_module("memelite.tomtom")  # the module; memelite.tomtom is the function
    blocks = []
    real = module.tomtom

    def counted(*args, **kwargs):  # the real computation, counted per block of queries
        blocks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "tomtom", counted)
    store = open_store((tmp_path / "store").as_uri())
    servicer = MotifMatchServicer(store, compute=ComputeSlots(1))
    with running_server(
        lambda server: add_to_server(servicer, server),
        service_name=SERVICE_NAME,
        settings=make_settings("motifmatch"),
        store=store,
    ) as running:
        stub = motifmatch_pb2_grpc.MotifMatchServiceStub(running.channel())
        small = pb.CompareRequest(motifs=pb.MotifList(motifs=[motif_to_proto(m) for m in _random_motifs(1)]))
        stub.Compare(small, timeout=120)  # loads JASPAR and compiles memelite first
        # 20,000 queries (313 blocks) take about 15 s here; the caller gives up after 1 s.
        big = pb.CompareRequest(
            motifs=pb.MotifList(motifs=[motif_to_proto(m) for m in _random_motifs(20_000, 2)])
        )
        blocks.clear()
        error = rpc_error(stub.Compare, big, timeout=1.0)
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        sample = running.server.metrics.registry.get_sample_value
        labels = {"grpc_service": "motiflens.v1.MotifMatchService", "grpc_method": "Compare"}

        def finished() -> dict:
            return {
                code: sample("motiflens_grpc_requests_total", {**labels, "grpc_code": code}) or 0
                for code in ("OK", "CANCELLED", "DEADLINE_EXCEEDED")
            }

        for _ in range(1200):
            if finished()["CANCELLED"] + finished()["DEADLINE_EXCEEDED"]:
                break
            time.sleep(0.05)
        # The handler stopped early: abandoned between blocks (CANCELLED) or, on a
        # machine slow enough that the deadline passed before it started, never ran.
        assert finished() in (
            {"OK": 1, "CANCELLED": 1, "DEADLINE_EXCEEDED": 0},
            {"OK": 1, "CANCELLED": 0, "DEADLINE_EXCEEDED": 1},
        )
        assert len(blocks) < 150  # of 313
        # The one compute slot is free again: the next call is served.
        assert stub.Compare(small, timeout=120).num_targets == 519
