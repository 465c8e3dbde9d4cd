"""Seeded fuzz of Tensor messages: decoding gives an array or InvalidInputError, nothing else.

Shapes mix ordinary extents with 0, huge ones (2^31, 2^62), negative ones and ranks
up to 80; the data is random bytes of random length; the dtype is any wire value,
known or not. Whatever arrives, ``tensor_to_array`` must answer with the error a
client can act on and must never allocate from the declared shape alone.
"""

from __future__ import annotations

import resource

import numpy as np
from motiflens_client.api import pb

from motiflens.errors import InvalidInputError
from services.common.convert import tensor_to_array

CASES = 4000
EXTENTS = (0, 1, 2, 4, 7, 200, 2**31, 2**62, -1, 2**63 - 1)


def _random_tensor(rng: np.random.Generator) -> pb.Tensor:
    rank = int(rng.choice([0, 1, 2, 3, 3, 3, 4, 65, 80]))
    shape = [int(rng.choice(EXTENTS)) for _ in range(rank)]
    if rng.random() < 0.5 and rank:
        shape = [int(rng.integers(0, 6)) for _ in range(rank)]  # plausible, may match the data
    length = int(rng.choice([0, 4, 16, 64, int(np.prod(np.clip(shape, 0, 8))) * 4 if shape else 4]))
    data = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
    return pb.Tensor(dtype=int(rng.integers(0, 12)), shape=shape, data=data)


def test_fuzzed_tensors_decode_or_raise_invalid_input():
    rng = np.random.default_rng(1201)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    decoded = refused = 0
    for _ in range(CASES):
        tensor = _random_tensor(rng)
        for kwargs in ({}, {"dtypes": (np.float32,), "ndim": 3, "finite": True}):
            try:
                array = tensor_to_array(tensor, field="x", **kwargs)
            except InvalidInputError as error:
                assert str(error).startswith("x."), str(error)
                refused += 1
                continue
            assert array.nbytes == len(tensor.data)
            decoded += 1
    assert decoded > 100 and refused > 1000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 256 * 1024


def test_fuzzed_tensors_decode_or_raise_wire_error_in_the_wire_codec():
    # The one codec both sides share (motiflens_client.wire.tensors): same contract, WireError
    # with the field path as an attribute instead of a message to re-parse.
    from motiflens_client.wire import WireError
    from motiflens_client.wire.tensors import tensor_to_array as wire_tensor_to_array

    rng = np.random.default_rng(1202)
    decoded = refused = 0
    for _ in range(CASES):
        tensor = _random_tensor(rng)
        for kwargs in ({}, {"dtypes": (np.float32,), "ndim": 3, "finite": True}):
            try:
                array = wire_tensor_to_array(tensor, field="x", **kwargs)
            except WireError as error:
                assert error.field.startswith("x.") and str(error).startswith(error.field + ": ")
                refused += 1
                continue
            assert array.nbytes == len(tensor.data)
            decoded += 1
    assert decoded > 100 and refused > 1000
