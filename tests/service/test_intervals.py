"""Genome-interval data sets end to end: a genome and peak files written here, uploaded, imported
with chromosome hold-out, trained on; through the SDK and the CLI against a real trainer (loopback).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from Bio import bgzf
from helpers import make_settings, running_server
from motiflens_client import Client, InvalidArgument, NotFound
from test_cli import run_cli

from services.common.config import JobSettings
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore, open_store
from services.trainer.jobs import JobManager
from services.trainer.servicer import SERVICE_NAME, TrainerServicer

pytestmark = pytest.mark.timeout(600)

#: The planted motif (an AP-1 site) and the genome's layout.
MOTIF = "TGACTCAGCA"
CHROMS = {"chr1": 30_000, "chr2": 30_000, "chr3": 12_000, "chr4": 12_000}
PEAKS_PER_KB = 4
WINDOW = 100


def _genome(rng: np.random.Generator) -> tuple[dict[str, str], dict[str, list[int]]]:
    """Random chromosomes with MOTIF planted at known summits (every 250 nt, jittered)."""
    sequences, summits = {}, {}
    for chrom, size in CHROMS.items():
        bases = np.array(list("ACGT"))[rng.integers(0, 4, size)]
        sites = []
        for centre in range(300, size - 300, 1000 // PEAKS_PER_KB):
            centre += int(rng.integers(-20, 21))
            start = centre - len(MOTIF) // 2
            bases[start : start + len(MOTIF)] = list(MOTIF)
            sites.append(centre)
        sequences[chrom] = "".join(bases)
        summits[chrom] = sites
    return sequences, summits


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("genome")
    sequences, summits = _genome(np.random.default_rng(11))
    text = "".join(
        f">{chrom} test chromosome\n" + "\n".join(s[i : i + 60] for i in range(0, len(s), 60)) + "\n"
        for chrom, s in sequences.items()
    )
    with bgzf.BgzfWriter(str(folder / "genome.fa.gz"), "wb") as handle:
        handle.write(text.encode())
    (folder / "genome.fa").write_text(text)
    peaks = []
    for chrom, sites in summits.items():
        for number, summit in enumerate(sites):
            start = summit - 40
            peaks.append(f"{chrom}\t{start}\t{summit + 40}\tpeak{number}\t100\t.\t5.0\t4.0\t3.0\t40")
    # Two peaks whose windows run off a chromosome end: dropped and counted.
    peaks.append("chr3\t0\t30\tedge_start\t100\t.\t5.0\t4.0\t3.0\t10")
    peaks.append("chr4\t11_990\t12_000\tedge_end\t100\t.\t5.0\t4.0\t3.0\t5".replace("_", ""))
    (folder / "peaks.narrowPeak").write_text("track name=ap1\n" + "\n".join(peaks) + "\n")
    return {
        "genome": folder / "genome.fa.gz",
        "plain_genome": folder / "genome.fa",
        "peaks": folder / "peaks.narrowPeak",
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, ArtifactStore, str]]:
    store_url = (tmp_path_factory.mktemp("intervals") / "store").as_uri()
    store = open_store(store_url)
    metrics = ServiceMetrics()
    jobs = JobManager(store_url, JobSettings(), store=store, metrics=metrics)
    try:
        with running_server(
            TrainerServicer(store, jobs).register,
            service_name=SERVICE_NAME,
            settings=make_settings("trainer"),
            store=store,
            metrics=metrics,
        ) as running:
            address = f"127.0.0.1:{running.port}"
            with Client(address, timeout=300, retries=0) as client:
                yield client, store, address
    finally:
        jobs.close()


def _expected_peaks() -> int:
    return sum(len(range(300, size - 300, 1000 // PEAKS_PER_KB)) for size in CHROMS.values())


def test_peaks_with_chromosome_hold_out_train_a_model_that_finds_the_motif(served, files):
    client, _, _ = served
    genome = client.upload(files["genome"])
    result = client.import_intervals(
        genome,
        [files["peaks"]],
        window_length=WINDOW,
        negatives="gc_matched",
        valid_chroms=["chr3"],
        test_chroms=["chr4"],
        seed=5,
        task_names=["AP1"],
        name="ap1-peaks",
    )
    dataset, windows = result.dataset, result.windows
    peaks = _expected_peaks()
    assert (windows.requested, windows.kept, windows.off_chromosome_end, windows.too_many_n) == (
        peaks + 2,
        peaks,
        2,
        0,
    )
    assert (windows.negatives, windows.split) == ("gc_matched", "chromosomes")
    # A genome this small and this dense with peaks cannot fill every GC bin: nearly all, never more.
    assert windows.negatives_requested == peaks and 0.95 * peaks <= windows.negatives_made <= peaks
    assert (dataset.kind, dataset.sequence_length, dataset.num_targets, dataset.label_names) == (
        "intervals",
        WINDOW,
        1,
        ("AP1",),
    )
    assert dataset.num_train + dataset.num_valid + dataset.num_test == peaks + windows.negatives_made

    # Rows come back with their genome coordinates; held-out chromosomes stay in their split.
    test = client.read_split(dataset.dataset_id, "test")
    assert {name.split(":")[0] for name in test.names} == {"chr4"}
    assert {name.split(":")[0] for name in client.read_split(dataset.dataset_id, "valid").names} == {"chr3"}
    positives = [row for row, label in zip(test.one_hot, test.labels[:, 0], strict=True) if label == 1]
    text = "".join("ACGT"[i] for i in positives[0].argmax(-1))
    assert MOTIF in text[WINDOW // 2 - 15 : WINDOW // 2 + 15]  # the summit sits at the window's centre
    assert len(positives) == len(range(300, CHROMS["chr4"] - 300, 250)) - 0

    job = client.train(dataset.dataset_id, architecture="cnn_2", activation="exponential", epochs=15, seed=1)
    info = job.wait(timeout=500)
    assert info.state == "SUCCEEDED", info.error
    assert info.test_metrics.auroc > 0.9, info.test_metrics


def test_the_same_seed_gives_the_same_data_set_and_shuffled_negatives_keep_composition(served, files):
    client, _, _ = served
    genome = client.upload(files["plain_genome"])
    made = [
        client.import_intervals(genome, [files["peaks"]], window_length=WINDOW, negatives="shuffled", seed=3)
        for _ in range(2)
    ]
    first, second = (client.read_split(m.dataset.dataset_id, "train") for m in made)
    np.testing.assert_array_equal(first.one_hot, second.one_hot)
    assert first.names == second.names
    assert made[0].windows.split == "random" and made[0].windows.negatives_made == _expected_peaks()
    # Each shuffled negative has its peak's base counts.
    rows = dict(zip(first.names, first.one_hot, strict=True))
    for name, one_hot in rows.items():
        if name.endswith("/shuffled") and name.removesuffix("/shuffled") in rows:
            np.testing.assert_array_equal(one_hot.sum(0), rows[name.removesuffix("/shuffled")].sum(0))


@pytest.mark.parametrize(
    "peaks, options, message",
    [
        ("chr9\t100\t200\n", {}, "chr9"),
        ("1\t100\t200\n", {}, "genome/BED contig naming differs"),
        ("chr1\t200\t100\n", {}, "intervals.peaks[0]"),
        ("chr1\t100\t200\n", {"window_length": 50_000}, "50000"),
        ("chr1\t100\t200\n", {"negatives": "none"}, "one peak file without negatives"),
        ("chr1\t100\t200\n", {"valid_chroms": ["chr3"]}, "needs both"),
        ("chr1\t100\t200\n", {"valid_chroms": ["chr3"], "test_chroms": ["chr3"]}, "chr3"),
        ("chr1\t100\t200\n", {"max_n_fraction": float("nan")}, "max_n_fraction"),
    ],
    ids=[
        "missing-contig",
        "chr-naming",
        "end-before-start",
        "window-too-long",
        "no-negatives",
        "half-hold-out",
        "both-splits",
        "nan",
    ],
)
def test_bad_requests_are_refused_and_store_nothing(served, files, peaks, options, message):
    client, store, _ = served
    genome = client.upload(files["plain_genome"])
    before = {m.artifact_id for m in store.list_artifacts("dataset")}
    options = {"negatives": "shuffled", **options}
    with pytest.raises(InvalidArgument) as info:
        client.import_intervals(genome, [peaks], **options)
    assert message in info.value.message
    assert {m.artifact_id for m in store.list_artifacts("dataset")} == before


def test_a_plain_gzip_genome_and_an_unknown_upload_are_refused(served, files, tmp_path):
    import gzip

    client, _, _ = served
    plain_gzip = tmp_path / "genome.fa.gz"
    plain_gzip.write_bytes(gzip.compress(files["plain_genome"].read_bytes()))
    with pytest.raises(InvalidArgument, match="bgzip"):
        client.import_intervals(plain_gzip, ["chr1\t100\t200\n"], negatives="shuffled")
    with pytest.raises(NotFound):
        client.import_intervals("upload-" + "0" * 32, ["chr1\t100\t200\n"], negatives="shuffled")


def test_the_cli_imports_intervals_and_reports_the_counts(served, files):
    _, _, address = served
    run = run_cli(
        "--address",
        address,
        "--timeout",
        "300",
        "dataset",
        "import-intervals",
        "--genome",
        str(files["genome"]),
        str(files["peaks"]),
        "--window-length",
        str(WINDOW),
        "--negatives",
        "gc_matched",
        "--valid-chroms",
        "chr3",
        "--test-chroms",
        "chr4",
    )
    assert run.code == 0, run.err
    assert run.out.strip().startswith("ds-")
    assert (
        f"{_expected_peaks()} of {_expected_peaks() + 2} peak windows kept (2 off a chromosome end" in run.err
    )
    assert "chromosomes split" in run.err
    bad = run_cli(
        "--address", address, "dataset", "import-intervals", "--genome", str(files["genome"]), "nofile.bed"
    )
    assert bad.code != 0 and "no such file" in bad.err
