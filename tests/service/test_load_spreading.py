"""One Client's calls reach every replica behind one name (deploy/'s headless Services).

Two interpreter processes serve the same store on the same port at two loopback addresses;
a DNS server on loopback answers the one name with both addresses, as cluster DNS answers for
a headless Service with two ready pods. The SDK's round_robin policy must send the calls of a
single Client to both processes; each process's own Prometheus counter says how many it served.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from helpers import scrape_metrics, wait_for_serving
from motiflens_client import Client
from test_interpreter import store_model
from tiny_dns import TinyDNS

from motiflens.models import build_model
from services.common.store import open_store
from services.trainer.datasets import create_synthetic

ROOT = Path(__file__).resolve().parents[2]
ADDRESSES = ("127.0.0.1", "127.0.0.2")
NAME = "interpreter.motiflens.svc.cluster.test"
CALLS = 12


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _predict_calls(address: str, metrics_port: int) -> float:
    """Successful Predict calls the process at ``address`` (metrics on ``metrics_port``) has finished."""
    pattern = re.compile(r"^motiflens_grpc_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)
    total = 0.0
    for match in pattern.finditer(scrape_metrics(metrics_port, host=address)):
        labels = match["labels"]
        if 'grpc_method="Predict"' in labels and 'grpc_code="OK"' in labels:
            total += float(match["value"])
    return total


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """(port, {address: metrics port}, model id): two interpreter processes on one port."""
    folder = tmp_path_factory.mktemp("spread")
    store_url = f"file://{folder / 'store'}"
    store = open_store(store_url)
    info = create_synthetic(store, "task1", num_sequences=200, seed=3)
    model = build_model(architecture="cnn_2", input_length=200, num_outputs=12, activation="exponential")
    model_id = store_model(store, model, info.dataset_id)
    port = _free_port()
    metrics = {address: _free_port() for address in ADDRESSES}
    processes = []
    try:
        for address in ADDRESSES:
            env = {
                **os.environ,
                "MOTIFLENS_STORE": store_url,
                "MOTIFLENS_HOST": address,
                "MOTIFLENS_INTERPRETER_PORT": str(port),
                "MOTIFLENS_INTERPRETER_METRICS_PORT": str(metrics[address]),
                "NUMBA_CACHE_DIR": str(folder / "numba"),
                "HOME": str(folder),
            }
            env.pop("MOTIFLENS_TOKEN", None)
            log = open(folder / f"interpreter-{address}.log", "wb")  # noqa: SIM115 (closed with the process)
            processes.append(
                (
                    subprocess.Popen(
                        [sys.executable, "-m", "services.interpreter"],
                        env=env,
                        cwd=ROOT,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                    log,
                )
            )
        for address in ADDRESSES:
            with grpc.insecure_channel(f"{address}:{port}") as channel:
                wait_for_serving(channel, timeout=180)
        yield port, metrics, model_id
    finally:
        for process, _ in processes:
            process.terminate()
        for process, log in processes:
            process.wait(timeout=60)
            log.close()


def test_one_client_reaches_both_interpreters_behind_one_name(replicas):
    port, metrics, model_id = replicas
    dns = TinyDNS({NAME: ADDRESSES})
    try:
        before = {address: _predict_calls(address, metrics[address]) for address in ADDRESSES}
        # The trainer and motifmatch addresses are never dialled by these calls.
        with Client(f"127.0.0.1:{_free_port()}", interpreter_address=dns.target(NAME, port)) as client:
            sequences = ["ACGT" * 50] * 4
            first = client.predict(model_id, sequences)
            results = [client.predict(model_id, sequences) for _ in range(CALLS - 1)]
        served = {a: _predict_calls(a, metrics[a]) - before[a] for a in ADDRESSES}
    finally:
        dns.close()
    assert (NAME, 1) in dns.queries  # the name was resolved through the DNS server
    assert sum(served.values()) == CALLS
    # round_robin: both replicas serve, neither gets everything (a ClusterIP-style single
    # connection would put all CALLS on one of them).
    assert all(count >= 1 for count in served.values()), served
    assert first.shape == (4, 12)
    for result in results:  # same model, same store: the same answer from either replica
        np.testing.assert_allclose(result, first, rtol=1e-5, atol=1e-6)


def test_a_name_with_one_address_still_works(replicas):
    port, metrics, model_id = replicas
    dns = TinyDNS({NAME: ADDRESSES[:1]})
    try:
        before = {address: _predict_calls(address, metrics[address]) for address in ADDRESSES}
        with Client(f"127.0.0.1:{_free_port()}", interpreter_address=dns.target(NAME, port)) as client:
            for _ in range(3):
                client.predict(model_id, ["ACGT" * 50])
        served = {a: _predict_calls(a, metrics[a]) - before[a] for a in ADDRESSES}
    finally:
        dns.close()
    assert served == {ADDRESSES[0]: 3, ADDRESSES[1]: 0}
