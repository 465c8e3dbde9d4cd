"""A lab's own Keras model through the real stack: imported, interpreted, exported, and refused when hostile.

The stack is ``Client.local(temporary=True)``: trainer, interpreter and motifmatch on loopback.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from motiflens_client import Client, InvalidArgument, NotFound, ResourceExhausted

pytestmark = pytest.mark.timeout(900)

LENGTH = 60
MOTIF = "TGACTCAG"


def lab_model(head: str = "sigmoid") -> keras.Model:
    """A plain Keras model, names and layout as a lab might choose; its first filter detects MOTIF."""
    inputs = keras.Input((LENGTH, 4), name="dna")
    x = keras.layers.Conv1D(6, 8, padding="valid", name="scanner")(inputs)
    x = keras.layers.Activation("relu", name="scanner_relu")(x)
    x = keras.layers.MaxPooling1D(4, name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    output = keras.layers.Dense(2, activation=head, name="head")(x)
    model = keras.Model(inputs, output, name="lab_model")
    kernel = np.asarray(model.get_layer("scanner").kernel).copy()
    kernel[:, :, 0] = -1.0
    kernel[np.arange(8), ["ACGT".index(b) for b in MOTIF], 0] = 1.0
    bias = np.zeros(6, np.float32)
    bias[0] = -7.0  # filter 0 fires (1.0) only on an exact MOTIF
    model.get_layer("scanner").set_weights([kernel, bias])
    return model


def one_hot(n: int, seed: int) -> np.ndarray:
    """n random sequences of LENGTH nt, each with MOTIF at a random place."""
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(n, LENGTH))]
    for row, start in enumerate(rng.integers(0, LENGTH - 8, size=n)):
        X[row, start : start + 8] = np.eye(4, dtype=np.float32)[["ACGT".index(b) for b in MOTIF]]
    return X


def logits_of(model: keras.Model, X: np.ndarray) -> np.ndarray:
    """The sigmoid head's pre-activation, computed from the original model's own layers (float64)."""
    head = model.get_layer("head")
    hidden = np.asarray(keras.Model(model.input, head.input).predict_on_batch(X), np.float64)
    return hidden @ np.asarray(head.kernel, np.float64) + np.asarray(head.bias, np.float64)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with Client.local(temporary=True) as running:
        yield running


@pytest.fixture(scope="module")
def imported(client: Client, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("lab")
    model = lab_model()
    model.save(folder / "lab.keras")
    info = client.import_model(folder / "lab.keras", name="lab CNN", labels={"lab": "koo"})
    return model, info, folder


def test_import_records_what_was_found(client: Client, imported):
    model, info, _ = imported
    assert info.provenance == "imported" and info.architecture == "imported"
    assert (info.input_length, info.num_outputs) == (LENGTH, 2)
    assert info.output_activation == "sigmoid" and info.first_conv_layer == "scanner"
    assert info.activation == "relu" and info.name == "lab CNN" and dict(info.labels) == {"lab": "koo"}
    listed = {m.model_id: m for m in client.list_models(labels={"lab": "koo"})}
    assert listed[info.model_id].provenance == "imported"


def test_predictions_and_logits_equal_the_original_model(client: Client, imported):
    model, info, _ = imported
    X = one_hot(20, seed=1)
    np.testing.assert_allclose(
        client.predict(info.model_id, X), model.predict_on_batch(X), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        client.predict(info.model_id, X, output="logit"), logits_of(model, X), rtol=1e-4, atol=1e-4
    )


def test_filters_recover_the_planted_motif(client: Client, imported):
    _, info, _ = imported
    X = one_hot(60, seed=2)
    filters = client.filters(info.model_id, X)
    assert len(filters.filters) == 6
    pwm = filters.filters[0].pwm
    assert "".join("ACGT"[i] for i in pwm.argmax(axis=1)) == MOTIF
    assert filters.filters[0].num_sites >= 60
    scans = client.scan_filters(info.model_id, X)
    assert scans.shape == (60, LENGTH - 7, 6)


def test_saliency_is_the_gradient_of_the_logit_and_ism_is_its_naive_definition(client: Client, imported):
    model, info, _ = imported
    X = one_hot(4, seed=3)
    saliency = client.attribute(info.model_id, X, method="saliency", target=1)
    tensor = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        head = model.get_layer("head")
        pre = keras.Model(model.input, head.input)(tensor) @ head.kernel + head.bias
        target = pre[:, 1]
    np.testing.assert_allclose(saliency, tape.gradient(target, tensor).numpy(), rtol=1e-4, atol=1e-5)

    ism = client.attribute(info.model_id, X, method="ism", target=1)
    reference = logits_of(model, X)[:, 1]
    naive = np.zeros_like(ism, dtype=np.float64)
    for position in range(LENGTH):
        for base in range(4):
            mutant = X.copy()
            mutant[:, position] = 0.0
            mutant[:, position, base] = 1.0
            naive[:, position, base] = logits_of(model, mutant)[:, 1] - reference
    np.testing.assert_allclose(ism, naive, rtol=1e-3, atol=2e-4)
    assert np.abs(naive).max() > 0.01  # the check compares real changes, not zeros


def test_deepshap_and_integrated_gradients_work_on_a_model_with_fused_activations(client: Client, imported):
    """The lab model's Dense(activation="relu") is split on import, so DeepSHAP's rules apply."""
    _, info, _ = imported
    X = one_hot(3, seed=8)
    for method in ("deepshap", "integrated_gradients"):
        scores = client.attribute(info.model_id, X, method=method, target=0, num_references=4)
        assert scores.shape == (3, LENGTH, 4) and np.isfinite(scores).all() and np.abs(scores).max() > 0


def test_export_keras_and_saved_model_give_the_same_predictions(client: Client, imported, tmp_path: Path):
    model, info, _ = imported
    X = one_hot(12, seed=4)
    served = client.predict(info.model_id, X)
    keras_file = client.download_model(info.model_id, tmp_path / "out" / "model.keras")
    reloaded = keras.saving.load_model(keras_file, compile=False)
    np.testing.assert_allclose(reloaded.predict_on_batch(X), served, rtol=1e-6, atol=1e-7)

    version = client.download_model(
        info.model_id, tmp_path / "serving", format="saved_model", name="lab", version=3
    )
    assert version == tmp_path / "serving" / "lab" / "3" and (version / "saved_model.pb").is_file()
    loaded = tf.saved_model.load(str(version))
    signature = loaded.signatures["serving_default"]
    outputs = signature(sequence=tf.constant(X))
    assert set(outputs) == {"probabilities", "logits"}
    np.testing.assert_allclose(outputs["probabilities"].numpy(), served, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        outputs["logits"].numpy(), client.predict(info.model_id, X, output="logit"), rtol=1e-5, atol=1e-5
    )


def test_a_trained_zoo_model_exports_as_a_saved_model(client: Client, tmp_path: Path):
    dataset = client.create_task(3, num_sequences=300, seed=0)
    job = client.train(dataset.dataset_id, architecture="cnn_local", activation="exponential", epochs=1)
    model_id = job.wait().model_id
    X = np.eye(4, dtype=np.float32)[np.random.default_rng(6).integers(0, 4, size=(8, 200))]
    version = client.download_model(model_id, tmp_path / "zoo", format="saved_model")
    outputs = tf.saved_model.load(str(version)).signatures["serving_default"](sequence=tf.constant(X))
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(), client.predict(model_id, X), rtol=1e-5, atol=1e-6
    )
    assert version == tmp_path / "zoo" / model_id / "1"


def test_a_softmax_model_has_no_logit_and_attribution_says_so(client: Client, tmp_path: Path):
    lab_model(head="softmax").save(tmp_path / "softmax.keras")
    info = client.import_model(tmp_path / "softmax.keras")
    assert info.output_activation == "softmax"
    X = one_hot(3, seed=7)
    with pytest.raises(InvalidArgument, match="no linear pre-activation.*OUTPUT_KIND_PROBABILITY"):
        client.attribute(info.model_id, X, method="saliency", output="logit")
    # "auto" uses the output the model has.
    scores = client.attribute(info.model_id, X, method="saliency")
    assert scores.shape == (3, LENGTH, 4) and np.abs(scores).max() > 0


def test_hostile_and_wrong_models_are_refused_and_leave_nothing(client: Client, tmp_path: Path):
    before = {m.model_id for m in client.list_models()}
    inputs = keras.Input((LENGTH, 4))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(2, 3)(x))
    keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x)).save(tmp_path / "lambda.keras")
    with pytest.raises(InvalidArgument, match="layer 'double' is a Lambda"):
        client.import_model(tmp_path / "lambda.keras")

    inputs = keras.Input((LENGTH, 5))
    x = keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(2, 3)(inputs))
    keras.Model(inputs, keras.layers.Dense(1)(x)).save(tmp_path / "five.keras")
    with pytest.raises(InvalidArgument, match=r"input has shape \(None, 60, 5\); expected \(None, L, 4\)"):
        client.import_model(tmp_path / "five.keras")

    (tmp_path / "junk.keras").write_bytes(b"not a zip at all")
    with pytest.raises(InvalidArgument, match="not a Keras 3 .keras file"):
        client.import_model(tmp_path / "junk.keras")

    # A corrupt archive: valid members, truncated.
    lab_model().save(tmp_path / "whole.keras")
    data = (tmp_path / "whole.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidArgument):
        client.import_model(tmp_path / "cut.keras")

    with (
        zipfile.ZipFile(tmp_path / "whole.keras") as source,
        zipfile.ZipFile(tmp_path / "extra.keras", "w") as out,
    ):
        for name in source.namelist():
            out.writestr(name, source.read(name))
        out.writestr("assets/payload.py", b"print('hi')")
    with pytest.raises(InvalidArgument, match="unexpected archive members 'assets/payload.py'"):
        client.import_model(tmp_path / "extra.keras")

    with pytest.raises(NotFound):
        client.download_model("model-" + "0" * 32, tmp_path / "none.keras")
    assert not (tmp_path / "none.keras").exists()
    with pytest.raises(InvalidArgument, match="format"):
        client.download_model("model-" + "0" * 32, tmp_path / "x", format="onnx")
    assert {m.model_id for m in client.list_models()} == before


def test_an_import_over_the_upload_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MOTIFLENS_MAX_UPLOAD_MB", "1")
    monkeypatch.setattr("motiflens_client.sdk.model_files.INLINE_IMPORT_BYTES", 1024)
    inputs = keras.Input((LENGTH, 4))
    big = keras.layers.Dense(8, name="wide")(keras.layers.Flatten()(keras.layers.Conv1D(1024, 8)(inputs)))
    keras.Model(inputs, big).save(tmp_path / "big.keras")
    assert (tmp_path / "big.keras").stat().st_size > 1024 * 1024
    with Client.local(temporary=True) as small:
        with pytest.raises(ResourceExhausted, match="upload limit|limit"):
            small.import_model(tmp_path / "big.keras")
        assert small.list_models() == [] and small.list_uploads() == []


def test_the_cli_imports_lists_exports_and_deletes(client: Client, tmp_path: Path):
    from test_cli import run_cli

    def cli(*argv: str):
        return run_cli("--address", client.address, "--timeout", "600", *argv)

    lab_model().save(tmp_path / "lab.keras")
    result = cli(
        "models", "import", str(tmp_path / "lab.keras"), "--name", "cli lab", "--label", "via=cli", "--json"
    )
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert info["provenance"] == "imported" and info["first_conv_layer"] == "scanner"
    assert info["labels"] == {"via": "cli"}
    listed = cli("models", "list")
    assert listed.code == 0 and any(
        line.split()[0] == info["model_id"] and line.split()[-1] == "imported"
        for line in listed.out.splitlines()
    )
    result = cli("models", "export", info["model_id"], "--output", str(tmp_path / "x" / "m.keras"))
    assert result.code == 0 and Path(result.out.strip()) == tmp_path / "x" / "m.keras"
    X = one_hot(5, seed=9)
    again = keras.saving.load_model(tmp_path / "x" / "m.keras", compile=False)
    np.testing.assert_allclose(
        again.predict_on_batch(X), client.predict(info["model_id"], X), rtol=1e-6, atol=1e-7
    )
    result = cli(
        "models", "export", info["model_id"], "--format", "saved_model", "--output", str(tmp_path / "tfs")
    )
    assert result.code == 0 and (Path(result.out.strip()) / "saved_model.pb").is_file()

    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"nope")
    result = cli("models", "import", str(bad))
    assert result.code == 3 and "not a Keras 3 .keras file" in result.err
    assert cli("models", "import", str(tmp_path / "lab.keras"), "--label", "novalue").code == 2
    assert cli("models", "delete", info["model_id"]).code == 0
    assert info["model_id"] not in {m.model_id for m in client.list_models()}
    # The interpreter had it loaded (predict above); a deleted model is not served from its cache.
    with pytest.raises(NotFound):
        client.predict(info["model_id"], X)


def test_localize_refuses_a_valid_padded_first_layer_by_name(client: Client, imported):
    from motiflens_client import FailedPrecondition
    from motiflens_client.types import DatasetSplit

    _, info, _ = imported
    dataset = client.create_task(1, num_sequences=200, seed=0)  # refused before any row is read
    with pytest.raises(FailedPrecondition, match="'valid' padding.*53 of 60 positions"):
        client.localize(info.model_id, DatasetSplit(dataset.dataset_id, "test"))
