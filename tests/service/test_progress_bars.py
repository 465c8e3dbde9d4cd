"""Progress bars of long SDK and CLI calls against the real local stack (``Client.local``).

One tiny model (cnn_2, 2 epochs) trained on 80 random sequences imported from FASTA (56
train rows) serves the module; its training job is waited on again for the epoch bar.
Bars are observed through a recording tqdm factory (``progress=factory``) or on captured
stderr; the numbers are the calls' own: sequences, rows, shards, epochs, bytes uploaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re

import numpy as np
import pytest
from motiflens_client import Client, DatasetSplit, InvalidArgument, NotFound
from motiflens_client.cli import main
from motiflens_client.cli.variants import count_alleles
from motiflens_client.sdk.genome import UPLOAD_CHUNK_BYTES
from motiflens_client.sdk.model_files import INLINE_IMPORT_BYTES
from progress_doubles import Recording, Terminal
from test_cli import UNKNOWN_MODEL, run_cli

pytestmark = pytest.mark.timeout(900)

LENGTH = 100


class Factory:
    """``progress=factory``: makes Recording bars and keeps them."""

    def __init__(self) -> None:
        self.bars: list[Recording] = []
        self.options: list[dict] = []

    def __call__(self, **options) -> Recording:
        self.options.append(options)
        self.bars.append(Recording(**options))
        return self.bars[-1]

    @property
    def bar(self) -> Recording:
        assert len(self.bars) == 1, self.options
        return self.bars[0]


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    sequences = ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(80)]
    fasta = "".join(f">seq{i}\n{s}\n" for i, s in enumerate(sequences))
    labels = np.array([i % 2 for i in range(len(sequences))], dtype=np.int8)
    with Client.local(temporary=True, timeout=600) as client:
        client.timeout = 600
        dataset = client.import_fasta(fasta, labels, name="progress")
        job = client.train(
            dataset.dataset_id, architecture="cnn_2", activation="exponential", epochs=2, seed=1
        )
        model_id = job.wait(timeout=600, progress=False).model_id
        yield client, model_id, dataset, sequences, job


# --------------------------------------------------------------------------- streamed calls


def test_an_attribution_bar_advances_chunk_by_chunk_to_every_sequence(world):
    client, model_id, _, sequences, _ = world
    factory = Factory()
    X_attr = client.attribute(model_id, sequences[:7], chunk_size=3, progress=factory)
    bar = factory.bar
    assert factory.options == [{"total": 7, "desc": "attribute saliency", "unit": "seq"}]
    assert bar.steps == [3, 3, 1] and bar.n == bar.total == 7 and bar.closed
    assert "7/7" in bar.text.getvalue()
    # The bar changes nothing: the same maps without one.
    np.testing.assert_array_equal(
        X_attr, client.attribute(model_id, sequences[:7], chunk_size=3, progress=False)
    )


def test_a_stored_split_is_counted_with_its_offset_and_limit(world):
    client, model_id, dataset, _, _ = world
    assert dataset.num_train == 56
    factory = Factory()
    maps = client.attribution_maps(
        model_id, DatasetSplit(dataset.dataset_id, "train", offset=5), chunk_size=16, progress=factory
    )
    assert maps.scores.shape == (51, LENGTH, 4)
    assert factory.bar.n == factory.bar.total == 51 and factory.bar.steps == [16, 16, 16, 3]
    factory = Factory()
    scans = client.scan_filters(
        model_id,
        DatasetSplit(dataset.dataset_id, "train", offset=50, limit=30),
        chunk_size=4,
        progress=factory,
    )
    assert scans.shape[0] == 6 and factory.bar.n == factory.bar.total == 6 and factory.bar.steps == [4, 2]
    assert factory.options[0]["desc"] == "scan filters"


def test_read_split_counts_rows_as_chunks_arrive(world):
    client, _, dataset, _, _ = world
    factory = Factory()
    rows = client.read_split(dataset.dataset_id, "train", rows_per_chunk=10, progress=factory)
    assert rows.one_hot.shape[0] == 56
    assert factory.bar.n == factory.bar.total == 56 and factory.bar.steps == [10, 10, 10, 10, 10, 6]
    assert factory.options[0] == {"total": 56, "desc": "read train", "unit": "row"}


def test_true_prints_lines_on_stderr_false_and_none_print_nothing(world, capsys):
    client, model_id, _, sequences, _ = world
    client.attribute(model_id, sequences[:7], chunk_size=3, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "\r" not in captured.err
    # A log (not a terminal): whole lines, at least the final one.
    assert captured.err.splitlines()[-1].startswith("attribute saliency: 100%|##########| 7/7 ")
    client.attribute(model_id, sequences[:7], chunk_size=3, progress=False)
    client.attribute(model_id, sequences[:7], chunk_size=3)  # None: stderr is no terminal here
    assert capsys.readouterr() == ("", "")


def test_a_failed_stream_closes_its_bar_and_a_bad_progress_is_refused(world):
    client, model_id, _, sequences, _ = world
    factory = Factory()
    with pytest.raises(NotFound):
        client.attribute(UNKNOWN_MODEL, sequences[:7], chunk_size=3, progress=factory)
    assert factory.bar.closed and factory.bar.n == 0 and factory.bar.total == 7
    with pytest.raises(InvalidArgument, match=r"progress: expected None \(automatic\), True, False"):
        client.attribute(model_id, sequences[:7], progress="yes")


# --------------------------------------------------------------------------- job waits


def test_an_attribution_job_wait_shows_its_shards(world, capsys):
    client, model_id, dataset, _, _ = world
    job = client.attribute_split(
        model_id, DatasetSplit(dataset.dataset_id, "train", limit=30), method="saliency", shard_size=10
    )
    factory = Factory()
    info = job.wait(timeout=600, progress=factory)
    bar = factory.bar
    assert info.state == "SUCCEEDED" and (info.shards, info.num_sequences) == (3, 30)
    assert bar.n == bar.total == 30 and bar.steps == [10, 10, 10] and bar.closed
    assert bar.postfixes == [
        "shard 1/3",
        "shard 2/3",
        "shard 3/3",
        f"{job.job_id} SUCCEEDED {info.attributions_id}",
    ]
    # progress=True on a log: one line per shard (replayed: the job has finished), then the end.
    job.wait(timeout=600, progress=True)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and "\r" not in captured.err and len(lines) == 4
    for shard, line in enumerate(lines[:3], start=1):
        assert f"| {10 * shard}/30 [" in line and line.endswith(f"shard {shard}/3]"), line
    assert lines[3] == f"{job.job_id} SUCCEEDED {info.attributions_id}"


def test_a_training_job_wait_shows_its_epochs(world, capsys):
    job = world[4]  # finished: WatchJob replays its epochs
    factory = Factory()
    info = job.wait(timeout=600, progress=factory)
    bar = factory.bar
    assert info.state == "SUCCEEDED" and info.epochs_done == 2
    assert bar.n == bar.total == 2 and bar.steps == [1, 1] and bar.closed
    assert factory.options[0] == {"total": 2, "desc": f"{job.job_id} epoch", "unit": "epoch"}
    # Each epoch's metrics, then the final state.
    assert len(bar.postfixes) == 3
    assert all(
        re.fullmatch(r"loss \d\.\d{4} val AUPR \d\.\d{3} AUROC \d\.\d{3}", p) for p in bar.postfixes[:2]
    )
    assert bar.postfixes[2].startswith(f"{job.job_id} SUCCEEDED after 2 epochs: test AUROC ")
    job.wait(progress=True)  # a log: one line per epoch, then the final state
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" |")[0] for line in lines[:2]] == [
        f"{job.job_id} epoch 1/2",
        f"{job.job_id} epoch 2/2",
    ]
    assert len(lines) == 3 and lines[2].startswith(f"{job.job_id} SUCCEEDED after 2 epochs")


# --------------------------------------------------------------------------- the CLI


def _run_on_terminal(*argv: str):
    """Run the CLI with stderr a (captured) terminal; returns (code, stdout, stderr)."""
    out, err = io.StringIO(), Terminal()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_the_cli_draws_bars_on_a_terminal_only_and_stdout_never_changes(world, tmp_path):
    client, model_id, _, sequences, _ = world
    fasta = tmp_path / "seventy.fa"
    fasta.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(sequences[:70])))
    out = tmp_path / "maps.npz"
    connection = (
        "--address",
        client.address,
        "--interpreter-address",
        client.interpreter_address,
        "--motifmatch-address",
        client.motifmatch_address,
        "--timeout",
        "600",
    )
    command = ("attribute", model_id, "--fasta", str(fasta), "--method", "saliency", "--out", str(out))

    piped = run_cli(*connection, *command)  # stderr a pipe: no bar
    assert piped.code == 0 and piped.err == ""
    assert piped.out == f"{out}  scores (70, {LENGTH}, 4)\n"
    scores = np.load(out)["scores"]

    code, stdout, stderr = _run_on_terminal(*connection, *command)
    assert code == 0 and stdout == piped.out  # byte for byte
    # 70 sequences are two chunks of the default 64: tqdm's bar, redrawn with "\r", on stderr only.
    assert stderr.startswith("\rattribute saliency:   0%|") and "70/70" in stderr and "\r" not in stdout
    np.testing.assert_array_equal(np.load(out)["scores"], scores)

    code, stdout, stderr = _run_on_terminal(*connection, "--no-progress", *command)
    assert (code, stdout, stderr) == (0, piped.out, "")


@pytest.fixture(scope="module")
def variants(world, tmp_path_factory):
    """A 400 nt chr1 uploaded as the genome, and a VCF of 302 ALT alleles on it."""
    client = world[0]
    folder = tmp_path_factory.mktemp("progress-variants")
    rng = np.random.default_rng(11)
    chr1 = "".join(rng.choice(list("ACGT"), 400))
    (folder / "genome.fa").write_text(f">chr1\n{chr1}\n")
    records = [
        # Every other base of 101..300, each with its three ALT alleles: 100 x 3 = 300.
        f"chr1\t{pos}\tv{pos}\t{chr1[pos - 1]}\t{','.join(b for b in 'ACGT' if b != chr1[pos - 1])}\t.\t.\t."
        for pos in range(101, 301, 2)
    ] + [f"chr1\t350\tsym\t{chr1[349]}\t<DEL>\t.\t.\t.", f"chr1\t360\tnone\t{chr1[359]}\t.\t.\t.\t."]
    vcf = folder / "calls.vcf"
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    vcf.write_text(header + "".join(r + "\n" for r in records))
    return client.upload(folder / "genome.fa").upload_id, vcf


def test_variant_scoring_bars_count_every_allele(world, variants, tmp_path):
    client, model_id, _, _, _ = world
    genome, vcf = variants
    assert count_alleles(vcf) == 302  # the CLI's total, as the interpreter splits the records
    connection = ("--address", client.address, "--interpreter-address", client.interpreter_address)
    command = (
        "variants",
        "score",
        model_id,
        str(vcf),
        "--genome-upload",
        genome,
        "--tsv",
        str(tmp_path / "e.tsv"),
    )
    piped = run_cli(*connection, *command)
    assert piped.code == 0 and piped.err == "" and "302 alleles: 300 scored, 2 skipped" in piped.out
    code, stdout, stderr = _run_on_terminal(*connection, *command)
    # Two messages of 256 alleles at most: the bar reaches the VCF's own count exactly.
    assert (code, stdout) == (0, piped.out)
    assert stderr.startswith("\rscore variants:   0%|") and "302/302" in stderr.splitlines()[-1]

    job = client.score_variants_job(
        model_id, vcf_upload_id=client.upload(vcf).upload_id, genome_upload_id=genome, shard_size=100
    )
    factory = Factory()
    info = job.wait(timeout=600, progress=factory)
    assert (info.state, info.alleles, info.shards) == ("SUCCEEDED", 302, 4)
    assert factory.bar.n == factory.bar.total == 302 and factory.bar.steps == [100, 100, 100, 2]
    assert factory.bar.postfixes[-1] == f"{job.job_id} SUCCEEDED {info.variants_id}"


# --------------------------------------------------------------------------- uploads

#: chr1 of the upload tests: 3.2 Mnt in 80-column lines, 3,240,006 bytes: four 1 MiB chunks.
GENOME_BASES = 3_200_000
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """A random one-chromosome genome of four upload chunks, and a BED file of 40 peaks on it."""
    folder = tmp_path_factory.mktemp("progress-genome")
    rng = np.random.default_rng(5)
    chr1 = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, GENOME_BASES)].tobytes().decode()
    lines = "\n".join(chr1[i : i + 80] for i in range(0, GENOME_BASES, 80))
    path = folder / "genome.fa"
    path.write_text(f">chr1\n{lines}\n")
    peaks = folder / "peaks.bed"
    peaks.write_text("".join(f"chr1\t{start}\t{start + 100}\n" for start in range(50_000, 3_050_000, 75_000)))
    return path, peaks


def test_an_upload_bar_counts_the_files_bytes_chunk_by_chunk(world, genome, capsys):
    client = world[0]
    path, _ = genome
    size = path.stat().st_size
    assert size == 3_240_006 and size > 3 * UPLOAD_CHUNK_BYTES == 3 * MIB
    factory = Factory()
    info = client.upload(path, progress=factory)
    bar = factory.bar
    assert factory.options == [{"total": size, "desc": "upload genome.fa", "unit": "B"}]
    assert bar.steps == [MIB, MIB, MIB, size - 3 * MIB] and bar.n == bar.total == size and bar.closed
    assert (info.size, info.sha256) == (size, hashlib.sha256(path.read_bytes()).hexdigest())
    capsys.readouterr()
    # False: nothing; None: stderr is no terminal here, so nothing either.
    assert client.upload(path, progress=False).size == size
    assert client.upload(path).size == size
    assert capsys.readouterr() == ("", "")
    # True on a log: whole lines in SI bytes, the last at the file's size, never on stdout.
    client.upload(path, name="again.fa", progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "\r" not in captured.err
    assert captured.err.splitlines()[-1].startswith("upload again.fa: 100%|##########| 3.24M/3.24M ")


def test_a_file_of_one_chunk_gets_no_automatic_bar_and_a_bad_progress_is_refused(world, genome):
    client = world[0]
    _, peaks = genome
    factory = Factory()
    client.upload(peaks, progress=factory)  # a factory: always, even for one chunk
    assert factory.bar.steps == [peaks.stat().st_size] and factory.bar.n == factory.bar.total
    with pytest.raises(InvalidArgument, match=r"progress: expected None \(automatic\), True, False"):
        client.upload(peaks, progress="bytes")
    with pytest.raises(InvalidArgument, match="got str"):  # refused before the genome is sent
        client.import_intervals(str(peaks), [peaks], negatives="shuffled", progress="bytes")


def test_the_cli_upload_draws_a_byte_bar_on_a_terminal_only_and_stdout_never_changes(world, genome):
    client = world[0]
    path, peaks = genome
    connection = ("--address", client.address, "--timeout", "600")
    command = ("dataset", "import-intervals", "--genome", str(path), str(peaks), "--negatives", "shuffled")
    kept = "motiflens: 40 of 40 peak windows kept"

    piped = run_cli(*connection, *command)  # stderr a pipe: the summary line, no bar
    assert piped.code == 0, piped.err
    assert re.fullmatch(r"ds-[0-9a-f]+\n", piped.out)
    assert piped.err.startswith(kept) and len(piped.err.splitlines()) == 1 and "upload" not in piped.err

    code, stdout, stderr = _run_on_terminal(*connection, *command)
    assert code == 0 and re.fullmatch(r"ds-[0-9a-f]+\n", stdout)  # the same one line: a data set's id
    bar, summary = stderr.rsplit("\n", 2)[:2]
    assert stderr.startswith("\rupload genome.fa:   0%|") and "3.24M/3.24M" in bar and "\r" not in stdout
    assert summary.startswith(kept) and summary == piped.err.rstrip("\n")

    code, stdout, stderr = _run_on_terminal(*connection, "--no-progress", *command)
    assert code == 0 and re.fullmatch(r"ds-[0-9a-f]+\n", stdout) and stderr == piped.err


def test_a_model_import_over_the_inline_size_shows_its_upload_and_removes_it(world, tmp_path):
    client = world[0]
    fake = tmp_path / "big.keras"  # one byte over the inline size: uploaded first, in 33 chunks
    fake.write_bytes(b"\0" * (INLINE_IMPORT_BYTES + 1))
    before = {upload.upload_id for upload in client.list_uploads()}
    factory = Factory()
    # A name over 200 characters: ImportModel refuses it before loading anything (no TensorFlow child).
    with pytest.raises(InvalidArgument, match="name"):
        client.import_model(fake, name="m" * 201, progress=factory)
    bar = factory.bar
    assert factory.options[0]["desc"] == "upload model.keras" and bar.closed
    assert bar.n == bar.total == INLINE_IMPORT_BYTES + 1 and len(bar.steps) == 33
    assert {upload.upload_id for upload in client.list_uploads()} == before  # the upload is deleted
