"""Wiring of the motifmatch server: MotifMatchService over the store, with warm-up."""

from __future__ import annotations

import os

import grpc

from services.common.app import App
from services.common.budget import ComputeSlots
from services.common.config import Settings
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore
from services.motifmatch.servicer import SERVICE_NAME, MotifMatchServicer, add_to_server


def build(settings: Settings, store: ArtifactStore, metrics: ServiceMetrics) -> App:
    """The motifmatch :class:`~services.common.app.App`: one servicer, Tomtom bounded by ``max_compute``."""
    # MatchFilters imports TensorFlow; keep its C++ start-up chatter out of the JSON log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    servicer = MotifMatchServicer(store, metrics=metrics, compute=ComputeSlots(settings.max_compute))

    def register(server: grpc.Server) -> None:
        add_to_server(servicer, server)

    return App(register, (SERVICE_NAME,), (servicer,), warm_up=servicer.warm_up)
