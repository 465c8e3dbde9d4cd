import math

import keras
import numpy as np
import pytest

from motiflens.activations import (
    ACTIVATIONS,
    FirstLayerActivation,
    activation_names,
    apply_activation,
    get_activation,
)
from motiflens.errors import InvalidInputError

POINTS = np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 7.0], dtype=np.float32)


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


# Hand-written references, evaluated point by point in float64.
REFERENCES = {
    "relu": lambda x: max(x, 0.0),
    "sigmoid": sig,
    "tanh": math.tanh,
    "softplus": lambda x: math.log1p(math.exp(x)),
    "linear": lambda x: x,
    "elu": lambda x: x if x > 0 else math.exp(x) - 1,
    "exponential": math.exp,
    "exp_relu": lambda x: max(math.exp(0.1 * x) - 1, 0.0),
    "shift_scale_relu": lambda x: max((x - 0.2) ** 3, 0.0),
    "shift_scale_tanh": lambda x: 500 * math.tanh(x - 6) + 500,
    "shift_scale_sigmoid": lambda x: 4000 * sig(x - 8),
    "shift_relu": lambda x: max(x - 0.2, 0.0),
    "scale_relu": lambda x: max(x**3, 0.0),
    "shift_tanh": lambda x: math.tanh(x - 6),
    "scale_tanh": lambda x: 500 * math.tanh(x) + 500,
    "shift_sigmoid": lambda x: sig(x - 8),
    "scale_sigmoid": lambda x: 4000 * sig(x),
    "super_relu": lambda x: max(400 * x, 0.0),
    "log_relu": lambda x: max(math.log(abs(x) + 1e-10), 0.0),
    "scaled_exponential": math.exp,  # default scale 1
}


def test_every_activation_in_the_paper_is_registered():
    assert set(activation_names()) == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_at_chosen_points(name):
    got = np.asarray(apply_activation(POINTS, name))
    expected = np.array([REFERENCES[name](float(x)) for x in POINTS])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_pinned_values():
    assert float(apply_activation(np.float32(2.0), "exponential")) == pytest.approx(7.389056)
    assert float(apply_activation(np.float32(10.0), "exp_relu")) == pytest.approx(math.e - 1, rel=1e-6)
    assert float(apply_activation(np.float32(6.0), "shift_scale_tanh")) == pytest.approx(500.0)
    assert float(apply_activation(np.float32(8.0), "shift_scale_sigmoid")) == pytest.approx(2000.0)
    assert float(apply_activation(np.float32(1.2), "shift_scale_relu")) == pytest.approx(1.0, rel=1e-5)
    assert float(apply_activation(np.float32(math.e), "log_relu")) == pytest.approx(1.0, rel=1e-6)
    assert float(apply_activation(np.float32(0.0), "log_relu")) == 0.0  # log(1e-10) < 0, rectified


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0, 2.0, 4.0])
def test_scaled_exponential_parameter(scale):
    got = np.asarray(apply_activation(POINTS, "scaled_exponential", scale=scale))
    np.testing.assert_allclose(got, np.exp(scale * POINTS.astype(np.float64)), rtol=1e-5)


def test_log_relu_carries_the_papers_first_layer_l2():
    assert get_activation("log_relu").first_layer_l2 == 0.2
    assert all(spec.first_layer_l2 is None for name, spec in ACTIVATIONS.items() if name != "log_relu")


def test_unknown_name_lists_known_names():
    with pytest.raises(InvalidInputError) as info:
        get_activation("swish")
    message = str(info.value)
    assert "'swish'" in message
    for name in ("exponential", "relu", "log_relu", "shift_scale_tanh"):
        assert name in message


def test_unknown_parameter_rejected():
    with pytest.raises(InvalidInputError, match="takes no parameter scale"):
        apply_activation(POINTS, "relu", scale=2.0)
    with pytest.raises(InvalidInputError, match="expected a number"):
        FirstLayerActivation("scaled_exponential", {"scale": "big"})


def test_layer_serialises_with_its_parameters():
    layer = FirstLayerActivation("scaled_exponential", {"scale": 0.5}, name="act")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, FirstLayerActivation)
    assert restored.activation == "scaled_exponential" and restored.activation_params == {"scale": 0.5}
    np.testing.assert_allclose(np.asarray(restored(POINTS)), np.exp(0.5 * POINTS), rtol=1e-6)
