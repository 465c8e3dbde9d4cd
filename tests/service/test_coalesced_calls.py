"""Concurrent calls on one model share a pass on a real interpreter server, with unchanged answers.

The test holds the served model's lock (as a long call would), sends concurrent Attribute
(saliency, ISM) and Predict calls from threads, waits until all are queued, and lets go: each
kind then runs in one pass, and every caller gets what it gets alone (attributions to float32
rounding, predictions exactly).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers import make_settings, running_server
from motiflens_client.api import interpreter_pb2_grpc, pb
from test_interpreter import store_model

from motiflens.models import build_model
from services.common.convert import array_to_tensor, tensor_to_array
from services.common.store import open_store
from services.interpreter.app import SERVICE_NAMES, build_register
from services.interpreter.model_cache import ModelCache
from services.trainer.datasets import create_synthetic

CLIENTS = 8
ROWS = 8
EYE = np.eye(4, dtype=np.float32)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    store = open_store(f"file://{tmp_path_factory.mktemp('store')}")
    info = create_synthetic(store, "task1", num_sequences=200, seed=4)
    model = build_model(architecture="cnn_deep", input_length=200, num_outputs=12, activation="exponential")
    model_id = store_model(store, model, info.dataset_id)
    models = ModelCache(store, capacity=2)
    settings = make_settings("interpreter", max_workers=2 * CLIENTS + 4, max_calls=2 * CLIENTS + 4)
    with running_server(
        build_register(store, None, models=models), service_name=SERVICE_NAMES, settings=settings, store=store
    ) as running:
        stub = interpreter_pb2_grpc.InterpreterServiceStub(running.channel())
        yield stub, models.get(model_id), model_id


def _inputs() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [EYE[rng.integers(0, 4, (ROWS, 200))] for _ in range(CLIENTS)]


def _attribute(stub, model_id, X, method):
    request = pb.AttributeRequest(
        model_id=model_id,
        sequences=pb.Sequences(one_hot=array_to_tensor(X)),
        method=pb.AttributionMethod.Value(f"ATTRIBUTION_METHOD_{method}"),
        target=3,
    )
    return np.concatenate(
        [tensor_to_array(c.scores, field="scores") for c in stub.Attribute(request, timeout=300)]
    )


def _predict(stub, model_id, X):
    request = pb.PredictRequest(model_id=model_id, sequences=pb.Sequences(one_hot=array_to_tensor(X)))
    return tensor_to_array(stub.Predict(request, timeout=300).predictions, field="predictions")


def _concurrently(loaded, calls) -> list[np.ndarray]:
    """Run ``calls`` from threads while the model's lock is held; release once all are queued."""
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 (asserted below)
            results[index] = error

    before = loaded.coalescer.passes
    with loaded.lock:
        threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120  # a bound against hanging, not a timing assumption
        while len(loaded.coalescer._pending) < len(calls):
            assert time.monotonic() < deadline, f"only {len(loaded.coalescer._pending)} calls queued"
            time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=300)
    for result in results:
        assert not isinstance(result, BaseException), result
    return results, loaded.coalescer.passes - before


@pytest.mark.parametrize("method", ["SALIENCY", "ISM"])
def test_concurrent_attributions_share_one_pass_and_equal_lone_calls(served, method):
    stub, loaded, model_id = served
    inputs = _inputs()
    alone = [_attribute(stub, model_id, X, method) for X in inputs]
    together, passes = _concurrently(
        loaded, [lambda X=X: _attribute(stub, model_id, X, method) for X in inputs]
    )
    assert passes == 1  # 8 calls of 8 sequences: one pass of 64
    for lone, shared in zip(alone, together, strict=True):
        # Equal up to float32 rounding: oneDNN picks its kernels by batch size, so a row's
        # gradient in a pass of 64 differs from the same row's in a pass of 8 in the last
        # bits -- exactly as it does between two chunk_size choices of one lone call.
        assert np.abs(shared - lone).max() <= 1e-5 * np.abs(lone).max(), np.abs(shared - lone).max()


def test_concurrent_predictions_share_one_pass_and_equal_lone_calls(served):
    stub, loaded, model_id = served
    inputs = _inputs()
    alone = [_predict(stub, model_id, X) for X in inputs]
    together, passes = _concurrently(loaded, [lambda X=X: _predict(stub, model_id, X) for X in inputs])
    assert passes == 1
    for lone, shared in zip(alone, together, strict=True):
        np.testing.assert_array_equal(shared, lone)
