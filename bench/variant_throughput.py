"""ScoreVariants throughput against plain Predict on the same windows, through the services.

Starts the local stack (``Client.local``, a temporary store), trains CNN-deep
(exponential) on a small Task 1 for one epoch (the weights do not matter for speed),
uploads a random genome, writes a VCF of ``--variants`` SNVs on it, then times, in
interleaved rounds:

- ``Client.score_variants`` of the VCF (REF and ALT windows, one strand, no maps);
- ``Client.predict`` of the same 2 x N windows sent as strings (what a client doing it by
  hand would need, without the genome lookups).

Prints variants/s of each and the ratio (ScoreVariants variants/s over Predict's windows/s
/ 2): 1.0 means scoring costs nothing beyond the two predictions per variant. Issue
target: >= 0.8.

Usage: ``python bench/variant_throughput.py [--variants 4000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from motiflens_client import Client

    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp(prefix="variant-bench-"))
    chrom = "".join(rng.choice(list("ACGT"), 2_000_000))
    (folder / "genome.fa").write_text(
        ">chr1\n" + "\n".join(chrom[i : i + 60] for i in range(0, len(chrom), 60)) + "\n"
    )
    positions = np.sort(rng.choice(np.arange(1000, len(chrom) - 1000), args.variants, replace=False))
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for pos in positions:
        ref = chrom[pos - 1]
        lines.append(f"chr1\t{pos}\t.\t{ref}\t{'ACGT'[('ACGT'.index(ref) + 1) % 4]}\t.\t.\t.")
    (folder / "calls.vcf").write_text("\n".join(lines) + "\n")
    with Client.local(temporary=True, timeout=3600) as client:
        data = client.create_task(1, num_sequences=2000, seed=0)
        info = client.train(
            data.dataset_id, architecture="cnn_deep", activation="exponential", epochs=1
        ).wait(progress=False)
        length = data.sequence_length
        genome = client.upload(folder / "genome.fa").upload_id
        centre = length // 2
        windows = []
        for pos in positions:
            start = pos - 1 - centre
            ref = chrom[start : start + length]
            alt = ref[:centre] + "ACGT"[("ACGT".index(ref[centre]) + 1) % 4] + ref[centre + 1 :]
            windows += [ref, alt]
        client.score_variants(
            info.model_id, folder / "calls.vcf", genome_upload_id=genome
        )  # warm: genome, graphs
        client.predict(info.model_id, windows[:512])
        timings: dict[str, list[float]] = {"score_variants": [], "predict": []}
        for _ in range(args.rounds):
            started = time.perf_counter()
            scored = client.score_variants(info.model_id, folder / "calls.vcf", genome_upload_id=genome)
            timings["score_variants"].append(time.perf_counter() - started)
            started = time.perf_counter()
            for block in range(0, len(windows), 4096):
                client.predict(info.model_id, windows[block : block + 4096])
            timings["predict"].append(time.perf_counter() - started)
        assert scored.summary["scored"] == args.variants
    best = {name: min(values) for name, values in timings.items()}
    variants_per_s = args.variants / best["score_variants"]
    predict_per_s = args.variants / best["predict"]  # two windows per variant
    print(f"{args.variants} SNVs, cnn_deep, L={length}, best of {args.rounds} rounds")
    print(f"ScoreVariants: {variants_per_s:.0f} variants/s ({best['score_variants']:.2f} s)")
    print(f"Predict of the 2 x N windows: {predict_per_s:.0f} variants/s ({best['predict']:.2f} s)")
    print(f"ratio ScoreVariants / Predict: {variants_per_s / predict_per_s:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
