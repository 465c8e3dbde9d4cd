"""Bounded LRU cache of trained models loaded from the artifact store."""

from __future__ import annotations

import logging
import math
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from motiflens.errors import CancelledError, InvalidInputError, NotFoundError, UnavailableError
from motiflens.models import ModelConfig, first_layer_model, load_model, logits_model
from services.common.attribution_options import ModelOutputs
from services.common.store import ArtifactStore, Manifest, check_id
from services.interpreter.batching import Coalescer

logger = logging.getLogger(__name__)

#: Sequences per model call in :meth:`LoadedModel.predict` and :meth:`LoadedModel.scans`.
INFERENCE_BATCH = 256


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference.

    Attributes
    ----------
    model_id : str
    model : keras.Model
        Input (N, L, 4), output (N, T) sigmoid probabilities.
    logits : keras.Model or None
        The same weights, output (N, T) logits (built once; attribution and Predict use
        it); None for an imported model without a linear pre-activation.
    config : ModelConfig
    manifest : Manifest
        The model artifact's manifest (metadata: job, data set, test metrics).
    lock : threading.Lock
        Serialises calls that build per-model graphs; Keras models are not
        guaranteed thread-safe while tracing.
    coalescer : Coalescer
        Runs concurrent compatible calls (Predict, saliency, ISM) together in one pass
        under ``lock`` (:mod:`services.interpreter.batching`).
    scanner : keras.Model or None
        The same weights, output (N, L', F) first-layer activations
        (:func:`motiflens.models.first_layer_model`); None when the model has no
        first-layer Conv1D (an imported model).
    activation_floats : int
        Floats of every layer's output for one sequence: what one row of a forward
        pass holds, the unit of the interpreter's memory estimates.
    scan_floats : int
        Floats of the first-layer activations of one sequence (L' x F; 0 without a scanner).
    output_activation : str
        "sigmoid" (zoo models: logits and probabilities), "linear" (the output is the
        logit; no probability) or another final activation (no logits), as the import
        recorded it (:mod:`motiflens.model_import`).
    """

    model_id: str
    model: keras.Model
    logits: keras.Model | None
    config: ModelConfig
    manifest: Manifest
    lock: threading.Lock
    scanner: keras.Model | None
    activation_floats: int
    scan_floats: int
    output_activation: str = "sigmoid"
    #: Runs concurrent compatible calls of this model in one pass (under ``lock``).
    coalescer: Coalescer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "coalescer", Coalescer(self.lock))  # frozen: set once, here

    @property
    def input_length(self) -> int:
        """L, nucleotides per input sequence."""
        return int(self.config.input_length)

    @property
    def num_outputs(self) -> int:
        """T, output units."""
        return int(self.config.num_outputs)

    @property
    def outputs(self) -> ModelOutputs:
        """What the model can be asked for (its outputs; see :class:`ModelOutputs`)."""
        return ModelOutputs(self.model_id, self.num_outputs, self.output_activation)

    def output_kind(self, requested: str | None, *, default: str) -> str:
        """The output ("logit" or "probability") a call uses (:meth:`ModelOutputs.output_kind`)."""
        return self.outputs.output_kind(requested, default=default)

    def output_kinds(self) -> tuple[str, ...]:
        """The outputs this model has: "logit" and/or "probability" (zoo models: both)."""
        return self.outputs.output_kinds()

    def predict_all(
        self, X: np.ndarray, should_stop: Callable[[], bool] | None = None
    ) -> dict[str, np.ndarray]:
        """Every output of :meth:`output_kinds` of X in one pass, each shape (N, T) float32."""
        if self.output_activation == "sigmoid" and self.logits is not None:
            logits = _batched(self.logits, X, should_stop, "predict")
            return {"logit": logits, "probability": (1 / (1 + np.exp(-logits))).astype(np.float32)}
        kind = self.output_kinds()[0]
        return {kind: self.predict(X, kind, should_stop)}

    def predict(
        self, X: np.ndarray, output: str, should_stop: Callable[[], bool] | None = None
    ) -> np.ndarray:
        """Logits or probabilities (``output`` from :meth:`output_kind`) of X, shape (N, T) float32.

        Batches of :data:`INFERENCE_BATCH` sequences.

        Raises
        ------
        CancelledError
            ``should_stop()`` returned True before a batch.
        """
        if self.logits is None:
            return _batched(self.model, X, should_stop, "predict")
        logits = _batched(self.logits, X, should_stop, "predict")
        if output == "logit" or self.output_activation != "sigmoid":
            return logits
        return (1 / (1 + np.exp(-logits))).astype(np.float32)

    def scans(self, X: np.ndarray, should_stop: Callable[[], bool] | None = None) -> np.ndarray:
        """First-layer activations of X, shape (N, L, F) float32 (as :func:`motiflens.filters.filter_scans`).

        Raises
        ------
        CancelledError
            ``should_stop()`` returned True before a batch.
        """
        if self.scanner is None:
            raise InvalidInputError(
                f"model_id: model {self.model_id} has no Conv1D layer reading its input, so it has no "
                "first-layer filters to show or scan",
                field="model_id",
            )
        return _batched(self.scanner, X, should_stop, "scans")


def _batched(
    model: keras.Model, X: np.ndarray, should_stop: Callable[[], bool] | None, what: str
) -> np.ndarray:
    """``model`` over X in inference mode, batch after batch, asking ``should_stop`` between them."""
    outputs = []
    for start in range(0, len(X), INFERENCE_BATCH):
        if should_stop is not None and should_stop():
            raise CancelledError(f"{what}: abandoned after {start} of {len(X)} sequences (the caller left)")
        # predict_on_batch reuses one compiled function; predict() would build a data pipeline per call.
        outputs.append(np.asarray(model.predict_on_batch(X[start : start + INFERENCE_BATCH]), np.float32))
    return np.concatenate(outputs)


def _floats(tensor) -> int:
    return math.prod(int(extent) for extent in tensor.shape[1:] if extent is not None)


def _activation_floats(model: keras.Model) -> int:
    """Floats of all layer outputs for one sequence (shared layers, with no single output, left out)."""
    total = 0
    for layer in model.layers:
        try:
            outputs = keras.tree.flatten(layer.output)
        except (AttributeError, ValueError):  # a shared layer has no single output
            continue
        total += sum(_floats(tensor) for tensor in outputs)
    return max(1, total)


class ModelCache:
    """Keeps at most ``capacity`` models in memory, evicting the least recently used.

    Parameters
    ----------
    store : ArtifactStore
    capacity : int
        Models kept loaded (default 4).
    """

    def __init__(self, store: ArtifactStore, capacity: int = 4):
        self.store = store
        self.capacity = max(1, int(capacity))
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, model_id: str, *, field_name: str = "model_id") -> LoadedModel:
        """The loaded model ``model_id``; loads it from the store on a miss.

        Raises
        ------
        InvalidInputError
            Malformed id.
        NotFoundError
            No model artifact with that id.
        """
        check_id(model_id, field_name=field_name, prefix="model")
        with self._lock:
            cached = self._models.get(model_id)
        if cached is not None and self._still_stored(model_id):
            with self._lock:
                if model_id in self._models:
                    self._models.move_to_end(model_id)
            return cached
        with self._lock:
            loading = self._loading.setdefault(model_id, threading.Lock())
        # One loader per id; other callers for the same id wait for it.
        with loading:
            with self._lock:
                if model_id in self._models:
                    return self._models[model_id]
            loaded = self._load(model_id)
            with self._lock:
                self._models[model_id] = loaded
                self._models.move_to_end(model_id)
                while len(self._models) > self.capacity:
                    evicted, _ = self._models.popitem(last=False)
                    logger.info("evicted model %s from the cache", evicted)
                self._loading.pop(model_id, None)
            return loaded

    def _still_stored(self, model_id: str) -> bool:
        """Whether a cached model is still in the store (DeleteModel on the trainer evicts it here).

        A store outage keeps serving the cached copy: the model was whole when loaded.
        """
        try:
            self.store.get_manifest(model_id, kind="model")
        except NotFoundError:
            with self._lock:
                self._models.pop(model_id, None)
            logger.info("model %s was deleted from the store; evicted", model_id)
            return False
        except UnavailableError:
            return True
        return True

    def _load(self, model_id: str) -> LoadedModel:
        manifest = self.store.get_manifest(model_id, kind="model")
        with tempfile.TemporaryDirectory(prefix="motiflens-model-") as tmp:
            self.store.fetch_artifact(model_id, Path(tmp))
            model = load_model(Path(tmp))
        config = getattr(model, "motiflens_config", None)
        if config is None:
            config = ModelConfig(
                architecture=model.name,
                input_length=int(model.input_shape[1]),
                num_outputs=int(model.output_shape[1]),
            )
        logger.info("loaded model %s (%s, %s)", model_id, config.architecture, config.activation)
        scanner: keras.Model | None
        try:
            scanner = first_layer_model(model)
        except InvalidInputError:  # an imported model without a first-layer Conv1D
            scanner = None
        logits: keras.Model | None
        try:
            logits = logits_model(model)
        except InvalidInputError:  # an imported model without a linear pre-activation
            logits = None
        return LoadedModel(
            model_id=model_id,
            model=model,
            logits=logits,
            config=config,
            manifest=manifest,
            lock=threading.Lock(),
            scanner=scanner,
            activation_floats=_activation_floats(model),
            scan_floats=0 if scanner is None else _floats(scanner.output),
            output_activation=str(manifest.metadata.get("output_activation", "sigmoid")),
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def cached_ids(self) -> list[str]:
        """Ids currently loaded, least recently used first."""
        with self._lock:
            return list(self._models)
