import functools

import keras
import numpy as np
import pytest

from motiflens.attribution import (
    METHODS,
    Attribution,
    attribute,
    deepshap,
    integrated_gradients,
    ism,
    ism_l2_norm,
    ism_naive,
    make_references,
    saliency,
)
from motiflens.errors import InvalidInputError
from motiflens.models import ARCHITECTURES, build_model, logits_model
from motiflens.sequences import dinucleotide_counts

EYE = np.eye(4, dtype=np.float32)


def one_hot_batch(n, length, seed=0):
    return EYE[np.random.default_rng(seed).integers(0, 4, (n, length))]


def randomise(model, seed=0, first_kernel_scale=3.0):
    """Non-trivial BN statistics and parameters (BN really acts) and a stronger first layer.

    The scaled first-layer kernel makes substitution effects O(1), so that a 1e-4
    tolerance is a real test.
    """
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, channels).astype("float32"))
    kernel = model.get_layer("conv1").kernel
    kernel.assign(kernel * first_kernel_scale)
    return model


@functools.cache
def zoo_model(architecture, length, activation="exponential", num_outputs=2):
    model = build_model(
        architecture=architecture, input_length=length, num_outputs=num_outputs, activation=activation, seed=1
    )
    return randomise(model)


def scored(model, X, output="logit"):
    """The model's scored output for output unit 0..T-1, shape (N, T)."""
    source = logits_model(model) if output == "logit" else model
    return np.asarray(source(X, training=False))


# --------------------------------------------------------------------------- a model linear in its input

LENGTH, FILTERS, WIDTH, OUTPUTS = 12, 3, 4, 2


@pytest.fixture(scope="module")
def linear():
    """conv (width 4, 'same', no bias) → flatten → dense logits (+ bias) → sigmoid.

    The logit is linear in X: logit_t = sum_{p,c} X[p, c] E[p, c, t] + bias_t, with E
    computed by hand from the weights below.
    """
    keras.utils.set_random_seed(3)
    inputs = keras.Input((LENGTH, 4))
    x = keras.layers.Conv1D(FILTERS, WIDTH, padding="same", use_bias=False, name="conv1")(inputs)
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(OUTPUTS, name="logits", bias_initializer="random_normal")(x)
    model = keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(logits))
    kernel = np.asarray(model.get_layer("conv1").kernel)  # (WIDTH, 4, FILTERS)
    dense = np.asarray(model.get_layer("logits").kernel).reshape(LENGTH, FILTERS, OUTPUTS)
    left = (WIDTH - 1) // 2  # 'same' padding puts 1 column before and 2 after
    effective = np.zeros((LENGTH, 4, OUTPUTS))
    for j in range(LENGTH):  # output position j reads inputs j - left .. j - left + WIDTH - 1
        for i in range(WIDTH):
            p = j - left + i
            if 0 <= p < LENGTH:
                effective[p] += kernel[i] @ dense[j]
    X = one_hot_batch(3, LENGTH, seed=5)
    X[1, 4] = 0.0  # an N column: all four substitutions count
    return model, effective.astype(np.float32), X


def test_saliency_of_a_linear_model_is_its_weights(linear):
    model, effective, X = linear
    for target in range(OUTPUTS):
        result = saliency(model, X, target=target)
        assert result.scores.shape == X.shape and result.scores.dtype == np.float32
        np.testing.assert_allclose(result.scores, np.broadcast_to(effective[..., target], X.shape), atol=1e-6)
    times_input = saliency(model, X, target=1, times_input=True)
    np.testing.assert_allclose(times_input.scores, effective[..., 1] * X, atol=1e-6)
    assert times_input.times_input is True


def test_saliency_of_the_probability_is_the_sigmoid_slope_times_the_weights(linear):
    model, effective, X = linear
    probability = scored(model, X, "probability")[:, 0]
    result = saliency(model, X, output="probability")
    expected = (probability * (1 - probability))[:, None, None] * effective[None, ..., 0]
    np.testing.assert_allclose(result.scores, expected, atol=1e-6)


@pytest.mark.parametrize("method", [ism, ism_naive])
def test_ism_of_a_linear_model_is_the_difference_of_weights(linear, method):
    model, effective, X = linear
    result = method(model, X, target=1)
    # Δ[p, b] = E[p, b] - x[p] · E[p]: the weight of the new base minus that of the old column.
    expected = effective[None, ..., 1] - (X * effective[None, ..., 1]).sum(-1, keepdims=True)
    np.testing.assert_allclose(result.scores, expected, atol=1e-5)
    assert (result.scores[X == 1] == 0).all()  # exactly 0 at the wild-type base
    assert (result.scores[1, 4] != 0).all()  # the N column: every base is a substitution
    assert result.method == method.__name__


@pytest.mark.parametrize("method", [integrated_gradients, deepshap])
def test_reference_methods_on_a_linear_model_are_weights_times_input_minus_reference(linear, method):
    model, effective, X = linear
    X = X[[0, 2]]  # hard one-hot rows (dinucleotide shuffles need them)
    for reference in ("shuffle", "dinucleotide"):
        result = method(model, X, target=1, num_references=4, reference=reference, seed=7)
        references = make_references(X, num_references=4, reference=reference, seed=7)
        expected = effective[None, ..., 1] * (X[:, None] - references).mean(axis=1)
        np.testing.assert_allclose(result.scores, expected, atol=1e-5)
        assert (result.num_references, result.reference, result.seed) == (4, reference, 7)


# --------------------------------------------------------------------------- fast ISM against naive ISM

# Short inputs that each architecture's pooling allows (basset on 150 nt, as it is large).
ZOO_LENGTHS = {
    "cnn_2": 100,
    "cnn_50": 100,
    "cnn_deep": 96,
    "cnn_local": 100,
    "cnn_dist": 72,
    "basset": 150,
    "residualbind": 200,
}


def test_every_architecture_is_covered():
    assert set(ZOO_LENGTHS) == set(ARCHITECTURES)


@pytest.mark.parametrize("architecture", sorted(ZOO_LENGTHS))
def test_fast_ism_equals_naive_ism_on_the_zoo(architecture):
    length = ZOO_LENGTHS[architecture]
    model = zoo_model(architecture, length)
    X = one_hot_batch(1 if architecture == "basset" else 2, length, seed=11)
    fast = ism(model, X, target=1)
    naive = ism_naive(model, X, target=1)
    assert fast.scores.shape == X.shape and fast.scores.dtype == np.float32
    assert np.abs(naive.scores).max() > 0.02  # substitutions really change the output
    np.testing.assert_allclose(fast.scores, naive.scores, rtol=0, atol=1e-4)
    assert (fast.scores[X == 1] == 0).all()
    assert (fast.target, fast.output) == (1, "logit")


@pytest.mark.parametrize(
    ("architecture", "activation"),
    [("cnn_deep", "exponential"), ("residualbind", "relu"), ("cnn_dist", "shift_scale_tanh")],
)
def test_fast_ism_equals_naive_ism_on_the_probability(architecture, activation):
    length = ZOO_LENGTHS[architecture]
    model = zoo_model(architecture, length, activation)
    X = one_hot_batch(2, length, seed=12)
    fast = ism(model, X, output="probability")
    naive = ism_naive(model, X, output="probability")
    assert np.abs(naive.scores).max() > 1e-3
    np.testing.assert_allclose(fast.scores, naive.scores, rtol=0, atol=1e-4)
    assert fast.output == "probability"


def test_fast_ism_runs_unwindowable_layers_in_full():
    # LayerNormalization, a strided convolution and global pooling are not windowed:
    # from them on fast ISM computes in full, and must still match naive ISM.
    keras.utils.set_random_seed(4)
    inputs = keras.Input((40, 4))
    x = keras.layers.Conv1D(8, 5, padding="same", name="conv1")(inputs)
    x = keras.layers.Activation("exponential")(x)
    x = keras.layers.Conv1D(8, 3, padding="valid", dilation_rate=2)(x)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.Conv1D(8, 3, strides=2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="logits")(x))
    X = one_hot_batch(2, 40, seed=13)
    naive = ism_naive(model, X)
    assert np.abs(naive.scores).max() > 1e-3
    np.testing.assert_allclose(ism(model, X).scores, naive.scores, rtol=0, atol=1e-5)


def test_fast_ism_passes_hold_a_rows_worth_of_mutants():
    """A pass of fast ISM takes batch_size rows' memory of mutants: the plan counts a full
    row of CNN-deep at 200 nt by hand, and a mutant (its windows and conv slabs) as a
    fraction of it, so a pass of 256 rows takes 4 x 256 mutants."""
    from motiflens.attribution._graph import _Graph
    from motiflens.attribution.ism import _WindowPlan

    model = build_model(architecture="cnn_deep", input_length=200, num_outputs=12, seed=0)
    plan = _WindowPlan(_Graph(model, "logit"), 200)
    row = (
        4 * 200 * 32  # conv1, its batch norm, activation and dropout
        + 4 * 200 * 48  # the conv2 block
        + 50 * 48  # its pool
        + 4 * 50 * 96  # the conv3 block
        + 12 * 96  # its pool
        + 4 * 12 * 128  # the conv4 block
        + 4 * 128  # its pool
        + 512  # flatten
        + 4 * 512  # dense1 block
        + 12  # logits
    )
    assert plan.floats_per_row == row == 95_980
    assert plan.floats_per_row // plan.floats_per_mutant == 4


def test_ism_l2_norm_is_the_norm_over_bases():
    model = zoo_model("cnn_dist", 40)
    X = one_hot_batch(2, 40, seed=14)
    result = ism(model, X)
    reduced = ism_l2_norm(result)
    assert reduced.shape == (2, 40) and reduced.dtype == np.float32
    np.testing.assert_allclose(reduced, np.linalg.norm(result.scores, axis=-1), rtol=1e-6)
    np.testing.assert_allclose(reduced[0, 3], np.sqrt((result.scores[0, 3] ** 2).sum()), rtol=1e-6)


# --------------------------------------------------------------------------- completeness


@pytest.mark.parametrize("architecture", ["cnn_deep", "cnn_dist", "residualbind"])
@pytest.mark.parametrize("activation", ["exponential", "relu"])
def test_deepshap_is_complete(architecture, activation):
    length = ZOO_LENGTHS[architecture]
    model = zoo_model(architecture, length, activation)
    X = one_hot_batch(3, length, seed=21)
    references = make_references(X, num_references=10).reshape(-1, length, 4)
    for output in ("logit", "probability"):
        result = deepshap(model, X, output=output)
        f_x = scored(model, X, output)[:, 0]
        f_r = scored(model, references, output)[:, 0].reshape(3, 10)
        # Tolerance: 1% of the scale of the scored output (the spec), but the rules are
        # exact, so the check is 10x stricter; rounding alone leaves about 1e-6.
        scale = max(np.abs(f_x).max(), np.abs(f_r).max())
        gap = result.scores.sum(axis=(1, 2)) - (f_x - f_r.mean(axis=1))
        assert np.abs(gap).max() <= 1e-3 * scale, (output, gap, scale)
        assert np.abs(f_x - f_r.mean(axis=1)).max() > 1e-3  # not a trivially complete case


def test_deepshap_max_pool_credits_both_argmaxes():
    # feature[j] = (j + 1) · v[base at j], then one max pool over all positions. shap's
    # rule credits x's argmax position with max(fx, fr) - fr and r's argmax position
    # with fx - max(fx, fr); no other position gets anything. Checked per position.
    length, values = 6, np.array([0.1, 0.37, 0.61, 0.83], dtype=np.float32)
    inputs = keras.Input((length, 4))
    x = keras.layers.Dense(length, use_bias=False, name="features")(keras.layers.Flatten()(inputs))
    x = keras.layers.MaxPooling1D(length)(keras.layers.Reshape((length, 1))(x))
    logits = keras.layers.Dense(1, kernel_initializer="ones", name="logits")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, logits)
    weights = np.zeros((length, 4, length), dtype=np.float32)
    for j in range(length):
        weights[j, :, j] = (j + 1) * values
    model.get_layer("features").kernel.assign(weights.reshape(length * 4, length))
    X = one_hot_batch(4, length, seed=22)
    references = make_references(X, num_references=3, seed=2)
    feature_x = (X * values).sum(-1) * np.arange(1, length + 1)
    feature_r = (references * values).sum(-1) * np.arange(1, length + 1)
    expected = np.zeros((4, length))
    for n in range(4):
        for r in range(3):
            f_x, f_r = feature_x[n].max(), feature_r[n, r].max()
            cross = max(f_x, f_r)
            expected[n, feature_x[n].argmax()] += (cross - f_r) / 3
            expected[n, feature_r[n, r].argmax()] += (f_x - cross) / 3
    result = deepshap(model, X, num_references=3, seed=2)
    np.testing.assert_allclose(result.scores.sum(axis=-1), expected, atol=1e-6)
    assert np.abs(expected).max() > 0.1


def test_integrated_gradients_is_complete_up_to_the_quadrature_error():
    model = zoo_model("cnn_deep", 96)
    X = one_hot_batch(2, 96, seed=31)
    references = make_references(X, num_references=10).reshape(-1, 96, 4)
    f_x = scored(model, X)[:, 0]
    f_r = scored(model, references)[:, 0].reshape(2, 10)
    gap = integrated_gradients(model, X).scores.sum(axis=(1, 2)) - (f_x - f_r.mean(axis=1))
    # relu and max-pool switches make the path integrand jump, so the midpoint rule's
    # error is O(1/steps) there rather than O(1/steps²): 0.3-0.5% of the logit scale
    # at 20 steps on this model (up to 1.8% on other zoo models); 2% leaves room for other seeds.
    scale = max(np.abs(f_x).max(), np.abs(f_r).max())
    assert np.abs(gap).max() <= 0.02 * scale, (gap, scale)


def test_integrated_gradients_error_falls_as_one_over_steps_squared_on_a_smooth_model():
    # Smooth path integrand (exp, no relu or max pool): the midpoint rule's error is
    # c/m² + O(1/m⁴), so doubling the steps divides it by about 4.
    keras.utils.set_random_seed(6)
    inputs = keras.Input((20, 4))
    x = keras.layers.Conv1D(4, 5, padding="same", name="conv1", kernel_initializer="random_normal")(inputs)
    x = keras.layers.Activation("exponential")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Dense(1, name="logits")(x))
    model.get_layer("conv1").kernel.assign(model.get_layer("conv1").kernel * 20.0)
    X = one_hot_batch(2, 20, seed=32)
    references = make_references(X, num_references=3).reshape(-1, 20, 4)
    expected = scored(model, X)[:, 0] - scored(model, references)[:, 0].reshape(2, 3).mean(axis=1)
    gaps = [
        integrated_gradients(model, X, num_steps=steps, num_references=3).scores.sum(axis=(1, 2)) - expected
        for steps in (10, 20)
    ]
    assert (np.abs(gaps[1]) < 0.02 * np.abs(expected)).all(), (gaps, expected)
    np.testing.assert_allclose(gaps[1] / gaps[0], 0.25, atol=0.05)


# --------------------------------------------------------------------------- invariances


@pytest.fixture(scope="module")
def small():
    return zoo_model("cnn_dist", 40), one_hot_batch(2, 40, seed=41)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("saliency", {}),
        ("ism", {}),
        ("ism_naive", {}),
        ("integrated_gradients", {"num_steps": 4, "num_references": 3}),
        ("deepshap", {"num_references": 3}),
    ],
)
def test_batch_size_does_not_change_the_result(small, method, options):
    model, X = small
    one = attribute(model, X, method, batch_size=1, **options)
    many = attribute(model, X, method, batch_size=1000, **options)
    assert np.abs(many.scores).max() > 1e-3
    np.testing.assert_allclose(one.scores, many.scores, rtol=1e-5, atol=1e-6)


def test_seeds_repeat_and_differ(small):
    model, X = small
    first = deepshap(model, X, num_references=3, seed=5)
    again = deepshap(model, X, num_references=3, seed=5)
    other = deepshap(model, X, num_references=3, seed=6)
    np.testing.assert_array_equal(first.scores, again.scores)
    assert np.abs(first.scores - other.scores).max() > 1e-4
    np.testing.assert_array_equal(make_references(X, seed=5), make_references(X, seed=5))
    assert not np.array_equal(make_references(X, seed=5), make_references(X, seed=6))


def test_references_keep_composition_and_dinucleotide_counts():
    X = one_hot_batch(3, 50, seed=42)
    shuffled = make_references(X, num_references=4, reference="shuffle", seed=1)
    assert shuffled.shape == (3, 4, 50, 4) and shuffled.dtype == np.float32
    np.testing.assert_array_equal(shuffled.sum(axis=2), np.repeat(X.sum(axis=1)[:, None], 4, axis=1))
    dinucleotide = make_references(X, num_references=4, reference="dinucleotide", seed=1)
    for r in range(4):
        np.testing.assert_array_equal(dinucleotide_counts(dinucleotide[:, r]), dinucleotide_counts(X))
    assert not np.array_equal(dinucleotide[:, 0], X)  # really shuffled
    # A sequence's references depend on the seed and its index in X, not on the rest of the batch.
    np.testing.assert_array_equal(make_references(X[:1], seed=1)[0], make_references(X, seed=1)[0])


def test_results_record_their_settings(small):
    model, X = small
    result = attribute(
        model, X, "integrated_gradients", target=0, output="probability", num_steps=3, num_references=2
    )
    assert isinstance(result, Attribution)
    assert (result.method, result.target, result.output) == ("integrated_gradients", 0, "probability")
    assert (result.num_steps, result.num_references, result.reference, result.seed) == (3, 2, "shuffle", 0)
    np.testing.assert_array_equal(np.asarray(result), result.scores)
    plain = attribute(model, X, "ism")
    assert (plain.method, plain.num_references, plain.num_steps, plain.reference, plain.seed) == (
        "ism",
        None,
        None,
        None,
        None,
    )
    np.testing.assert_array_equal(plain.scores, ism(model, X).scores)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("X", "options", "message"),
    [
        (np.zeros((40, 4), np.float32), {}, r"X: expected shape \(N, L, 4\).*got \(40, 4\)"),
        (np.zeros((2, 40, 5), np.float32), {}, r"X: expected shape \(N, L, 4\)"),
        (np.zeros((2, 39, 4), np.float32), {}, "X: expected length 40 .*got 39"),
        (np.zeros((0, 40, 4), np.float32), {}, r"X: empty batch \(N = 0\)"),
        (one_hot_batch(1, 40), {"target": 2}, r"target: expected an integer in \[0, 2\) .*got 2"),
        (one_hot_batch(1, 40), {"target": -1}, r"target: expected an integer in \[0, 2\)"),
        (one_hot_batch(1, 40), {"target": True}, "target: expected an integer"),
        (one_hot_batch(1, 40), {"batch_size": 0}, "batch_size: expected an integer >= 1, got 0"),
        (
            one_hot_batch(1, 40),
            {"output": "softmax"},
            "output: unknown value 'softmax'; accepted: logit, probability",
        ),
    ],
)
def test_bad_input_is_rejected(small, X, options, message):
    model, _ = small
    for method in METHODS:
        with pytest.raises(InvalidInputError, match=message):
            attribute(model, X, method, **options)


def test_unknown_methods_options_and_settings_are_rejected(small):
    model, X = small
    with pytest.raises(InvalidInputError, match="method: unknown name 'lime'; accepted: saliency, ism"):
        attribute(model, X, "lime")
    with pytest.raises(InvalidInputError, match=r"ism: unknown option\(s\) num_steps; accepted: target"):
        attribute(model, X, "ism", num_steps=5)
    with pytest.raises(InvalidInputError, match="reference: unknown value 'random'; accepted: shuffle"):
        attribute(model, X, "deepshap", reference="random")
    with pytest.raises(InvalidInputError, match="num_steps: expected an integer >= 1, got 0"):
        attribute(model, X, "integrated_gradients", num_steps=0)
    with pytest.raises(InvalidInputError, match="seed: expected an integer >= 0, got -1"):
        make_references(X, seed=-1)


def test_deepshap_rejects_layers_without_a_rule():
    inputs = keras.Input((10, 4))
    x = keras.layers.Conv1D(2, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="logits")(keras.layers.Flatten()(x)))
    with pytest.raises(
        InvalidInputError, match=r"deepshap: layer 'norm' \(LayerNormalization\) has no DeepLIFT"
    ):
        deepshap(model, one_hot_batch(1, 10))


def test_logit_output_needs_a_logits_layer():
    inputs = keras.Input((10, 4))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs)))
    with pytest.raises(InvalidInputError, match="output: 'logit' needs a layer named 'logits'"):
        saliency(model, one_hot_batch(1, 10))
    assert saliency(model, one_hot_batch(1, 10), output="probability").scores.shape == (1, 10, 4)


def test_index_offset_makes_chunked_attribution_equal_to_one_call():
    from motiflens.attribution import deepshap, integrated_gradients, make_references
    from motiflens.models import build_model

    model = build_model(architecture="cnn_local", input_length=100, num_outputs=1, activation="exponential")
    X = np.eye(4, dtype=np.float32)[np.random.default_rng(0).integers(0, 4, (5, 100))]
    for method in (deepshap, integrated_gradients):
        whole = method(model, X, seed=3, num_references=3).scores
        chunked = np.concatenate(
            [
                method(model, X[:2], seed=3, num_references=3).scores,
                method(model, X[2:], seed=3, num_references=3, index_offset=2).scores,
            ]
        )
        np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(
        make_references(X[3:], seed=1, index_offset=3), make_references(X, seed=1)[3:]
    )
    with pytest.raises(InvalidInputError, match="index_offset"):
        make_references(X, index_offset=-1)


def test_compiled_graphs_are_reused_per_model():
    from motiflens.attribution import ism, saliency
    from motiflens.models import build_model

    model = build_model(architecture="cnn_local", input_length=100, num_outputs=2, activation="exponential")
    X = np.eye(4, dtype=np.float32)[np.random.default_rng(1).integers(0, 4, (3, 100))]
    first = saliency(model, X, target=1).scores
    compiled = model.__dict__["_motiflens_compiled"]
    gradient = compiled._functions[("gradient", "logit", 1)]
    np.testing.assert_array_equal(saliency(model, X[::-1], target=1).scores, first[::-1])
    assert compiled._functions[("gradient", "logit", 1)] is gradient  # not traced again
    ism(model, X)
    ism(model, X, target=1)  # the same windowed passes serve every target
    assert set(compiled._functions) == {("gradient", "logit", 1), ("ism", "logit")}
