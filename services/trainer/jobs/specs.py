"""Request -> configs: an API model or training spec resolved and validated.

:func:`model_config_from_spec` and :func:`train_config_from_spec` fill the defaults
(0 / "" = the paper's value) and raise InvalidInputError naming the field; the job
manager and the sweeps call them in the RPC thread, before anything is queued.
"""

from __future__ import annotations

from collections.abc import Mapping

from motiflens.errors import InvalidInputError, ResourceExhaustedError
from motiflens.models import INITIALIZERS, ModelConfig, check_model
from motiflens.training import TrainConfig

# Paper defaults for TrainingSpec fields left at 0.
_TRAIN_DEFAULTS = TrainConfig()


def model_config_from_spec(spec: Mapping, *, input_length: int, num_outputs: int) -> ModelConfig:
    """Resolve an API model spec (0 / "" = default) into a validated ModelConfig.

    Parameters
    ----------
    spec : mapping
        ``architecture``, ``activation`` ("" = relu), ``activation_params``,
        ``initializer`` ("" = glorot_uniform), ``initializer_std`` (0 = unset),
        ``width_multiplier`` (0 = 1), ``seed``, ``first_layer_l2`` (None or absent =
        the activation's default).
    input_length, num_outputs : int
        L and T of the data set.

    Raises
    ------
    InvalidInputError
        Unknown architecture, activation or initializer (the message lists the known
        names), bad activation parameters, a negative seed, or a sequence length too
        short for the architecture's pooling.
    """
    seed = int(spec.get("seed", 0))
    if seed < 0:
        raise InvalidInputError(f"model.seed: expected a non-negative integer, got {seed}")
    width = int(spec.get("width_multiplier", 0))
    if width < 0:
        raise InvalidInputError(f"model.width_multiplier: expected >= 1 (0 = 1), got {width}")
    initializer = spec.get("initializer") or "glorot_uniform"
    if initializer not in INITIALIZERS:
        raise InvalidInputError(
            f"model.initializer: unknown name {initializer!r}; known: {', '.join(INITIALIZERS)}"
        )
    std = float(spec.get("initializer_std", 0.0))
    first_layer_l2 = spec.get("first_layer_l2")
    config = ModelConfig(
        architecture=spec.get("architecture", ""),
        input_length=int(input_length),
        num_outputs=int(num_outputs),
        activation=spec.get("activation") or "relu",
        activation_params={str(k): float(v) for k, v in dict(spec.get("activation_params") or {}).items()},
        initializer=initializer,
        initializer_std=std if std else None,
        width_multiplier=width or 1,
        seed=seed,
        first_layer_l2=None if first_layer_l2 is None else float(first_layer_l2),
    )
    try:
        # Building the width-1 model is the one complete check (names, parameters,
        # pooling vs length) and bounds the wide one's size; the worker builds that.
        check_model(config)
    except (InvalidInputError, ResourceExhaustedError) as exc:
        raise type(exc)(f"model.{exc}") from None
    return config


def train_config_from_spec(spec: Mapping, *, seed: int) -> TrainConfig:
    """Resolve an API training spec (0 = paper default) into a validated TrainConfig.

    Parameters
    ----------
    spec : mapping
        ``epochs`` (0: 100), ``batch_size`` (0: 100), ``learning_rate`` (0: 1e-3),
        ``patience`` (0: 20, negative: no early stopping), ``lr_patience`` (0: 5),
        ``lr_decay_factor`` (0: 0.3).
    seed : int
        The model seed, also used for training.

    Raises
    ------
    InvalidInputError
        A negative or otherwise invalid value (the message names the field).
    """
    patience = int(spec.get("patience", 0))
    config = TrainConfig(
        epochs=int(spec.get("epochs", 0)) or _TRAIN_DEFAULTS.epochs,
        batch_size=int(spec.get("batch_size", 0)) or _TRAIN_DEFAULTS.batch_size,
        learning_rate=float(spec.get("learning_rate", 0.0)) or _TRAIN_DEFAULTS.learning_rate,
        lr_decay_factor=float(spec.get("lr_decay_factor", 0.0)) or _TRAIN_DEFAULTS.lr_decay_factor,
        lr_patience=int(spec.get("lr_patience", 0)) or _TRAIN_DEFAULTS.lr_patience,
        early_stopping_patience=None
        if patience < 0
        else (patience or _TRAIN_DEFAULTS.early_stopping_patience),
        seed=seed,
    )
    try:
        config.validate()
    except InvalidInputError as exc:
        raise InvalidInputError(f"training.{exc}") from None
    return config
