"""Same-model throughput with concurrent clients: coalesced passes against one pass per call.

Starts one interpreter server in this process (file store in a temp dir, CNN-deep with an
exponential first layer, Task 1 input), then runs ``--clients`` threads for ``--seconds``
each round, every thread calling Attribute (saliency, ``--rows`` sequences) in a loop over
its own channel. Rounds alternate between the server as built (concurrent saliency calls
share a pass: services/interpreter/batching.py) and the baseline, the same server with
coalescing switched off for saliency (every call its own pass, as before), and the medians
of ``--rounds`` rounds each are compared.

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
from pathlib import Path

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
    import grpc
    import numpy as np
    from motiflens_client.api import interpreter_pb2_grpc, pb

    from motiflens.models import build_model
    from motiflens.training import TrainConfig, train, write_run
    from services.common.config import Settings
    from services.common.convert import array_to_tensor
    from services.common.server import create_server
    from services.common.store import open_store
    from services.interpreter import servicer as servicer_module
    from services.interpreter.app import SERVICE_NAMES, build_register
    from services.trainer.datasets import create_synthetic, load_dataset

    folder = tempfile.mkdtemp(prefix="motiflens-bench-")
    store = open_store(f"file://{folder}")
    info = create_synthetic(store, "task1", num_sequences=400, seed=0)
    model = build_model(architecture="cnn_deep", input_length=200, num_outputs=12, activation="exponential")
    result = train(model, load_dataset(store, info.dataset_id)[0], TrainConfig(epochs=1, seed=0))
    with tempfile.TemporaryDirectory() as run_dir:
        write_run(result, run_dir)
        manifest = store.put_artifact(
            "model",
            {path.name: path for path in Path(run_dir).iterdir()},
            id_prefix="model",
            metadata={"dataset_id": info.dataset_id, "input_length": 200, "num_outputs": 12},
        )
    model_id = manifest.artifact_id
    workers = args.clients + 8
    settings = Settings(
        service="interpreter",
        host="127.0.0.1",
        port=0,
        metrics_port=None,
        store_url="",
        max_workers=workers,
        max_calls=workers,
        max_streams=workers,
        grace_seconds=1.0,
        log_level="WARNING",
    )
    server, port = create_server(
        settings, build_register(store, None), service_name=SERVICE_NAMES, store=store
    )
    server.start()
    rng = np.random.default_rng(0)
    eye = np.eye(4, dtype=np.float32)
    inputs = [eye[rng.integers(0, 4, (args.rows, 200))] for _ in range(args.clients)]
    requests = [
        pb.AttributeRequest(
            model_id=model_id,
            sequences=pb.Sequences(one_hot=array_to_tensor(X)),
            method=pb.AttributionMethod.Value("ATTRIBUTION_METHOD_SALIENCY"),
        )
        for X in inputs
    ]
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(args.clients)]
    stubs = [interpreter_pb2_grpc.InterpreterServiceStub(c) for c in channels]
    for stub, request in zip(stubs[:2], requests[:2], strict=True):  # load the model, trace graphs
        list(stub.Attribute(request, timeout=300))
    coalesced = servicer_module.COALESCED_METHODS

    def round_(coalescing: bool) -> tuple[float, float, float]:
        servicer_module.COALESCED_METHODS = coalesced if coalescing else frozenset()
        latencies: list[list[float]] = [[] for _ in range(args.clients)]
        stop_at = time.monotonic() + args.seconds

        def client(index: int) -> None:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                list(stubs[index].Attribute(requests[index], timeout=300))
                latencies[index].append(time.perf_counter() - start)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        flat = sorted(x for per in latencies for x in per)
        p99 = flat[min(len(flat) - 1, int(0.99 * len(flat)))]
        return len(flat) / elapsed, statistics.median(flat), p99

    results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    for _ in range(args.rounds):
        for coalescing in (False, True):
            results[coalescing].append(round_(coalescing))
    servicer_module.COALESCED_METHODS = coalesced
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
    for channel in channels:
        channel.close()
    server.stop(1.0)


if __name__ == "__main__":
    main()
