"""TensorFlow Serving's ``tensorflow.serving.PredictionService`` for motiflens models.

Existing TF Serving clients (``prediction_service_pb2_grpc.PredictionServiceStub``)
can call trained models by id:

- ``model_spec.name`` = the motiflens model id (``model-...``); ``model_spec.version``
  is ignored (artifacts are immutable, each id has one version, reported as 1);
  ``signature_name`` must be empty or ``serving_default``.
- Inputs: ``sequence`` — one-hot DNA, float, shape (N, L, 4), A, C, G, T — or
  ``dna`` — a string tensor of N DNA strings.
- Outputs: ``probabilities`` (N, T) float32 sigmoid outputs and ``logits`` (N, T);
  ``output_filter`` selects a subset.

GetModelMetadata returns the ``signature_def`` metadata (a SignatureDefMap) with
that signature. Errors use the same status codes as the motiflens services.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from motiflens.errors import InvalidInputError
from motiflens.sequences import one_hot
from services.interpreter.model_cache import LoadedModel, ModelCache

SIGNATURE = "serving_default"
INPUT_ONE_HOT = "sequence"
INPUT_STRINGS = "dna"
OUTPUTS = ("probabilities", "logits")


def _shape(*dims: int) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )


def signature_def(loaded: LoadedModel) -> meta_graph_pb2.SignatureDef:
    """The predict signature of a motiflens model."""
    length, outputs = loaded.input_length, loaded.num_outputs
    signature = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    signature.inputs[INPUT_ONE_HOT].CopyFrom(
        meta_graph_pb2.TensorInfo(
            name=f"{INPUT_ONE_HOT}:0", dtype=types_pb2.DT_FLOAT, tensor_shape=_shape(-1, length, 4)
        )
    )
    signature.inputs[INPUT_STRINGS].CopyFrom(
        meta_graph_pb2.TensorInfo(
            name=f"{INPUT_STRINGS}:0", dtype=types_pb2.DT_STRING, tensor_shape=_shape(-1)
        )
    )
    for name in OUTPUTS:
        signature.outputs[name].CopyFrom(
            meta_graph_pb2.TensorInfo(
                name=f"{name}:0", dtype=types_pb2.DT_FLOAT, tensor_shape=_shape(-1, outputs)
            )
        )
    return signature


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over the interpreter's model cache.

    Parameters
    ----------
    models : ModelCache
    max_sequences : int
        Largest batch accepted in one Predict call.
    """

    def __init__(self, models: ModelCache, *, max_sequences: int = 10_000):
        self.models = models
        self.max_sequences = max_sequences

    def _model(self, model_spec) -> LoadedModel:
        if model_spec.signature_name not in ("", SIGNATURE):
            raise InvalidInputError(
                f"model_spec.signature_name: unknown signature {model_spec.signature_name!r}; "
                f"accepted: '{SIGNATURE}' (or empty)"
            )
        return self.models.get(model_spec.name, field_name="model_spec.name")

    def _inputs(self, request, loaded: LoadedModel) -> np.ndarray:
        keys = set(request.inputs)
        if keys not in ({INPUT_ONE_HOT}, {INPUT_STRINGS}):
            raise InvalidInputError(
                f"inputs: expected exactly one of '{INPUT_ONE_HOT}' (one-hot float (N, L, 4)) or "
                f"'{INPUT_STRINGS}' (N DNA strings); got {sorted(keys) or 'none'}"
            )
        try:
            array = tf.make_ndarray(request.inputs[keys.pop()])
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"inputs: not a valid TensorProto ({exc})") from None
        if INPUT_STRINGS in request.inputs:
            sequences = [item.decode("ascii", "replace") for item in np.ravel(array)]
            X = one_hot(sequences)
            name = INPUT_STRINGS
        else:
            if array.dtype.kind != "f":
                raise InvalidInputError(
                    f"inputs['{INPUT_ONE_HOT}']: expected a float tensor, got {array.dtype}"
                )
            X = array.astype(np.float32)
            name = INPUT_ONE_HOT
        if X.ndim != 3 or X.shape[2] != 4:
            raise InvalidInputError(f"inputs['{name}']: expected shape (N, L, 4), got {X.shape}")
        if X.shape[0] == 0:
            raise InvalidInputError(f"inputs['{name}']: empty batch; expected at least one sequence")
        if X.shape[0] > self.max_sequences:
            raise InvalidInputError(
                f"inputs['{name}']: {X.shape[0]} sequences; at most {self.max_sequences} per call"
            )
        if X.shape[1] != loaded.input_length:
            raise InvalidInputError(
                f"inputs['{name}']: model {loaded.model_id} takes sequences of {loaded.input_length} nt, "
                f"got {X.shape[1]}"
            )
        return X

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        """Run the model on the request's sequences."""
        loaded = self._model(request.model_spec)
        X = self._inputs(request, loaded)
        wanted = list(request.output_filter) or list(OUTPUTS)
        unknown = set(wanted) - set(OUTPUTS)
        if unknown:
            raise InvalidInputError(
                f"output_filter: unknown outputs {sorted(unknown)}; accepted: {', '.join(OUTPUTS)}"
            )
        response = predict_pb2.PredictResponse()
        response.model_spec.name = loaded.model_id
        response.model_spec.version.value = 1
        response.model_spec.signature_name = SIGNATURE
        with loaded.lock:
            logits = np.asarray(loaded.logits.predict(X, batch_size=256, verbose=0), np.float32)
        values = {"logits": logits, "probabilities": (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)}
        for name in wanted:
            response.outputs[name].CopyFrom(tf.make_tensor_proto(values[name]))
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802 (gRPC method name)
        """The model's signature_def metadata."""
        loaded = self._model(request.model_spec)
        fields = list(request.metadata_field) or ["signature_def"]
        if fields != ["signature_def"]:
            raise InvalidInputError(
                f"metadata_field: only 'signature_def' is available, got {list(request.metadata_field)}"
            )
        signatures = get_model_metadata_pb2.SignatureDefMap()
        signatures.signature_def[SIGNATURE].CopyFrom(signature_def(loaded))
        packed = any_pb2.Any()
        packed.Pack(signatures)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = loaded.model_id
        response.model_spec.version.value = 1
        response.metadata["signature_def"].CopyFrom(packed)
        return response
