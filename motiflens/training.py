"""The paper's training recipe.

Binary cross-entropy, Adam (learning rate 1e-3), mini-batches of 100. After each
epoch the validation set is predicted once; from those predictions come the
validation loss and the monitored metric — mean AUPR for multi-label tasks,
AUROC for binary tasks (the paper's choice). When that metric has not improved
for ``lr_patience`` epochs (5) the learning rate is multiplied by
``lr_decay_factor`` (0.3; the authors' code used 0.2); training stops after
``early_stopping_patience`` epochs (20) without improvement, and the weights of
the best validation epoch are restored. Test metrics are those of the restored
weights.

Progress is reported through :class:`TrainingCallback` objects (the trainer
service streams them); a callback can also ask training to stop (cancellation).

Checkpoints. A callback whose ``checkpoints`` is True also gets, after every epoch
and before that epoch's ``on_epoch_end``, a :class:`TrainingState`: the weights,
the optimiser's variables (step count, learning rate, Adam moments), the history,
the plateau controller (best value, epochs since the best and since the last decay),
the best weights so far and the stop decision. ``train(..., resume=state)``
continues such a run after its last completed epoch with all of that restored, so a
resumed run follows the recipe (schedule, early stopping, best-weight restore) as if
it had not stopped; only the mini-batch shuffling differs from an uninterrupted run.
:meth:`TrainingState.to_bytes` serialises a state as an ``.npz`` archive (arrays
plus a JSON header, no pickle).
"""

from __future__ import annotations

import io
import json
import logging
import math
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from motiflens.errors import InvalidInputError
from motiflens.evaluation import binary_cross_entropy, classification_metrics
from motiflens.models import save_model
from motiflens.sequences import Dataset, Split, check_one_hot

logger = logging.getLogger(__name__)

MONITORS = ("auto", "aupr", "auroc", "loss")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (paper defaults).

    Attributes
    ----------
    epochs : int
        Maximum number of epochs (paper: 100).
    batch_size : int
        Sequences per mini-batch (paper: 100).
    learning_rate : float
        Initial Adam learning rate (paper: 1e-3).
    lr_decay_factor : float
        Multiplier applied to the learning rate on a plateau (0.3).
    lr_patience : int
        Epochs without improvement before the learning rate decays (5).
    early_stopping_patience : int or None
        Epochs without improvement before training stops (20); None disables it.
    monitor : {"auto", "aupr", "auroc", "loss"}
        Validation metric that drives decay, stopping and best weights. "auto" is
        AUPR for multi-label tasks (T > 1) and AUROC for binary ones.
    seed : int
        Seeds Python, numpy and TensorFlow; with TensorFlow's op determinism (turned
        on by :func:`train`) the same seed repeats a run, however loaded the machine.
    """

    epochs: int = 100
    batch_size: int = 100
    learning_rate: float = 1e-3
    lr_decay_factor: float = 0.3
    lr_patience: int = 5
    early_stopping_patience: int | None = 20
    monitor: str = "auto"
    seed: int = 0

    def validate(self) -> None:
        """Raise InvalidInputError naming the first bad field."""
        if self.epochs < 1:
            raise InvalidInputError(f"epochs: expected >= 1, got {self.epochs}", field="epochs")
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size: expected >= 1, got {self.batch_size}", field="batch_size")
        if not self.learning_rate > 0:
            raise InvalidInputError(
                f"learning_rate: expected > 0, got {self.learning_rate}", field="learning_rate"
            )
        if not 0 < self.lr_decay_factor <= 1:
            raise InvalidInputError(
                f"lr_decay_factor: expected in (0, 1], got {self.lr_decay_factor}", field="lr_decay_factor"
            )
        if self.lr_patience < 1:
            raise InvalidInputError(
                f"lr_patience: expected >= 1, got {self.lr_patience}", field="lr_patience"
            )
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise InvalidInputError(
                f"early_stopping_patience: expected >= 1 or None, got {self.early_stopping_patience}",
                field="early_stopping_patience",
            )
        if self.monitor not in MONITORS:
            raise InvalidInputError(
                f"monitor: expected one of {', '.join(MONITORS)}, got {self.monitor!r}", field="monitor"
            )

    def resolved_monitor(self, num_targets: int) -> str:
        """The metric actually monitored for a task with ``num_targets`` outputs."""
        if self.monitor != "auto":
            return self.monitor
        return "aupr" if num_targets > 1 else "auroc"


# --------------------------------------------------------------------------- plateau logic


@dataclass
class PlateauController:
    """Learning-rate decay and early stopping on a monitored metric (higher is better).

    Feed one value per epoch to :meth:`update`. It returns what to do: whether the
    epoch improved the best value, the factor to apply to the learning rate (1.0
    for none) and whether to stop. Kept free of Keras so it can be tested with a
    scripted sequence of metric values.
    """

    lr_patience: int = 5
    lr_decay_factor: float = 0.3
    early_stopping_patience: int | None = 20
    best: float = -math.inf
    best_epoch: int = -1
    _since_best: int = 0
    _since_decay: int = 0

    def update(self, epoch: int, value: float) -> tuple[bool, float, bool]:
        """Record the metric of ``epoch``; return (improved, lr_factor, stop)."""
        if not math.isnan(value) and value > self.best:
            self.best, self.best_epoch = value, epoch
            self._since_best = self._since_decay = 0
            return True, 1.0, False
        self._since_best += 1
        self._since_decay += 1
        lr_factor = 1.0
        if self._since_decay >= self.lr_patience:
            lr_factor = self.lr_decay_factor
            self._since_decay = 0
        stop = self.early_stopping_patience is not None and self._since_best >= self.early_stopping_patience
        return False, lr_factor, stop

    def state(self) -> dict:
        """The mutable part (best value and epoch, epochs since the best and the last decay)."""
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "since_best": self._since_best,
            "since_decay": self._since_decay,
        }

    def restore(self, state: dict) -> None:
        """Continue from :meth:`state` of an earlier run with the same settings."""
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self._since_best = int(state["since_best"])
        self._since_decay = int(state["since_decay"])


# --------------------------------------------------------------------------- callbacks


@dataclass(frozen=True)
class EpochEvent:
    """What happened in one epoch (1-based ``epoch``)."""

    epoch: int
    loss: float
    val_loss: float
    val_auroc: float
    val_aupr: float
    monitored: str
    learning_rate: float
    improved: bool
    seconds: float

    def to_dict(self) -> dict:
        """Plain-dict form (JSON-ready)."""
        return asdict(self)


_STATE_FORMAT = "motiflens.training_state.v1"


@dataclass
class TrainingState:
    """A run after its last completed epoch: what :func:`train` needs to continue it.

    Attributes
    ----------
    epochs_done : int
        Completed epochs (the next one is ``epochs_done + 1``).
    history : list of EpochEvent
        Epochs 1 .. ``epochs_done``.
    weights : list of np.ndarray
        ``model.get_weights()`` after the last epoch.
    optimizer_variables : list of np.ndarray
        ``model.optimizer.variables`` in order (step count, learning rate, moments).
    best_weights : list of np.ndarray or None
        Weights of the best validation epoch so far (None before any improvement).
    controller : dict
        :meth:`PlateauController.state`.
    stopped_by : str
        "" (go on), "early_stopping" or "stop_requested": the run decided to stop here.
    """

    epochs_done: int
    history: list[EpochEvent]
    weights: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    best_weights: list[np.ndarray] | None
    controller: dict
    stopped_by: str = ""

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive: the arrays, and a JSON header (no pickled objects)."""
        header = {
            "format": _STATE_FORMAT,
            "epochs_done": self.epochs_done,
            "history": [event.to_dict() for event in self.history],
            "controller": self.controller,
            "stopped_by": self.stopped_by,
            "counts": {
                "weights": len(self.weights),
                "optimizer": len(self.optimizer_variables),
                "best": -1 if self.best_weights is None else len(self.best_weights),
            },
        }
        arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
        for group, values in (
            ("weights", self.weights),
            ("optimizer", self.optimizer_variables),
            ("best", self.best_weights or []),
        ):
            arrays.update({f"{group}_{i:05d}": np.asarray(value) for i, value in enumerate(values)})
        buffer = io.BytesIO()
        # numpy's stub lets ** fill savez's allow_pickle: bool too; these keys are array names only
        # (not passing allow_pickle= explicitly: older numpy 2.x would store it as an array).
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainingState:
        """Parse :meth:`to_bytes` output.

        Raises
        ------
        InvalidInputError
            Not such an archive, or one with missing arrays.
        """
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                header = json.loads(archive["header"].tobytes())
                if header.get("format") != _STATE_FORMAT:
                    raise InvalidInputError(f"training state: unknown format {header.get('format')!r}")
                counts = header["counts"]

                def group(name: str, count: int) -> list[np.ndarray]:
                    return [archive[f"{name}_{i:05d}"] for i in range(count)]

                return cls(
                    epochs_done=int(header["epochs_done"]),
                    history=[EpochEvent(**event) for event in header["history"]],
                    weights=group("weights", counts["weights"]),
                    optimizer_variables=group("optimizer", counts["optimizer"]),
                    best_weights=None if counts["best"] < 0 else group("best", counts["best"]),
                    controller=dict(header["controller"]),
                    stopped_by=str(header.get("stopped_by", "")),
                )
        except InvalidInputError:
            raise
        except (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise InvalidInputError(f"training state: unreadable ({type(exc).__name__}: {exc})") from exc


class TrainingCallback:
    """Receives training progress; override what you need.

    Set ``stop_requested`` to True (from any thread) to end training after the
    current epoch; the run then finishes normally with the best weights so far.
    Set ``checkpoints`` to True to receive :meth:`on_checkpoint` (building the state
    copies every weight, so it is only done when some callback asks).
    """

    stop_requested: bool = False
    checkpoints: bool = False

    def on_train_begin(self, model_config: dict, train_config: TrainConfig) -> None:
        """Called once before the first epoch."""

    def on_checkpoint(self, state: TrainingState) -> None:
        """Called after every epoch, before :meth:`on_epoch_end`, when ``checkpoints`` is True."""

    def on_epoch_end(self, event: EpochEvent) -> None:
        """Called after every epoch with its metrics."""

    def on_train_end(self, result: TrainingResult) -> None:
        """Called once with the final result."""


class _RecipeCallback(keras.callbacks.Callback):
    """Keras side of the recipe: validation metrics, plateau control, best weights, reporting."""

    def __init__(
        self, valid: Split, config: TrainConfig, monitor: str, listeners: Sequence[TrainingCallback]
    ):
        super().__init__()
        self.valid = valid
        self.config = config
        self.monitor = monitor
        self.listeners = listeners
        self.controller = PlateauController(
            config.lr_patience, config.lr_decay_factor, config.early_stopping_patience
        )
        self.history: list[EpochEvent] = []
        self.best_weights: list[np.ndarray] | None = None
        self.stopped_by = ""
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        # One prediction pass gives the loss and both areas; Keras' own validation
        # would run the same data a second time.
        scores = self.model.predict(self.valid.X, batch_size=max(self.config.batch_size, 256), verbose=0)
        metrics = classification_metrics(self.valid.y, scores)
        val_loss = binary_cross_entropy(self.valid.y, scores)
        value = -val_loss if self.monitor == "loss" else metrics[self.monitor]
        improved, lr_factor, stop = self.controller.update(epoch, value)
        optimizer = self.model.optimizer
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        if improved:
            self.best_weights = self.model.get_weights()
        event = EpochEvent(
            epoch=epoch + 1,
            loss=float(logs.get("loss", math.nan)) if logs else math.nan,
            val_loss=val_loss,
            val_auroc=metrics["auroc"],
            val_aupr=metrics["aupr"],
            monitored=self.monitor,
            learning_rate=learning_rate,
            improved=improved,
            seconds=time.perf_counter() - self._epoch_start,
        )
        self.history.append(event)
        logger.info(
            "epoch %d: loss %.4f val_loss %.4f val_%s %.4f lr %.2e",
            event.epoch,
            event.loss,
            val_loss,
            self.monitor if self.monitor != "loss" else "auroc",
            metrics["auroc"] if self.monitor == "loss" else value,
            learning_rate,
        )
        # The decay and the stop decision come before the listeners, so that a checkpoint
        # holds the learning rate and the decision the next epoch would see.
        if lr_factor != 1.0:
            optimizer.learning_rate.assign(learning_rate * lr_factor)
        if stop:
            self.stopped_by = "early_stopping"
            self.model.stop_training = True
        self._report(event)
        if not stop and any(listener.stop_requested for listener in self.listeners):
            self.stopped_by = "stop_requested"
            self.model.stop_training = True

    def _report(self, event: EpochEvent) -> None:
        state = self.state() if any(listener.checkpoints for listener in self.listeners) else None
        for listener in self.listeners:
            if state is not None and listener.checkpoints:
                listener.on_checkpoint(state)
            listener.on_epoch_end(event)

    def state(self) -> TrainingState:
        """The run after its latest epoch (see :class:`TrainingState`)."""
        return TrainingState(
            epochs_done=len(self.history),
            history=list(self.history),
            weights=self.model.get_weights(),
            optimizer_variables=[keras.ops.convert_to_numpy(v) for v in self.model.optimizer.variables],
            best_weights=self.best_weights,
            controller=self.controller.state(),
            stopped_by=self.stopped_by,
        )

    def restore(self, state: TrainingState) -> None:
        """Continue from ``state``: model weights, optimiser variables, history and controller.

        Raises
        ------
        InvalidInputError
            The state's arrays do not fit this model or optimiser.
        """
        optimizer = self.model.optimizer
        try:
            self.model.set_weights(state.weights)
            optimizer.build(self.model.trainable_variables)
            if len(state.optimizer_variables) != len(optimizer.variables):
                raise ValueError(
                    f"{len(state.optimizer_variables)} optimizer variables, the optimizer has "
                    f"{len(optimizer.variables)}"
                )
            for variable, value in zip(optimizer.variables, state.optimizer_variables, strict=True):
                if tuple(variable.shape) != tuple(np.shape(value)):
                    raise ValueError(f"{variable.path}: shape {np.shape(value)}, expected {variable.shape}")
                variable.assign(value)
        except ValueError as exc:
            raise InvalidInputError(
                f"resume: the checkpoint does not fit this model ({exc})", field="resume"
            ) from None
        self.history = list(state.history)
        self.controller.restore(state.controller)
        self.best_weights = state.best_weights
        self.stopped_by = state.stopped_by


@dataclass
class TrainingResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    model : keras.Model
        With the best-validation weights restored.
    history : list of EpochEvent
    test_metrics : dict
        ``classification_metrics`` of the test split plus ``loss``.
    best_epoch : int
        1-based epoch whose weights were kept.
    stopped_by : str
        "" (ran all epochs), "early_stopping" or "stop_requested".
    seconds : float
        Wall time of the fit.
    """

    model: keras.Model
    history: list[EpochEvent]
    test_metrics: dict
    best_epoch: int
    stopped_by: str
    seconds: float
    config: TrainConfig = field(default_factory=TrainConfig)

    def summary(self) -> dict:
        """JSON-ready summary (no model)."""
        return {
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "stopped_by": self.stopped_by,
            "seconds": self.seconds,
            "test": self.test_metrics,
            "train_config": asdict(self.config),
        }


#: Training steps run per call into the compiled train function. The steps are the same
#: (same batches, same order, same updates: the weights are bit-identical to one step per
#: call); only the Python round trip between steps goes. Nothing in the recipe acts
#: between batches (its callback works at epoch ends).
STEPS_PER_EXECUTION = 16


def compile_for_training(
    model: keras.Model, config: TrainConfig, *, steps_per_execution: int = STEPS_PER_EXECUTION
) -> None:
    """Compile with the paper's loss and optimiser (BCE on the sigmoid output, Adam)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        steps_per_execution=steps_per_execution,
    )


def _check_split(name: str, split: Split, model: keras.Model) -> None:
    expected_length = model.input_shape[1]
    # Emptiness is checked below with this function's own message; values as stored.
    check_one_hot(split.X, f"{name}.X", length=expected_length, allow_empty=True, finite=False)
    if split.y.ndim != 2 or split.y.shape[1] != model.output_shape[1]:
        raise InvalidInputError(
            f"{name}.y: the model has {model.output_shape[1]} outputs, targets have shape {split.y.shape}",
            field=f"{name}.y",
        )
    if len(split) == 0:
        raise InvalidInputError(f"{name}: empty split", field=name)


def train(
    model: keras.Model,
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    callbacks: Sequence[TrainingCallback] = (),
    output_dir: str | Path | None = None,
    resume: TrainingState | None = None,
) -> TrainingResult:
    """Train ``model`` on ``dataset`` with the paper's recipe.

    Parameters
    ----------
    model : keras.Model
        From :func:`motiflens.models.build_model` (uncompiled is fine; it is
        compiled here with Adam and BCE).
    dataset : Dataset
        Train, valid and test splits; X shape (N, L, 4), y shape (N, T).
    config : TrainConfig, optional
        Paper defaults when omitted.
    callbacks : sequence of TrainingCallback
        Receive per-epoch events; may request a stop.
    output_dir : path, optional
        When given, writes ``model.keras``, ``model_config.json``,
        ``train_config.json``, ``history.json`` and ``metrics.json`` there.
    resume : TrainingState, optional
        Continue this run (same model config and ``config``) after its epoch
        ``resume.epochs_done``: weights, optimiser, controller, best weights and
        history are restored and only the remaining epochs run (none when the state
        had decided to stop). Shuffling is seeded with ``seed + epochs_done``.

    Returns
    -------
    TrainingResult
        ``history`` holds every epoch, the resumed ones included.

    Raises
    ------
    InvalidInputError
        Invalid config or splits, or a ``resume`` state that does not fit the model.
    """
    config = config or TrainConfig()
    config.validate()
    use_deterministic_ops()
    for name in ("train", "valid", "test"):
        _check_split(name, dataset.split(name), model)
    monitor = config.resolved_monitor(dataset.num_targets)
    start_epoch = 0 if resume is None else resume.epochs_done
    # A resumed run must not replay the shuffles of epochs 1, 2, ... of the first attempt.
    keras.utils.set_random_seed((config.seed + start_epoch) % 2**32)
    compile_for_training(model, config)
    recipe = _RecipeCallback(dataset.valid, config, monitor, callbacks)
    if resume is not None:
        recipe.set_model(model)  # fit() would set it only later
        recipe.restore(resume)
    model_config = json.loads(model.motiflens_config.to_json()) if hasattr(model, "motiflens_config") else {}
    for listener in callbacks:
        listener.on_train_begin(model_config, config)

    start = time.perf_counter()
    if not recipe.stopped_by and start_epoch < config.epochs:
        model.fit(
            dataset.train.X,
            dataset.train.y,
            batch_size=config.batch_size,
            epochs=config.epochs,
            initial_epoch=start_epoch,
            shuffle=True,
            callbacks=[recipe],
            verbose=0,
        )
    seconds = time.perf_counter() - start
    if recipe.best_weights is not None:
        model.set_weights(recipe.best_weights)

    test_scores = model.predict(dataset.test.X, batch_size=max(config.batch_size, 256), verbose=0)
    test_metrics = classification_metrics(dataset.test.y, test_scores)
    test_metrics["loss"] = binary_cross_entropy(dataset.test.y, test_scores)
    result = TrainingResult(
        model=model,
        history=recipe.history,
        test_metrics=test_metrics,
        best_epoch=recipe.controller.best_epoch + 1,
        stopped_by=recipe.stopped_by,
        seconds=seconds,
        config=config,
    )
    if output_dir is not None:
        write_run(result, output_dir)
    for listener in callbacks:
        listener.on_train_end(result)
    return result


def use_deterministic_ops() -> None:
    """Make TensorFlow pick deterministic kernels in this process (once; process-wide).

    With the seeds set by :func:`train`, a run then gives the same weights whatever
    the machine's load: TensorFlow's op determinism fixes the reduction order of
    kernels that otherwise combine partial sums in the order threads finish, and
    makes tf.data's parallel stages (Keras' shuffled batches) keep their order.
    Raises nothing on CPU; on a GPU an op without a deterministic kernel fails
    loudly instead of varying silently.
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def write_run(result: TrainingResult, output_dir: str | Path) -> Path:
    """Write a run's model, configs, history and metrics to ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_model(result.model, output_dir)
    (output_dir / "train_config.json").write_text(json.dumps(asdict(result.config), indent=2))
    (output_dir / "history.json").write_text(
        json.dumps([event.to_dict() for event in result.history], indent=2)
    )
    (output_dir / "metrics.json").write_text(json.dumps(result.summary(), indent=2))
    return output_dir
