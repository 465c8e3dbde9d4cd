"""FLOP counts of motiflens.flops and fast ISM's window plan, against hand counts."""

from __future__ import annotations

import keras
import pytest

from motiflens.attribution.ism import ism_flops
from motiflens.flops import attribution_flops, forward_flops, gradient_flops, layer_flops, training_flops
from motiflens.models import build_model


def small_model() -> keras.Model:
    """Input (10, 4) -> conv 4 filters of width 3 -> conv 2 of width 3 -> flatten -> Dense(1) logits."""
    inputs = keras.Input((10, 4))
    x = keras.layers.Conv1D(4, 3, padding="same", use_bias=False, name="conv1")(inputs)
    x = keras.layers.Conv1D(2, 3, padding="same", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(1, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(logits))


def test_forward_flops_count_every_convolution_and_dense_multiply_add():
    model = small_model()
    # conv1: 10 positions x 3 x 4 x 4; conv2: 10 x 3 x 4 x 2; logits: 20 x 1; two FLOPs each.
    assert forward_flops(model) == 2 * (10 * 3 * 4 * 4 + 10 * 3 * 4 * 2 + 20 * 1) == 1480
    assert training_flops(model) == 3 * 1480 and gradient_flops(model) == 2 * 1480
    assert layer_flops(model.get_layer("conv2"), 5) == 2 * 5 * 3 * 4 * 2
    assert layer_flops(keras.layers.Flatten(), 10) == 0


def test_cnn_deep_forward_count_is_its_layer_sum():
    model = build_model(architecture="cnn_deep", input_length=200, num_outputs=12, seed=0)
    layers = [
        200 * 19 * 4 * 32,  # conv1
        200 * 9 * 32 * 48,  # conv2, before its pool of 4
        50 * 6 * 48 * 96,  # conv3
        12 * 4 * 96 * 128,  # conv4 (50 // 4 = 12 positions)
        512 * 512,  # dense1 on the flattened 4 x 128
        512 * 12,  # logits
    ]
    assert forward_flops(model) == 2 * sum(layers) == 10_983_424


def test_fast_ism_count_follows_its_windows():
    model = small_model()
    # Per mutant: the first conv's rank-one update (kernel 3 x 4 x 4 once), conv2 over its
    # 5-position window (the 3-wide window of conv1 widened by 1 on each side), then
    # flatten and logits in full; plus the wild-type pass.
    per_mutant = 2 * 3 * 4 * 4 + 2 * 5 * 3 * 4 * 2 + 2 * 20 * 1
    assert ism_flops(model) == 1480 + 3 * 10 * per_mutant
    assert attribution_flops(model, "ism") == ism_flops(model)
    assert attribution_flops(model, "ism_naive") == (3 * 10 + 1) * 1480


def test_method_counts_scale_with_rows_per_sequence():
    model = small_model()
    assert attribution_flops(model, "saliency") == 2 * 1480
    assert attribution_flops(model, "integrated_gradients", num_references=3, num_steps=5) == 15 * 2 * 1480
    assert attribution_flops(model, "deepshap", num_references=4) == 8 * 2 * 1480
    with pytest.raises(ValueError, match="unknown method 'gradcam'"):
        attribution_flops(model, "gradcam")


def test_fast_ism_saves_more_on_longer_sequences():
    """The windowed count's ceiling over naive grows with length (issue 19: 4.05x at 200 nt)."""
    short = build_model(architecture="cnn_deep", input_length=200, num_outputs=12, seed=0)
    naive, fast = attribution_flops(short, "ism_naive"), attribution_flops(short, "ism")
    assert 4.0 < naive / fast < 4.1
    long = build_model(architecture="cnn_deep", input_length=1000, num_outputs=12, seed=0)
    assert attribution_flops(long, "ism_naive") / attribution_flops(long, "ism") > 10
