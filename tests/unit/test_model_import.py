"""A lab's own Keras model: archive checks, safe loading, normalisation, an imported model's filters."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from motiflens.errors import InvalidInputError, ResourceExhaustedError
from motiflens.filters import filter_pwms, filter_scans
from motiflens.model_import import check_keras_archive, import_keras_file
from motiflens.models import first_conv_layer, logits_model

LIMIT = 64 * 1024 * 1024
MOTIF = "TGACTCAG"


def plain_model(length=60, padding="valid", head="sigmoid", outputs=(2,), conv_activation=None):
    """Conv1D (linear) -> relu -> pool -> dense heads, named as a lab might name them."""
    inputs = keras.Input((length, 4), name="dna")
    x = keras.layers.Conv1D(6, 8, padding=padding, name="motif_scanner", activation=conv_activation)(inputs)
    if conv_activation is None:
        x = keras.layers.Activation("relu", name="scanner_relu")(x)
    x = keras.layers.MaxPooling1D(4, name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    heads = [keras.layers.Dense(n, activation=head, name=f"head{i}")(x) for i, n in enumerate(outputs)]
    return keras.Model(inputs, heads if len(heads) > 1 else heads[0], name="lab_model")


def saved(model: keras.Model, tmp_path: Path, name="lab.keras") -> Path:
    path = tmp_path / name
    model.save(path)
    return path


def one_hot(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(n, length))]


def test_a_sigmoid_model_gets_logits_and_the_same_predictions(tmp_path):
    model = plain_model()
    imported = import_keras_file(saved(model, tmp_path), max_bytes=LIMIT)
    X = one_hot(16, 60)
    assert imported.output_activation == "sigmoid" and imported.has_logits
    assert (imported.input_length, imported.num_outputs) == (60, 2)
    assert imported.first_conv == "motif_scanner" and imported.scan_layer == "scanner_relu"
    expected = model.predict_on_batch(X)
    np.testing.assert_allclose(imported.model.predict_on_batch(X), expected, rtol=1e-5, atol=1e-6)
    logits = logits_model(imported.model).predict_on_batch(X)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), model.predict_on_batch(X), rtol=1e-5, atol=1e-6)
    # The pre-activation is the Dense layer's linear part: same kernel and bias.
    dense = model.get_layer("head0")
    hidden = keras.Model(model.input, dense.input).predict_on_batch(X)
    expected = hidden @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_several_heads_are_concatenated_in_order(tmp_path):
    model = plain_model(outputs=(1, 3))
    imported = import_keras_file(saved(model, tmp_path), max_bytes=LIMIT)
    X = one_hot(5, 60, seed=1)
    assert imported.num_outputs == 4
    expected = np.concatenate([np.asarray(y) for y in model.predict_on_batch(X)], axis=1)
    np.testing.assert_allclose(imported.model.predict_on_batch(X), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("head, kind, logits", [("linear", "linear", True), ("softmax", "softmax", False)])
def test_linear_and_softmax_heads(tmp_path, head, kind, logits):
    imported = import_keras_file(saved(plain_model(head=head), tmp_path), max_bytes=LIMIT)
    assert imported.output_activation == kind and imported.has_logits is logits
    if logits:
        X = one_hot(3, 60)
        np.testing.assert_allclose(
            logits_model(imported.model).predict_on_batch(X), imported.model.predict_on_batch(X), rtol=1e-6
        )
    else:
        with pytest.raises(InvalidInputError, match="no linear pre-activation"):
            logits_model(imported.model)


def test_a_lambda_layer_is_refused_before_keras_loads_it(tmp_path):
    inputs = keras.Input((40, 4))
    x = keras.layers.Conv1D(4, 5)(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(InvalidInputError, match=r"layer 'double' is a Lambda.*safe mode"):
        import_keras_file(saved(model, tmp_path), max_bytes=LIMIT)


def test_custom_classes_are_refused(tmp_path):
    path = saved(plain_model(), tmp_path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    config["config"]["layers"][2]["module"] = "my_lab.layers"
    config["config"]["layers"][2]["class_name"] = "Evil"
    rewritten = tmp_path / "custom.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rewritten, "w") as target:
        for name in source.namelist():
            data = json.dumps(config).encode() if name == "config.json" else source.read(name)
            target.writestr(name, data)
    with pytest.raises(InvalidInputError, match=r"class 'Evil' from module 'my_lab.layers'"):
        check_keras_archive(rewritten, max_bytes=LIMIT)


@pytest.mark.parametrize(
    "shape, message",
    [((60, 5), r"\(None, 60, 5\)"), ((None, 4), r"\(None, None, 4\)"), ((240,), r"\(None, 240\)")],
)
def test_inputs_that_are_not_fixed_length_one_hot_are_refused(tmp_path, shape, message):
    inputs = keras.Input(shape)
    if len(shape) == 2:
        x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(2, 3)(inputs))
    else:
        x = inputs
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    with pytest.raises(InvalidInputError, match=message + r"; expected \(None, L, 4\)"):
        import_keras_file(saved(model, tmp_path), max_bytes=LIMIT)


def test_an_output_that_is_not_one_value_per_task_is_refused(tmp_path):
    inputs = keras.Input((30, 4))
    model = keras.Model(inputs, keras.layers.Conv1D(2, 3, padding="same")(inputs))
    with pytest.raises(InvalidInputError, match=r"output 0 has shape \(None, 30, 2\); expected \(None, T\)"):
        import_keras_file(saved(model, tmp_path), max_bytes=LIMIT)


def test_archives_that_are_not_a_plain_keras_model_are_refused(tmp_path):
    path = saved(plain_model(), tmp_path)
    not_zip = tmp_path / "x.keras"
    not_zip.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InvalidInputError, match="not a Keras 3 .keras file"):
        check_keras_archive(not_zip, max_bytes=LIMIT)
    extra = tmp_path / "extra.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(extra, "w") as target:
        for name in source.namelist():
            target.writestr(name, source.read(name))
        target.writestr("assets/run_me.py", b"import os")
    with pytest.raises(InvalidInputError, match=r"unexpected archive members 'assets/run_me.py'"):
        check_keras_archive(extra, max_bytes=LIMIT)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            target.writestr(name, b" " * (LIMIT + 1) if name == "metadata.json" else source.read(name))
    assert bomb.stat().st_size < LIMIT // 100
    with pytest.raises(ResourceExhaustedError, match="decompresses to"):
        check_keras_archive(bomb, max_bytes=LIMIT)


def test_weights_that_link_to_another_file_are_refused(tmp_path):
    path = saved(plain_model(), tmp_path)
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as handle:
        handle["kernel"] = np.ones((8, 4, 6), np.float32)
    with zipfile.ZipFile(path) as source:
        weights = tmp_path / "w.h5"
        weights.write_bytes(source.read("model.weights.h5"))
    with h5py.File(weights, "a") as handle:
        handle["stolen"] = h5py.ExternalLink(str(secret), "kernel")
    linked = tmp_path / "linked.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(linked, "w") as target:
        for name in source.namelist():
            target.writestr(name, weights.read_bytes() if name == "model.weights.h5" else source.read(name))
    with pytest.raises(InvalidInputError, match="external link"):
        check_keras_archive(linked, max_bytes=LIMIT)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_filters_of_an_imported_model_recover_a_planted_motif(tmp_path, padding):
    """A constructed first layer that detects MOTIF: its PWM is MOTIF whatever the padding."""
    model = plain_model(length=60, padding=padding)
    conv = model.get_layer("motif_scanner")
    kernel = np.full((8, 4, 6), -1.0, np.float32)
    kernel[np.arange(8), ["ACGT".index(b) for b in MOTIF], 0] = 1.0
    conv.set_weights([kernel, np.full(6, -7.0, np.float32)])  # fires (1.0) only on an exact match
    imported = import_keras_file(saved(model, tmp_path), max_bytes=LIMIT)
    X = one_hot(50, 60, seed=3)
    starts = np.random.default_rng(4).integers(0, 60 - 8, size=50)
    for row, start in enumerate(starts):
        X[row, start : start + 8] = np.eye(4, dtype=np.float32)[["ACGT".index(b) for b in MOTIF]]
    assert first_conv_layer(imported.model).name == "motif_scanner"
    scans = filter_scans(imported.model, X)
    assert scans.shape == (50, 60 if padding == "same" else 53, 6)
    alignment = filter_pwms(imported.model, X, threshold=0.5)
    pwm = alignment.filters[0].pwm
    assert alignment.filters[0].num_sites >= 50
    assert "".join("ACGT"[i] for i in pwm.argmax(axis=1)) == MOTIF
    assert pwm.max(axis=1).min() == 1.0


def test_fused_activations_are_split_so_deepshap_and_scans_see_them(tmp_path):
    from motiflens.attribution import attribute

    model = plain_model(conv_activation="relu")  # Conv1D(activation="relu"), Dense(activation="sigmoid")
    imported = import_keras_file(saved(model, tmp_path), max_bytes=LIMIT)
    assert imported.scan_layer == "motif_scanner_relu" and imported.output_activation == "sigmoid"
    layers = {layer.name: layer for layer in imported.model.layers}
    assert layers["motif_scanner"].activation.__name__ == "linear"
    assert isinstance(layers["motif_scanner_relu"], keras.layers.Activation)
    X = one_hot(6, 60, seed=5)
    np.testing.assert_allclose(
        imported.model.predict_on_batch(X), model.predict_on_batch(X), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        filter_scans(imported.model, X),
        np.maximum(keras.Model(model.input, model.get_layer("motif_scanner").output).predict_on_batch(X), 0),
        rtol=1e-5,
        atol=1e-6,
    )
    scores = np.asarray(attribute(imported.model, X, method="deepshap", target=0, num_references=4).scores)
    assert scores.shape == (6, 60, 4) and np.isfinite(scores).all() and np.abs(scores).max() > 0
