"""Worker -> trainer "job changed" notices (services.trainer.notices): datagrams, no shared lock."""

from __future__ import annotations

import multiprocessing
import os
import signal

from services.trainer.notices import NoticeListener, announce


def _announce_then_hang(address: str, job_id: str) -> None:
    announce(address, job_id)
    signal.pause()  # killed by the test, as the OOM killer would


def test_a_notice_from_another_process_arrives_and_a_killed_sender_wedges_nothing():
    listener = NoticeListener(timeout=0.2)
    try:
        context = multiprocessing.get_context("spawn")
        sender = context.Process(target=_announce_then_hang, args=(listener.address, "job-" + "a" * 32))
        sender.start()
        received = None
        for _ in range(300):  # the spawned interpreter needs a moment to start
            received = listener.receive()
            if received:
                break
        assert received == "job-" + "a" * 32
        os.kill(sender.pid, signal.SIGKILL)
        sender.join()
        # Other senders (here: this process) go on being heard after the kill.
        announce(listener.address, "job-" + "b" * 32)
        assert listener.receive() == "job-" + "b" * 32
        assert listener.receive() is None  # nothing pending: the timeout answers None
    finally:
        listener.close()
    # A closed listener: announcing neither blocks nor raises; receive answers None.
    announce(listener.address, "job-" + "c" * 32)
    assert listener.receive() is None
