"""First-layer activation functions studied by Koo & Ploenzke (2021).

Every activation is looked up by name in one registry, :data:`ACTIVATIONS`, and is
applied in a model through the :class:`FirstLayerActivation` Keras layer. That
layer is registered with Keras serialisation, so a saved model reloads with plain
``keras.models.load_model(path)`` once ``motiflens`` is imported — no
``custom_objects`` needed.

Formulas (x is the pre-activation, i.e. the batch-normalised convolution output):

=====================  ===========================================  ==========
name                   formula                                      notes
=====================  ===========================================  ==========
relu                   max(x, 0)
sigmoid                1 / (1 + exp(-x))
tanh                   tanh(x)
softplus               log(1 + exp(x))
linear                 x
elu                    x if x > 0 else exp(x) - 1
exponential            exp(x)                                       the method
scaled_exponential     exp(s·x), parameter ``scale`` s (default 1)  scaling study
exp_relu               relu(exp(0.1·x) - 1)
shift_scale_relu       relu((x - 0.2)^3)
shift_scale_tanh       500·tanh(x - 6) + 500
shift_scale_sigmoid    4000·sigmoid(x - 8)
shift_relu             relu(x - 0.2)                                ablation
scale_relu             relu(x^3)                                    ablation
shift_tanh             tanh(x - 6)                                  ablation
scale_tanh             500·tanh(x) + 500                            ablation
shift_sigmoid          sigmoid(x - 8)                               ablation
scale_sigmoid          4000·sigmoid(x)                              ablation
super_relu             relu(400·x)
log_relu               relu(log(|x| + 1e-10))                       first-layer L2 0.2
=====================  ===========================================  ==========
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import keras
from keras import ops

from motiflens.errors import InvalidInputError


@dataclass(frozen=True)
class ActivationSpec:
    """One registered activation.

    Attributes
    ----------
    fn : callable
        ``fn(x, **params) -> tensor`` applied elementwise.
    params : mapping
        Parameter names and their defaults (only ``scaled_exponential`` has one).
    first_layer_l2 : float or None
        L2 strength the paper used on the first-layer kernel with this activation
        (None: the model's default of 1e-6).
    description : str
        The formula, for listings and reports.
    """

    fn: Callable
    params: Mapping[str, float] = field(default_factory=dict)
    first_layer_l2: float | None = None
    description: str = ""


def _relu(x):
    return ops.relu(x)


_REGISTRY: dict[str, ActivationSpec] = {
    # Standard activations.
    "relu": ActivationSpec(_relu, description="max(x, 0)"),
    "sigmoid": ActivationSpec(ops.sigmoid, description="1 / (1 + exp(-x))"),
    "tanh": ActivationSpec(ops.tanh, description="tanh(x)"),
    "softplus": ActivationSpec(ops.softplus, description="log(1 + exp(x))"),
    "linear": ActivationSpec(lambda x: x, description="x"),
    "elu": ActivationSpec(ops.elu, description="x if x > 0 else exp(x) - 1"),
    "exponential": ActivationSpec(ops.exp, description="exp(x)"),
    "scaled_exponential": ActivationSpec(
        lambda x, scale: ops.exp(scale * x), params={"scale": 1.0}, description="exp(scale * x)"
    ),
    # Modified activations that mimic the exponential's high sensitivity.
    "exp_relu": ActivationSpec(lambda x: ops.relu(ops.exp(0.1 * x) - 1.0), description="relu(exp(0.1x) - 1)"),
    "shift_scale_relu": ActivationSpec(lambda x: ops.relu((x - 0.2) ** 3), description="relu((x - 0.2)^3)"),
    # 500·tanh(z) + 500 equals 1000·sigmoid(2z) exactly; the sigmoid form avoids
    # float32 cancellation where tanh(z) is close to -1 (the whole background).
    "shift_scale_tanh": ActivationSpec(
        lambda x: 1000.0 * ops.sigmoid(2.0 * (x - 6.0)), description="500 tanh(x - 6) + 500"
    ),
    "shift_scale_sigmoid": ActivationSpec(
        lambda x: 4000.0 * ops.sigmoid(x - 8.0), description="4000 sigmoid(x - 8)"
    ),
    # Ablations: the shift alone and the scale alone.
    "shift_relu": ActivationSpec(lambda x: ops.relu(x - 0.2), description="relu(x - 0.2)"),
    "scale_relu": ActivationSpec(lambda x: ops.relu(x**3), description="relu(x^3)"),
    "shift_tanh": ActivationSpec(lambda x: ops.tanh(x - 6.0), description="tanh(x - 6)"),
    "scale_tanh": ActivationSpec(lambda x: 1000.0 * ops.sigmoid(2.0 * x), description="500 tanh(x) + 500"),
    "shift_sigmoid": ActivationSpec(lambda x: ops.sigmoid(x - 8.0), description="sigmoid(x - 8)"),
    "scale_sigmoid": ActivationSpec(lambda x: 4000.0 * ops.sigmoid(x), description="4000 sigmoid(x)"),
    "super_relu": ActivationSpec(lambda x: ops.relu(400.0 * x), description="relu(400x)"),
    # The 1e-10 keeps log finite at x = 0; the strong L2 drives background to zero.
    "log_relu": ActivationSpec(
        lambda x: ops.relu(ops.log(ops.abs(x) + 1e-10)),
        first_layer_l2=0.2,
        description="relu(log(|x| + 1e-10)), first-layer L2 0.2",
    ),
}

#: Read-only view of the registry: activation name -> ActivationSpec.
ACTIVATIONS: Mapping[str, ActivationSpec] = MappingProxyType(_REGISTRY)

#: Names for the standard activations compared in the paper's Fig. 1.
STANDARD_ACTIVATIONS = ("exponential", "relu", "sigmoid", "tanh", "softplus", "linear", "elu")


def activation_names() -> list[str]:
    """All registered activation names, sorted."""
    return sorted(_REGISTRY)


def get_activation(name: str) -> ActivationSpec:
    """Look up an activation by name.

    Raises
    ------
    InvalidInputError
        If the name is unknown; the message lists every known name.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise InvalidInputError(
            f"activation: unknown name {name!r}; known: {', '.join(activation_names())}", field="activation"
        ) from None


def resolve_params(name: str, params: Mapping[str, float] | None) -> dict[str, float]:
    """Complete ``params`` with the activation's defaults and reject unknown keys."""
    spec = get_activation(name)
    params = dict(params or {})
    unknown = set(params) - set(spec.params)
    if unknown:
        accepted = ", ".join(spec.params) or "none"
        raise InvalidInputError(
            f"activation_params: {name!r} takes no parameter {', '.join(sorted(unknown))}; "
            f"accepted: {accepted}",
            field="activation_params",
        )
    resolved = {**spec.params, **params}
    for key, value in resolved.items():
        try:
            resolved[key] = float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"activation_params.{key}: expected a number, got {value!r}", field=f"activation_params.{key}"
            ) from None
    return resolved


def apply_activation(x, name: str, **params):
    """Apply activation ``name`` elementwise to a tensor or numpy array."""
    spec = get_activation(name)
    return spec.fn(x, **resolve_params(name, params))


@keras.saving.register_keras_serializable(package="motiflens")
class FirstLayerActivation(keras.layers.Layer):
    """Keras layer applying a registered activation by name.

    Parameters
    ----------
    activation : str
        A name from :data:`ACTIVATIONS`.
    activation_params : dict, optional
        Parameters of the activation (``{"scale": s}`` for ``scaled_exponential``).
    """

    def __init__(self, activation: str, activation_params: Mapping[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self.activation_params = resolve_params(activation, activation_params)
        self._fn = get_activation(activation).fn

    def call(self, inputs):
        """Apply the activation elementwise; output shape equals input shape."""
        return self._fn(inputs, **self.activation_params)

    def compute_output_shape(self, input_shape):
        """Elementwise: the shape is unchanged."""
        return input_shape

    def get_config(self):
        """Serialisable configuration (name and parameters)."""
        return {
            **super().get_config(),
            "activation": self.activation,
            "activation_params": dict(self.activation_params),
        }
