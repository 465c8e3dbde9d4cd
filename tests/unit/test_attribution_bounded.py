"""Integrated gradients and DeepSHAP in bounded blocks, and ``should_stop`` in every method.

The reference methods used to build one path array of N x references x steps rows
(3.2 GB for one 200-nt sequence at 1000 x 1000); they now hold a few passes' worth
whatever the counts, with the same numbers as before.
"""

import tracemalloc

import numpy as np
import pytest
import tensorflow as tf

from motiflens.attribution import (
    METHODS,
    _reference_blocks,
    attribute,
    deepshap,
    integrated_gradients,
    make_references,
)
from motiflens.errors import CancelledError
from motiflens.models import build_model, logits_model

EYE = np.eye(4, dtype=np.float32)


def one_hot_batch(n, length, seed=0):
    return EYE[np.random.default_rng(seed).integers(0, 4, (n, length))]


@pytest.fixture(scope="module")
def model():
    return build_model(
        architecture="cnn_local", input_length=60, num_outputs=1, activation="exponential", seed=2
    )


def _unchunked_integrated_gradients(model, X, num_steps, num_references, seed):
    """The old one-array computation: every path point of every reference at once."""
    references = make_references(X, num_references=num_references, seed=seed)
    alphas = ((np.arange(num_steps) + 0.5) / num_steps).astype(np.float32)
    difference = X[:, None] - references
    path = references[:, :, None] + alphas[None, None, :, None, None] * difference[:, :, None]
    rows = tf.constant(path.reshape(-1, *X.shape[1:]))
    logits = logits_model(model)
    with tf.GradientTape() as tape:
        tape.watch(rows)
        y = logits(rows, training=False)[:, 0]
    grads = tape.gradient(y, rows).numpy().reshape(path.shape).mean(axis=2)
    return (grads * difference).mean(axis=1)


def test_reference_blocks_are_the_references_in_order():
    X = one_hot_batch(3, 30, seed=1)
    for reference in ("shuffle", "dinucleotide"):
        whole = make_references(X, num_references=5, reference=reference, seed=4, index_offset=7)
        for block in (1, 2, 3, 7, 100):
            parts = list(_reference_blocks(X, 7, 5, reference, 4, block))
            assert all(len(index) <= block for index, _ in parts)
            index = np.concatenate([i for i, _ in parts])
            np.testing.assert_array_equal(index, np.repeat(np.arange(3), 5))
            np.testing.assert_array_equal(np.concatenate([r for _, r in parts]), whole.reshape(-1, 30, 4))


def test_chunked_integrated_gradients_equal_the_one_array_computation(model):
    X = one_hot_batch(2, 60, seed=3)
    expected = _unchunked_integrated_gradients(model, X, num_steps=7, num_references=3, seed=5)
    for batch_size in (1, 5, 21, 1000):  # passes cut inside a reference, across references, one pass
        scores = integrated_gradients(model, X, num_steps=7, num_references=3, seed=5, batch_size=batch_size)
        np.testing.assert_allclose(scores.scores, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected).max() > 1e-3


def test_integrated_gradients_stay_complete_with_many_steps(model):
    X = one_hot_batch(1, 60, seed=4)
    references = make_references(X, num_references=4, seed=0).reshape(-1, 60, 4)
    logits = logits_model(model)
    f_x = np.asarray(logits(X, training=False))[:, 0]
    f_r = np.asarray(logits(references, training=False))[:, 0].mean()
    scores = integrated_gradients(model, X, num_steps=300, num_references=4, batch_size=64).scores
    # 300 steps x 4 references in passes of 64: sum of attributions = f(x) - mean f(r).
    gap = scores.sum() - (f_x[0] - f_r)
    assert abs(gap) <= 0.01 * max(abs(f_x[0]), abs(f_r), 1e-3), (gap, f_x, f_r)


def _peak_bytes(function) -> int:
    """Peak bytes numpy (and Python) allocated while ``function()`` ran."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_many_steps_and_references_never_build_the_whole_path(model):
    X = one_hot_batch(1, 60, seed=5)
    # Trace the graphs first: tracing allocates Python objects that are no array.
    integrated_gradients(model, X, num_steps=2, num_references=1)
    deepshap(model, X, num_references=1)
    # 100 references x 400 steps = 40,000 path points: 38 MB as one array, as much again
    # for the gradients; in blocks, a few passes of 256 rows (0.25 MB each).
    peak = _peak_bytes(lambda: integrated_gradients(model, X, num_steps=400, num_references=100))
    assert peak < 8 * 1024 * 1024, peak
    # 20,000 references: 19 MB per array of them (references, repeated x, multipliers).
    peak = _peak_bytes(lambda: deepshap(model, X, num_references=20_000))
    assert peak < 8 * 1024 * 1024, peak


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("saliency", {}),
        ("ism", {}),
        ("ism_naive", {}),
        ("integrated_gradients", {"num_steps": 10, "num_references": 4}),
        ("deepshap", {"num_references": 8}),
    ],
)
def test_should_stop_abandons_between_passes(model, method, options):
    X = one_hot_batch(12, 60, seed=6)
    asked = []

    def should_stop():
        asked.append(True)
        return len(asked) > 2

    with pytest.raises(CancelledError, match="abandoned"):
        attribute(model, X, method, batch_size=2, should_stop=should_stop, **options)
    assert len(asked) == 3  # asked before each pass, and stopped at the first True
    never = attribute(model, X[:2], method, should_stop=lambda: False, **options)
    np.testing.assert_allclose(never.scores, attribute(model, X[:2], method, **options).scores, atol=1e-6)


def test_every_method_takes_should_stop():
    import inspect

    for name, function in METHODS.items():
        assert "should_stop" in inspect.signature(function).parameters, name
