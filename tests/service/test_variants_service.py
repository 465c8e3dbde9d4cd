"""ScoreVariants through the real stack: a VCF scored against an uploaded genome, SDK and CLI.

The model is the constructed CTCF/MEF2A detector of :mod:`planted`, imported as a lab's
.keras file; the genome holds one CTCF consensus site. Known answers: breaking the
site's most informative base lowers the logit much more than a change 30 nt away, and
every SNV's effect equals the interpreter's own ISM of the REF window at that position
and base.
"""

from __future__ import annotations

import gzip

import numpy as np
import pysam
import pytest
from motiflens_client import Client, InvalidArgument, NotFound
from planted import LENGTH, detector
from test_cli import run_cli

from motiflens.errors import InvalidInputError as MotiflensInvalidInput
from motiflens.motifs import jaspar_motif
from motiflens.variants import read_vcf
from services.common import vcf_child

pytestmark = pytest.mark.timeout(900)

SITE = 500
PWM = jaspar_motif("MA0139.1").pwm
CONSENSUS = "".join("ACGT"[i] for i in PWM.argmax(axis=1))
BEST = int(np.argmax(PWM.max(axis=1)))
HEADER = "##fileformat=VCFv4.2\n##source=test\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    detector().save(folder / "detector.keras")
    rng = np.random.default_rng(5)
    chrom = list("".join(rng.choice(list("ACGT"), 1200)))
    chrom[SITE : SITE + len(CONSENSUS)] = CONSENSUS
    chr1 = "".join(chrom)
    (folder / "genome.fa").write_text(f">chr1\n{chr1}\n>chr2\n{''.join(rng.choice(list('ACGT'), 400))}\n")
    # timeout= bounds the stack's start; client.timeout is each call's deadline (default 60 s):
    # the first TF-MoDISco call of a fresh machine compiles numba for about a minute.
    with Client.local(temporary=True, timeout=600) as client:
        client.timeout = 900
        model_id = client.import_model(folder / "detector.keras").model_id
        genome = client.upload(folder / "genome.fa").upload_id
        yield client, model_id, genome, chr1, folder


def vcf_lines(chr1: str) -> list[str]:
    hit = SITE + BEST + 1
    worst = "ACGT"[int(PWM[BEST].argmin())]
    near = SITE - 30
    near_alt = next(b for b in "ACGT" if b != chr1[near - 1])
    others = ",".join([b for b in "ACGT" if b != chr1[699]])
    wrong = next(b for b in "ACGT" if b != chr1[hit - 1])
    return [
        f"chr1\t{hit}\tbreak\t{chr1[hit - 1]}\t{worst}\t.\tPASS\tDP=5",
        f"chr1\t{near}\tnear\t{chr1[near - 1]}\t{near_alt}\t.\t.\t.",
        f"chr1\t700\tmulti\t{chr1[699]}\t{others}\t.\t.\t.",
        f"chr1\t{hit}\tmismatch\t{wrong}\tA\t.\t.\t.",
        f"1\t{near}\trenamed\t{chr1[near - 1]}\t{near_alt}\t.\t.\t.",
        "chrUn\t5\tunknown\tA\tC\t.\t.\t.",
        f"chr1\t{hit}\tsymbolic\t{chr1[hit - 1]}\t<DEL>\t.\t.\t.",
    ]


def test_effects_match_the_planted_site_and_the_interpreter_s_ism(world, tmp_path):
    client, model_id, genome, chr1, _ = world
    path = tmp_path / "calls.vcf"
    path.write_text(HEADER + "".join(line + "\n" for line in vcf_lines(chr1)))
    seen = []
    scores = client.score_variants(
        model_id, path, genome_upload_id=genome, maps="ism", flank=5, batch_size=3, progress=seen.append
    )
    rows = scores.variants
    assert [(v.id, v.allele) for v in rows] == [
        ("break", 1), ("near", 1), ("multi", 1), ("multi", 2), ("multi", 3),
        ("mismatch", 1), ("renamed", 1), ("unknown", 1), ("symbolic", 1),
    ]  # fmt: skip
    assert seen == sorted(seen) and seen[-1] == len(rows)
    summary = scores.summary
    assert (summary["records"], summary["alleles"], summary["scored"], summary["skipped"]) == (7, 9, 6, 3)
    assert summary["skipped_by_reason"] == {"ref_mismatch": 1, "unknown_contig": 1, "symbolic": 1}
    assert (
        summary["renamed_contigs"] == 1 and summary["output"] == "logit" and summary["input_length"] == LENGTH
    )
    by_id = {v.id: v for v in rows if v.allele == 1}
    assert by_id["mismatch"].skipped.startswith("REF mismatch") and by_id["break"].skipped == ""
    broken, near = float(by_id["break"].effect[0]), float(by_id["near"].effect[0])
    assert broken < 0 and abs(near) < 0.1 * abs(broken), (broken, near)
    assert float(by_id["renamed"].effect[0]) == pytest.approx(near, abs=1e-6)  # chr1 found for "1"
    # The effect is ISM: the interpreter's own map of the REF window, at the centre and ALT base.
    centre = LENGTH // 2
    for variant in (by_id["break"], by_id["near"]):
        window = chr1[variant.pos - 1 - centre : variant.pos - 1 - centre + LENGTH]
        ism = client.attribute(model_id, [window], method="ism", output="logit")
        assert ism[0, centre, "ACGT".index(variant.alt)] == pytest.approx(float(variant.effect[0]), abs=1e-4)
        assert variant.ref_map.shape == variant.alt_map.shape == (11, 4)
        assert variant.ref_map[5, "ACGT".index(variant.alt)] == pytest.approx(
            float(variant.effect[0]), abs=1e-4
        )
    np.testing.assert_allclose(
        by_id["break"].alt_prediction - by_id["break"].ref_prediction, by_id["break"].effect, atol=1e-5
    )
    # The logit of a sigmoid model: the effect on the probability too.
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = sigmoid(by_id["break"].alt_prediction) - sigmoid(by_id["break"].ref_prediction)
    np.testing.assert_allclose(by_id["break"].probability_effect, expected, atol=1e-6)
    assert by_id["break"].probability_effect[0] < 0

    # TSV and the annotated VCF: every allele, input order, INFO per ALT allele.
    scores.to_tsv(tmp_path / "calls.tsv")
    table = (tmp_path / "calls.tsv").read_text().splitlines()
    assert len(table) == 1 + len(rows) and table[1].split("\t")[3] == "break"
    scores.annotate_vcf(path, tmp_path / "annotated.vcf")
    annotated = pysam.VariantFile(str(tmp_path / "annotated.vcf"))
    records = list(annotated)
    assert [r.id for r in records] == ["break", "near", "multi", "mismatch", "renamed", "unknown", "symbolic"]
    assert records[0].info["MLENS_EFFECT"][0] == pytest.approx(broken, rel=1e-5)
    assert records[0].info["DP"] == "5" or records[0].info["DP"] == 5  # the record's own INFO kept
    assert len(records[2].info["MLENS_EFFECT"]) == 3
    assert (
        records[3].info["MLENS_EFFECT"] == (None,) and "REF_mismatch" in records[3].info["MLENS_SKIPPED"][0]
    )


def test_malformed_vcfs_and_bad_requests_are_refused(world, tmp_path):
    client, model_id, genome, chr1, _ = world
    no_header = tmp_path / "no_header.vcf"
    no_header.write_text("##fileformat=VCFv4.2\nchr1\t10\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InvalidArgument, match="#CHROM"):
        client.score_variants(model_id, no_header, genome_upload_id=genome)
    plain = tmp_path / "many.vcf"
    plain.write_text(HEADER + "".join(f"chr1\t{i}\t.\t{chr1[i - 1]}\tN\t.\t.\t.\n" for i in range(1, 1001)))
    pysam.tabix_compress(str(plain), str(tmp_path / "many.vcf.gz"))
    scored = client.score_variants(model_id, tmp_path / "many.vcf.gz", genome_upload_id=genome)
    # Positions 1..60 reach past the start of chr1: padded with N, still scored.
    assert (scored.summary["alleles"], scored.summary["scored"], scored.summary["padded"]) == (1000, 1000, 60)
    truncated = tmp_path / "truncated.vcf.gz"
    truncated.write_bytes((tmp_path / "many.vcf.gz").read_bytes()[:-2000])
    with pytest.raises(InvalidArgument, match="vcf"):
        client.score_variants(model_id, truncated, genome_upload_id=genome)
    garbage = tmp_path / "garbage.vcf.gz"
    garbage.write_bytes(gzip.compress(b"\x00 not a vcf"))
    with pytest.raises(InvalidArgument, match="vcf"):
        client.score_variants(model_id, garbage, genome_upload_id=genome)
    with pytest.raises(NotFound):
        client.score_variants(model_id, plain, genome_upload_id="upload-" + "0" * 32)
    with pytest.raises(InvalidArgument, match="flank"):
        client.score_variants(model_id, plain, genome_upload_id=genome, flank=10_000)
    with pytest.raises(InvalidArgument, match="vcf"):
        client.score_variants(model_id, genome_upload_id=genome)


def test_cli_scores_a_vcf_end_to_end(world, tmp_path):
    client, model_id, _, chr1, folder = world
    path = tmp_path / "calls.vcf"
    path.write_text(HEADER + "".join(line + "\n" for line in vcf_lines(chr1)))
    argv = ["--address", client.address, "--timeout", "600", "variants", "score", model_id, str(path)]
    argv += ["--genome", str(folder / "genome.fa"), "--tsv", str(tmp_path / "out.tsv")]
    argv += ["--vcf-out", str(tmp_path / "out.vcf")]
    run = run_cli(*argv)
    assert run.code == 0, run.err
    assert "7 records, 9 alleles: 6 scored, 3 skipped" in run.out and "genome uploaded as upload-" in run.err
    assert len((tmp_path / "out.tsv").read_text().splitlines()) == 10
    assert "##INFO=<ID=MLENS_EFFECT" in (tmp_path / "out.vcf").read_text()
    # The same as a trainer job: the same table.
    job_argv = [*argv[:-4], "--job", "--tsv", str(tmp_path / "job.tsv")]
    run = run_cli(*job_argv)
    assert run.code == 0, run.err
    assert "job job-" in run.err and (tmp_path / "job.tsv").read_text() == (tmp_path / "out.tsv").read_text()


def test_a_variants_job_stores_what_the_streamed_call_returns(world, tmp_path):
    """ScoreVariantsJob: shards of an uploaded VCF, merged; read back equal to ScoreVariants."""
    client, model_id, genome, chr1, _ = world
    path = tmp_path / "calls.vcf"
    path.write_text(HEADER + "".join(line + "\n" for line in vcf_lines(chr1)))
    streamed = client.score_variants(model_id, path, genome_upload_id=genome, both_strands=True)
    upload = client.upload(path).upload_id
    job = client.score_variants_job(
        model_id, vcf_upload_id=upload, genome_upload_id=genome, both_strands=True, shard_size=4
    )
    info = job.wait(timeout=600)
    assert (info.state, info.alleles, info.shards, info.shards_done) == ("SUCCEEDED", 9, 3, 3)
    assert info.variants_id == "vars-" + job.job_id.split("-", 1)[1]
    # WatchJob replays one progress event per shard (AttributionProgress: alleles as sequences).
    events = list(job.events(timeout=60))
    assert [(e.shards_done, e.sequences_done, e.num_sequences) for e in events] == [
        (1, 4, 9),
        (2, 8, 9),
        (3, 9, 9),
    ]
    stored = client.read_variant_scores(info.variants_id)
    assert stored.summary == streamed.summary
    assert [(v.id, v.allele, v.skipped) for v in stored.variants] == [
        (v.id, v.allele, v.skipped) for v in streamed.variants
    ]
    for a, b in zip(stored.variants, streamed.variants, strict=True):
        np.testing.assert_allclose(a.effect, b.effect, atol=1e-6)
    # Refused before a job exists: a malformed VCF (named), an unknown upload, a bad shard size.
    before = len(client.list_jobs())
    bad = tmp_path / "bad.vcf"
    bad.write_text("##fileformat=VCFv4.2\nchr1\t1\t.\tA\tC\t.\t.\t.\n")
    with pytest.raises(InvalidArgument, match="vcf_upload_id"):
        client.score_variants_job(
            model_id, vcf_upload_id=client.upload(bad).upload_id, genome_upload_id=genome
        )
    with pytest.raises(NotFound, match="genome_upload_id"):
        client.score_variants_job(model_id, vcf_upload_id=upload, genome_upload_id="upload-" + "0" * 32)
    with pytest.raises(InvalidArgument, match="shard_size"):
        client.score_variants_job(model_id, vcf_upload_id=upload, genome_upload_id=genome, shard_size=10**7)
    assert len(client.list_jobs()) == before
    with pytest.raises(NotFound):
        client.read_variant_scores("vars-" + "0" * 32)


def test_the_vcf_is_parsed_in_a_child_process_that_may_fail_alone(tmp_path, monkeypatch):
    """What the services call: the same alleles as read_vcf; a child that dies is a clear error."""
    path = tmp_path / "calls.vcf"
    path.write_text(HEADER + "chr1\t10\ta\tA\tG,T\t.\t.\t.\nchr1\t20\tb\tC\t<DEL>\t.\t.\t.\n")
    assert vcf_child.read_vcf_isolated(path, max_records=10) == read_vcf(path)
    with pytest.raises(MotiflensInvalidInput, match="more than 1 records"):
        vcf_child.read_vcf_isolated(path, max_records=1)
    # Too little memory for the child to even start: it dies, the caller gets a reason.
    monkeypatch.setattr(vcf_child, "MEMORY_BYTES", 16 * 1024 * 1024)
    with pytest.raises(MotiflensInvalidInput, match="parser stopped"):
        vcf_child.read_vcf_isolated(path, max_records=10)


def test_the_genome_cache_never_closes_a_genome_in_use(world):
    """Two genomes at once with room for one: the one in use stays open; the unused one goes."""
    client, _, genome, _, folder = world
    from services.common.store import open_store
    from services.interpreter.variants import GenomeCache

    store = open_store(client.store_url)
    other = client.upload(folder / "genome.fa").upload_id  # a second upload of the same file
    cache = GenomeCache(capacity=1)
    with cache.use(store, genome) as first:
        with cache.use(store, other) as second:
            assert first.fetch("chr1", 0, 10) == second.fetch("chr1", 0, 10)  # both open at once
        assert first.fetch("chr1", 0, 10)  # still open after the other call ended
    with cache.use(store, other):
        pass
    assert list(cache._open) == [other]  # the least recently used, unused genome was closed
    cache.close()
    assert not cache._open
