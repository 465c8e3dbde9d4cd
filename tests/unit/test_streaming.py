"""services.interpreter.streaming: the one-ahead worker and the re-cutting of passes into chunks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from motiflens.errors import CancelledError
from services.interpreter.streaming import ahead, rechunk


def test_rechunk_cuts_passes_into_chunks_keeping_maps_aligned():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(516, 3, 4)).astype(np.float32)
    hypothetical = -scores
    sizes = [233, 233, 50]  # passes of a 233-row model, the last one short
    edges = np.cumsum([0, *sizes])
    blocks = [[scores[a:b], hypothetical[a:b]] for a, b in zip(edges[:-1], edges[1:], strict=True)]
    pieces = list(rechunk(iter(blocks), 64))
    assert [offset for offset, _ in pieces] == list(range(0, 516, 64))
    assert [len(maps[0]) for _, maps in pieces] == [64] * 8 + [4]
    np.testing.assert_array_equal(np.concatenate([maps[0] for _, maps in pieces]), scores)
    np.testing.assert_array_equal(np.concatenate([maps[1] for _, maps in pieces]), hypothetical)


def test_rechunk_passes_chunk_sized_blocks_through_and_handles_one_short_block():
    blocks = [[np.arange(10)], [np.arange(10, 20)], [np.arange(20, 23)]]
    pieces = list(rechunk(iter(blocks), 10))
    assert [(offset, maps[0].tolist()) for offset, maps in pieces] == [
        (0, list(range(10))),
        (10, list(range(10, 20))),
        (20, [20, 21, 22]),
    ]
    assert list(rechunk(iter([[np.arange(3)]]), 64))[0][0] == 0
    assert list(rechunk(iter([]), 8)) == []


def test_ahead_computes_the_next_item_while_the_current_one_is_used():
    started = [threading.Event() for _ in range(3)]

    def items():
        for index in range(3):
            started[index].set()
            yield index

    stream = ahead(items(), lambda: False, name="test-ahead")
    assert next(stream) == 0
    # Item 1 is produced while the consumer still holds item 0 (no timing: an event).
    assert started[1].wait(timeout=60)
    assert list(stream) == [1, 2]


def test_ahead_raises_the_workers_error_after_the_items_before_it():
    def items():
        yield "a"
        raise ValueError("pass 2 failed")

    stream = ahead(items(), lambda: False, name="test-ahead")
    assert next(stream) == "a"
    with pytest.raises(ValueError, match="pass 2 failed"):
        next(stream)


def test_closing_the_stream_ends_the_worker_and_closes_its_items():
    closed = threading.Event()

    def items():
        try:
            yield from range(1000)
        finally:
            closed.set()

    before = threading.active_count()
    stream = ahead(items(), lambda: False, name="test-ahead")
    assert next(stream) == 0
    stream.close()
    assert closed.is_set()  # close() joined the worker, which closed its generator
    assert threading.active_count() == before


def test_a_gone_caller_ends_the_worker_even_if_nobody_reads():
    gone = threading.Event()
    finished = threading.Event()

    def items():
        try:
            yield from range(1000)
        finally:
            finished.set()

    stream = ahead(items(), gone.is_set, name="test-ahead")
    assert next(stream) == 0
    gone.set()  # the worker holds item 2 waiting for a free slot; it sees the caller gone and ends
    assert finished.wait(timeout=60)
    assert next(stream) == 1  # handed over before the caller left
    with pytest.raises(CancelledError, match="the caller left"):
        next(stream)  # nothing more comes: a read ends instead of waiting forever
