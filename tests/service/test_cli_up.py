"""``motiflens up`` runs ``python -m services.launcher`` as a child process and forwards signals to it.

A stand-in ``services/launcher.py`` in the working directory (``python -m`` puts the
directory first on the child's path) records its arguments, asks its parent to stop
(SIGTERM to the CLI, which must forward it) and exits 7 when the signal arrives.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import textwrap

from motiflens_client.cli import main

FAKE_LAUNCHER = textwrap.dedent(
    """
    import json, os, signal, sys, time

    def stop(signum, frame):
        with open("signal.txt", "w") as handle:
            handle.write(str(signum))
        sys.exit(7)

    signal.signal(signal.SIGTERM, stop)
    with open("argv.json", "w") as handle:
        json.dump({"argv": sys.argv[1:], "session": os.getsid(0) == os.getpid()}, handle)
    os.kill(os.getppid(), signal.SIGTERM)  # the CLI forwards it back here
    time.sleep(60)
    sys.exit(0)
    """
)


def run_cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


def test_up_runs_the_launcher_as_a_child_forwards_sigterm_and_returns_its_status(tmp_path, monkeypatch):
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "__init__.py").write_text("")
    (tmp_path / "services" / "launcher.py").write_text(FAKE_LAUNCHER)
    monkeypatch.chdir(tmp_path)
    code, err = run_cli("up", "--host", "127.0.0.2", "--base-port", "6000", "--store", "file:///tmp/s")
    assert code == 7
    assert err == "motiflens: error: the stack exited with status 7 (the launcher's messages are above)\n"
    record = json.loads((tmp_path / "argv.json").read_text())
    assert record["argv"] == [
        "--host",
        "127.0.0.2",
        "--base-port",
        "6000",
        "--store",
        "file:///tmp/s",
        "--exit-with-parent",
    ]
    assert record["session"]  # its own session: a terminal's Ctrl-C reaches it once, forwarded
    assert (tmp_path / "signal.txt").read_text() == "15"


def test_up_imports_no_services_code(tmp_path, monkeypatch):
    # Only the launcher's presence is checked (a spec lookup); the package is never imported.
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "__init__.py").write_text("raise SystemExit('imported')\n")
    (tmp_path / "services" / "launcher.py").write_text("import sys; sys.exit(0)\n")
    monkeypatch.chdir(tmp_path)
    for name in [name for name in sys.modules if name == "services" or name.startswith("services.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    code, err = run_cli("up")
    assert "services" not in sys.modules
    assert (code, err) == (
        1,
        "motiflens: error: the stack exited with status 1 (the launcher's messages are above)\n",
    )
