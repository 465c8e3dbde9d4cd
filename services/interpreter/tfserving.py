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

import math

import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from motiflens.errors import InvalidInputError
from motiflens.sequences import one_hot
from services.common.budget import MemoryBudget
from services.common.config import DEFAULT_MEMORY_BUDGET_MB
from services.common.server import caller_gone
from services.interpreter.model_cache import LoadedModel, ModelCache
from services.interpreter.requests import holding

SIGNATURE = "serving_default"
#: Input dtypes accepted for the one-hot input.
FLOAT_DTYPES: dict[int, np.dtype] = {
    types_pb2.DT_FLOAT: np.dtype("<f4"),
    types_pb2.DT_DOUBLE: np.dtype("<f8"),
}
#: Most axes a declared input shape may have (the inputs have 1 or 3).
MAX_RANK = 8
INPUT_ONE_HOT = "sequence"
INPUT_STRINGS = "dna"
OUTPUTS = ("probabilities", "logits")
#: Output name of each output kind (:meth:`LoadedModel.output_kinds`).
OUTPUT_OF_KIND = {"probability": "probabilities", "logit": "logits"}


def model_outputs(loaded: LoadedModel) -> list[str]:
    """The TF Serving output names this model has (zoo models: both)."""
    return [OUTPUT_OF_KIND[kind] for kind in loaded.output_kinds()]


def _declared_shape(proto, field: str) -> tuple[int, ...]:
    """The TensorProto's shape, checked: known rank, at most :data:`MAX_RANK` axes, extents >= 0."""
    if proto.tensor_shape.unknown_rank:
        raise InvalidInputError(
            f"{field}.tensor_shape: unknown rank; expected (N, L, 4) or (N,)", field=f"{field}.tensor_shape"
        )
    dims = tuple(int(dim.size) for dim in proto.tensor_shape.dim)
    if len(dims) > MAX_RANK:
        raise InvalidInputError(
            f"{field}.tensor_shape: {len(dims)} axes; expected (N, L, 4) or (N,)",
            field=f"{field}.tensor_shape",
        )
    if any(size < 0 for size in dims):
        raise InvalidInputError(
            f"{field}.tensor_shape: expected extents >= 0, got {list(dims)}", field=f"{field}.tensor_shape"
        )
    return dims


def _predict_bytes(rows: int, loaded: LoadedModel) -> int:
    """Memory a Predict of ``rows`` sequences needs: the float32 input twice (decoded, batched), outputs."""
    return rows * (loaded.input_length * 4 * 4 * 2 + loaded.num_outputs * 4 * 3)


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
    for name in model_outputs(loaded):
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
    budget : MemoryBudget, optional
        The interpreter's memory budget; a call reserves its input and output arrays.
    """

    def __init__(
        self, models: ModelCache, *, max_sequences: int = 10_000, budget: MemoryBudget | None = None
    ):
        self.models = models
        self.max_sequences = max_sequences
        self.budget = budget or MemoryBudget(DEFAULT_MEMORY_BUDGET_MB["interpreter"] * 1024 * 1024)

    def _model(self, model_spec) -> LoadedModel:
        if model_spec.signature_name not in ("", SIGNATURE):
            raise InvalidInputError(
                f"model_spec.signature_name: unknown signature {model_spec.signature_name!r}; "
                f"accepted: '{SIGNATURE}' (or empty)",
                field="model_spec.signature_name",
            )
        return self.models.get(model_spec.name, field_name="model_spec.name")

    def _inputs(self, request, loaded: LoadedModel) -> np.ndarray:
        keys = set(request.inputs)
        if keys not in ({INPUT_ONE_HOT}, {INPUT_STRINGS}):
            raise InvalidInputError(
                f"inputs: expected exactly one of '{INPUT_ONE_HOT}' (one-hot float (N, L, 4)) or "
                f"'{INPUT_STRINGS}' (N DNA strings); got {sorted(keys) or 'none'}",
                field="inputs",
            )
        name = keys.pop()
        proto = request.inputs[name]
        field = f"inputs['{name}']"
        shape = _declared_shape(proto, field)
        if name == INPUT_STRINGS:
            X = self._strings_input(proto, shape, field, loaded)
        else:
            X = self._one_hot_input(proto, shape, field, loaded)
        if X.ndim != 3 or X.shape[2] != 4:
            raise InvalidInputError(f"{field}: expected shape (N, L, 4), got {X.shape}", field=field)
        if X.shape[0] == 0:
            raise InvalidInputError(f"{field}: empty batch; expected at least one sequence", field=field)
        if X.shape[0] > self.max_sequences:
            raise InvalidInputError(
                f"{field}: {X.shape[0]} sequences; at most {self.max_sequences} per call",
                field=field,
            )
        if X.shape[1] != loaded.input_length:
            raise InvalidInputError(
                f"{field}: model {loaded.model_id} takes sequences of {loaded.input_length} nt, "
                f"got {X.shape[1]}",
                field=field,
            )
        return X

    def _check_batch(self, rows: int, field: str) -> None:
        if rows == 0:
            raise InvalidInputError(f"{field}: empty batch; expected at least one sequence", field=field)
        if rows > self.max_sequences:
            raise InvalidInputError(
                f"{field}: {rows} sequences; at most {self.max_sequences} per call", field=field
            )

    def _one_hot_input(self, proto, shape: tuple[int, ...], field: str, loaded: LoadedModel) -> np.ndarray:
        """A (N, L, 4) float input, checked against its declared shape before anything is allocated."""
        if proto.dtype not in FLOAT_DTYPES:
            raise InvalidInputError(
                f"{field}.dtype: expected DT_FLOAT or DT_DOUBLE, got {types_pb2.DataType.Name(proto.dtype)}"
                if proto.dtype in types_pb2.DataType.values()
                else f"{field}.dtype: expected DT_FLOAT or DT_DOUBLE, got {proto.dtype}",
                field=f"{field}.dtype",
            )
        if len(shape) != 3 or shape[2] != 4 or shape[1] != loaded.input_length:
            raise InvalidInputError(
                f"{field}.tensor_shape: expected (N, {loaded.input_length}, 4) for model "
                f"{loaded.model_id}, got {list(shape)}",
                field=f"{field}.tensor_shape",
            )
        self._check_batch(shape[0], field)
        self.budget.check(_predict_bytes(shape[0], loaded), field)
        dtype = FLOAT_DTYPES[proto.dtype]
        count = math.prod(shape)
        if proto.tensor_content:
            if len(proto.tensor_content) != count * dtype.itemsize:
                raise InvalidInputError(
                    f"{field}.tensor_content: expected {count * dtype.itemsize} bytes for shape "
                    f"{list(shape)}, got {len(proto.tensor_content)}",
                    field=f"{field}.tensor_content",
                )
            values = np.frombuffer(proto.tensor_content, dtype=dtype)
        else:
            listed = proto.float_val if proto.dtype == types_pb2.DT_FLOAT else proto.double_val
            # TF fills a tensor from a single value; anything else must give every value.
            if len(listed) not in (1, count):
                raise InvalidInputError(
                    f"{field}: {len(listed)} values for shape {list(shape)}; expected {count} (or 1 to fill)",
                    field=field,
                )
            values = np.asarray(listed, dtype=dtype)
        if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            raise InvalidInputError(
                f"{field}: expected one-hot values in [0, 1]; got NaN, infinity or out of range",
                field=field,
            )
        return np.broadcast_to(values.astype(np.float32), count).reshape(shape).copy()

    def _strings_input(self, proto, shape: tuple[int, ...], field: str, loaded: LoadedModel) -> np.ndarray:
        """N DNA strings, counted and measured before any is decoded."""
        if proto.dtype != types_pb2.DT_STRING:
            raise InvalidInputError(f"{field}.dtype: expected DT_STRING", field=f"{field}.dtype")
        if len(shape) != 1:
            raise InvalidInputError(
                f"{field}.tensor_shape: expected (N,), got {list(shape)}", field=f"{field}.tensor_shape"
            )
        self._check_batch(shape[0], field)
        if len(proto.string_val) != shape[0]:
            raise InvalidInputError(
                f"{field}: {len(proto.string_val)} strings for shape {list(shape)}; expected {shape[0]}",
                field=field,
            )
        for index, item in enumerate(proto.string_val):
            if len(item) != loaded.input_length:
                raise InvalidInputError(
                    f"{field}[{index}]: model {loaded.model_id} takes sequences of {loaded.input_length} nt, "
                    f"got {len(item)}",
                    field=f"{field}[{index}]",
                )
        self.budget.check(_predict_bytes(shape[0], loaded), field)
        try:
            sequences = [item.decode("ascii") for item in proto.string_val]
        except UnicodeDecodeError:
            raise InvalidInputError(f"{field}: expected ASCII DNA (A, C, G, T, N)", field=field) from None
        try:
            return one_hot(sequences)
        except InvalidInputError as exc:
            # The core names the batch "sequences"; re-anchor message and field on the request's.
            where = f"{field}{(exc.field or 'sequences').removeprefix('sequences')}"
            raise InvalidInputError(f"{field}{str(exc).removeprefix('sequences')}", field=where) from None

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        """Run the model on the request's sequences."""
        loaded = self._model(request.model_spec)
        X = self._inputs(request, loaded)
        available = model_outputs(loaded)
        wanted = list(request.output_filter) or available
        unknown = set(wanted) - set(available)
        if unknown:
            raise InvalidInputError(
                f"output_filter: unknown outputs {sorted(unknown)} for this model; "
                f"accepted: {', '.join(available)}",
                field="output_filter",
            )
        response = predict_pb2.PredictResponse()
        response.model_spec.name = loaded.model_id
        response.model_spec.version.value = 1
        response.model_spec.signature_name = SIGNATURE
        stop = caller_gone(context)
        with (
            self.budget.reserve(_predict_bytes(len(X), loaded), "inputs"),
            holding(loaded.lock, stop, "Predict"),
        ):
            # Batch after batch, stopping once the caller has gone (CancelledError).
            computed = loaded.predict_all(X, stop)
        values = {OUTPUT_OF_KIND[kind]: array for kind, array in computed.items()}
        for name in wanted:
            response.outputs[name].CopyFrom(tf.make_tensor_proto(values[name]))
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802 (gRPC method name)
        """The model's signature_def metadata."""
        loaded = self._model(request.model_spec)
        fields = list(request.metadata_field) or ["signature_def"]
        if fields != ["signature_def"]:
            raise InvalidInputError(
                f"metadata_field: only 'signature_def' is available, got {list(request.metadata_field)}",
                field="metadata_field",
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
