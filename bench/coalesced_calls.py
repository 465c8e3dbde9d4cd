"""Same-model throughput with concurrent clients: coalesced passes against one pass per call.

Starts two local stacks over one file store (``Client.local``): one as built (concurrent
saliency calls of a model share a pass: services/interpreter/batching.py) and one with
``MOTIFLENS_INTERPRETER_COALESCE=0`` (every call its own pass, as before), trains one small
CNN-deep (exponential first layer, Task 1) through the first, then runs ``--clients`` threads
for ``--seconds`` per round, each calling ``attribute`` (saliency, ``--rows`` sequences) in a
loop with its own Client. Rounds alternate between the two stacks; the medians of
``--rounds`` rounds each are compared.

Prints calls/s and p50/p99 latency of both, and the ratio coalesced / baseline (issue 19's
target: >= 2x the baseline's calls/s at 32 clients of 8-sequence saliency).

Usage: ``python bench/coalesced_calls.py [--clients 32] [--rows 8] [--seconds 10] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rows", type=int, default=8, help="sequences per call")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per variant (interleaved)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import numpy as np
    from motiflens_client import Client

    store = tempfile.mkdtemp(prefix="motiflens-bench-")
    # Every client's stream admitted at once (the services keep 2 handler threads for health).
    streams = args.clients + 8
    os.environ.update(
        MOTIFLENS_MAX_WORKERS=str(2 * streams + 2),
        MOTIFLENS_MAX_CALLS=str(streams),
        MOTIFLENS_MAX_STREAMS=str(streams),
    )
    stacks = {}
    for coalescing in (True, False):
        os.environ["MOTIFLENS_INTERPRETER_COALESCE"] = "1" if coalescing else "0"
        stacks[coalescing] = Client.local(store=store, timeout=300)
        stacks[coalescing].timeout = 600
    os.environ.pop("MOTIFLENS_INTERPRETER_COALESCE")
    trainer = stacks[True]
    dataset = trainer.create_task(1, num_sequences=400, seed=0)
    job = trainer.train(dataset.dataset_id, architecture="cnn_deep", activation="exponential", epochs=1)
    model_id = job.wait(progress=False).model_id
    rng = np.random.default_rng(0)
    eye = np.eye(4, dtype=np.float32)
    inputs = [eye[rng.integers(0, 4, (args.rows, 200))] for _ in range(args.clients)]

    def round_(coalescing: bool) -> tuple[float, float, float]:
        stack = stacks[coalescing]
        clients = [
            Client(stack.address, interpreter_address=stack.interpreter_address, timeout=600)
            for _ in range(args.clients)
        ]
        for client, X in zip(clients[:2], inputs[:2], strict=True):  # load the model, trace graphs
            client.attribute(model_id, X, method="saliency", progress=False)
        latencies: list[list[float]] = [[] for _ in range(args.clients)]
        stop_at = time.monotonic() + args.seconds

        def client_loop(index: int) -> None:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                clients[index].attribute(model_id, inputs[index], method="saliency", progress=False)
                latencies[index].append(time.perf_counter() - start)

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(args.clients)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        for client in clients:
            client.close()
        flat = sorted(x for per in latencies for x in per)
        p99 = flat[min(len(flat) - 1, int(0.99 * len(flat)))]
        return len(flat) / elapsed, statistics.median(flat), p99

    results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    try:
        for _ in range(args.rounds):
            for coalescing in (False, True):
                results[coalescing].append(round_(coalescing))
    finally:
        for stack in stacks.values():
            stack.close()
    print(
        f"{args.clients} clients x saliency of {args.rows} sequences (cnn_deep, 200 nt), "
        f"{args.rounds} interleaved rounds of {args.seconds:.0f} s, {os.cpu_count()} CPUs"
    )
    summary = {}
    for coalescing, label in ((False, "one pass per call (baseline)"), (True, "coalesced passes")):
        rate = statistics.median(r[0] for r in results[coalescing])
        p50 = statistics.median(r[1] for r in results[coalescing])
        p99 = statistics.median(r[2] for r in results[coalescing])
        summary[coalescing] = rate
        print(f"  {label:32s} {rate:8.1f} calls/s   p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms")
    print(f"  ratio coalesced / baseline: {summary[True] / summary[False]:.2f}x (target >= 2)")


if __name__ == "__main__":
    main()
