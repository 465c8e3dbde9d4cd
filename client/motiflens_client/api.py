"""One import for the generated motiflens.v1 messages and stubs.

``from motiflens_client.api import pb, trainer_grpc`` etc. — ``pb`` merges the
message modules so that code does not need to know which .proto defines a message.
"""

from types import SimpleNamespace

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

__all__ = [
    "pb",
    "common_pb2",
    "trainer_pb2",
    "trainer_pb2_grpc",
    "interpreter_pb2",
    "interpreter_pb2_grpc",
    "motifmatch_pb2",
    "motifmatch_pb2_grpc",
]
