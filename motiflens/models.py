"""The paper's model zoo, with any first-layer activation.

Every architecture follows the Methods of Koo & Ploenzke (2021) and the layer
details in PAPER-NOTES.md: each hidden layer is convolution or dense *without
bias* → batch normalisation → activation → dropout → (max-pool). The first layer
uses the chosen activation; every other hidden layer uses relu. The output layer
is a dense layer with bias named ``logits``, followed by a sigmoid named
``predictions``; the model's output is the sigmoid, and :func:`logits_model`
exposes the logits for attribution.

Stable layer names (used by filters, scans and attribution):

- ``conv1``: first-layer convolution, kernel shape (width, 4, filters)
- ``conv1_activation``: the first-layer activation output, shape (N, L, filters)
- ``logits``: output pre-activation, shape (N, T)

Choices the paper leaves open, made here:

- All convolutions use 'same' padding (the text fixes it for the first layer;
  the authors' code used it throughout), so any input length works as long as the
  pools do not shrink it below one position.
- L2 (default 1e-6) is applied to every convolution and dense kernel, including
  the output layer; biases and batch-norm parameters are not regularised.
  ``log_relu`` sets the first-layer kernel L2 to 0.2, as the paper did.
- ``width_multiplier=2`` gives the Task 2 variants (all hidden layers doubled).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from motiflens.activations import FirstLayerActivation, get_activation, resolve_params
from motiflens.errors import InvalidInputError, NotFoundError, ResourceExhaustedError

FIRST_LAYER = "conv1"
FIRST_LAYER_ACTIVATION = "conv1_activation"
LOGITS_LAYER = "logits"
DEFAULT_L2 = 1e-6

INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model (saved as JSON beside the weights).

    Attributes
    ----------
    architecture : str
        A key of :data:`ARCHITECTURES`.
    input_length : int
        L, nucleotides per sequence.
    num_outputs : int
        T, output units (12 for Task 1, 1 for binary tasks).
    activation : str
        First-layer activation name (see motiflens.activations).
    activation_params : dict
        Parameters of that activation, e.g. {"scale": 2.0} for scaled_exponential.
    initializer : str
        Kernel initializer: one of :data:`INITIALIZERS` (default glorot_uniform).
    initializer_std : float or None
        Standard deviation for ``random_normal`` (required there, ignored elsewhere).
    l2 : float
        L2 strength on every kernel (default 1e-6).
    first_layer_l2 : float or None
        L2 strength on the first-layer kernel only. None: the activation's own
        (0.2 for log_relu), otherwise ``l2``. The paper's control for log_relu is
        relu with ``first_layer_l2=0.2``.
    width_multiplier : int
        Multiplies every hidden layer's filters/units (2 for Task 2).
    seed : int
        Seed of the initializers.
    """

    architecture: str
    input_length: int
    num_outputs: int
    activation: str = "relu"
    activation_params: dict = field(default_factory=dict)
    initializer: str = "glorot_uniform"
    initializer_std: float | None = None
    l2: float = DEFAULT_L2
    first_layer_l2: float | None = None
    width_multiplier: int = 1
    seed: int = 0

    def to_json(self) -> str:
        """JSON text of the configuration."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping) -> ModelConfig:
        """Build from a dict, rejecting unknown keys with a clear message."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(
                f"model config: unknown keys {', '.join(sorted(unknown))}; "
                f"accepted: {', '.join(sorted(known))}"
            )
        return cls(**data)

    @property
    def effective_first_layer_l2(self) -> float:
        """The L2 strength the first-layer kernel gets (explicit, the activation's, or ``l2``)."""
        if self.first_layer_l2 is not None:
            return float(self.first_layer_l2)
        activation_l2 = get_activation(self.activation).first_layer_l2
        return float(self.l2 if activation_l2 is None else activation_l2)


class _LayerFactory:
    """Builds the repeated hidden-layer pattern with shared settings (initializer, L2, seeds)."""

    def __init__(self, config: ModelConfig):
        self.config = config
        self._seed = config.seed
        self.first_l2 = config.effective_first_layer_l2

    def next_seed(self) -> int:
        # A distinct seed per layer: the same seed in every layer would correlate them.
        self._seed += 1
        return self._seed

    def initializer(self):
        name, std = self.config.initializer, self.config.initializer_std
        if name == "random_normal":
            return keras.initializers.RandomNormal(stddev=std, seed=self.next_seed())
        return keras.initializers.get({"class_name": name, "config": {"seed": self.next_seed()}})

    def dropout(self, rate: float, name: str):
        # Seeded so that the same ModelConfig.seed repeats the dropout masks too.
        return keras.layers.Dropout(rate, seed=self.next_seed(), name=name)

    def units(self, n: int) -> int:
        return n * self.config.width_multiplier

    def conv(self, x, filters, width, name, *, l2=None, scale_width=True):
        filters = self.units(filters) if scale_width else filters
        return keras.layers.Conv1D(
            filters,
            width,
            padding="same",
            use_bias=False,
            kernel_initializer=self.initializer(),
            kernel_regularizer=keras.regularizers.L2(self.config.l2 if l2 is None else l2),
            name=name,
        )(x)

    def first_layer(self, x, filters, width, dropout):
        """Conv → BN → chosen activation → dropout, with the stable first-layer names."""
        x = self.conv(x, filters, width, FIRST_LAYER, l2=self.first_l2)
        x = keras.layers.BatchNormalization(name="conv1_bn")(x)
        x = FirstLayerActivation(
            self.config.activation, self.config.activation_params, name=FIRST_LAYER_ACTIVATION
        )(x)
        return self.dropout(dropout, "conv1_dropout")(x)

    def conv_block(self, x, filters, width, dropout, name, pool=None):
        """Conv → BN → relu → dropout → optional max-pool."""
        x = self.conv(x, filters, width, name)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
        x = self.dropout(dropout, f"{name}_dropout")(x)
        if pool:
            x = keras.layers.MaxPooling1D(pool, name=f"{name}_pool")(x)
        return x

    def dense_block(self, x, units, dropout, name):
        """Dense → BN → relu → dropout."""
        x = keras.layers.Dense(
            self.units(units),
            use_bias=False,
            kernel_initializer=self.initializer(),
            kernel_regularizer=keras.regularizers.L2(self.config.l2),
            name=name,
        )(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
        return self.dropout(dropout, f"{name}_dropout")(x)

    def output(self, x):
        """Dense with bias giving logits, then sigmoid probabilities."""
        logits = keras.layers.Dense(
            self.config.num_outputs,
            kernel_initializer=self.initializer(),
            kernel_regularizer=keras.regularizers.L2(self.config.l2),
            name=LOGITS_LAYER,
        )(x)
        return keras.layers.Activation("sigmoid", name="predictions")(logits)


def _pool(x, size, name):
    return keras.layers.MaxPooling1D(size, name=name)(x)


def _cnn_2(f: _LayerFactory, x):
    x = f.first_layer(x, 32, 19, 0.1)
    x = _pool(x, 2, "conv1_pool")
    x = f.conv_block(x, 124, 5, 0.1, "conv2", pool=50)
    x = keras.layers.Flatten(name="flatten")(x)
    return f.dense_block(x, 512, 0.5, "dense1")


def _cnn_50(f: _LayerFactory, x):
    x = f.first_layer(x, 32, 19, 0.1)
    x = _pool(x, 50, "conv1_pool")
    x = f.conv_block(x, 124, 5, 0.1, "conv2", pool=2)
    x = keras.layers.Flatten(name="flatten")(x)
    return f.dense_block(x, 512, 0.5, "dense1")


def _cnn_deep(f: _LayerFactory, x):
    x = f.first_layer(x, 32, 19, 0.1)
    x = f.conv_block(x, 48, 9, 0.2, "conv2", pool=4)
    x = f.conv_block(x, 96, 6, 0.3, "conv3", pool=4)
    x = f.conv_block(x, 128, 4, 0.4, "conv4", pool=3)
    x = keras.layers.Flatten(name="flatten")(x)
    return f.dense_block(x, 512, 0.5, "dense1")


def _cnn_local(f: _LayerFactory, x):
    x = f.first_layer(x, 24, 19, 0.1)
    x = _pool(x, 50, "conv1_pool")
    x = keras.layers.Flatten(name="flatten")(x)
    return f.dense_block(x, 96, 0.5, "dense1")


def _cnn_dist(f: _LayerFactory, x):
    x = f.first_layer(x, 24, 7, 0.1)
    x = f.conv_block(x, 32, 9, 0.2, "conv2", pool=3)
    x = f.conv_block(x, 48, 6, 0.3, "conv3", pool=4)
    x = f.conv_block(x, 64, 4, 0.4, "conv4", pool=3)
    x = keras.layers.Flatten(name="flatten")(x)
    return f.dense_block(x, 96, 0.5, "dense1")


def _basset(f: _LayerFactory, x):
    x = f.first_layer(x, 300, 19, 0.2)
    x = _pool(x, 3, "conv1_pool")
    x = f.conv_block(x, 200, 11, 0.2, "conv2", pool=4)
    x = f.conv_block(x, 200, 7, 0.2, "conv3", pool=4)
    x = keras.layers.Flatten(name="flatten")(x)
    x = f.dense_block(x, 1000, 0.5, "dense1")
    return f.dense_block(x, 1000, 0.5, "dense2")


def _residualbind(f: _LayerFactory, x):
    x = f.first_layer(x, 24, 19, 0.1)
    # Residual block: conv5 → BN → relu → dropout 0.1 → conv5 → BN → + input → relu → dropout 0.2.
    shortcut = x
    y = f.conv(x, 24, 5, "res_conv1")
    y = keras.layers.BatchNormalization(name="res_conv1_bn")(y)
    y = keras.layers.Activation("relu", name="res_conv1_relu")(y)
    y = f.dropout(0.1, "res_conv1_dropout")(y)
    y = f.conv(y, 24, 5, "res_conv2")
    y = keras.layers.BatchNormalization(name="res_conv2_bn")(y)
    x = keras.layers.Add(name="res_add")([shortcut, y])
    x = keras.layers.Activation("relu", name="res_relu")(x)
    x = f.dropout(0.2, "res_dropout")(x)
    x = _pool(x, 10, "res_pool")
    x = f.conv_block(x, 48, 7, 0.3, "conv2", pool=5)
    x = f.conv_block(x, 64, 7, 0.4, "conv3", pool=4)
    x = keras.layers.Flatten(name="flatten")(x)
    return f.dense_block(x, 96, 0.5, "dense1")


@dataclass(frozen=True)
class Architecture:
    """A registered architecture: its builder, the product of its pools, and its paper defaults."""

    build: Callable
    total_pooling: int
    default_input_length: int
    default_num_outputs: int
    task: str


#: Architecture name -> Architecture. Names are what the API and CLI accept.
ARCHITECTURES: Mapping[str, Architecture] = {
    "cnn_2": Architecture(_cnn_2, 2 * 50, 200, 12, "Task 1 (Task 2 with width_multiplier=2, L=1000)"),
    "cnn_50": Architecture(_cnn_50, 50 * 2, 200, 12, "Task 1 (Task 2 with width_multiplier=2, L=1000)"),
    "cnn_deep": Architecture(
        _cnn_deep, 4 * 4 * 3, 200, 12, "Task 1 (Task 2 with width_multiplier=2, L=1000)"
    ),
    "cnn_local": Architecture(_cnn_local, 50, 200, 1, "Task 3"),
    "cnn_dist": Architecture(_cnn_dist, 3 * 4 * 3, 200, 1, "Task 3"),
    "basset": Architecture(_basset, 3 * 4 * 4, 600, 164, "Task 4"),
    "residualbind": Architecture(_residualbind, 10 * 5 * 4, 400, 1, "Tasks 5 and 6"),
}


#: Largest accepted width multiplier (the paper uses 1 and 2).
MAX_WIDTH_MULTIPLIER = 16
#: Largest accepted model, parameters: 400 MB of float32 weights, about four times
#: that while training with Adam. Basset at L = 1000 and width 4 has 95 million.
MAX_PARAMETERS = 100_000_000


def _validate(config: ModelConfig) -> None:
    if config.architecture not in ARCHITECTURES:
        raise InvalidInputError(
            f"architecture: unknown name {config.architecture!r}; known: {', '.join(ARCHITECTURES)}",
            field="architecture",
        )
    arch = ARCHITECTURES[config.architecture]
    if not isinstance(config.input_length, int) or config.input_length < arch.total_pooling:
        raise InvalidInputError(
            f"input_length: {config.architecture} pools by {arch.total_pooling} in total, so it needs "
            f"sequences of at least {arch.total_pooling} nt; got {config.input_length}",
            field="input_length",
        )
    if not isinstance(config.num_outputs, int) or config.num_outputs < 1:
        raise InvalidInputError(
            f"num_outputs: expected an integer >= 1, got {config.num_outputs!r}", field="num_outputs"
        )
    if config.initializer not in INITIALIZERS:
        raise InvalidInputError(
            f"initializer: unknown name {config.initializer!r}; known: {', '.join(INITIALIZERS)}",
            field="initializer",
        )
    if config.initializer_std is not None and not (
        math.isfinite(config.initializer_std) and config.initializer_std > 0
    ):
        raise InvalidInputError(
            f"initializer_std: expected a finite number > 0 (or unset), got {config.initializer_std!r}",
            field="initializer_std",
        )
    if config.initializer == "random_normal" and not (config.initializer_std and config.initializer_std > 0):
        raise InvalidInputError(
            f"initializer_std: random_normal needs a standard deviation > 0, got {config.initializer_std!r}",
            field="initializer_std",
        )
    if not 1 <= config.width_multiplier <= MAX_WIDTH_MULTIPLIER:
        raise InvalidInputError(
            f"width_multiplier: expected an integer from 1 to {MAX_WIDTH_MULTIPLIER}, "
            f"got {config.width_multiplier}",
            field="width_multiplier",
        )
    if not (config.l2 >= 0 and math.isfinite(config.l2)):
        raise InvalidInputError(f"l2: expected a finite number >= 0, got {config.l2}", field="l2")
    if config.first_layer_l2 is not None and not (
        config.first_layer_l2 >= 0 and math.isfinite(config.first_layer_l2)
    ):
        raise InvalidInputError(
            f"first_layer_l2: expected a finite number >= 0 (or unset for the activation's "
            f"default), got {config.first_layer_l2}",
            field="first_layer_l2",
        )
    resolve_params(config.activation, config.activation_params)


def build_model(config: ModelConfig | None = None, /, **kwargs) -> keras.Model:
    """Build an uncompiled model of the zoo.

    Parameters
    ----------
    config : ModelConfig, optional
        Full configuration; or give its fields as keyword arguments, e.g.
        ``build_model(architecture="cnn_deep", input_length=200, num_outputs=12,
        activation="exponential")``.

    Returns
    -------
    keras.Model
        Input (N, L, 4) float32 one-hot; output (N, T) sigmoid probabilities.

    Raises
    ------
    InvalidInputError
        Unknown architecture, activation or initializer; an input too short for
        the architecture's pooling; bad numbers.
    """
    if config is None:
        config = ModelConfig(**kwargs)
    elif kwargs:
        raise InvalidInputError("build_model: give a ModelConfig or keyword arguments, not both")
    if config.width_multiplier > 1:
        # Weights grow with the square of the width: bound the wide model from the narrow
        # one before allocating it, so a 48-byte request cannot exhaust memory.
        check_model(config)
    else:
        _validate(config)
    model = _build(config)
    _check_size(model.count_params(), config)
    return model


def check_model(config: ModelConfig) -> int:
    """Validate ``config`` as :func:`build_model` would, without building the wide model.

    Builds the width-1 model (small: at most a few million parameters) and bounds the
    requested width's size from it, so a server can validate a request cheaply in its
    RPC thread and leave the real build to a worker.

    Returns
    -------
    int
        Upper bound on the model's parameters (exact at width 1).

    Raises
    ------
    InvalidInputError, ResourceExhaustedError
        As :func:`build_model`.
    """
    _validate(config)
    narrow = _build(dataclasses.replace(config, width_multiplier=1)).count_params()
    estimate = narrow * config.width_multiplier**2
    _check_size(estimate, config)
    return estimate


def _build(config: ModelConfig) -> keras.Model:
    factory = _LayerFactory(config)
    inputs = keras.Input(shape=(config.input_length, 4), name="sequence")
    x = ARCHITECTURES[config.architecture].build(factory, inputs)
    outputs = factory.output(x)
    model = keras.Model(inputs, outputs, name=config.architecture)
    # Kept on the instance so training and saving can write the sidecar.
    model.motiflens_config = config
    return model


def _check_size(parameters: int, config: ModelConfig) -> None:
    if parameters > MAX_PARAMETERS:
        raise ResourceExhaustedError(
            f"width_multiplier: {config.architecture} at L = {config.input_length} and width "
            f"{config.width_multiplier} has about {parameters:,} parameters; the limit is {MAX_PARAMETERS:,}"
        )


def logits_model(model: keras.Model) -> keras.Model:
    """A model sharing ``model``'s weights that outputs the logits, shape (N, T).

    Raises
    ------
    InvalidInputError
        No layer named ``logits`` (an imported model without a linear pre-activation).
    """
    try:
        logits = model.get_layer(LOGITS_LAYER)
    except ValueError:
        raise InvalidInputError(
            f"model: {model.name} has no linear pre-activation (no layer named {LOGITS_LAYER!r}); "
            "only its output can be used",
            field="output",
        ) from None
    return keras.Model(model.input, logits.output, name=f"{model.name}_logits")


#: Layers that keep a scan's shape and act position by position, skipped when looking for
#: an imported model's first-layer activation output.
_ELEMENTWISE = (keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.Dropout)


def first_conv_layer(model: keras.Model) -> keras.layers.Conv1D:
    """The first-layer convolution: the zoo's ``conv1``, else the first Conv1D applied to the input.

    Found by type for imported models (a lab's own names mean nothing here).

    Raises
    ------
    InvalidInputError
        No Conv1D reads the model's input directly.
    """
    try:
        layer = model.get_layer(FIRST_LAYER)
        if isinstance(layer, keras.layers.Conv1D):
            return layer
    except ValueError:
        pass
    source = model.inputs[0]
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D) and _reads(layer, source):
            return layer
    raise InvalidInputError(
        f"model: {model.name} has no Conv1D layer reading its input, so it has no first-layer "
        "filters to show or scan",
        field="model_id",
    )


def _reads(layer, tensor) -> bool:
    """Whether ``layer`` is called on ``tensor`` (and nothing else)."""
    for node in getattr(layer, "_inbound_nodes", []):
        inputs = list(node.input_tensors)
        if len(inputs) == 1 and inputs[0] is tensor:
            return True
    return False


def _consumers(model: keras.Model, tensor) -> list:
    return [layer for layer in model.layers if _reads(layer, tensor)]


def first_layer_model(model: keras.Model) -> keras.Model:
    """A model sharing ``model``'s weights that outputs first-layer activations, shape (N, L', filters).

    Zoo models: ``conv1_activation`` (L' = L). Otherwise the first Conv1D's output followed
    through the batch-norm / activation / dropout layers that alone consume it, up to the
    last activation (L' = L for 'same' padding, L - width + 1 for 'valid').

    Raises
    ------
    InvalidInputError
        No first-layer Conv1D (:func:`first_conv_layer`).
    """
    try:
        output = model.get_layer(FIRST_LAYER_ACTIVATION).output
    except ValueError:
        conv = first_conv_layer(model)
        tensor = output = conv.output
        while True:
            consumers = _consumers(model, tensor)
            if len(consumers) != 1 or not isinstance(consumers[0], _ELEMENTWISE):
                break
            tensor = consumers[0].output
            if isinstance(consumers[0], keras.layers.Activation):
                output = tensor
    return keras.Model(model.input, output, name=f"{model.name}_conv1")


def first_layer_kernel(model: keras.Model) -> np.ndarray:
    """The first-layer convolution kernel, shape (width, 4, filters)."""
    return np.asarray(first_conv_layer(model).kernel)


def scan_geometry(model: keras.Model) -> tuple[int, int, int]:
    """(kernel width, filters, centre offset) of the first layer, for aligning scans to input.

    Output position p of the scan covers input positions starting at
    ``p - (width - 1) // 2 + offset``: offset 0 for 'same' padding, ``(width - 1) // 2``
    for 'valid'.

    Raises
    ------
    InvalidInputError
        No first-layer Conv1D, or one with strides, dilation, groups or causal padding
        (its scan positions do not map one-to-one onto input windows).
    """
    conv = first_conv_layer(model)
    width = int(conv.kernel.shape[0])
    strides = tuple(np.atleast_1d(conv.strides))
    dilation = tuple(np.atleast_1d(conv.dilation_rate))
    if (
        strides != (1,)
        or dilation != (1,)
        or getattr(conv, "groups", 1) != 1
        or conv.padding not in ("same", "valid")
    ):
        raise InvalidInputError(
            f"model: first-layer Conv1D {conv.name!r} has strides {strides}, dilation {dilation}, "
            f"groups {getattr(conv, 'groups', 1)} and padding {conv.padding!r}; filters need strides 1, "
            "dilation 1, groups 1 and 'same' or 'valid' padding",
            field="model_id",
        )
    offset = 0 if conv.padding == "same" else (width - 1) // 2
    return width, int(conv.kernel.shape[-1]), offset


MODEL_FILE = "model.keras"
CONFIG_FILE = "model_config.json"


def save_model(model: keras.Model, directory: str | Path) -> Path:
    """Save a model as ``model.keras`` plus a JSON sidecar of its ModelConfig.

    No pickling: the .keras file holds the architecture and weights, and every
    custom layer is registered for serialisation.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    config = getattr(model, "motiflens_config", None)
    if config is not None:
        (directory / CONFIG_FILE).write_text(config.to_json())
    return directory / MODEL_FILE


def load_model(directory: str | Path) -> keras.Model:
    """Load a model saved by :func:`save_model` (or any .keras file path).

    Raises
    ------
    NotFoundError
        No model file at that place.
    """
    path = Path(directory)
    model_path = path / MODEL_FILE if path.is_dir() else path
    if not model_path.is_file():
        raise NotFoundError(f"{model_path}: no saved model")
    model = keras.models.load_model(model_path, compile=False)
    config_path = model_path.with_name(CONFIG_FILE)
    if config_path.is_file():
        model.motiflens_config = ModelConfig.from_dict(json.loads(config_path.read_text()))
    return model
