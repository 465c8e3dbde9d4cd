"""A lab's own Keras model: checked without running its code, then normalised for the suite.

:func:`import_keras_file` does three things, in this order, and stops at the first refusal:

1. :func:`check_keras_archive` reads the ``.keras`` file as a zip, *before Keras sees it*:
   only ``config.json``, ``metadata.json`` and ``model.weights.h5`` may be in it, within a
   bound on their uncompressed size (no zip bomb); every class ``config.json`` names must
   be a Keras built-in or a motiflens activation (a ``Lambda`` layer, a subclassed model,
   a custom layer or a Python function is refused: loading any of them runs code);
   the weights pass :func:`motiflens.hdf5.open_untrusted` (no links, external storage or
   virtual datasets: the file cannot make the reader open another file).
2. ``keras.saving.load_model(..., safe_mode=True, compile=False)``.
3. :func:`normalise` checks the shape contract — one input ``(None, L, 4)``, every output
   ``(None, T_i)`` — and rebuilds the model with the zoo's stable names where they apply,
   so that every interpreter path (filters, scans, attribution, Predict) takes it as it
   takes a zoo model:

   - all outputs end in a sigmoid (an ``Activation("sigmoid")`` layer, or a ``Dense`` /
     ``Conv1D`` with ``activation="sigmoid"``): a layer named ``logits`` holds the
     concatenated pre-activations and the output is their sigmoid (``output_activation``
     ``"sigmoid"``: logits and probabilities both exist);
   - all outputs are linear: ``logits`` is the output itself (``"linear"``: no probability);
   - otherwise (softmax, relu, mixed heads): no ``logits`` layer; the output is the
     model's own (``"softmax"``, ``"mixed"``, ...: probabilities/outputs only).

   Every ``Dense``/``Conv1D`` with a fused activation is first split into a linear copy
   (same weights) and a separate ``Activation`` layer, so the predictions are the same
   numbers and DeepSHAP's rules and the logit see the linear part. Several outputs are
   concatenated in the model's output order into one (N, T) output.

The first layer used for filters and scans is found by type (:func:`motiflens.models.first_conv_layer`),
not by name.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from motiflens.errors import InvalidInputError, ResourceExhaustedError
from motiflens.hdf5 import Hdf5Limits, open_untrusted
from motiflens.models import LOGITS_LAYER, MAX_PARAMETERS, first_conv_layer, first_layer_model

#: Members a Keras 3 ``.keras`` archive of built-in layers has.
ARCHIVE_MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
#: Bound on ``config.json`` (uncompressed).
MAX_CONFIG_BYTES = 8 * 1024 * 1024
#: Layers an imported model may have.
MAX_LAYERS = 2000
#: Longest input accepted (as the trainer's data sets).
MAX_INPUT_LENGTH = 1_000_000
#: Output units accepted.
MAX_OUTPUTS = 10_000
#: Module prefixes of classes a config may name (Keras built-ins, motiflens activations).
ALLOWED_MODULES = ("keras", "motiflens.activations")
#: Class names refused whatever their module: deserialising them runs Python code.
CODE_CLASSES = ("Lambda", "__lambda__", "TFSMLayer")
#: Keras's serialised values (tensors, arrays, slices), which name no module and carry no code.
VALUE_CLASSES = ("__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__")

ORIGIN = "model.keras"


@dataclass(frozen=True)
class ImportedModel:
    """A normalised imported model and what was found in it.

    Attributes
    ----------
    model : keras.Model
        Input (N, L, 4) float32, output (N, T).
    input_length : int
        L.
    num_outputs : int
        T (summed over the original outputs).
    output_activation : str
        "sigmoid" (a ``logits`` layer exists and the output is its sigmoid), "linear"
        (the output is itself the logit), or the final activation(s) with no linear
        pre-activation ("softmax", "relu", ..., "mixed").
    first_conv : str
        Name of the first Conv1D layer (filters and scans), or "" when there is none.
    scan_layer : str
        Name of the layer whose output is the first-layer scan, or "".
    parameters : int
        Weights in the model.
    layers : int
        Layers in the normalised model.
    """

    model: keras.Model
    input_length: int
    num_outputs: int
    output_activation: str
    first_conv: str
    scan_layer: str
    parameters: int
    layers: int

    @property
    def has_logits(self) -> bool:
        """Whether a linear pre-activation (``logits``) exists."""
        return self.output_activation in ("sigmoid", "linear")


def check_keras_archive(path: str | Path, *, max_bytes: int) -> dict:
    """Check a ``.keras`` file without loading it; returns its parsed ``config.json``.

    Parameters
    ----------
    path : the file
    max_bytes : int
        Most uncompressed bytes the archive's members may hold together.

    Raises
    ------
    InvalidInputError
        Not a zip, other members, a class that would run code, or unsafe weights.
    ResourceExhaustedError
        The members would decompress to more than ``max_bytes``.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInputError(
            f"{ORIGIN}: not a Keras 3 .keras file (a zip archive): {str(exc)[:120]}; "
            "save the model with model.save('name.keras')"
        ) from None
    with archive:
        members = archive.infolist()
        names = [member.filename for member in members]
        extra = sorted(set(names) - set(ARCHIVE_MEMBERS))
        if extra or len(names) != len(set(names)):
            raise InvalidInputError(
                f"{ORIGIN}: unexpected archive members "
                f"{', '.join(repr(n[:80]) for n in extra[:5]) or 'duplicated'}; "
                f"accepted: {', '.join(ARCHIVE_MEMBERS)} (a model of Keras built-in layers has no assets)"
            )
        for required in ("config.json", "model.weights.h5"):
            if required not in names:
                raise InvalidInputError(f"{ORIGIN}: no {required} in the archive; not a Keras 3 model file")
        total = sum(member.file_size for member in members)
        if total > max_bytes:
            raise ResourceExhaustedError(
                f"{ORIGIN}: the archive decompresses to {total:,} bytes; the limit is {max_bytes:,}"
            )
        config_info = archive.getinfo("config.json")
        if config_info.file_size > MAX_CONFIG_BYTES:
            raise ResourceExhaustedError(
                f"{ORIGIN}: config.json is {config_info.file_size:,} bytes; the limit is {MAX_CONFIG_BYTES:,}"
            )
        try:
            config = json.loads(_read_member(archive, "config.json", MAX_CONFIG_BYTES))
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError(f"{ORIGIN}: config.json is not JSON") from None
        check_config_classes(config)
        with tempfile.TemporaryDirectory(prefix="motiflens-import-") as tmp:
            weights = Path(tmp, "model.weights.h5")
            weights.write_bytes(_read_member(archive, "model.weights.h5", max_bytes))
            limits = Hdf5Limits(max_objects=20 * MAX_LAYERS, max_rank=8)
            with open_untrusted(weights, origin=f"{ORIGIN}: model.weights.h5", limits=limits):
                pass
    return config


def _read_member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """A member's bytes, refusing more than ``limit`` whatever its header declares."""
    try:
        with archive.open(name) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidInputError(f"{ORIGIN}: {name} is corrupt ({str(exc)[:120]})") from None
    if len(data) > limit:
        raise ResourceExhaustedError(f"{ORIGIN}: {name} decompresses to more than {limit:,} bytes")
    return data


def check_config_classes(config) -> None:
    """Refuse any class in a Keras config that is not a built-in or a motiflens activation.

    Raises
    ------
    InvalidInputError
        Names the class, its layer and why (a Lambda layer, custom code).
    """
    layers = 0
    pending = [(config, "model")]
    while pending:
        node, where = pending.pop()
        if isinstance(node, list):
            pending.extend((item, where) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        class_name = node.get("class_name")
        if isinstance(class_name, str):
            inner = node.get("config")
            name = inner.get("name") if isinstance(inner, dict) else None
            is_layer = "inbound_nodes" in node or "build_config" in node
            here = f"layer {str(name)[:80]!r}" if is_layer and isinstance(name, str) else where
            module = str(node.get("module") or "")
            if class_name in CODE_CLASSES:
                raise InvalidInputError(
                    f"{ORIGIN}: {here} is a {class_name} ({module or 'no module'}): its code would have to "
                    "run to load it, and imported models are loaded in Keras safe mode; rebuild the model "
                    "from Keras built-in layers"
                )
            if class_name in VALUE_CLASSES and not module:
                pass
            elif not any(
                module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED_MODULES
            ):
                raise InvalidInputError(
                    f"{ORIGIN}: {here} uses class {class_name[:80]!r} from module {module[:80]!r}; "
                    "imported models may use Keras built-in layers and motiflens activations only "
                    "(no custom code is loaded)"
                )
            if "inbound_nodes" in node:
                layers += 1
                if layers > MAX_LAYERS:
                    raise ResourceExhaustedError(f"{ORIGIN}: more than {MAX_LAYERS} layers")
            where = here
        pending.extend((value, where) for value in node.values() if isinstance(value, (dict, list)))


def load_checked(path: str | Path, *, max_bytes: int) -> keras.Model:
    """:func:`check_keras_archive`, then the Keras load in safe mode (no compile)."""
    check_keras_archive(path, max_bytes=max_bytes)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except (MemoryError, ResourceExhaustedError):
        raise
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if "OOM" in str(exc) or "out of memory" in str(exc).lower():
            raise ResourceExhaustedError(f"{ORIGIN}: its weights do not fit in memory: {detail}") from None
        raise InvalidInputError(f"{ORIGIN}: Keras could not load it: {detail}") from None
    if not isinstance(model, keras.Model):
        raise InvalidInputError(f"{ORIGIN}: holds a {type(model).__name__}, not a Keras model")
    return model


def normalise(model: keras.Model) -> ImportedModel:
    """Check the input/output contract and rebuild with the suite's stable names (module docstring).

    Raises
    ------
    InvalidInputError
        Not one input of shape (None, L, 4), or an output that is not (None, T).
    ResourceExhaustedError
        More parameters than the zoo's limit.
    """
    L = _check_input(model)
    model = _split_fused_activations(model)
    heads = [_head(model, index, tensor) for index, tensor in enumerate(model.outputs)]
    num_outputs = sum(head[2] for head in heads)
    if num_outputs > MAX_OUTPUTS:
        raise InvalidInputError(f"{ORIGIN}: {num_outputs} output units; at most {MAX_OUTPUTS} are accepted")
    parameters = int(model.count_params())
    if parameters > MAX_PARAMETERS:
        raise ResourceExhaustedError(f"{ORIGIN}: {parameters:,} parameters; the limit is {MAX_PARAMETERS:,}")
    kinds = {head[1] for head in heads}
    pre = [head[0] for head in heads]
    outputs = [tensor for tensor in model.outputs]
    if kinds == {"sigmoid"}:
        logits = _join(pre, LOGITS_LAYER)
        output = keras.layers.Activation("sigmoid", name="predictions")(logits)
        activation = "sigmoid"
    elif kinds == {"linear"}:
        output = _join(pre, LOGITS_LAYER)
        activation = "linear"
    else:
        output = _join(outputs, "predictions")
        activation = kinds.pop() if len(kinds) == 1 else "mixed"
    rebuilt = keras.Model(model.inputs[0], output, name=_safe_name(model.name))
    try:
        conv = first_conv_layer(rebuilt)
        first_conv, scan_layer = conv.name, _output_layer_name(first_layer_model(rebuilt))
    except InvalidInputError:
        first_conv, scan_layer = "", ""
    return ImportedModel(
        model=rebuilt,
        input_length=L,
        num_outputs=num_outputs,
        output_activation=activation,
        first_conv=first_conv,
        scan_layer=scan_layer,
        parameters=parameters,
        layers=len(rebuilt.layers),
    )


def check_forward(imported: ImportedModel, *, rows: int = 2, seed: int = 0) -> np.ndarray:
    """A forward pass on ``rows`` random one-hot sequences; returns the (rows, T) outputs.

    Raises
    ------
    InvalidInputError
        The pass fails, gives another shape, or gives NaN/inf.
    """
    rng = np.random.default_rng(seed)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(rows, imported.input_length))]
    try:
        Y = np.asarray(imported.model.predict_on_batch(X))
    except Exception as exc:  # noqa: BLE001 - whatever the model's layers raise
        raise InvalidInputError(
            f"{ORIGIN}: a forward pass on random sequences failed: {str(exc)[:300]}"
        ) from None
    if Y.shape != (rows, imported.num_outputs):
        raise InvalidInputError(
            f"{ORIGIN}: a forward pass gave shape {Y.shape}; expected {(rows, imported.num_outputs)}"
        )
    if not np.all(np.isfinite(Y)):
        raise InvalidInputError(f"{ORIGIN}: a forward pass on random sequences gave NaN or inf")
    return Y


def import_keras_file(path: str | Path, *, max_bytes: int) -> ImportedModel:
    """Check, load (safe mode), normalise and run a ``.keras`` file (module docstring)."""
    imported = normalise(load_checked(path, max_bytes=max_bytes))
    check_forward(imported)
    return imported


# --------------------------------------------------------------------------- helpers


def _check_input(model: keras.Model) -> int:
    if len(model.inputs) != 1:
        raise InvalidInputError(
            f"{ORIGIN}: the model has {len(model.inputs)} inputs; "
            "expected one, shape (None, L, 4) one-hot DNA"
        )
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 3 or shape[2] != 4 or shape[1] is None:
        raise InvalidInputError(
            f"{ORIGIN}: the model's input has shape {shape}; expected (None, L, 4): one-hot DNA "
            "of a fixed length L (A, C, G, T channels last)"
        )
    length = int(shape[1])
    if not 1 <= length <= MAX_INPUT_LENGTH:
        raise InvalidInputError(f"{ORIGIN}: input length {length}; accepted 1..{MAX_INPUT_LENGTH}")
    return length


def _head(model: keras.Model, index: int, tensor) -> tuple:
    """(pre-activation tensor or the output, activation name, units) of one output."""
    shape = tuple(tensor.shape)
    if len(shape) != 2 or shape[1] is None:
        raise InvalidInputError(
            f"{ORIGIN}: output {index} has shape {shape}; expected (None, T) (one value per task)"
        )
    units = int(shape[1])
    layer = tensor._keras_history.operation
    activation = _activation_name(layer)
    if isinstance(layer, keras.layers.Activation):
        return (layer.input if activation == "sigmoid" else tensor), activation, units
    if (
        activation == "sigmoid"
        and isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D))
        and type(layer).__name__ in ("Dense", "Conv1D")
    ):
        linear = type(layer).from_config(
            {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_linear"}
        )
        pre = linear(layer.input)
        linear.set_weights(layer.get_weights())
        return pre, "sigmoid", units
    return tensor, activation, units


def _split_fused_activations(model: keras.Model) -> keras.Model:
    """A copy of the model (same weights, its own layers) with every Dense/Conv1D activation apart.

    DeepSHAP's rules and the logit need the linear part apart from the nonlinearity (as
    the zoo builds them); the predictions are the same numbers. Every layer is copied
    (from its config, then its weights), so the copy's graph shares no layer with the
    loaded one and each layer has a single call.
    """
    functional = keras.Model(model.inputs, model.outputs, name=model.name)

    def call(layer, *args, **kwargs):
        activation = _activation_name(layer)
        split = type(layer).__name__ in ("Dense", "Conv1D") and activation != "linear"
        config = {**layer.get_config(), "activation": "linear"} if split else layer.get_config()
        copy = type(layer).from_config(config)
        output = copy(*args, **kwargs)
        copy.set_weights(layer.get_weights())
        if split:
            output = keras.layers.Activation(activation, name=f"{layer.name}_{activation}")(output)
        return output

    return keras.models.clone_model(functional, clone_function=lambda layer: layer, call_function=call)


def _activation_name(layer) -> str:
    function = getattr(layer, "activation", None)
    if function is None:
        return "linear"
    name = getattr(function, "__name__", type(function).__name__)
    return str(name)[:40]


def _join(tensors: list, name: str):
    if len(tensors) == 1:
        return keras.layers.Identity(name=name)(tensors[0])
    return keras.layers.Concatenate(axis=-1, name=name)(tensors)


def _output_layer_name(submodel: keras.Model) -> str:
    return str(submodel.outputs[0]._keras_history.operation.name)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(name))[:64]
    return cleaned or "imported"
