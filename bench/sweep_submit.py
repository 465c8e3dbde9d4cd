"""How fast a sweep is accepted: the paper's Task 1 grid as one Sweep vs one Train per configuration.

Usage::

    python bench/sweep_submit.py [--seeds 10]

The grid is the paper's Task 1 sweep: CNN-2, CNN-50 and CNN-deep × the 17 first-layer
activations of Supplementary Table 2/5 × ``--seeds`` seeds (510 configurations for 10).
Measured in one run, on the same data set and store:

- ``validate, per configuration``: what accepting the grid as separate Train requests
  costs the trainer — :func:`services.trainer.jobs.model_config_from_spec` (which
  builds each model) and the TrainConfig check, once per configuration (the baseline);
- ``validate, as a grid``: :func:`services.trainer.sweeps.expand_grid` (one build per
  architecture; activations checked through the registry);
- ``Sweep RPC``: the whole call through gRPC — validation, one job record per
  configuration and the sweep record in the store, and the Indexed Job handed to a
  recording stand-in of the Kubernetes API (nothing trains), then ``GetSweep``.

Prints seconds and the ratio baseline / grid. No GPU, no cluster needed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The 17 first-layer activations of the paper's Task 1 sweeps.
PAPER_ACTIVATIONS = (
    "exponential",
    "relu",
    "sigmoid",
    "tanh",
    "softplus",
    "linear",
    "elu",
    "shift_scale_relu",
    "shift_scale_tanh",
    "shift_scale_sigmoid",
    "exp_relu",
    "shift_relu",
    "scale_relu",
    "shift_tanh",
    "scale_tanh",
    "super_relu",
    "log_relu",
)
ARCHITECTURES = ("cnn_2", "cnn_50", "cnn_deep")


class _RecordingCluster:
    """Stands in for the Kubernetes Job API: keeps the Job, reports it active."""

    namespace = "motiflens"

    def __init__(self) -> None:
        self.manifests: list[dict] = []

    def create_job(self, manifest) -> None:
        self.manifests.append(manifest)

    def job_status(self, name: str) -> dict:
        return {"active": 0}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=10, help="seeds per configuration (default 10: 510 configs)"
    )
    args = parser.parse_args(argv)

    from motiflens_client import Client

    from services.common.store import open_store
    from services.trainer import datasets
    from services.trainer.jobs import JobManager, JobSettings, model_config_from_spec, train_config_from_spec
    from services.trainer.servicer import SERVICE_NAME, TrainerServicer
    from services.trainer.sweeps import SweepManager, SweepRequest, SweepSettings, expand_grid

    sys.path.insert(0, str(ROOT / "tests" / "service"))
    from helpers import make_settings, running_server

    seeds = list(range(args.seeds))
    with tempfile.TemporaryDirectory(prefix="motiflens-bench-") as tmp:
        store_url = Path(tmp, "store").as_uri()
        store = open_store(store_url)
        info = datasets.create_synthetic(
            store, "task1", num_sequences=600, seed=0, sequence_length=0, name="bench"
        )
        request = SweepRequest(
            info.dataset_id,
            ARCHITECTURES,
            [(name, {}) for name in PAPER_ACTIVATIONS],
            seeds,
            training={"epochs": 100},
        )
        count = len(ARCHITECTURES) * len(PAPER_ACTIVATIONS) * len(seeds)
        shape = {"input_length": info.sequence_length, "num_outputs": info.num_targets}

        # Warm-up: TensorFlow/Keras start-up is paid once, before either timing.
        model_config_from_spec({"architecture": "cnn_2", "activation": "relu"}, **shape)

        started = time.perf_counter()
        for architecture in ARCHITECTURES:
            for activation in PAPER_ACTIVATIONS:
                for seed in seeds:
                    spec = {"architecture": architecture, "activation": activation, "seed": seed}
                    model_config_from_spec(spec, **shape)
                    train_config_from_spec({"epochs": 100}, seed=seed)
        per_config = time.perf_counter() - started

        started = time.perf_counter()
        configs = expand_grid(request, max_configs=100_000, **shape)
        as_grid = time.perf_counter() - started
        assert len(configs) == count

        jobs = JobManager(store_url, JobSettings(), store=store)
        cluster = _RecordingCluster()
        sweeps = SweepManager(
            jobs,
            SweepSettings(executor="kubernetes", image="motiflens/trainer:0.1.0", max_configs=100_000),
            cluster=cluster,
        )
        servicer = TrainerServicer(store, jobs, sweeps)
        try:
            with running_server(
                servicer.register, service_name=SERVICE_NAME, settings=make_settings("trainer"), store=store
            ) as running:
                with Client(f"127.0.0.1:{running.port}", timeout=600) as client:
                    started = time.perf_counter()
                    sweep = client.sweep(
                        info.dataset_id,
                        architectures=ARCHITECTURES,
                        activations=PAPER_ACTIVATIONS,
                        seeds=seeds,
                        epochs=100,
                    )
                    rpc = time.perf_counter() - started
                    started = time.perf_counter()
                    status = sweep.info()
                    get = time.perf_counter() - started
        finally:
            jobs.close()
        assert status.total == count and cluster.manifests[0]["spec"]["completions"] == count

    print(
        f"paper Task 1 grid: {len(ARCHITECTURES)} architectures x {len(PAPER_ACTIVATIONS)} activations x "
        f"{len(seeds)} seeds = {count} configurations (file store, 2 cores)"
    )
    print(f"  validate, per configuration (Train's path, baseline): {per_config:8.2f} s")
    print(f"  validate, as a grid (expand_grid):                   {as_grid:8.2f} s")
    print(f"  ratio baseline / grid:                               {per_config / as_grid:8.1f} x")
    print(f"  Sweep RPC (validate + {count} job records + Job):     {rpc:8.2f} s")
    print(f"  GetSweep ({count} job records read):                 {get:8.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
