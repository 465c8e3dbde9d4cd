"""One import for the generated motiflens.v1 messages and stubs.

``from motiflens_client.api import pb, trainer_grpc`` etc. — ``pb`` merges the
message modules so that code does not need to know which .proto defines a message.
"""

from types import SimpleNamespace

import numpy as np

from motiflens_client._proto.motiflens.v1 import (
    common_pb2,
    interpreter_pb2,
    interpreter_pb2_grpc,
    motifmatch_pb2,
    motifmatch_pb2_grpc,
    trainer_pb2,
    trainer_pb2_grpc,
)


def _merge(*modules) -> SimpleNamespace:
    names = {}
    for module in modules:
        for name in module.DESCRIPTOR.message_types_by_name:
            names[name] = getattr(module, name)
        for name in module.DESCRIPTOR.enum_types_by_name:
            names[name] = getattr(module, name)
    return SimpleNamespace(**names)


#: Every motiflens.v1 message and enum by name, e.g. ``pb.TrainRequest``.
pb = _merge(common_pb2, trainer_pb2, interpreter_pb2, motifmatch_pb2)

#: Wire format of ``Tensor.data``: proto DType -> little-endian numpy dtype.
NUMPY_BY_DTYPE: dict[int, np.dtype] = {
    common_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    common_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
    common_pb2.DTYPE_INT32: np.dtype("<i4"),
    common_pb2.DTYPE_INT64: np.dtype("<i8"),
    common_pb2.DTYPE_INT8: np.dtype("i1"),
    common_pb2.DTYPE_UINT8: np.dtype("u1"),
}
#: Native-order numpy dtype -> proto DType (the inverse of :data:`NUMPY_BY_DTYPE`).
DTYPE_BY_NUMPY: dict[np.dtype, int] = {
    dtype.newbyteorder("="): code for code, dtype in NUMPY_BY_DTYPE.items()
}

#: Tomtom distance on the wire -> MEME's ``-dist`` name (UNSPECIFIED means "ed").
DISTANCE_NAMES: dict[int, str] = {
    motifmatch_pb2.DISTANCE_UNSPECIFIED: "ed",
    motifmatch_pb2.DISTANCE_EUCLIDEAN: "ed",
    motifmatch_pb2.DISTANCE_PEARSON: "pearson",
}
#: MEME's ``-dist`` name -> Tomtom distance on the wire.
DISTANCE_BY_NAME: dict[str, int] = {
    "ed": motifmatch_pb2.DISTANCE_EUCLIDEAN,
    "pearson": motifmatch_pb2.DISTANCE_PEARSON,
}

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
