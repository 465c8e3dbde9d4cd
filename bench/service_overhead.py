"""What the services add to an attribution: ``Client.attribute`` against the in-process core call.

Trains one CNN-deep (exponential first layer, Task 1) through a ``Client.local`` stack,
downloads it, and times, in interleaved rounds, the same attribution of the same random
one-hot sequences two ways: ``motiflens.attribution.attribute`` in this process (one thread
pool, passes of 256 rows: the core's default; the interpreter cuts CNN-deep's to 233 by its
pass-memory bound) and ``client.attribute`` through the
interpreter on loopback (the request encoded, streamed back in chunks, decoded per chunk).
Both sides use TensorFlow's default thread pools on this machine; the client process only
waits while the server computes.

Prints, per method and size: seconds of each (best of ``--repeats``), the ratio service /
in-process (issue 19's target: <= 1.1 for saliency and ISM at 1,000 and 10,000 sequences),
with the SDK's default ``chunk_size`` (64) and with ``--chunk-size`` (default 1024), and the
largest difference between the two results.

Usage: ``python bench/service_overhead.py [--sizes 1000,10000] [--ism-sizes 1000] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="saliency: sequences per call")
    parser.add_argument("--ism-sizes", default="1000", help="fast ISM: sequences per call")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per way (the best is kept)")
    parser.add_argument("--chunk-size", type=int, default=1024, help="the larger chunk size tried")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import numpy as np
    from motiflens_client import Client

    from motiflens.attribution import attribute
    from motiflens.models import load_model

    folder = tempfile.mkdtemp(prefix="motiflens-bench-")
    with Client.local(store=os.path.join(folder, "store"), timeout=300) as client:
        client.timeout = 3600
        dataset = client.create_task(1, num_sequences=2000, seed=0)
        job = client.train(dataset.dataset_id, architecture="cnn_deep", activation="exponential", epochs=1)
        model_id = job.wait(progress=False).model_id
        model = load_model(client.download_model(model_id, os.path.join(folder, "model.keras")))
        rng = np.random.default_rng(0)
        eye = np.eye(4, dtype=np.float32)
        cases = [("saliency", int(n)) for n in args.sizes.split(",") if n] + [
            ("ism", int(n)) for n in args.ism_sizes.split(",") if n
        ]
        # Warm both ways up (graphs traced, model loaded in the server).
        warm = eye[rng.integers(0, 4, (8, 200))]
        for method in {m for m, _ in cases}:
            attribute(model, warm, method, batch_size=256)
            client.attribute(model_id, warm, method=method, progress=False)
        print(f"cnn_deep (exponential, 12 outputs, 200 nt), {os.cpu_count()} CPUs; best of {args.repeats}")
        print(
            f"{'method':>9} {'N':>6} {'in-process':>11} {'service c=64':>13} {'ratio':>6} "
            f"{f'service c={args.chunk_size}':>15} {'ratio':>6}  max |diff|"
        )
        for method, n in cases:
            X = eye[rng.integers(0, 4, (n, 200))]
            best = {"core": float("inf"), "default": float("inf"), "large": float("inf")}
            results = {}
            for _ in range(args.repeats):
                for way in best:
                    start = time.perf_counter()
                    if way == "core":
                        results[way] = attribute(model, X, method, batch_size=256).scores
                    else:
                        chunk = 0 if way == "default" else args.chunk_size
                        results[way] = client.attribute(
                            model_id, X, method=method, chunk_size=chunk, progress=False
                        )
                    best[way] = min(best[way], time.perf_counter() - start)
            difference = max(float(np.abs(results[w] - results["core"]).max()) for w in ("default", "large"))
            print(
                f"{method:>9} {n:>6} {best['core']:>10.2f}s {best['default']:>12.2f}s "
                f"{best['default'] / best['core']:>6.2f} {best['large']:>14.2f}s "
                f"{best['large'] / best['core']:>6.2f}  {difference:.1e}"
            )


if __name__ == "__main__":
    main()
