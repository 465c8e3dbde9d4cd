"""Whether a trainer is still there: heartbeat records and pid checks.

Each live manager writes ``trainers/<manager_id>`` every ``heartbeat_seconds``
(:func:`heartbeat_record`); :func:`process_gone` tells a heartbeat whose process ran
on this host (same host name and pid namespace) and has exited. The manager's
orphan sweep (:meth:`JobManager.sweep_orphans`) asks :func:`heartbeat_gone`, which
combines them with the heartbeat's age.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Mapping

from services.common.store import utc_now


def heartbeat_record(manager_id: str, heartbeat_seconds: float, *, stopped: bool = False) -> dict:
    """The ``trainers/<manager_id>`` record of this process's manager, as of now."""
    return {
        "manager_id": manager_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_namespace": pid_namespace(),
        "heartbeat_time": time.time(),
        "heartbeat_at": utc_now(),
        "heartbeat_seconds": heartbeat_seconds,
        "stopped": stopped,
    }


def pid_namespace() -> str:
    """The pid namespace of this process ("pid:[4026531836]" on Linux, "" elsewhere)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_gone(beat: Mapping) -> bool:
    """Whether the heartbeat's process is known dead: it ran here and its pid is free.

    "Here" is the same host name and pid namespace: containers may share a host name
    while the same pid means different processes in each.
    """
    pid = beat.get("pid")
    if beat.get("host") != socket.gethostname() or beat.get("pid_namespace") != pid_namespace():
        return False
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return False  # another manager of this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def heartbeat_gone(beat: Mapping, *, default_interval: float, store_trouble_at: float) -> bool:
    """Whether the manager of heartbeat record ``beat`` is really gone.

    Gone: it marked itself stopped, its process is known dead (:func:`process_gone`),
    or its heartbeat is three intervals old while the asking manager's own store calls
    have worked for that long (``store_trouble_at``: ``time.monotonic()`` of its last
    failed store call) — a heartbeat write that failed is not a dead manager, and when
    the asker could not reach the store lately either, the owner was likely cut off
    the same way.
    """
    if beat.get("stopped", False) or process_gone(beat):
        return True
    interval = float(beat.get("heartbeat_seconds") or default_interval)
    age = time.time() - float(beat.get("heartbeat_time", 0.0))
    if not math.isfinite(age) or not math.isfinite(interval):
        return True
    if age < 3 * interval:
        return False
    return time.monotonic() - store_trouble_at >= 3 * interval
