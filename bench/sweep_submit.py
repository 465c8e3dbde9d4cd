"""How fast a sweep is accepted: the paper's Task 1 grid as one Sweep vs one Train per configuration.

Usage::

    python bench/sweep_submit.py [--seeds 10]

The grid is the paper's Task 1 sweep: CNN-2, CNN-50 and CNN-deep × the 17 first-layer
activations of Supplementary Table 2/5 × ``--seeds`` seeds (510 configurations for 10).
Everything goes through the SDK against a stack on loopback (``Client.local(temporary=True)``: the
three services as subprocesses, file store, local executor), on one data set, in one run:

- ``Train RPC per configuration`` (the baseline): what a lab's script pays without
  sweeps — one ``Train`` call per configuration, each validated (the model is built)
  and recorded in the store;
- ``Sweep RPC``: the whole grid in one call — validation with one model build per
  architecture, one job record per configuration and the sweep record;
- ``GetSweep``: the sweep's summary, read back from its job records.

Every job is cancelled after its phase; the one the trainer's single worker picked up
trains during both phases alike (the stack's queue limits are raised for the run:
``MOTIFLENS_TRAINER_QUEUE``, ``MOTIFLENS_SWEEP_MAX_CONFIGS``). Prints seconds and the
ratio baseline / Sweep. No GPU, no cluster needed; the Kubernetes executor's extra work
(one Indexed Job manifest) is not measured here.
"""

from __future__ import annotations

import argparse
import os
import time

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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeds", type=int, default=10, help="seeds per configuration (default 10: 510 configs)"
    )
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    count = len(ARCHITECTURES) * len(PAPER_ACTIVATIONS) * len(seeds)
    # The whole baseline and the grid must fit the trainer's queue and sweep limits.
    os.environ["MOTIFLENS_TRAINER_QUEUE"] = "10000"
    os.environ["MOTIFLENS_SWEEP_MAX_CONFIGS"] = "100000"

    from motiflens_client import Client

    with Client.local(temporary=True, timeout=600) as client:
        client.timeout = 600
        info = client.create_task(1, num_sequences=600, seed=0, name="bench")
        # Warm-up: the trainer's first model build pays Keras start-up once, before either timing.
        client.train(info.dataset_id, architecture="cnn_2", activation="relu", epochs=100).cancel()

        started = time.perf_counter()
        jobs = [
            client.train(
                info.dataset_id, architecture=architecture, activation=activation, seed=seed, epochs=100
            )
            for architecture in ARCHITECTURES
            for activation in PAPER_ACTIVATIONS
            for seed in seeds
        ]
        per_config = time.perf_counter() - started
        for job in jobs:
            job.cancel()

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
        sweep.cancel()
    assert len(jobs) == count and status.total == count, (len(jobs), status.total, count)

    print(
        f"paper Task 1 grid: {len(ARCHITECTURES)} architectures x {len(PAPER_ACTIVATIONS)} activations x "
        f"{len(seeds)} seeds = {count} configurations (Client.local(), file store, {os.cpu_count()} cores)"
    )
    print(f"  {count} x Train RPC (baseline):           {per_config:8.2f} s")
    print(f"  1 x Sweep RPC ({count} job records):      {rpc:8.2f} s")
    print(f"  ratio baseline / Sweep:                {per_config / rpc:8.1f} x")
    print(f"  GetSweep ({count} job records read):     {get:8.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
