"""``Client.local()``: the stack as one launcher subprocess, stopped with its whole process group."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from motiflens_client import Client, FailedPrecondition, InvalidArgument, Unavailable

REPO = Path(__file__).resolve().parents[2]


def live_members(group: int) -> list[int]:
    """Pids of the not-yet-dead (non-zombie) processes in process group ``group`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state != "Z":
            found.append(int(stat.parent.name))
    return found


def test_the_sdk_never_imports_services():
    code = (
        "import json, sys, motiflens_client, motiflens_client.sdk; "
        "print(json.dumps(sorted(m for m in sys.modules if m == 'services' or m.startswith('services.'))))"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "client"), str(REPO)]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_without_the_services_package_it_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(FailedPrecondition, match=r"full motiflens installation .*Client\(address\)"):
        Client.local(store=str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # nothing was started or written


def test_a_bad_timeout_is_rejected_before_anything_starts(tmp_path):
    with pytest.raises(InvalidArgument, match="timeout"):
        Client.local(store=str(tmp_path), timeout=0)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_local_stack_answers_then_leaves_no_process_nor_its_temporary_store(tmp_path):
    client = Client.local(temporary=True, timeout=180)
    process = client._local_stack.peek()[2][0]  # the launcher's Popen
    folder = Path(client.store_url.removeprefix("file://"))
    try:
        assert process.poll() is None and os.getpgid(process.pid) == process.pid  # own group
        assert client.list_datasets() == []
        assert "JASPAR2016" in {database.database_id for database in client.databases()}
        assert folder.is_dir() and folder.name.startswith("motiflens-store-")
    finally:
        client.close()
    assert not folder.exists()  # a temporary store goes with its client
    assert process.returncode == 0  # the launcher stopped gracefully
    # No process of its group survives (the services and their workers; zombies await reaping).
    deadline = time.monotonic() + 10
    while live_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_members(process.pid) == []
    client.close()  # idempotent
    with Client(client.address, retries=0, timeout=5) as probe, pytest.raises(Unavailable):
        probe.list_datasets()


def test_the_default_store_outlives_the_client_and_a_temporary_one_does_not(monkeypatch, tmp_path):
    # The default is the stack's own (MOTIFLENS_STORE, else ~/.motiflens/store): models survive.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MOTIFLENS_STORE", raising=False)
    expected = (tmp_path / ".motiflens" / "store").as_uri()
    with Client.local(timeout=180) as client:
        assert client.store_url == expected
        made = client.create_task(1, num_sequences=60, name="kept")
    with Client.local(timeout=180) as client:
        assert made.dataset_id in {info.dataset_id for info in client.list_datasets()}
    assert (tmp_path / ".motiflens" / "store").is_dir()
    with pytest.raises(InvalidArgument, match="temporary"):
        Client.local(temporary=True, store=str(tmp_path))
