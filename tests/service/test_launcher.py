"""The embedded stack: `make up` starts three real service processes on loopback."""

import socket

import grpc
import pytest
from helpers import rpc_error
from motiflens_client.api import interpreter_pb2_grpc, motifmatch_pb2_grpc, pb, trainer_pb2_grpc

from services.launcher import start_suite, stop_suite


def free_base_port() -> int:
    # Three consecutive free ports; retry a few candidates.
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base > 65000:
            continue
        try:
            sockets = []
            for offset in range(3):
                s = socket.socket()
                s.bind(("127.0.0.1", base + offset))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no three consecutive free ports")


def test_suite_starts_answers_and_stops_gracefully(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTIFLENS_TRAINER_METRICS_PORT", "-1")
    monkeypatch.setenv("MOTIFLENS_INTERPRETER_METRICS_PORT", "-1")
    monkeypatch.setenv("MOTIFLENS_MOTIFMATCH_METRICS_PORT", "-1")
    running = start_suite(store=f"file://{tmp_path / 'store'}", base_port=free_base_port(), timeout=180)
    try:
        addresses = {service.name: service.address for service in running}
        with grpc.insecure_channel(addresses["motifmatch"]) as channel:
            databases = motifmatch_pb2_grpc.MotifMatchServiceStub(channel).ListDatabases(
                pb.ListDatabasesRequest(), timeout=60
            )
            assert "JASPAR2016" in {d.database_id for d in databases.databases}
        with grpc.insecure_channel(addresses["trainer"]) as channel:
            stub = trainer_pb2_grpc.TrainerServiceStub(channel)
            assert list(stub.ListDatasets(pb.ListDatasetsRequest(), timeout=30).datasets) == []
        with grpc.insecure_channel(addresses["interpreter"]) as channel:
            stub = interpreter_pb2_grpc.InterpreterServiceStub(channel)
            error = rpc_error(stub.Predict, pb.PredictRequest(model_id="model-" + "0" * 32), timeout=30)
            assert error.code() == grpc.StatusCode.NOT_FOUND
    finally:
        stop_suite(running)
    assert [service.process.returncode for service in running] == [0, 0, 0]


def test_a_stack_that_cannot_start_exits_3_with_one_line_and_nothing_left(tmp_path):
    """A bad service setting (checked by each service, not the launcher): every service exits 2;
    the launcher says so in one line, no traceback. (A bad store is refused before any service
    starts: tests/service/test_up_first_run.py.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "-m", "services.launcher", "--store", (tmp_path / "store").as_uri(), "--quiet"]
        + ["--base-port", str(free_base_port()), "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "MOTIFLENS_MAX_CALLS": "0"},
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert "motiflens: the stack did not start: service at 127.0.0.1:" in result.stderr
    assert "exited with code 2" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("which", ["grpc", "metrics"])
def test_a_service_whose_port_is_taken_says_which_in_one_line(which, tmp_path):
    """A service started alone (as in a pod) on a port in use: exit 2, one line naming the port."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        ports = {"grpc": str(free_base_port()), "metrics": str(free_base_port())}
        ports[which] = str(taken)
        result = subprocess.run(
            [sys.executable, "-m", "services.motifmatch"],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=Path(__file__).resolve().parents[2],
            env={
                **os.environ,
                "MOTIFLENS_STORE": (tmp_path / "store").as_uri(),
                "MOTIFLENS_HOST": "127.0.0.1",
                "MOTIFLENS_MOTIFMATCH_PORT": ports["grpc"],
                "MOTIFLENS_MOTIFMATCH_METRICS_PORT": ports["metrics"],
                "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
            },
        )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "cannot start" in x]
    assert line.startswith("motifmatch: cannot start: ") and f"127.0.0.1:{taken}" in line, line
