"""Wiring of the motifmatch server: MotifMatchService over the store, with a warm-up before readiness.

The server's readiness (health ``""`` and the service name) waits for
:meth:`MotifMatchServicer.warm_up` (memelite's Tomtom kernels loaded or compiled, the
default JASPAR release loaded), so a first Compare after SERVING costs what a warm one
does; ``liveness`` is SERVING meanwhile. Besides the common metrics
(:mod:`services.common.metrics`) the server exports:

- ``motiflens_tomtom_kernels{source}``: memelite kernel signatures this process holds,
  ``source="disk_cache"`` loaded from numba's on-disk cache, ``source="compiled"``
  compiled here (a cold cache). Both are fixed once the warm-up is over; a rise later
  means a call needed a kernel the warm-up did not load.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from motiflens.tomtom import kernel_stats
from services.common.app import App
from services.common.budget import ComputeSlots
from services.common.config import Settings
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore
from services.motifmatch.servicer import SERVICE_NAME, MotifMatchServicer, add_to_server


class TomtomKernelCollector(Collector):
    """``motiflens_tomtom_kernels{source}`` from :func:`motiflens.tomtom.kernel_stats` at each scrape."""

    def collect(self) -> Iterator[Metric]:
        """One gauge family: signatures loaded from numba's disk cache and compiled in this process."""
        stats = kernel_stats()
        family = GaugeMetricFamily(
            "motiflens_tomtom_kernels",
            "memelite Tomtom kernel signatures in this process, by source (disk_cache: loaded from "
            "numba's on-disk cache; compiled: compiled here).",
            labels=["source"],
        )
        family.add_metric(["disk_cache"], stats.loaded)
        family.add_metric(["compiled"], stats.compiled)
        yield family


def build(settings: Settings, store: ArtifactStore, metrics: ServiceMetrics) -> App:
    """The motifmatch :class:`~services.common.app.App`: one servicer, Tomtom bounded by ``max_compute``."""
    # MatchFilters imports TensorFlow; keep its C++ start-up chatter out of the JSON log.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    servicer = MotifMatchServicer(store, metrics=metrics, compute=ComputeSlots(settings.max_compute))
    metrics.registry.register(TomtomKernelCollector())

    def register(server: grpc.Server) -> None:
        add_to_server(servicer, server)

    return App(register, (SERVICE_NAME,), (servicer,), warm_up=servicer.warm_up)
