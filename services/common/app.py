"""The shape every service process shares: ``build(settings, store, metrics) -> App``, then :func:`run`.

Each ``services/<svc>/app.py`` has one :data:`Build` function that makes the servicers
over the process's settings, artifact store and metrics and returns an :class:`App`;
each ``services/<svc>/__main__.py`` is ``raise SystemExit(run("<svc>", build, argv))``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from motiflens.errors import MotiflensError
from services.common.config import ConfigError, Settings
from services.common.errors import PortUnavailableError
from services.common.logging import configure_logging
from services.common.metrics import ServiceMetrics
from services.common.server import Register, serve
from services.common.store import ArtifactStore, open_store

#: Exit status of a process that stops on a bad setting (and on unexpected arguments).
CONFIG_EXIT_STATUS = 2


@dataclass(frozen=True)
class App:
    """What a service process serves.

    Attributes
    ----------
    register : callable
        ``register(grpc_server)`` adds every servicer (the ``register`` of
        :func:`services.common.server.create_server`).
    service_names : tuple of str
        Full proto names of the registered services (health and reflection).
    servicers : tuple
        The servicer objects, for tests and introspection.
    warm_up : callable, optional
        Run once in a background thread when the server starts (loads what the first
        calls would otherwise wait for); readiness waits for it (the ``warm_up`` of
        :func:`services.common.server.create_server`). None for nothing.
    close : callable, optional
        Run when the server has stopped (e.g. the trainer's job manager); None for nothing.
    """

    register: Register
    service_names: tuple[str, ...]
    servicers: tuple[object, ...] = ()
    warm_up: Callable[[], None] | None = None
    close: Callable[[], None] | None = None


#: ``build(settings, store, metrics) -> App``; may raise ConfigError for a bad setting.
Build = Callable[[Settings, ArtifactStore, ServiceMetrics], App]


def run(service: str, build: Build, argv: Sequence[str] | None = None) -> int:
    """The main of ``python -m services.<service>``: settings, store, app, serve until a signal.

    Parameters
    ----------
    service : str
        "trainer", "interpreter" or "motifmatch" (chooses the settings' defaults).
    build : Build
        The service's ``app.build``.
    argv : sequence of str, optional
        Command-line arguments; there are none (settings come from MOTIFLENS_* variables).

    Returns
    -------
    int
        0 after a graceful shutdown; :data:`CONFIG_EXIT_STATUS` on arguments or a bad
        setting, with one message on stderr.
    """
    if argv:
        sys.stderr.write(f"usage: python -m services.{service} (configured by MOTIFLENS_* variables)\n")
        return CONFIG_EXIT_STATUS
    try:
        settings = Settings.from_env(service)
        configure_logging(settings.log_level)
        store = open_store(settings.store_url)
        metrics = ServiceMetrics()
        app = build(settings, store, metrics)
    except (ConfigError, MotiflensError) as error:
        sys.stderr.write(f"{service}: configuration error: {error}\n")
        return CONFIG_EXIT_STATUS
    try:
        serve(settings, app.register, app.service_names, store, metrics=metrics, warm_up=app.warm_up)
    except PortUnavailableError as error:
        # Its gRPC or metrics port cannot be bound (taken since the launcher checked it, or
        # never checked when the service runs alone): one line that names it, no traceback.
        sys.stderr.write(f"{service}: cannot start: {error}\n")
        return CONFIG_EXIT_STATUS
    finally:
        if app.close is not None:
            app.close()
    return 0
