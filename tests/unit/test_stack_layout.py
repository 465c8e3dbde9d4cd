"""The local stack's shared rules: the store argument (``store_url``), the port layout (``stack_ports``).

``motiflens up`` and the launcher follow them; these tests pin them without starting
anything (tests/service/test_up_first_run.py runs the real stacks).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from motiflens_client.errors import InvalidArgument
from motiflens_client.sdk.local import store_url

from services.common.config import MAX_BASE_PORT, ConfigError, stack_ports


def ports_of(base: int, environ: dict[str, str] | None = None) -> dict[tuple[str, str], int]:
    return {(port.service, port.kind): port.port for port in stack_ports(base, environ or {})}


def test_a_folder_becomes_its_absolute_file_url_and_a_url_passes_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert store_url("stores/a b") == "file://" + str(tmp_path) + "/stores/a%20b"
    assert store_url("~/store") == (tmp_path / "home" / "store").as_uri()
    assert store_url(str(tmp_path / "x" / ".." / "y")) == (tmp_path / "y").as_uri()
    for url in ("file:///srv/store", "s3://bucket/prefix?endpoint=127.0.0.1:9000&secure=false", "ftp://x"):
        assert store_url(url) == url  # URLs are the launcher's to validate
    assert not Path(tmp_path / "stores").exists()  # nothing is created by the rule itself


@pytest.mark.parametrize("blank", ["", "  ", "\t"])
def test_a_blank_store_is_refused_naming_the_field(blank):
    with pytest.raises(InvalidArgument, match=r"store: expected a folder path, file:///path or s3://"):
        store_url(blank)


def test_the_default_base_keeps_the_historical_ports():
    assert ports_of(50051) == {
        ("trainer", "gRPC"): 50051,
        ("trainer", "metrics"): 9101,
        ("interpreter", "gRPC"): 50052,
        ("interpreter", "metrics"): 9102,
        ("motifmatch", "gRPC"): 50053,
        ("motifmatch", "metrics"): 9103,
    }


def test_another_base_moves_every_port_metrics_included():
    assert ports_of(51051) == {
        ("trainer", "gRPC"): 51051,
        ("trainer", "metrics"): 51101,
        ("interpreter", "gRPC"): 51052,
        ("interpreter", "metrics"): 51102,
        ("motifmatch", "gRPC"): 51053,
        ("motifmatch", "metrics"): 51103,
    }
    assert max(ports_of(MAX_BASE_PORT).values()) == 65535


def test_explicit_port_variables_win_and_metrics_can_be_off():
    environ = {
        "MOTIFLENS_INTERPRETER_PORT": "6000",
        "MOTIFLENS_TRAINER_METRICS_PORT": "-1",
        "MOTIFLENS_MOTIFMATCH_METRICS_PORT": "0",
    }
    planned = stack_ports(51051, environ)
    assert {(port.service, port.kind): (port.port, port.from_env) for port in planned} == {
        ("trainer", "gRPC"): (51051, False),
        ("interpreter", "gRPC"): (6000, True),
        ("interpreter", "metrics"): (51102, False),
        ("motifmatch", "gRPC"): (51053, False),
        ("motifmatch", "metrics"): (0, True),  # any free port
    }


@pytest.mark.parametrize(
    ("base", "environ", "message"),
    [
        (0, {}, "--base-port: expected an integer from 1 to 65483"),
        (65484, {}, "--base-port: expected an integer from 1 to 65483"),
        (
            51051,
            {"MOTIFLENS_TRAINER_PORT": "0"},
            "MOTIFLENS_TRAINER_PORT: expected an integer from 1 to 65535",
        ),
        (
            51051,
            {"MOTIFLENS_TRAINER_METRICS_PORT": "x"},
            "MOTIFLENS_TRAINER_METRICS_PORT: expected an integer",
        ),
        (
            51051,
            {"MOTIFLENS_MOTIFMATCH_METRICS_PORT": "51052"},
            "port 51052: wanted by the interpreter gRPC (MOTIFLENS_INTERPRETER_PORT) and the motifmatch "
            "metrics (MOTIFLENS_MOTIFMATCH_METRICS_PORT)",
        ),
    ],
)
def test_a_layout_that_cannot_work_is_refused_naming_the_setting(base, environ, message):
    with pytest.raises(ConfigError) as raised:
        stack_ports(base, environ)
    assert str(raised.value).startswith(message)
