import keras
import numpy as np
import pytest

from motiflens.activations import activation_names
from motiflens.errors import InvalidInputError, NotFoundError, ResourceExhaustedError
from motiflens.models import (
    ARCHITECTURES,
    FIRST_LAYER,
    FIRST_LAYER_ACTIVATION,
    ModelConfig,
    build_model,
    check_model,
    first_layer_kernel,
    first_layer_model,
    load_model,
    logits_model,
    save_model,
)

# Paper's Methods: first-layer filters and widths per architecture.
FIRST_LAYERS = {
    "cnn_2": (32, 19),
    "cnn_50": (32, 19),
    "cnn_deep": (32, 19),
    "cnn_local": (24, 19),
    "cnn_dist": (24, 7),
    "basset": (300, 19),
    "residualbind": (24, 19),
}


def batch(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_builds_for_its_task_with_right_shapes(architecture):
    arch = ARCHITECTURES[architecture]
    model = build_model(
        architecture=architecture,
        input_length=arch.default_input_length,
        num_outputs=arch.default_num_outputs,
        activation="exponential",
    )
    X = batch(3, arch.default_input_length)
    probabilities = np.asarray(model(X, training=False))
    assert probabilities.shape == (3, arch.default_num_outputs)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    logits = np.asarray(logits_model(model)(X, training=False))
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), probabilities, rtol=1e-5, atol=1e-6)
    filters, width = FIRST_LAYERS[architecture]
    assert first_layer_kernel(model).shape == (width, 4, filters)
    assert model.get_layer(FIRST_LAYER).use_bias is False
    scans = np.asarray(first_layer_model(model)(X, training=False))
    assert scans.shape == (3, arch.default_input_length, filters)  # 'same' padding
    assert (scans > 0).all()  # exponential is positive everywhere


def test_layer_sizes_follow_the_methods():
    model = build_model(architecture="cnn_deep", input_length=200, num_outputs=12)
    sizes = {layer.name: layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv1D)}
    assert sizes == {"conv1": 32, "conv2": 48, "conv3": 96, "conv4": 128}
    dropouts = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert model.get_layer("dense1").units == 512
    # Task 2 variant doubles every hidden layer.
    wide = build_model(architecture="cnn_deep", input_length=1000, num_outputs=12, width_multiplier=2)
    assert wide.get_layer("conv1").filters == 64 and wide.get_layer("dense1").units == 1024


def test_any_input_length_and_output_count():
    model = build_model(architecture="cnn_deep", input_length=333, num_outputs=5)
    assert model(batch(2, 333)).shape == (2, 5)
    with pytest.raises(InvalidInputError, match="at least 48 nt; got 40"):
        build_model(architecture="cnn_deep", input_length=40, num_outputs=1)


def test_log_relu_gets_strong_first_layer_l2():
    model = build_model(architecture="cnn_deep", input_length=200, num_outputs=1, activation="log_relu")
    assert float(model.get_layer("conv1").kernel_regularizer.l2) == pytest.approx(0.2)
    assert float(model.get_layer("conv2").kernel_regularizer.l2) == pytest.approx(1e-6)


def test_first_layer_l2_overrides_the_activations_default_and_adds_its_penalty():
    """relu with first_layer_l2 0.2 is the paper's log_relu control: the penalty is 0.2·Σw² on conv1 only."""
    config = ModelConfig(
        architecture="cnn_deep", input_length=200, num_outputs=1, activation="relu", first_layer_l2=0.2
    )
    assert config.effective_first_layer_l2 == 0.2
    model = build_model(config)
    assert float(model.get_layer("conv1").kernel_regularizer.l2) == pytest.approx(0.2)
    assert float(model.get_layer("conv2").kernel_regularizer.l2) == pytest.approx(1e-6)
    kernel = model.get_layer("conv1").kernel.numpy()
    penalty = float(model.get_layer("conv1").kernel_regularizer(model.get_layer("conv1").kernel))
    assert penalty == pytest.approx(0.2 * float(np.sum(kernel.astype(np.float64) ** 2)), rel=1e-5)
    # Explicit 0 switches the first-layer penalty off, even for log_relu.
    off = build_model(
        architecture="cnn_deep", input_length=200, num_outputs=1, activation="log_relu", first_layer_l2=0.0
    )
    assert float(off.get_layer("conv1").kernel_regularizer.l2) == 0.0
    defaults = {
        "relu": 1e-6,
        "log_relu": 0.2,
    }
    for activation, expected in defaults.items():
        plain = ModelConfig(architecture="cnn_deep", input_length=200, num_outputs=1, activation=activation)
        assert plain.effective_first_layer_l2 == pytest.approx(expected)
    # Older saved configs have no first_layer_l2 key and still load.
    old = ModelConfig.from_dict({"architecture": "cnn_2", "input_length": 200, "num_outputs": 1})
    assert old.first_layer_l2 is None


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_bad_first_layer_l2_is_rejected(value):
    with pytest.raises(InvalidInputError, match="first_layer_l2: expected a finite number >= 0"):
        build_model(architecture="cnn_deep", input_length=200, num_outputs=1, first_layer_l2=value)


@pytest.mark.parametrize(
    ("initializer", "std", "expected_std"),
    [("glorot_uniform", None, np.sqrt(2 / (19 * 4 + 19 * 32))), ("random_normal", 0.05, 0.05)],
)
def test_initializers(initializer, std, expected_std):
    model = build_model(
        architecture="cnn_deep", input_length=200, num_outputs=1, initializer=initializer, initializer_std=std
    )
    kernel = first_layer_kernel(model)
    assert kernel.std() == pytest.approx(expected_std, rel=0.1)
    he = first_layer_kernel(
        build_model(architecture="cnn_deep", input_length=200, num_outputs=1, initializer="he_normal")
    )
    assert he.std() == pytest.approx(np.sqrt(2 / (19 * 4)), rel=0.15)


def test_seed_repeats_and_changes_initial_weights():
    def kernel(seed):
        return first_layer_kernel(
            build_model(architecture="cnn_2", input_length=200, num_outputs=12, seed=seed)
        )

    np.testing.assert_array_equal(kernel(3), kernel(3))
    assert not np.array_equal(kernel(3), kernel(4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"architecture": "cnn_9"}, "unknown name 'cnn_9'; known: cnn_2"),
        ({"activation": "swish"}, "unknown name 'swish'"),
        ({"initializer": "zeros"}, "unknown name 'zeros'"),
        ({"initializer": "random_normal"}, "needs a standard deviation"),
        ({"num_outputs": 0}, "num_outputs"),
        ({"activation_params": {"scale": 2.0}}, "takes no parameter scale"),
    ],
)
def test_bad_configs_rejected(kwargs, message):
    config = {"architecture": "cnn_deep", "input_length": 200, "num_outputs": 1, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        build_model(**config)


def test_save_load_round_trip_for_every_activation(tmp_path):
    # One small model per activation: predictions must be identical after reload,
    # through plain keras.models.load_model as well (registered serialisation).
    X = batch(4, 200, seed=5)
    for name in activation_names():
        params = {"scale": 2.0} if name == "scaled_exponential" else {}
        config = ModelConfig("cnn_local", 200, 1, activation=name, activation_params=params, seed=1)
        model = build_model(config)
        expected = np.asarray(model(X, training=False))
        directory = tmp_path / name
        save_model(model, directory)
        reloaded = load_model(directory)
        np.testing.assert_array_equal(np.asarray(reloaded(X, training=False)), expected)
        assert reloaded.motiflens_config == config
        plain = keras.models.load_model(directory / "model.keras")
        np.testing.assert_array_equal(np.asarray(plain(X, training=False)), expected)
        assert plain.get_layer(FIRST_LAYER_ACTIVATION).activation == name
    with pytest.raises(NotFoundError, match="no saved model"):
        load_model(tmp_path / "nothing")


@pytest.mark.parametrize("architecture", ["cnn_2", "cnn_deep", "cnn_dist", "residualbind"])
def test_check_model_bounds_the_wide_model_without_building_it(architecture):
    for width in (1, 2, 3):
        config = ModelConfig(
            architecture=architecture, input_length=400, num_outputs=3, width_multiplier=width
        )
        estimate = check_model(config)
        actual = build_model(config).count_params()
        assert actual <= estimate <= width**2 * actual if width > 1 else estimate == actual


def test_model_size_and_width_limits():
    with pytest.raises(ResourceExhaustedError, match="limit is 100,000,000"):
        check_model(ModelConfig(architecture="basset", input_length=200, num_outputs=1, width_multiplier=16))
    with pytest.raises(InvalidInputError, match="width_multiplier: expected an integer from 1 to 16, got 17"):
        check_model(ModelConfig(architecture="cnn_2", input_length=200, num_outputs=1, width_multiplier=17))
    with pytest.raises(InvalidInputError, match="initializer_std: expected a finite number > 0"):
        build_model(
            ModelConfig(
                architecture="cnn_2",
                input_length=200,
                num_outputs=1,
                initializer="random_normal",
                initializer_std=np.inf,
            )
        )
