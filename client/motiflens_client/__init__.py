"""motiflens client: the generated protobuf API (``motiflens_client.api``) and, later, the SDK and CLI.

Depends on grpcio, protobuf and numpy only; no TensorFlow.
"""

__version__ = "0.1.0"
