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
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras

from motiflens.errors import InvalidInputError
from motiflens.evaluation import binary_cross_entropy, classification_metrics
from motiflens.models import save_model
from motiflens.sequences import Dataset, Split

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
        Seeds Python, numpy and TensorFlow; on CPU the same seed repeats a run.
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
            raise InvalidInputError(f"epochs: expected >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size: expected >= 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise InvalidInputError(f"learning_rate: expected > 0, got {self.learning_rate}")
        if not 0 < self.lr_decay_factor <= 1:
            raise InvalidInputError(f"lr_decay_factor: expected in (0, 1], got {self.lr_decay_factor}")
        if self.lr_patience < 1:
            raise InvalidInputError(f"lr_patience: expected >= 1, got {self.lr_patience}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise InvalidInputError(
                f"early_stopping_patience: expected >= 1 or None, got {self.early_stopping_patience}"
            )
        if self.monitor not in MONITORS:
            raise InvalidInputError(f"monitor: expected one of {', '.join(MONITORS)}, got {self.monitor!r}")

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


class TrainingCallback:
    """Receives training progress; override what you need.

    Set ``stop_requested`` to True (from any thread) to end training after the
    current epoch; the run then finishes normally with the best weights so far.
    """

    stop_requested: bool = False

    def on_train_begin(self, model_config: dict, train_config: TrainConfig) -> None:
        """Called once before the first epoch."""

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
        self.best_weights = None
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
        for listener in self.listeners:
            listener.on_epoch_end(event)
        if lr_factor != 1.0:
            optimizer.learning_rate.assign(learning_rate * lr_factor)
        if stop:
            self.stopped_by = "early_stopping"
            self.model.stop_training = True
        elif any(listener.stop_requested for listener in self.listeners):
            self.stopped_by = "stop_requested"
            self.model.stop_training = True


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


def compile_for_training(model: keras.Model, config: TrainConfig) -> None:
    """Compile with the paper's loss and optimiser (BCE on the sigmoid output, Adam)."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
    )


def _check_split(name: str, split: Split, model: keras.Model) -> None:
    expected_length = model.input_shape[1]
    if split.X.ndim != 3 or split.X.shape[2] != 4:
        raise InvalidInputError(f"{name}.X: expected shape (N, L, 4), got {split.X.shape}")
    if split.X.shape[1] != expected_length:
        raise InvalidInputError(
            f"{name}.X: the model takes sequences of {expected_length} nt, got {split.X.shape[1]}"
        )
    if split.y.ndim != 2 or split.y.shape[1] != model.output_shape[1]:
        raise InvalidInputError(
            f"{name}.y: the model has {model.output_shape[1]} outputs, targets have shape {split.y.shape}"
        )
    if len(split) == 0:
        raise InvalidInputError(f"{name}: empty split")


def train(
    model: keras.Model,
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    callbacks: Sequence[TrainingCallback] = (),
    output_dir: str | Path | None = None,
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

    Returns
    -------
    TrainingResult
    """
    config = config or TrainConfig()
    config.validate()
    for name in ("train", "valid", "test"):
        _check_split(name, dataset.split(name), model)
    monitor = config.resolved_monitor(dataset.num_targets)
    keras.utils.set_random_seed(config.seed)
    compile_for_training(model, config)
    recipe = _RecipeCallback(dataset.valid, config, monitor, callbacks)
    model_config = json.loads(model.motiflens_config.to_json()) if hasattr(model, "motiflens_config") else {}
    for listener in callbacks:
        listener.on_train_begin(model_config, config)

    start = time.perf_counter()
    model.fit(
        dataset.train.X,
        dataset.train.y,
        batch_size=config.batch_size,
        epochs=config.epochs,
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
