"""Hypothetical and projected attribution maps, and gradient correction, against known answers."""

import functools

import keras
import numpy as np
import pytest

from motiflens.attribution import (
    METHODS,
    attribute,
    correct_gradient,
    deepshap,
    hypothetical_contributions,
    ism,
    make_references,
    mean_centre,
    off_simplex_fraction,
    saliency,
)
from motiflens.models import build_model, logits_model

EYE = np.eye(4, dtype=np.float32)
LENGTH = 96


def one_hot_batch(n, length, seed=0):
    return EYE[np.random.default_rng(seed).integers(0, 4, (n, length))]


@functools.cache
def zoo(activation="exponential"):
    model = build_model(
        architecture="cnn_deep", input_length=LENGTH, num_outputs=2, activation=activation, seed=4
    )
    kernel = model.get_layer("conv1").kernel
    kernel.assign(kernel * 3.0)  # substitution effects O(1), so tolerances mean something
    return model


def logit(model, X, target=0):
    return np.asarray(logits_model(model)(X, training=False))[:, target]


OPTIONS = {
    "saliency": {},
    "ism": {},
    "ism_naive": {},
    "integrated_gradients": {"num_references": 3, "num_steps": 8},
    "deepshap": {"num_references": 3},
}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_projected_is_hypothetical_times_one_hot(method):
    X = one_hot_batch(3, LENGTH, seed=2)
    result = attribute(zoo(), X, method, target=1, **OPTIONS[method])
    assert result.hypothetical.shape == result.projected.shape == X.shape
    assert result.hypothetical.dtype == result.projected.dtype == np.float32
    np.testing.assert_array_equal(result.projected, result.hypothetical * X)
    assert (result.projected[X == 0] == 0).all()
    if method in ("integrated_gradients", "deepshap"):
        # For one-hot x and r: Σ_b m (x - r) = m[x] - m[r] = the projected value at x's base.
        np.testing.assert_allclose(result.projected.sum(-1), result.scores.sum(-1), atol=2e-5)
    if method.startswith("ism"):
        np.testing.assert_allclose(result.hypothetical, result.scores - result.scores.mean(-1, keepdims=True))
        np.testing.assert_allclose(result.hypothetical.sum(-1), 0, atol=1e-5)
    if method == "saliency":
        gradient_times_input = attribute(zoo(), X, method, target=1, times_input=True)
        np.testing.assert_array_equal(gradient_times_input.scores, result.projected)
        np.testing.assert_array_equal(result.hypothetical, result.scores)


@pytest.mark.parametrize("activation", ["exponential", "relu"])
def test_deepshap_projection_is_complete(activation):
    model = zoo(activation)
    X = one_hot_batch(4, LENGTH, seed=6)
    result = deepshap(model, X, num_references=5, seed=3)
    references = make_references(X, num_references=5, seed=3).reshape(-1, LENGTH, 4)
    expected = logit(model, X) - logit(model, references).reshape(4, 5).mean(1)
    assert np.abs(expected).max() > 1e-2  # not a trivially complete case
    np.testing.assert_allclose(result.projected.sum(axis=(1, 2)), expected, atol=2e-4)
    # Hypothetical contributions at bases *not* in x are real numbers, not zeros: they are
    # what TF-MoDISco needs to compare seqlets, and what the raw scores do not give.
    assert np.abs(result.hypothetical[X == 0]).max() > 1e-3


# --------------------------------------------------------------------------- a model linear in x


@pytest.fixture(scope="module")
def linear():
    """conv (no bias) → flatten → dense logits; logit = Σ X ⊙ E + bias, E recovered by saliency."""
    keras.utils.set_random_seed(8)
    inputs = keras.Input((20, 4))
    x = keras.layers.Conv1D(3, 5, padding="same", use_bias=False, name="conv1")(inputs)
    logits = keras.layers.Dense(1, name="logits", bias_initializer="random_normal")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(logits))
    X = one_hot_batch(3, 20, seed=9)
    effective = saliency(model, X[:1]).scores[0]  # constant in x for a linear model
    return model, effective, X


@pytest.mark.parametrize("method", ["integrated_gradients", "deepshap"])
def test_hypothetical_of_a_linear_model_is_weight_minus_reference_weight(linear, method):
    model, effective, X = linear
    for reference in ("shuffle", "dinucleotide"):
        result = attribute(model, X, method, num_references=4, reference=reference, seed=1)
        references = make_references(X, num_references=4, reference=reference, seed=1)  # (N, R, L, 4)
        at_reference = (references * effective).sum(-1, keepdims=True).mean(1)  # mean_r E[p, r_p]
        np.testing.assert_allclose(result.hypothetical, effective - at_reference, atol=1e-5)
        expected = hypothetical_contributions(
            np.broadcast_to(effective, references.shape).reshape(-1, 20, 4), references.reshape(-1, 20, 4)
        )
        np.testing.assert_allclose(result.hypothetical, expected.reshape(3, 4, 20, 4).mean(1), atol=1e-5)


def test_corrected_gradient_of_a_linear_model_is_the_mean_centred_ism(linear):
    model, effective, X = linear
    corrected = saliency(model, X, gradient_correction=True)
    mutagenesis = ism(model, X)
    assert corrected.gradient_correction is True
    np.testing.assert_allclose(corrected.scores, mutagenesis.hypothetical, atol=1e-5)
    # ISM-consistent: differences between bases are the substitution effects.
    at_wild_type = (corrected.scores * X).sum(-1, keepdims=True)
    np.testing.assert_allclose(corrected.scores - at_wild_type, mutagenesis.scores, atol=1e-5)
    # The off-simplex component is gone exactly, and it was there before.
    np.testing.assert_allclose(corrected.scores.sum(-1), 0, atol=1e-6)
    assert np.abs(effective.sum(-1)).max() > 1e-2
    np.testing.assert_allclose(off_simplex_fraction(corrected.scores), 0, atol=1e-10)


@pytest.mark.parametrize("method", ["saliency", "integrated_gradients", "deepshap"])
def test_gradient_correction_removes_only_the_off_simplex_part(method):
    model = zoo("relu")
    X = one_hot_batch(3, LENGTH, seed=12)
    options = OPTIONS[method]
    raw = attribute(model, X, method, target=0, **options)
    corrected = attribute(model, X, method, target=0, gradient_correction=True, **options)
    assert (raw.gradient_correction, corrected.gradient_correction) == (False, True)
    if method == "saliency":
        # Exactly the per-position mean removed; every difference between bases kept.
        np.testing.assert_allclose(
            corrected.scores, raw.scores - raw.scores.mean(-1, keepdims=True), atol=1e-6
        )
        np.testing.assert_allclose(corrected.scores.sum(-1), 0, atol=1e-5)
        assert np.abs(raw.scores.sum(-1)).max() > 1e-3  # there was something to remove
    else:
        # Against one-hot references the correction cancels in m[b] - m[r] ...
        np.testing.assert_allclose(corrected.hypothetical, raw.hypothetical, atol=2e-5)
        np.testing.assert_allclose(corrected.scores.sum(-1), raw.scores.sum(-1), atol=2e-5)
        # ... but not in the per-base raw scores, which put m[r] at the reference's base.
        assert np.abs(corrected.scores - raw.scores).max() > 1e-4


def test_ism_takes_no_gradient_correction():
    with pytest.raises(Exception, match="gradient_correction"):
        attribute(zoo(), one_hot_batch(1, LENGTH), "ism", gradient_correction=True)


def test_form_helpers_on_known_arrays():
    g = np.array([[[1.0, 2.0, 3.0, 6.0], [1.0, 1.0, 1.0, 1.0]]])  # (1, 2, 4)
    np.testing.assert_array_equal(correct_gradient(g), [[[-2, -1, 0, 3], [0, 0, 0, 0]]])
    np.testing.assert_array_equal(mean_centre(g), correct_gradient(g))
    # off-simplex: means 3 and 1 → 4·(9 + 1) = 40 of Σ g² = 50 + 4 = 54
    np.testing.assert_allclose(off_simplex_fraction(g), [40 / 54])
    np.testing.assert_array_equal(off_simplex_fraction(np.zeros((2, 3, 4))), [0, 0])
    np.testing.assert_allclose(off_simplex_fraction(np.ones((1, 3, 4))), [1.0])
    r = EYE[[2, 0]][None]  # reference bases G then A
    np.testing.assert_array_equal(hypothetical_contributions(g, r), [[[-2, -1, 0, 3], [0, 0, 0, 0]]])
