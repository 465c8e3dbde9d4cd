"""Wiring of the interpreter server: InterpreterService and tensorflow.serving.PredictionService."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from motiflens_client.wire.pb import interpreter_pb2_grpc

# prediction_service_pb2 itself (not only the _grpc module) registers the service's
# descriptor in the default pool; without it reflection lists the service but cannot
# describe it, so grpcurl and reflection clients cannot call it.
from tensorflow_serving.apis import prediction_service_pb2, prediction_service_pb2_grpc

from motiflens.tomtom import seed_cache
from services.common.app import App
from services.common.budget import MemoryBudget
from services.common.config import DiscoveryLimits, Settings
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore
from services.interpreter.model_cache import ModelCache
from services.interpreter.servicer import DEFAULT_BUDGET_BYTES, InterpreterServicer
from services.interpreter.tfserving import PredictionServicer

SERVICE_NAMES = (
    "motiflens.v1.InterpreterService",
    prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"].full_name,
)


def _seed_tomtom_cache() -> None:
    seed_cache()


def build(settings: Settings, store: ArtifactStore, metrics: ServiceMetrics) -> App:
    """The interpreter :class:`~services.common.app.App`: both services over one model cache and budget."""
    interpreter, prediction = _servicers(
        store,
        metrics,
        cache_capacity=settings.interpreter_cache,
        budget=MemoryBudget(settings.memory_budget_bytes),
        discovery_limits=DiscoveryLimits.from_env(),
        coalesce=settings.interpreter_coalesce,
    )
    return App(
        _register(interpreter, prediction),
        SERVICE_NAMES,
        (interpreter, prediction),
        # DiscoverMotifs runs Tomtom here too: copy the image's baked numba kernels into the
        # pod's NUMBA_CACHE_DIR (seconds, no compiling; nothing to do outside an image), so its
        # first match loads them instead of compiling for a minute.
        warm_up=_seed_tomtom_cache,
        close=interpreter.genomes.close,
    )


def build_register(
    store: ArtifactStore,
    metrics: ServiceMetrics | None,
    *,
    cache_capacity: int = 4,
    budget: MemoryBudget | None = None,
    models: ModelCache | None = None,
) -> Callable[[grpc.Server], None]:
    """A ``register(server)`` adding both services over one shared model cache and memory budget (tests).

    ``models``: the model cache to serve from (default: a new one of ``cache_capacity``), so a
    test can reach the loaded models' locks and coalescers.
    """
    return _register(*_servicers(store, metrics, cache_capacity=cache_capacity, budget=budget, models=models))


def _servicers(
    store: ArtifactStore,
    metrics: ServiceMetrics | None,
    *,
    cache_capacity: int,
    budget: MemoryBudget | None,
    discovery_limits: DiscoveryLimits | None = None,
    models: ModelCache | None = None,
    coalesce: bool = True,
) -> tuple[InterpreterServicer, PredictionServicer]:
    models = models if models is not None else ModelCache(store, capacity=cache_capacity)
    # One budget for both services: they share the process's memory.
    budget = budget or MemoryBudget(DEFAULT_BUDGET_BYTES)
    interpreter = InterpreterServicer(
        store, models, metrics, budget=budget, discovery_limits=discovery_limits, coalesce=coalesce
    )
    return interpreter, PredictionServicer(models, budget=budget)


def _register(
    interpreter: InterpreterServicer, prediction: PredictionServicer
) -> Callable[[grpc.Server], None]:
    def register(server: grpc.Server) -> None:
        interpreter_pb2_grpc.add_InterpreterServiceServicer_to_server(interpreter, server)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, server)

    return register
