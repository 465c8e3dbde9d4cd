"""Bounded LRU cache of trained models loaded from the artifact store."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import keras

from motiflens.models import ModelConfig, load_model, logits_model
from services.common.store import ArtifactStore, Manifest, check_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference.

    Attributes
    ----------
    model_id : str
    model : keras.Model
        Input (N, L, 4), output (N, T) sigmoid probabilities.
    logits : keras.Model
        The same weights, output (N, T) logits (built once; attribution and Predict use it).
    config : ModelConfig
    manifest : Manifest
        The model artifact's manifest (metadata: job, data set, test metrics).
    lock : threading.Lock
        Serialises calls that build per-model graphs; Keras models are not
        guaranteed thread-safe while tracing.
    """

    model_id: str
    model: keras.Model
    logits: keras.Model
    config: ModelConfig
    manifest: Manifest
    lock: threading.Lock

    @property
    def input_length(self) -> int:
        """L, nucleotides per input sequence."""
        return int(self.config.input_length)

    @property
    def num_outputs(self) -> int:
        """T, output units."""
        return int(self.config.num_outputs)


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
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id]
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
        return LoadedModel(model_id, model, logits_model(model), config, manifest, threading.Lock())

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    def cached_ids(self) -> list[str]:
        """Ids currently loaded, least recently used first."""
        with self._lock:
            return list(self._models)
