import json
import math

import numpy as np
import pytest

from motiflens.errors import InvalidInputError
from motiflens.evaluation import binary_cross_entropy, classification_metrics
from motiflens.models import build_model, load_model
from motiflens.sequences import Dataset, Split
from motiflens.synthetic import make_task1
from motiflens.training import (
    PlateauController,
    TrainConfig,
    TrainingCallback,
    compile_for_training,
    train,
)


def test_plateau_controller_with_scripted_metric():
    controller = PlateauController(lr_patience=2, lr_decay_factor=0.3, early_stopping_patience=5)
    values = [0.5, 0.6, 0.6, 0.55, 0.7, 0.65, 0.69, 0.68, 0.7, 0.1]
    decisions = [controller.update(epoch, value) for epoch, value in enumerate(values)]
    improved = [d[0] for d in decisions]
    factors = [d[1] for d in decisions]
    stops = [d[2] for d in decisions]
    # Equal is not an improvement; the decay counter restarts after each decay.
    assert improved == [True, True, False, False, True, False, False, False, False, False]
    assert factors == [1, 1, 1, 0.3, 1, 1, 0.3, 1, 0.3, 1]
    assert stops == [False] * 9 + [True]  # five epochs after the best (epoch 4)
    assert controller.best == 0.7 and controller.best_epoch == 4


def test_plateau_controller_ignores_nan_and_can_disable_stopping():
    controller = PlateauController(lr_patience=1, early_stopping_patience=None)
    assert controller.update(0, math.nan) == (False, 0.3, False)
    assert controller.update(1, 0.2)[0] is True
    assert all(not controller.update(e, 0.1)[2] for e in range(2, 50))


def test_classification_metrics_against_hand_values():
    y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]], np.float32)
    scores = np.array([[0.9, 0.2], [0.1, 0.3], [0.4, 0.8], [0.6, 0.1]], np.float32)
    metrics = classification_metrics(y, scores)
    # Column 0: positives 0.9, 0.4 vs negatives 0.1, 0.6 -> 3 of 4 pairs ordered.
    assert metrics["auroc_per_class"][0] == pytest.approx(0.75)
    # Column 1: positives 0.8, 0.1 vs negatives 0.2, 0.3 -> 2 of 4 pairs.
    assert metrics["auroc_per_class"][1] == pytest.approx(0.5)
    assert metrics["auroc"] == pytest.approx(0.625)
    # Average precision of column 0: ranks 0.9 (pos), 0.6 (neg), 0.4 (pos) -> (1 + 2/3) / 2.
    assert metrics["aupr_per_class"][0] == pytest.approx(5 / 6)
    one_class = classification_metrics(np.ones((3, 1)), np.array([[0.1], [0.2], [0.3]]))
    assert math.isnan(one_class["auroc"])
    assert binary_cross_entropy([[1.0]], [[0.5]]) == pytest.approx(math.log(2))


def tiny_dataset(num_targets=3, n=600, length=100, seed=0):
    """Labels = presence of a planted k-mer, so a small model can learn something."""
    rng = np.random.default_rng(seed)
    kmers = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (num_targets, 8))]

    def split(count):
        X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (count, length))]
        y = rng.integers(0, 2, (count, num_targets)).astype(np.float32)
        for i, j in zip(*np.nonzero(y), strict=True):
            start = rng.integers(0, length - 8)
            X[i, start : start + 8] = kmers[j]
        return Split(X, y)

    return Dataset(split(n), split(n // 4), split(n // 4))


def small_model(num_targets, seed=0, length=100):
    return build_model(
        architecture="cnn_local",
        input_length=length,
        num_outputs=num_targets,
        activation="exponential",
        seed=seed,
    )


class Recorder(TrainingCallback):
    def __init__(self, stop_after=None):
        self.events = []
        self.began = self.ended = 0
        self.stop_after = stop_after

    def on_train_begin(self, model_config, train_config):
        self.began += 1
        self.model_config = model_config

    def on_epoch_end(self, event):
        self.events.append(event)
        if self.stop_after is not None and len(self.events) >= self.stop_after:
            self.stop_requested = True

    def on_train_end(self, result):
        self.ended += 1


def test_schedule_and_stopping_follow_the_monitored_metric():
    dataset = tiny_dataset(num_targets=3)
    config = TrainConfig(
        epochs=12, lr_patience=1, lr_decay_factor=0.5, early_stopping_patience=3, learning_rate=3e-3, seed=2
    )
    result = train(small_model(3, seed=2), dataset, config)
    history = result.history
    assert all(event.monitored == "aupr" for event in history)  # multi-label -> AUPR
    # Replaying the controller over the recorded validation AUPR must give the
    # recorded learning rates, the stop epoch and the best epoch.
    replay = PlateauController(1, 0.5, 3)
    learning_rate = 3e-3
    for index, event in enumerate(history):
        assert event.learning_rate == pytest.approx(learning_rate, rel=1e-5)
        improved, factor, stop = replay.update(index, event.val_aupr)
        assert improved == event.improved
        learning_rate *= factor
        if stop:
            assert index == len(history) - 1 and result.stopped_by == "early_stopping"
    assert result.best_epoch == int(np.argmax([e.val_aupr for e in history])) + 1
    # The model returned carries the best epoch's weights: its validation AUPR is the best one.
    scores = result.model.predict(dataset.valid.X, verbose=0)
    assert classification_metrics(dataset.valid.y, scores)["aupr"] == pytest.approx(
        max(e.val_aupr for e in history), abs=1e-6
    )


def test_binary_task_monitors_auroc():
    assert TrainConfig().resolved_monitor(1) == "auroc"
    assert TrainConfig().resolved_monitor(12) == "aupr"
    dataset = tiny_dataset(num_targets=1, n=300)
    result = train(small_model(1), dataset, TrainConfig(epochs=2))
    assert [event.monitored for event in result.history] == ["auroc", "auroc"]
    assert result.best_epoch == int(np.argmax([e.val_auroc for e in result.history])) + 1


def test_callbacks_stop_request_artifacts_and_repeatability(tmp_path):
    dataset = tiny_dataset(num_targets=2, n=400)
    recorder = Recorder(stop_after=2)
    result = train(
        small_model(2, seed=5),
        dataset,
        TrainConfig(epochs=10, seed=5),
        callbacks=[recorder],
        output_dir=tmp_path / "run",
    )
    assert recorder.began == 1 and recorder.ended == 1
    assert [e.epoch for e in recorder.events] == [1, 2]
    assert result.stopped_by == "stop_requested"
    assert recorder.model_config["architecture"] == "cnn_local"
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} == {
        "model.keras",
        "model_config.json",
        "train_config.json",
        "history.json",
        "metrics.json",
    }
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["auroc"] == pytest.approx(result.test_metrics["auroc"])
    assert len(json.loads((run / "history.json").read_text())) == 2
    reloaded = load_model(run)
    np.testing.assert_allclose(
        reloaded.predict(dataset.test.X, verbose=0),
        result.model.predict(dataset.test.X, verbose=0),
        rtol=1e-6,
    )
    # Same seed on CPU -> identical run.
    again = train(small_model(2, seed=5), dataset, TrainConfig(epochs=2, seed=5))
    assert [e.loss for e in again.history] == [e.loss for e in result.history]
    assert again.test_metrics["auroc"] == result.test_metrics["auroc"]


def test_rejects_bad_config_and_mismatched_data():
    dataset = tiny_dataset(num_targets=2, n=100)
    with pytest.raises(InvalidInputError, match="epochs: expected >= 1"):
        train(small_model(2), dataset, TrainConfig(epochs=0))
    with pytest.raises(InvalidInputError, match="monitor: expected one of"):
        train(small_model(2), dataset, TrainConfig(monitor="accuracy"))
    with pytest.raises(InvalidInputError, match="the model has 3 outputs"):
        train(small_model(3), dataset, TrainConfig(epochs=1))
    with pytest.raises(InvalidInputError, match="the model takes sequences of 120 nt, got 100"):
        train(small_model(2, length=120), dataset, TrainConfig(epochs=1))


def test_cnn_deep_exponential_learns_task1():
    """The paper's recipe on a 10,000-sequence Task 1 set: mean test AUROC well above chance."""
    task = make_task1(10_000, seed=1)
    model = build_model(
        architecture="cnn_deep", input_length=200, num_outputs=12, activation="exponential", seed=1
    )
    result = train(model, task.dataset, TrainConfig(epochs=10, seed=1))
    assert result.test_metrics["auroc"] >= 0.65
    assert len(result.test_metrics["auroc_per_class"]) == 12
    assert result.history[-1].loss < result.history[0].loss


def test_several_steps_per_call_give_the_weights_of_one_step_per_call():
    """train() runs STEPS_PER_EXECUTION steps per call into the graph; a plain fit with one
    step per call, same seed and batches, ends on bit-identical weights (7 batches a epoch,
    so the last call of each epoch is a partial one)."""
    import keras

    task = make_task1(1000, seed=3)
    assert len(task.dataset.train) == 700
    config = TrainConfig(epochs=1, seed=4, batch_size=100)

    def fresh():
        return build_model(architecture="cnn_deep", input_length=200, num_outputs=12, seed=6)

    result = train(fresh(), task.dataset, config)
    model = fresh()
    keras.utils.set_random_seed(config.seed)
    compile_for_training(model, config, steps_per_execution=1)
    model.fit(task.dataset.train.X, task.dataset.train.y, batch_size=100, epochs=1, shuffle=True, verbose=0)
    for ours, plain in zip(result.model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, plain)


_TRAIN_AND_DIGEST = """
import hashlib, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from motiflens.models import build_model
from motiflens.synthetic import make_task1
from motiflens.training import TrainConfig, train
task = make_task1(900, seed=5)
model = build_model(
    architecture="cnn_deep", input_length=200, num_outputs=12, activation="exponential", seed=11
)
train(model, task.dataset, TrainConfig(epochs=2, seed=11, batch_size=50))
weights = np.concatenate([w.ravel() for w in model.get_weights()])
print(hashlib.sha256(weights.tobytes()).hexdigest())
"""


def test_the_same_seed_gives_the_same_weights_on_a_busy_machine():
    """Two runs in fresh processes, each while a CPU-bound process runs on every core."""
    import os
    import subprocess
    import sys

    digests = []
    for _ in range(2):
        hogs = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)
        ]
        try:
            command = [sys.executable, "-c", _TRAIN_AND_DIGEST]
            run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        assert run.returncode == 0, run.stderr[-2000:]
        digests.append(run.stdout.split()[-1])
    assert digests[0] == digests[1] and len(digests[0]) == 64
