"""Every motiflens.v1 message and enum by name, plus the gRPC stub modules.

``from motiflens_client.wire import pb`` then ``pb.TrainRequest``, ``pb.Split.Value(...)``:
code need not know which .proto defines a message. A real module (star imports of the
generated ``_pb2`` modules, which ship ``.pyi`` stubs), so type checkers see the types.
"""

# ruff: noqa: F401, F403
from motiflens_client._proto.motiflens.v1 import (
    common_pb2,
    interpreter_pb2,
    interpreter_pb2_grpc,
    motifmatch_pb2,
    motifmatch_pb2_grpc,
    trainer_pb2,
    trainer_pb2_grpc,
)
from motiflens_client._proto.motiflens.v1.common_pb2 import *
from motiflens_client._proto.motiflens.v1.interpreter_pb2 import *
from motiflens_client._proto.motiflens.v1.motifmatch_pb2 import *
from motiflens_client._proto.motiflens.v1.trainer_pb2 import *
