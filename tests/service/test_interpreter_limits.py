"""InterpreterService limits over a real loopback server: bounds, memory budget, work limit, deadlines.

Every integer parameter of every RPC has a range and every float must be finite
(INVALID_ARGUMENT naming the field); one-hot input outside [0, 1] is refused; sizes
are checked from what a request declares, before it is decoded; a request that can
never fit the memory budget, or asks for too many model evaluations, is
RESOURCE_EXHAUSTED saying the limit; a call whose deadline passes stops computing
and frees the model for the next. Server reflection describes the TF Serving API.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from helpers import make_settings, rpc_error, running_server
from motiflens_client.api import interpreter_pb2_grpc, pb
from test_interpreter import store_model

from motiflens.errors import CancelledError
from motiflens.models import build_model
from motiflens.sequences import decode
from services.common.budget import MemoryBudget
from services.common.convert import array_to_tensor, tensor_to_array
from services.common.store import open_store
from services.interpreter.app import SERVICE_NAMES, build_register
from services.interpreter.model_cache import ModelCache
from services.trainer.datasets import create_synthetic, load_dataset

pytestmark = pytest.mark.timeout(600)
CODE = grpc.StatusCode
METHOD = pb.AttributionMethod.Value
EYE = np.eye(4, dtype=np.float32)
INTEGRATED_GRADIENTS = METHOD("ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS")
SALIENCY = METHOD("ATTRIBUTION_METHOD_SALIENCY")
LABELS = {"grpc_service": "motiflens.v1.InterpreterService", "grpc_method": "Attribute"}


def one_hot(n: int, seed: int = 0) -> np.ndarray:
    return EYE[np.random.default_rng(seed).integers(0, 4, (n, 200))]


def inline(X: np.ndarray) -> pb.Sequences:
    return pb.Sequences(one_hot=array_to_tensor(X))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    store = open_store(f"file://{tmp_path_factory.mktemp('store')}")
    info = create_synthetic(store, "task3", num_sequences=300, seed=3)
    model = build_model(architecture="cnn_local", input_length=200, num_outputs=1, activation="exponential")
    model_id = store_model(store, model, info.dataset_id)
    settings = make_settings("interpreter", max_workers=8)
    small = build_register(store, None, budget=MemoryBudget(32 * 1024 * 1024, wait_seconds=0.1))
    with (
        running_server(
            build_register(store, None), service_name=SERVICE_NAMES, settings=settings, store=store
        ) as running,
        running_server(small, service_name=SERVICE_NAMES, settings=settings, store=store) as tight,
    ):
        yield {
            "store": store,
            "dataset_id": info.dataset_id,
            "model_id": model_id,
            "running": running,
            "stub": interpreter_pb2_grpc.InterpreterServiceStub(running.channel()),
            "tight": interpreter_pb2_grpc.InterpreterServiceStub(tight.channel()),
        }


def ground_truth(world) -> pb.DatasetSplitRef:
    return pb.DatasetSplitRef(dataset_id=world["dataset_id"], limit=20)


def invalid(call, request, expected: str) -> None:
    error = rpc_error(call, request, timeout=120)
    assert error.code() == CODE.INVALID_ARGUMENT, error.details()
    assert expected in error.details(), error.details()


def test_integer_parameters_out_of_range_are_invalid_argument(world):
    stub, model_id = world["stub"], world["model_id"]
    X = inline(one_hot(2))
    big = 2**31 - 1
    attribute = {"model_id": model_id, "sequences": X}
    cases = [
        # Once 3.2 GB per sequence, or a MemoryError answered as INTERNAL.
        (
            stub.Attribute,
            pb.AttributeRequest(**attribute, method=INTEGRATED_GRADIENTS, num_steps=big),
            "num_steps: expected 1 to 1000 (0 = 20), got 2147483647",
        ),
        (
            stub.Attribute,
            pb.AttributeRequest(
                **attribute, method=METHOD("ATTRIBUTION_METHOD_DEEPSHAP"), num_references=big
            ),
            "num_references: expected 1 to 1000 (0 = 10), got 2147483647",
        ),
        (
            stub.Attribute,
            pb.AttributeRequest(**attribute, method=SALIENCY, num_references=1001),
            "num_references: expected 1 to 1000 (0 = 10), got 1001",
        ),
        (
            stub.Attribute,
            pb.AttributeRequest(**attribute, method=SALIENCY, chunk_size=1025),
            "chunk_size: expected 1 to 1024 (0 = 64), got 1025",
        ),
        (
            stub.ScanFilters,
            pb.ScanFiltersRequest(model_id=model_id, sequences=X, chunk_size=-1),
            "chunk_size: expected 1 to 1024 (0 = 64), got -1",
        ),
        (
            stub.FilterMotifs,
            pb.FilterMotifsRequest(model_id=model_id, sequences=X, window=big),
            "window: expected 1 to 200 (0 = the filter width), got 2147483647",
        ),
        (
            stub.Localize,
            pb.LocalizeRequest(model_id=model_id, sequences=ground_truth(world), padding=big),
            "padding: expected 1 to 200 (0 = 10), got 2147483647",
        ),
        (
            stub.ScoreInterpretability,
            pb.ScoreInterpretabilityRequest(
                model_id=model_id, sequences=ground_truth(world), method=INTEGRATED_GRADIENTS, num_steps=big
            ),
            "num_steps: expected 1 to 1000 (0 = 20), got 2147483647",
        ),
        (
            stub.ScoreInterpretability,
            pb.ScoreInterpretabilityRequest(
                model_id=model_id,
                sequences=pb.DatasetSplitRef(dataset_id=world["dataset_id"], split=7),
                method=SALIENCY,
            ),
            "sequences.split: unknown value 7",
        ),
    ]
    for call, request, expected in cases:
        invalid(call, request, expected)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_threshold_is_invalid_argument(world, value):
    request = pb.FilterMotifsRequest(
        model_id=world["model_id"], sequences=inline(one_hot(2)), threshold=value
    )
    invalid(world["stub"].FilterMotifs, request, f"threshold: expected a finite number, got {value}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, "sequences.one_hot.data: expected one-hot values in [0, 1], got 2.0 at (1, 3, 2)"),
        (-0.5, "sequences.one_hot.data: expected one-hot values in [0, 1], got -0.5 at (1, 3, 2)"),
        (float("nan"), "sequences.one_hot.data: expected finite values, got nan at (1, 3, 2)"),
    ],
)
def test_one_hot_values_outside_the_unit_interval_are_refused_by_every_rpc(world, value, expected):
    stub, model_id = world["stub"], world["model_id"]
    X = one_hot(2)
    X[1, 3, 2] = value
    for call, request in (
        (stub.Attribute, pb.AttributeRequest(model_id=model_id, sequences=inline(X), method=SALIENCY)),
        (stub.Predict, pb.PredictRequest(model_id=model_id, sequences=inline(X))),
        (stub.ScanFilters, pb.ScanFiltersRequest(model_id=model_id, sequences=inline(X))),
        (stub.FilterMotifs, pb.FilterMotifsRequest(model_id=model_id, sequences=inline(X))),
    ):
        invalid(call, request, expected)


def test_sizes_are_checked_from_the_declaration_before_decoding(world):
    stub, model_id = world["stub"], world["model_id"]
    # 72 bytes declaring 20,001 sequences: refused for the count, not for the missing bytes.
    declared = pb.Tensor(dtype=pb.DType.Value("DTYPE_FLOAT32"), shape=[20_001, 200, 4], data=b"")
    invalid(
        stub.Predict,
        pb.PredictRequest(model_id=model_id, sequences=pb.Sequences(one_hot=declared)),
        "sequences: 20001 sequences; at most 20000 per request",
    )
    many = pb.Sequences(strings=pb.SequenceList(sequences=["A"] * 20_001))
    invalid(
        stub.Predict, pb.PredictRequest(model_id=model_id, sequences=many), "20001 sequences; at most 20000"
    )
    wrong = pb.Sequences(strings=pb.SequenceList(sequences=["A" * 200, "A" * 40]))
    invalid(
        stub.Predict,
        pb.PredictRequest(model_id=model_id, sequences=wrong),
        "sequences.strings.sequences[1]: wrong length; the model takes sequences of 200 nt, got 40",
    )


def test_too_many_model_evaluations_are_resource_exhausted(world):
    # 5 x 1000 references x 1000 steps: the old code built 16 GB of path points at once.
    request = pb.AttributeRequest(
        model_id=world["model_id"],
        sequences=inline(one_hot(5)),
        method=INTEGRATED_GRADIENTS,
        num_references=1000,
        num_steps=1000,
    )
    error = rpc_error(world["stub"].Attribute, request, timeout=120)
    assert error.code() == CODE.RESOURCE_EXHAUSTED, error.details()
    assert "needs 5,000,000 model evaluations" in error.details()
    assert "at most 4,000,000 per call: send at most 4 sequences per call" in error.details()


def test_requests_that_cannot_fit_the_memory_budget_are_resource_exhausted(world):
    tight, model_id = world["tight"], world["model_id"]
    request = pb.AttributeRequest(
        model_id=model_id, sequences=inline(one_hot(300)), method=SALIENCY, chunk_size=1024
    )
    error = rpc_error(tight.Attribute, request, timeout=120)
    assert error.code() == CODE.RESOURCE_EXHAUSTED, error.details()
    details = error.details()
    assert details.startswith("Attribute saliency (chunk_size 1024) on 300 sequences of 200 nt: needs about")
    assert "the limit per request is 32.0 MiB (MOTIFLENS_MEMORY_BUDGET_MB)" in details
    assert "send fewer sequences or smaller parameters per call" in details
    # The same server serves what fits, and has every byte back after the refusal.
    small = pb.AttributeRequest(model_id=model_id, sequences=inline(one_hot(2)), method=SALIENCY)
    assert len(list(tight.Attribute(small, timeout=120))) == 1


def test_attribute_past_its_deadline_stops_computing_and_frees_the_model(world):
    stub, model_id = world["stub"], world["model_id"]
    sample = world["running"].server.metrics.registry.get_sample_value
    warm = pb.AttributeRequest(
        model_id=model_id, sequences=inline(one_hot(1)), method=INTEGRATED_GRADIENTS, num_references=1
    )
    list(stub.Attribute(warm, timeout=120))  # load the model and trace its gradient first
    # 8 x 200 references x 500 steps = 800,000 gradients: minutes on this machine.
    request = pb.AttributeRequest(
        model_id=model_id,
        sequences=inline(one_hot(8, seed=1)),
        method=INTEGRATED_GRADIENTS,
        num_references=200,
        num_steps=500,
    )
    error = rpc_error(stub.Attribute, request, timeout=2.0)
    assert error.code() == CODE.DEADLINE_EXCEEDED
    # The handler notices before its next pass and abandons: recorded as CANCELLED. One
    # that computed to the end would be recorded as DEADLINE_EXCEEDED, minutes later.
    for _ in range(1200):
        if sample("motiflens_grpc_requests_total", {**LABELS, "grpc_code": "CANCELLED"}):
            break
        time.sleep(0.05)
    assert sample("motiflens_grpc_requests_total", {**LABELS, "grpc_code": "CANCELLED"}) == 1
    assert not sample("motiflens_grpc_requests_total", {**LABELS, "grpc_code": "DEADLINE_EXCEEDED"})
    assert sample("motiflens_grpc_requests_in_flight", LABELS) == 0
    # The model's lock and the memory budget are free again: the next call is served.
    small = pb.AttributeRequest(model_id=model_id, sequences=inline(one_hot(2)), method=SALIENCY)
    assert len(list(stub.Attribute(small, timeout=120))) == 1


def test_predict_batches_ask_the_caller_between_them(world):
    loaded = ModelCache(world["store"]).get(world["model_id"])
    X = one_hot(600)
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) > 1

    with pytest.raises(CancelledError, match="predict: abandoned after 256 of 600 sequences"):
        loaded.predict(X, "logit", should_stop)
    with pytest.raises(CancelledError, match="scans: abandoned after 0 of 600 sequences"):
        loaded.scans(X, lambda: True)
    assert loaded.predict(X[:3], "logit").shape == (3, 1)


def test_reflection_describes_tf_serving_prediction_service(world):
    """What grpcurl does with tensorflow.serving.PredictionService: describe it, then call Predict."""
    channel = world["running"].channel()
    database = ProtoReflectionDescriptorDatabase(channel)
    assert "tensorflow.serving.PredictionService" in set(database.get_services())
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName("tensorflow.serving.PredictionService")
    assert {"Predict", "GetModelMetadata"} <= set(service.methods_by_name)
    method = service.methods_by_name["Predict"]
    assert method.input_type.full_name == "tensorflow.serving.PredictRequest"
    assert method.output_type.full_name == "tensorflow.serving.PredictResponse"
    request = message_factory.GetMessageClass(method.input_type)()
    request.model_spec.name = world["model_id"]
    tensor = request.inputs["dna"]
    tensor.dtype = tensor.DESCRIPTOR.fields_by_name["dtype"].enum_type.values_by_name["DT_STRING"].number
    tensor.tensor_shape.dim.add(size=2)
    X = load_dataset(world["store"], world["dataset_id"])[0].test.X[:2]
    tensor.string_val.extend(sequence.encode() for sequence in decode(X))
    request.output_filter.append("probabilities")
    call = channel.unary_unary(
        f"/{service.full_name}/{method.name}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=message_factory.GetMessageClass(method.output_type).FromString,
    )
    reply = call(request, timeout=120)
    probabilities = reply.outputs["probabilities"]
    assert [dim.size for dim in probabilities.tensor_shape.dim] == [2, 1]
    values = np.frombuffer(probabilities.tensor_content, "<f4")
    assert values.shape == (2,) and ((values > 0) & (values < 1)).all()


def test_a_request_larger_than_the_budget_streams_when_each_chunk_fits(world):
    """Strings are one-hot encoded a chunk at a time: 12,000 sequences of 200 nt would be
    38.4 MB one-hot, over the tight server's 32 MiB, yet each chunk of 100 fits, so the call
    streams every chunk; what the budget refuses is one chunk that does not fit."""
    tight, model_id = world["tight"], world["model_id"]
    rng = np.random.default_rng(5)
    strings = ["".join(row) for row in np.array(list("ACGT"))[rng.integers(0, 4, size=(12_000, 200))]]
    assert 12_000 * 200 * 4 * 4 > 32 * 1024 * 1024
    request = pb.ScanFiltersRequest(
        model_id=model_id, sequences=pb.Sequences(strings=pb.SequenceList(sequences=strings)), chunk_size=100
    )
    chunks = list(tight.ScanFilters(request, timeout=600))
    assert [c.offset for c in chunks] == list(range(0, 12_000, 100))
    last = tensor_to_array(chunks[-1].scans, field="scans")
    assert last.shape[0] == 100
    # The chunk equals the same rows sent alone (decoding per chunk changes no value).
    alone = pb.ScanFiltersRequest(
        model_id=model_id,
        sequences=pb.Sequences(strings=pb.SequenceList(sequences=strings[-100:])),
        chunk_size=100,
    )
    (single,) = list(tight.ScanFilters(alone, timeout=120))
    np.testing.assert_array_equal(last, tensor_to_array(single.scans, field="scans"))
    # A chunk too big for the budget is still refused, before anything streams.
    huge = pb.ScanFiltersRequest(model_id=model_id, sequences=request.sequences, chunk_size=1024)
    error = rpc_error(tight.ScanFilters, huge, timeout=120)
    assert error.code() == CODE.RESOURCE_EXHAUSTED, error.details()


def test_a_caller_leaving_mid_stream_ends_the_pass_worker_and_frees_the_budget(world):
    """A saliency stream of many passes computes the next pass in a worker thread while
    chunks are sent; when the caller cancels after the first chunk, the worker ends and
    the call's reservation is given back (polled: no timing assumption), and the server
    answers the next call."""
    import threading

    budget = MemoryBudget(512 * 1024 * 1024)
    register = build_register(world["store"], None, budget=budget)
    settings = make_settings("interpreter", max_workers=4)
    with running_server(
        register, service_name=SERVICE_NAMES, settings=settings, store=world["store"]
    ) as server:
        stub = interpreter_pb2_grpc.InterpreterServiceStub(server.channel())
        # 12,000 sequences: 38 MB of scores, more than the transport buffers, so the call is
        # still running when the first chunk arrives.
        rng = np.random.default_rng(9)
        strings = ["".join(row) for row in np.array(list("ACGT"))[rng.integers(0, 4, (12_000, 200))]]
        request = pb.AttributeRequest(
            model_id=world["model_id"],
            sequences=pb.Sequences(strings=pb.SequenceList(sequences=strings)),
            method=SALIENCY,
            chunk_size=16,
        )
        stream = stub.Attribute(request, timeout=300)
        first = next(stream)
        assert first.offset == 0 and budget.held_bytes > 0
        stream.cancel()
        deadline = time.monotonic() + 120
        while budget.held_bytes or any(t.name == "attribute-ahead" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the cancelled stream kept its worker or its reservation"
            time.sleep(0.05)
        (again,) = list(
            stub.Attribute(pb.AttributeRequest(**{**_fields(request), "sequences": inline(one_hot(3))}))
        )
        assert tensor_to_array(again.scores, field="scores").shape == (3, 200, 4)


def _fields(request: pb.AttributeRequest) -> dict:
    return {"model_id": request.model_id, "method": request.method, "chunk_size": request.chunk_size}
