"""One import for the generated motiflens.v1 messages and stubs.

``from motiflens_client.api import pb, trainer_pb2_grpc`` etc. — kept for existing callers;
the home of these names is :mod:`motiflens_client.wire` (``wire.pb``, ``wire.tensors``,
``wire.vocabulary``).
"""

from motiflens_client.wire import pb
from motiflens_client.wire.pb import (
    common_pb2,
    interpreter_pb2,
    interpreter_pb2_grpc,
    motifmatch_pb2,
    motifmatch_pb2_grpc,
    trainer_pb2,
    trainer_pb2_grpc,
)
from motiflens_client.wire.tensors import DTYPE_BY_NUMPY, NUMPY_BY_DTYPE
from motiflens_client.wire.vocabulary import DISTANCE_BY_NAME, DISTANCE_NAMES

__all__ = [
    "pb",
    "DISTANCE_NAMES",
    "DISTANCE_BY_NAME",
    "NUMPY_BY_DTYPE",
    "DTYPE_BY_NUMPY",
    "common_pb2",
    "trainer_pb2",
    "trainer_pb2_grpc",
    "interpreter_pb2",
    "interpreter_pb2_grpc",
    "motifmatch_pb2",
    "motifmatch_pb2_grpc",
]
