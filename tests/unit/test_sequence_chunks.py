"""Requests decoded a chunk at a time (services.common.convert.sequence_chunks).

A streaming call (Attribute, ScanFilters) checks the whole request before it answers, then
one-hot encodes only the rows of the chunk it works on: its memory follows the chunk size, not
the request's N. Equality with the whole-request decoder and the checks' errors are tested
here; tracemalloc measures what checking and slicing allocate.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from motiflens_client.wire import pb
from motiflens_client.wire import sequences as wire_sequences

from motiflens.errors import InvalidInputError
from services.common.convert import array_to_tensor, sequence_chunks, sequences_to_onehot

RNG = np.random.default_rng(7)


def _strings(n: int, length: int) -> list[str]:
    letters = np.array(list("ACGTNacgtn"))
    return ["".join(row) for row in letters[RNG.integers(0, 10, size=(n, length))]]


def _message(strings: list[str]) -> pb.Sequences:
    return pb.Sequences(strings=pb.SequenceList(sequences=strings))


@pytest.mark.parametrize("chunk", [1, 7, 64, 500])
def test_chunks_equal_the_whole_request_decoded_at_once(chunk):
    strings = _strings(300, 50)
    message = _message(strings)
    whole = sequences_to_onehot(message, field="sequences", length=50)
    chunks = sequence_chunks(message, field="sequences", length=50)
    assert len(chunks) == 300
    pieces = [chunks[start : start + chunk] for start in range(0, len(chunks), chunk)]
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    assert all(piece.dtype == np.float32 for piece in pieces)
    tensor = pb.Sequences(one_hot=array_to_tensor(whole))
    viewed = sequence_chunks(tensor, field="sequences", length=50)
    np.testing.assert_array_equal(viewed[10:20], whole[10:20])


def test_a_bad_string_anywhere_is_refused_before_any_chunk_naming_its_index():
    strings = _strings(1000, 40)
    strings[987] = strings[987][:12] + "X" + strings[987][13:]
    with pytest.raises(InvalidInputError) as caught:
        sequence_chunks(_message(strings), field="sequences", length=40)
    assert caught.value.field == "sequences.strings.sequences[987]"
    assert "invalid character 'X' at position 12" in str(caught.value)
    strings[987] = "ACGT" * 9  # 36 nt
    with pytest.raises(InvalidInputError) as caught:
        sequence_chunks(_message(strings), field="sequences", length=40)
    assert caught.value.field == "sequences.strings.sequences[987]"
    assert "40 nt, got 36" in str(caught.value)


def test_non_ascii_and_empty_requests_get_the_codec_errors():
    with pytest.raises(InvalidInputError, match="invalid character 'é' at position 1"):
        sequence_chunks(_message(["AéGT"]), field="sequences", length=4)
    with pytest.raises(InvalidInputError, match="expected at least one sequence"):
        sequence_chunks(_message([]), field="sequences", length=4)


def test_checking_and_slicing_allocate_one_chunk_not_the_request():
    """20,000 sequences of 1,000 nt would be 320 MB one-hot; checking them and taking one
    chunk of 64 must allocate little more than that chunk (64 x 1000 x 4 x 4 B = 1 MB)."""
    strings = ["ACGTN" * 200] * 20_000
    message = _message(strings)
    tracemalloc.start()
    try:
        chunks = sequence_chunks(message, field="sequences", length=1000)
        first = chunks[0:64]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(chunks) == 20_000 and first.shape == (64, 1000, 4)
    chunk_bytes = 64 * 1000 * 4 * 4
    assert peak < 4 * chunk_bytes, peak  # the whole request would be 320x the chunk


def test_one_hot_values_are_checked_in_blocks_with_the_offending_position():
    X = np.zeros((600, 8, 4), dtype=np.float32)
    X[:, :, 0] = 1
    X[513, 5, 2] = np.nan
    with pytest.raises(wire_sequences.WireError, match=r"expected finite values, got nan at \(513, 5, 2\)"):
        wire_sequences.check_one_hot_values(X, field="sequences.one_hot")
    X[513, 5, 2] = 0
    X[300, 1, 3] = 1.5
    with pytest.raises(wire_sequences.WireError, match=r"in \[0, 1\], got 1.5 at \(300, 1, 3\)"):
        wire_sequences.check_one_hot_values(X, field="sequences.one_hot")
    X[300, 1, 3] = 1
    wire_sequences.check_one_hot_values(X, field="sequences.one_hot")  # valid: no error
