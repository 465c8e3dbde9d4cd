"""Readiness waits for a server's warm-up; a fresh motifmatch process serves its first Compare warm.

The readiness hook (``create_server(warm_up=...)``) is driven by a warm-up that blocks on
an event, so every state is reached by construction, not by timing: NOT_SERVING while
warming (``liveness`` SERVING throughout), SERVING after, SERVING cold after a warm-up
that raised or ran past its timeout (with a warning), and NOT_SERVING for good once
shutdown begins. The fresh process is ``python -m services.motifmatch``: when its health
first reads SERVING its ``/metrics`` already count the Tomtom kernels the warm-up loaded,
and its first Compares through the SDK load and compile nothing more.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from grpc_health.v1 import health_pb2
from helpers import health_status, make_channel, make_settings, scrape_metrics, wait_for_serving
from motiflens_client import Client
from prometheus_client.parser import text_string_to_metric_families

from services.common.server import LIVENESS_SERVICE, create_server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE = "motiflens.v1.MotifMatchService"
ROOT = Path(__file__).resolve().parents[2]


class _Store:
    """An artifact store whose ``ping`` answers only while ``up`` is set (the readiness input)."""

    def __init__(self, up: bool) -> None:
        self.up = threading.Event()
        if up:
            self.up.set()

    def ping(self) -> None:
        if not self.up.is_set():
            raise OSError("store down")


class _WarmUp:
    """A warm-up that blocks until released, then returns or raises ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.error = error

    def __call__(self) -> None:
        self.started.set()
        try:
            self.release.wait()
            if self.error is not None:
                raise self.error
        finally:
            self.finished.set()


def _statuses(channel) -> tuple[int, int, int]:
    return (
        health_status(channel, LIVENESS_SERVICE),
        health_status(channel, ""),
        health_status(channel, SERVICE),
    )


def _wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout} s")
        time.sleep(0.02)


def _server(warm_up, *, store=None, warm_up_timeout: float = 300.0):
    server, port = create_server(
        make_settings("motifmatch", store_check_seconds=0.05),
        lambda grpc_server: None,
        service_name=SERVICE,
        store=store,
        warm_up=warm_up,
        warm_up_timeout=warm_up_timeout,
    )
    server.start()
    return server, make_channel(port)


def test_readiness_waits_for_the_warm_up_while_liveness_serves():
    warm_up = _WarmUp()
    server, channel = _server(warm_up)
    try:
        assert warm_up.started.wait(30)
        _wait_for(lambda: health_status(channel, LIVENESS_SERVICE) == SERVING, "liveness SERVING")
        assert _statuses(channel) == (SERVING, NOT_SERVING, NOT_SERVING)
        assert server.warming and not server.serving
        warm_up.release.set()
        wait_for_serving(channel)
        assert _statuses(channel) == (SERVING, SERVING, SERVING)
        assert not server.warming
    finally:
        warm_up.release.set()
        channel.close()
        server.stop(0.2)


def test_readiness_needs_both_the_store_and_the_warm_up():
    store = _Store(up=False)
    warm_up = _WarmUp()
    server, channel = _server(warm_up, store=store)
    try:
        assert warm_up.started.wait(30)
        warm_up.release.set()
        _wait_for(lambda: not server.warming, "warm-up over")
        assert _statuses(channel) == (SERVING, NOT_SERVING, NOT_SERVING)  # warm, but no store
        store.up.set()
        wait_for_serving(channel)
        store.up.clear()  # a store outage after the warm-up still takes readiness away
        _wait_for(lambda: health_status(channel, "") == NOT_SERVING, "NOT_SERVING on a store outage")
        assert health_status(channel, LIVENESS_SERVICE) == SERVING
    finally:
        warm_up.release.set()
        channel.close()
        server.stop(0.2)


def test_a_failed_warm_up_is_logged_and_the_server_serves_cold(caplog):
    warm_up = _WarmUp(error=RuntimeError("kernel cache unreadable"))
    with caplog.at_level(logging.WARNING, logger="services.common.server"):
        server, channel = _server(warm_up, store=_Store(up=True))
        try:
            assert warm_up.started.wait(30)
            assert _statuses(channel) == (SERVING, NOT_SERVING, NOT_SERVING)
            warm_up.release.set()
            wait_for_serving(channel)
            assert _statuses(channel) == (SERVING, SERVING, SERVING)
        finally:
            channel.close()
            server.stop(0.2)
    failed = [r for r in caplog.records if "warm-up failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING
    assert "kernel cache unreadable" in str(failed[0].exc_info[1])


def test_a_warm_up_past_its_timeout_leaves_the_server_serving_cold(caplog):
    warm_up = _WarmUp()
    with caplog.at_level(logging.WARNING, logger="services.common.server"):
        server, channel = _server(warm_up, warm_up_timeout=0.2)
        try:
            wait_for_serving(channel)  # the warm-up is still blocked: the timeout opened readiness
            assert warm_up.started.is_set() and not warm_up.finished.is_set()
            assert not server.warming
            warm_up.release.set()
            assert warm_up.finished.wait(30)
            assert _statuses(channel) == (SERVING, SERVING, SERVING)
        finally:
            warm_up.release.set()
            channel.close()
            server.stop(0.2)
    assert any("warm-up still running after" in r.getMessage() for r in caplog.records)


def test_a_warm_up_ending_after_shutdown_began_does_not_make_the_server_ready():
    warm_up = _WarmUp()
    server, channel = _server(warm_up)
    try:
        assert warm_up.started.wait(30)
        server.stop(0.2)
        warm_up.release.set()
        assert warm_up.finished.wait(30)
        assert not server.serving
    finally:
        channel.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _kernels(metrics_port: int) -> dict[str, float]:
    """``motiflens_tomtom_kernels`` by source, scraped from the process's /metrics."""
    for family in text_string_to_metric_families(scrape_metrics(metrics_port)):
        if family.name == "motiflens_tomtom_kernels":
            return {sample.labels["source"]: sample.value for sample in family.samples}
    raise AssertionError("motiflens_tomtom_kernels missing from /metrics")


@pytest.mark.timeout(400)  # a cold numba cache makes the warm-up compile for about 75 s
def test_a_fresh_motifmatch_process_serves_after_its_warm_up_and_its_first_compare_loads_nothing(tmp_path):
    port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "MOTIFLENS_HOST": "127.0.0.1",
        "MOTIFLENS_MOTIFMATCH_PORT": str(port),
        "MOTIFLENS_MOTIFMATCH_METRICS_PORT": str(metrics_port),
        "MOTIFLENS_STORE": (tmp_path / "store").as_uri(),
    }
    log = tmp_path / "motifmatch.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.motifmatch"], cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
    channel = make_channel(port)
    try:
        deadline = time.monotonic() + 360
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no SERVING in 360 s: " + log.read_text()[-3000:]
            try:
                liveness, readiness = health_status(channel, LIVENESS_SERVICE), health_status(channel, "")
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
                continue
            assert liveness == SERVING  # from the moment it answers, whatever readiness says
            if readiness == SERVING:
                first_serving = _kernels(metrics_port)
                break
            time.sleep(0.05)
        # Readiness came after the warm-up: its kernels were already there (no call was made).
        assert first_serving["disk_cache"] + first_serving["compiled"] >= 1
        assert "warm-up done" in log.read_text()

        rng = np.random.default_rng(3)
        queries = [(f"q{i}", rng.dirichlet(np.full(4, 0.4), size=8 + i)) for i in range(5)]
        with Client(f"127.0.0.1:{port}", motifmatch_address=f"127.0.0.1:{port}") as client:
            first = client.tomtom(queries)  # the first Compare of the process, default deadline
            assert first.num_targets == 519  # JASPAR2016 CORE vertebrates
            assert _kernels(metrics_port) == first_serving
            client.tomtom(queries, distance="pearson", trim=True)
            assert _kernels(metrics_port) == first_serving
    finally:
        channel.close()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
