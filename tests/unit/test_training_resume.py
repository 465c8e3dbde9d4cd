"""Checkpoint and resume of the training recipe: state round trip, weights, optimiser, controller."""

from __future__ import annotations

import math

import numpy as np
import pytest

from motiflens.errors import InvalidInputError
from motiflens.models import ModelConfig, build_model
from motiflens.synthetic import make_task1
from motiflens.training import TrainConfig, TrainingCallback, TrainingState, train

CONFIG = ModelConfig(architecture="cnn_local", activation="relu", input_length=200, num_outputs=12, seed=2)
BATCH = 50


class Checkpoints(TrainingCallback):
    """Keeps every checkpoint it is given, by epoch."""

    checkpoints = True

    def __init__(self):
        self.states: dict[int, TrainingState] = {}

    def on_checkpoint(self, state: TrainingState) -> None:
        self.states[state.epochs_done] = state


@pytest.fixture(scope="module")
def dataset():
    return make_task1(300, seed=4).dataset


@pytest.fixture(scope="module")
def full_run(dataset):
    """Three uninterrupted epochs, every checkpoint kept."""
    checkpoints = Checkpoints()
    config = TrainConfig(epochs=3, batch_size=BATCH, seed=5, early_stopping_patience=None)
    result = train(build_model(CONFIG), dataset, config, callbacks=[checkpoints])
    return config, result, checkpoints.states


def steps_per_epoch(dataset) -> int:
    return math.ceil(len(dataset.train) / BATCH)


def test_state_round_trips_through_bytes_without_pickle(dataset, full_run):
    _, result, states = full_run
    assert sorted(states) == [1, 2, 3]
    state = states[2]
    back = TrainingState.from_bytes(state.to_bytes())
    assert back.epochs_done == 2 and back.history == result.history[:2]
    assert back.controller == state.controller and back.stopped_by == ""
    for ours, theirs in (
        (back.weights, state.weights),
        (back.optimizer_variables, state.optimizer_variables),
        (back.best_weights, state.best_weights),
    ):
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    # The step counter is the first optimiser variable: two epochs of mini-batches.
    assert int(back.optimizer_variables[0]) == 2 * steps_per_epoch(dataset) == 2 * 5
    with pytest.raises(InvalidInputError, match="training state: unreadable"):
        TrainingState.from_bytes(state.to_bytes()[:1000])


def test_resume_continues_from_the_checkpoint(dataset, full_run):
    config, full, states = full_run
    model = build_model(CONFIG)
    resumed = train(model, dataset, config, resume=states[1])
    assert [e.epoch for e in resumed.history] == [1, 2, 3]
    assert resumed.history[0] == full.history[0]  # epoch 1 comes from the checkpoint
    # The optimiser went on counting from the checkpoint: 3 epochs of steps, not 2.
    assert int(model.optimizer.iterations.numpy()) == 3 * steps_per_epoch(dataset)
    # Continuing, not starting over: epoch 2's training loss is close to the uninterrupted
    # run's and well below the loss of a fresh model's first epoch.
    assert resumed.history[1].loss < full.history[0].loss - 0.02
    assert resumed.history[1].loss == pytest.approx(full.history[1].loss, abs=0.02)


def test_resume_with_nothing_left_restores_the_best_weights(dataset, full_run):
    config, full, states = full_run
    model = build_model(CONFIG)
    resumed = train(model, dataset, config, resume=states[3])
    assert resumed.history == full.history and resumed.best_epoch == full.best_epoch
    for a, b in zip(model.get_weights(), states[3].best_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.test_metrics["auroc"] == pytest.approx(full.test_metrics["auroc"], abs=1e-6)


def test_resume_restores_learning_rate_and_early_stopping(dataset, full_run):
    _, _, states = full_run
    state = states[1]
    model = build_model(CONFIG)
    config = TrainConfig(epochs=10, batch_size=BATCH, seed=5, lr_patience=2, early_stopping_patience=2)
    # A controller that saw its best long ago (nothing can beat +inf), one epoch of
    # patience used, and a learning rate a fresh optimiser would not have.
    variables = list(state.optimizer_variables)
    variables[1] = np.asarray(2.5e-4, dtype=variables[1].dtype)  # adam/learning_rate
    controller = {"best": math.inf, "best_epoch": 0, "since_best": 1, "since_decay": 1}
    tweaked = TrainingState(1, state.history, state.weights, variables, state.best_weights, controller)
    result = train(model, dataset, config, resume=tweaked)
    # Epoch 2 ran at the restored rate, did not improve, and used up the patience.
    assert [e.epoch for e in result.history] == [1, 2]
    assert result.history[1].learning_rate == pytest.approx(2.5e-4)
    assert not result.history[1].improved and result.stopped_by == "early_stopping"
    assert result.best_epoch == 1
    # The plateau decay (lr_patience 2) was applied after epoch 2.
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(2.5e-4 * 0.3)


def test_resume_refuses_a_checkpoint_of_another_model(dataset, full_run):
    config, _, states = full_run
    other = build_model(ModelConfig(architecture="cnn_2", input_length=200, num_outputs=12))
    with pytest.raises(InvalidInputError, match="resume: the checkpoint does not fit this model"):
        train(other, dataset, config, resume=states[1])
