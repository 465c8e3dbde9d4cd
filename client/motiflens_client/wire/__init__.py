"""The wire layer: generated messages (:mod:`.pb`) and the codecs both sides share.

- :mod:`.tensors` — numpy arrays <-> ``pb.Tensor`` (dtype tables, shape and NaN checks);
- :mod:`.sequences` — DNA strings / one-hot / stored-split refs <-> ``pb.Sequences``;
- :mod:`.vocabulary` — every enum <-> name table (methods, outputs, references, splits,
  tasks, job states, distances, activation labels, the port layout).

Imports only numpy, protobuf, grpc and the generated code. Errors are
:class:`WireError` (a ``ValueError`` with a ``field`` attribute); the SDK and the
services map it to their own error types.
"""

from motiflens_client.wire import pb, sequences, tensors, vocabulary
from motiflens_client.wire.errors import WireError

__all__ = ["WireError", "pb", "sequences", "tensors", "vocabulary"]
