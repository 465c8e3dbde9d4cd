"""TF Serving Predict treats the declared shape as a claim to check, never as an allocation.

Tiny requests that declare huge tensors (one value broadcast to millions of rows, a
string tensor of millions of entries) are refused before anything is allocated;
NaN, infinities and out-of-range one-hot values are INVALID_ARGUMENT; TF's own
"one value fills the tensor" rule still works for shapes within the limits.
"""

from __future__ import annotations

import resource

import grpc
import numpy as np
import pytest
import tensorflow as tf
from helpers import make_settings, rpc_error, running_server
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from motiflens.models import build_model
from services.common.budget import MemoryBudget
from services.common.store import open_store
from services.interpreter.app import SERVICE_NAMES, build_register
from services.trainer.datasets import create_synthetic
from tests.service.test_interpreter import store_model

pytestmark = pytest.mark.timeout(300)
Code = grpc.StatusCode


@pytest.fixture(scope="module")
def serving(tmp_path_factory):
    store = open_store(f"file://{tmp_path_factory.mktemp('store')}")
    info = create_synthetic(store, "task3", num_sequences=300, seed=4)
    model = build_model(architecture="cnn_local", input_length=200, num_outputs=1, activation="exponential")
    model_id = store_model(store, model, info.dataset_id)
    register = build_register(store, None, budget=MemoryBudget(32 * 1024 * 1024, wait_seconds=0.1))
    with running_server(
        register, service_name=SERVICE_NAMES, settings=make_settings("interpreter"), store=store
    ) as running:
        yield prediction_service_pb2_grpc.PredictionServiceStub(running.channel()), model_id, model


def _request(model_id: str, name: str, proto: tensor_pb2.TensorProto) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_id
    request.inputs[name].CopyFrom(proto)
    return request


def _tensor(dtype: int, shape: list[int], **values) -> tensor_pb2.TensorProto:
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    return tensor_pb2.TensorProto(
        dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), **values
    )


def test_tiny_requests_declaring_huge_tensors_are_refused_before_allocating(serving):
    stub, model_id, _ = serving
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cases = [
        # 267 bytes that used to broadcast to ~9.6 GB of strings.
        ("dna", _tensor(types_pb2.DT_STRING, [3_000_000], string_val=[b"A" * 200]), "at most 10000 per call"),
        ("dna", _tensor(types_pb2.DT_STRING, [5], string_val=[b"A" * 200]), "1 strings for shape [5]"),
        # 81 bytes that used to broadcast to 6.4 GB of floats.
        ("sequence", _tensor(types_pb2.DT_FLOAT, [2_000_000, 200, 4], float_val=[0.25]), "at most 10000"),
        ("sequence", _tensor(types_pb2.DT_FLOAT, [0, 2**62, 4], float_val=[0.25]), "expected (N, 200, 4)"),
        ("sequence", _tensor(types_pb2.DT_FLOAT, [1] * 70, float_val=[0.25]), "70 axes"),
        ("sequence", _tensor(types_pb2.DT_FLOAT, [2, 200, 4], float_val=[0.25, 0.5]), "2 values for shape"),
        (
            "sequence",
            _tensor(types_pb2.DT_FLOAT, [2, 200, 4], tensor_content=b"\0" * 12),
            "expected 6400 bytes",
        ),
        ("sequence", _tensor(types_pb2.DT_STRING, [2, 200, 4]), "expected DT_FLOAT or DT_DOUBLE"),
    ]
    for name, proto, expected in cases:
        error = rpc_error(stub.Predict, _request(model_id, name, proto), timeout=60)
        assert error.code() == Code.INVALID_ARGUMENT, (expected, error.details())
        assert expected in error.details()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200 * 1024  # KiB


def test_requests_over_the_memory_budget_are_resource_exhausted(serving):
    stub, model_id, _ = serving
    # 9,000 x 200 x 4 float32, declared by one value: 58 MB of input alone against a 32 MiB budget.
    error = rpc_error(
        stub.Predict,
        _request(model_id, "sequence", _tensor(types_pb2.DT_FLOAT, [9000, 200, 4], float_val=[0.25])),
        timeout=60,
    )
    assert error.code() == Code.RESOURCE_EXHAUSTED
    assert "limit per request is 32.0 MiB" in error.details()


@pytest.mark.parametrize("value", [np.nan, np.inf, -1.0, 3e38])
def test_non_finite_and_out_of_range_one_hot_values_are_invalid(serving, value):
    stub, model_id, _ = serving
    X = np.eye(4, dtype=np.float32)[np.zeros((2, 200), int)]
    X[1, 3, 2] = value
    error = rpc_error(stub.Predict, _request(model_id, "sequence", tf.make_tensor_proto(X)), timeout=60)
    assert error.code() == Code.INVALID_ARGUMENT
    assert "inputs['sequence']: expected one-hot values in [0, 1]" in error.details()


def test_one_value_fills_the_tensor_as_in_tf_serving(serving):
    stub, model_id, model = serving
    reply = stub.Predict(
        _request(model_id, "sequence", _tensor(types_pb2.DT_FLOAT, [3, 200, 4], float_val=[0.25])), timeout=60
    )
    expected = model.predict(np.full((3, 200, 4), 0.25, np.float32), verbose=0)
    np.testing.assert_allclose(
        tf.make_ndarray(reply.outputs["probabilities"]), expected, rtol=1e-4, atol=1e-6
    )
    strings = _tensor(types_pb2.DT_STRING, [2], string_val=[b"ACGT" * 50, b"TTGA" * 50])
    assert tf.make_ndarray(
        stub.Predict(_request(model_id, "dna", strings), timeout=60).outputs["logits"]
    ).shape == (
        2,
        1,
    )
    bad = _tensor(types_pb2.DT_STRING, [1], string_val=[b"\xff" * 200])
    error = rpc_error(stub.Predict, _request(model_id, "dna", bad), timeout=60)
    assert error.code() == Code.INVALID_ARGUMENT and "ASCII DNA" in error.details()
