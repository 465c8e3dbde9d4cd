"""``motiflens up`` on a first run: ``--store DIR``, one ``--base-port`` for every port, a missing bucket.

Everything goes through the real command, ``python -m motiflens_client up ...`` in a
subprocess, which runs the real launcher and the three real services; S3 is the
session's moto server (``s3_server``). Two stacks start in this module: A on a folder
store (module fixture) and B beside it, on a bucket that ``--create-bucket`` makes. The
refusals (busy port, missing bucket, bad store) start no service: the launcher checks
ports and store first and answers with one line, exit status 2.
"""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import S3Server
from helpers import scrape_metrics
from motiflens_client import Client
from prometheus_client.parser import text_string_to_metric_families

from services.common.config import MAX_BASE_PORT, METRICS_PORT_OFFSET

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
#: Upper bound for a stack to report SERVING (about 10 s on an idle 2-core machine).
SERVING_TIMEOUT = 300.0
#: Upper bound for a refusal. A refusal that waited for the services instead would take
#: the launcher's health timeout (120 s), so this bound tells the two apart with room.
REFUSAL_TIMEOUT = 60.0
SERVICES = ("trainer", "interpreter", "motifmatch")


def layout(base: int) -> dict[str, tuple[int, int]]:
    """(gRPC, metrics) port of each service for a non-default base port (the documented layout)."""
    return {name: (base + i, base + METRICS_PORT_OFFSET + i) for i, name in enumerate(SERVICES)}


def free_base_port() -> int:
    """A base port N whose six ports (N..N+2, N+50..N+52) are free on loopback now."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            base = probe.getsockname()[1]
        if base > MAX_BASE_PORT:
            continue
        sockets = []
        try:
            for ports in layout(base).values():
                for port in ports:
                    sock = socket.socket()
                    sockets.append(sock)
                    sock.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no base port with six free ports found")


#: The two ways to start a stack from a shell: the CLI, and the launcher it runs (`make up`).
UP = (sys.executable, "-m", "motiflens_client", "up")
LAUNCHER = (sys.executable, "-m", "services.launcher")


def up_command(*args: str) -> list[str]:
    return [*UP, *args]


def refused(*args: str, entrypoint: tuple[str, ...] = UP) -> subprocess.CompletedProcess[str]:
    """Run a start that must be refused; its result (stdout, stderr as text)."""
    return subprocess.run(
        [*entrypoint, *args], capture_output=True, text=True, timeout=REFUSAL_TIMEOUT, cwd=REPO
    )


@dataclass
class Up:
    """A running ``motiflens up``: its process, its stdout lines so far and its stderr file."""

    process: subprocess.Popen[str]
    stderr_path: Path
    lines: queue.Queue[str | None]
    output: list[str]

    @classmethod
    def start(cls, log_dir: Path, *args: str) -> Up:
        stderr_path = log_dir / f"up-{uuid.uuid4().hex[:8]}.stderr"
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                up_command(*args),
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
            )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:  # drains stdout so that the stack never blocks on a full pipe
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        return cls(process, stderr_path, lines, [])

    @property
    def banner(self) -> list[str]:
        """The launcher's banner (from "motiflens suite up"), as far as it is printed."""
        starts = [i for i, line in enumerate(self.output) if line.startswith("motiflens suite up")]
        return self.output[starts[0] :] if starts else []

    def wait_serving(self) -> list[str]:
        """The banner's lines, once the launcher printed it (all three services SERVING)."""
        while not self.banner or self.banner[-1] != "Ctrl-C stops it.":
            try:
                line = self.lines.get(timeout=SERVING_TIMEOUT)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                tail = self.stderr_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"`motiflens up` did not report SERVING; status {self.process.poll()}:\n{tail}")
            self.output.append(line)
        return self.banner

    def addresses(self) -> dict[str, tuple[int, int]]:
        """(gRPC, metrics) port of each service, read from the banner."""
        found = {}
        for line in self.banner:
            words = line.split()
            if words and words[0] in SERVICES:
                found[words[0]] = (int(words[1].rsplit(":", 1)[1]), int(words[3].lstrip(":")))
        return found

    def stop(self) -> int:
        """SIGTERM the command (it forwards it: the services drain); its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()  # the launcher follows its parent (--exit-with-parent)
                self.process.wait()
        return self.process.returncode


def requests_counted(port: int, method: str) -> float:
    """``motiflens_grpc_requests_total`` with code OK for ``method`` on the /metrics at ``port``."""
    total = 0.0
    for family in text_string_to_metric_families(scrape_metrics(port)):
        for sample in family.samples:
            if (
                sample.name == "motiflens_grpc_requests_total"
                and sample.labels.get("grpc_method") == method
                and sample.labels.get("grpc_code") == "OK"
            ):
                total += sample.value
    return total


@dataclass
class StackA:
    up: Up
    folder: Path
    base: int


@pytest.fixture(scope="module")
def stack_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackA]:
    """``motiflens up --store <folder> --base-port <free>``: a plain folder, not a URL."""
    logs = tmp_path_factory.mktemp("up-a")
    folder = logs / "store folder"  # a space too: the folder becomes a percent-encoded file:// URL
    base = free_base_port()
    up = Up.start(logs, "--store", str(folder), "--base-port", str(base))
    up.wait_serving()
    try:
        yield StackA(up, folder, base)
    finally:
        up.stop()


def test_up_takes_a_folder_as_its_store_and_the_stack_writes_there(stack_a):
    assert stack_a.up.banner[0] == f"motiflens suite up (store {stack_a.folder.as_uri()}):"
    assert stack_a.up.addresses() == layout(stack_a.base)
    with Client(f"{HOST}:{stack_a.base}", timeout=120) as client:
        made = client.create_task(1, num_sequences=60, seed=0, name="first-run")
        assert client.get_dataset(made.dataset_id).name == "first-run"
    manifest = stack_a.folder / "artifacts" / made.dataset_id / "manifest.json"
    assert manifest.is_file()  # the data set landed under the folder given to --store


def test_a_second_up_on_another_base_port_runs_beside_the_first_on_a_bucket_it_creates(
    stack_a, s3_server: S3Server, tmp_path
):
    bucket = f"mlt-up-{uuid.uuid4().hex[:16]}"
    assert not s3_server.client().bucket_exists(bucket)
    base = free_base_port()
    b = Up.start(tmp_path, "--store", s3_server.url(bucket), "--base-port", str(base), "--create-bucket")
    try:
        banner = b.wait_serving()
        assert f"motiflens: created bucket {bucket!r} on {s3_server.endpoint}" in b.output
        assert s3_server.client().bucket_exists(bucket)
        assert banner[0] == f"motiflens suite up (store {s3_server.url(bucket)}):"
        ports_a, ports_b = stack_a.up.addresses(), b.addresses()
        assert ports_b == layout(base)
        every_a = {port for pair in ports_a.values() for port in pair}
        every_b = {port for pair in ports_b.values() for port in pair}
        assert len(every_b) == 6 and every_a.isdisjoint(every_b)
        trainer_metrics_a, trainer_metrics_b = ports_a["trainer"][1], ports_b["trainer"][1]
        before_a = requests_counted(trainer_metrics_a, "ListDatasets")
        before_b = requests_counted(trainer_metrics_b, "ListDatasets")
        with Client(f"{HOST}:{base}", timeout=60) as client:
            assert client.list_datasets() == []  # B has its own (new, empty) store
            assert "JASPAR2016" in {database.database_id for database in client.databases()}
        # Each moved metrics port answers, and it is B's: only B's counter saw B's call.
        assert requests_counted(trainer_metrics_b, "ListDatasets") == before_b + 1
        assert requests_counted(trainer_metrics_a, "ListDatasets") == before_a
        assert requests_counted(ports_b["motifmatch"][1], "ListDatabases") == 1
        assert "motiflens_grpc_requests" in scrape_metrics(ports_b["interpreter"][1])
    finally:
        status = b.stop()
    assert status == 0  # stopped gracefully through the forwarded SIGTERM


@pytest.mark.parametrize("entrypoint", [UP, LAUNCHER], ids=["up", "launcher"])
def test_a_start_whose_port_is_held_exits_at_once_naming_the_port_the_service_and_the_fix(
    entrypoint, tmp_path
):
    base = free_base_port()
    held = base + METRICS_PORT_OFFSET + 1  # the interpreter's metrics port
    folder = tmp_path / "store"
    with socket.socket() as holder:
        holder.bind((HOST, held))
        holder.listen()
        result = refused("--store", folder.as_uri(), "--base-port", str(base), entrypoint=entrypoint)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("motiflens: error: cannot start the stack on 127.0.0.1: ")
    assert f"port {held} (interpreter metrics) is in use" in lines[0]
    assert "--base-port N" in lines[0] and "e.g. --base-port " in lines[0]
    assert not folder.exists()  # refused before anything, even the store folder, was made


def test_an_up_on_the_ports_of_a_running_stack_names_all_six(stack_a, tmp_path):
    result = refused("--store", str(tmp_path / "store"), "--base-port", str(stack_a.base))
    assert result.returncode == 2
    for service, (grpc_port, metrics_port) in layout(stack_a.base).items():
        assert f"port {grpc_port} ({service} gRPC) is in use" in result.stderr
        assert f"port {metrics_port} ({service} metrics) is in use" in result.stderr
    suggested = int(result.stderr.split("e.g. --base-port ")[1].split(")")[0])
    assert suggested != stack_a.base


def test_an_up_on_a_missing_bucket_exits_at_once_naming_the_bucket_and_the_flag(s3_server: S3Server):
    bucket = f"mlt-missing-{uuid.uuid4().hex[:12]}"
    result = refused("--store", s3_server.url(bucket), "--base-port", str(free_base_port()))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"bucket {bucket!r} does not exist on {s3_server.endpoint}" in lines[0]
    assert f"mc mb ALIAS/{bucket}" in lines[0] and "--create-bucket" in lines[0]
    assert not s3_server.client().bucket_exists(bucket)  # never created without the flag


def test_the_launcher_refuses_a_bad_store_url_in_one_line_before_any_service_starts():
    base = str(free_base_port())
    result = refused("--store", "ftp://nowhere", "--quiet", "--base-port", base, entrypoint=LAUNCHER)
    assert result.returncode == 2
    assert result.stderr == (
        "motiflens: error: --store: store URL 'ftp://nowhere': unsupported scheme 'ftp'; accepted forms: "
        "file:///absolute/path, s3://bucket[/prefix]?endpoint=host:port[&secure=true|false][&region=name]\n"
    )


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("ftp://nowhere", "store URL 'ftp://nowhere': unsupported scheme 'ftp'; accepted forms: file:///"),
        ("file://relative/path", "a file URL is file:// followed by an absolute path"),
        ("s3://mlt-x/p?endpoint=127.0.0.1:{closed}&secure=false", "connection refused"),
        ("   ", "--store: expected a folder path, file:///path or s3://"),
    ],
)
def test_a_bad_store_is_refused_in_one_line_before_any_service_starts(store, expected):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind((HOST, 0))
        store = store.format(closed=closed.getsockname()[1])
        result = refused("--store", store, "--base-port", str(free_base_port()))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("motiflens: error: --store"), result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
