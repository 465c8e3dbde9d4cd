"""Job-changed notices from the trainer's worker processes to the trainer: Unix datagrams.

A worker announces each store write (an epoch, the final record) so that open
WatchJob streams look at once instead of at their next poll. A notice is only a
shortcut: a lost one delays a stream by at most ``poll_seconds``.

Why not a ``multiprocessing.Queue``: its writers share one cross-process lock. A
worker killed while holding it (SIGKILL, the OOM killer) leaves it held for ever;
every later notice then waits for ever, and so does the trainer's exit, which joins
the queue's feeder thread. A datagram is sent whole or not at all, by a
non-blocking ``sendto`` that takes no lock, so a killed worker can wedge nothing.

On Linux the socket lives in the abstract namespace (no file, nothing to clean
up); elsewhere it is a file in a private temporary folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import uuid

#: Longest notice accepted, bytes (a job id is 36).
MAX_NOTICE_BYTES = 256

_sender: socket.socket | None = None


class NoticeListener:
    """The trainer's end: a datagram socket that workers send job ids to.

    Parameters
    ----------
    timeout : float
        Longest wait of :meth:`receive`, seconds (how soon a closing listener's
        thread notices).
    """

    def __init__(self, timeout: float = 0.5) -> None:
        self._directory: str | None = None
        if sys.platform.startswith("linux"):
            self.address = f"\0motiflens-notices-{os.getpid()}-{uuid.uuid4().hex}"
        else:
            self._directory = tempfile.mkdtemp(prefix="motiflens-notices-")
            self.address = os.path.join(self._directory, "socket")
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(self.address)
        self._socket.settimeout(timeout)

    def receive(self) -> str | None:
        """The next notice's job id, or None when none came within the timeout (or closed)."""
        try:
            data = self._socket.recv(MAX_NOTICE_BYTES)
        except (TimeoutError, OSError):
            return None
        return data.decode("ascii", "replace")

    def close(self) -> None:
        """Stop listening; later notices are dropped by their senders."""
        self._socket.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)


def announce(address: str, job_id: str) -> None:
    """Send ``job_id`` to the listener at ``address``; never blocks, never raises.

    A full socket buffer, a closed listener or any other failure drops the notice.
    """
    global _sender
    try:
        if _sender is None:
            _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.sendto(job_id.encode("ascii", "replace")[:MAX_NOTICE_BYTES], socket.MSG_DONTWAIT, address)
    except OSError:
        pass
