"""DiscoverMotifs through the real stack: a constructed model whose filters are two JASPAR PWMs.

The stack is ``Client.local(temporary=True)``; the model is imported as a lab's .keras
file. Its two first-layer filters are the log-odds matrices of CTCF (MA0139.1) and
MEF2A (MA0052.3), so DeepSHAP puts the signal on the sites planted in the sequences, and
TF-MoDISco then Tomtom must give those two motifs back, by name.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from motiflens_client import Client, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from motiflens_client.cli import main
from planted import LENGTH, PER_MOTIF, PLANTED, detector, planted_sequences

from motiflens.motifs import jaspar_motif, read_meme, write_meme
from services.common.store import open_store

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detector")
    detector().save(folder / "detector.keras")
    # timeout= bounds the stack's start; client.timeout is each call's deadline (default 60 s):
    # the first TF-MoDISco call of a fresh machine compiles numba for about a minute.
    with Client.local(temporary=True, timeout=600) as client:
        client.timeout = 900
        info = client.import_model(folder / "detector.keras", name="pwm detector")
        yield client, info.model_id, *planted_sequences()


@pytest.fixture(scope="module")
def discovered(world):
    client, model_id, sequences, _ = world
    events = []
    result = client.discover_motifs(
        model_id,
        sequences,
        num_references=5,
        logos=True,
        name="planted",
        progress=lambda *event: events.append(event),
    )
    return result, events


def test_planted_motifs_come_back_by_name_with_their_seqlets(world, discovered):
    client, model_id, sequences, sites = world
    result, _ = discovered
    assert result.num_sequences == len(sequences) and result.database == "JASPAR2016"
    assert result.attribution["method"] == "deepshap" and result.attribution["num_references"] == 5
    best = {}
    for pattern in result.patterns:
        if pattern.sign == "positive" and pattern.best_match is not None:
            best.setdefault(pattern.best_match.target_id, pattern)
    assert set(PLANTED) <= set(best), {p.name: p.best_match for p in result.patterns}
    for index, motif_id in enumerate(PLANTED):
        pattern = best[motif_id]
        assert pattern.best_match.e_value < 0.1
        rows = pattern.seqlets
        assert rows.shape == (pattern.num_seqlets, 4)
        on_site = [
            sites[n][0] == index and start < sites[n][2] and sites[n][1] < end for n, start, end, _ in rows
        ]
        assert np.mean(on_site) > 0.9
        assert pattern.cwm_logo_png[:4] == b"\x89PNG" and pattern.pwm_logo_png[:4] == b"\x89PNG"
        start, end = pattern.trim
        np.testing.assert_allclose(pattern.motif_pwm.sum(1), 1, atol=1e-6)
        assert pattern.motif_pwm.shape == (end - start, 4)
    # The MEME text holds the trimmed PWMs, one per pattern.
    assert [m.motif_id for m in read_meme_text(result.meme)] == [p.name for p in result.patterns]


def read_meme_text(text: str):
    return read_meme(io.StringIO(text))


def test_progress_is_streamed_in_order(discovered):
    _, events = discovered
    stages = [stage for stage, *_ in events]
    assert stages[0] == "attributing" and stages[-1] == "matching"
    attributed = [(done, total) for stage, done, total, _ in events if stage == "attributing"]
    assert attributed[-1] == (2 * PER_MOTIF, 2 * PER_MOTIF)
    assert [d for d, _ in attributed] == sorted(d for d, _ in attributed)
    elapsed = [seconds for *_, seconds in events]
    assert elapsed == sorted(elapsed)


def test_the_result_is_stored_as_a_motifs_artifact(world, discovered):
    client, model_id, sequences, _ = world
    result, _ = discovered
    store = open_store(client.store_url)
    manifest = store.get_manifest(result.motifs_id, kind="motifs")
    assert manifest.metadata["name"] == "planted"
    assert manifest.metadata["num_patterns"] == len(result.patterns)
    assert manifest.provenance["model_id"] == model_id
    assert manifest.provenance["attribution"]["method"] == "deepshap"
    assert manifest.provenance["num_sequences"] == len(sequences)
    assert manifest.provenance["discovery"]["window"] == LENGTH
    assert store.read_object(result.motifs_id, "motifs.meme").decode() == result.meme
    summary = json.loads(store.read_object(result.motifs_id, "patterns.json"))
    assert [entry["name"] for entry in summary] == [p.name for p in result.patterns]
    assert [entry["num_seqlets"] for entry in summary] == [p.num_seqlets for p in result.patterns]


def test_bad_requests_are_refused_before_any_work(world):
    client, model_id, sequences, _ = world
    cases = [
        ({"max_seqlets": 10**6}, InvalidArgument, r"settings\.max_seqlets"),
        ({"window": LENGTH + 1}, InvalidArgument, r"settings\.window"),
        ({"database": "HOCOMOCO"}, InvalidArgument, "database"),
        ({"database_meme": "MEME version 4\n\nnot a motif"}, InvalidArgument, "database_meme"),
        ({"evalue_threshold": float("nan")}, InvalidArgument, "evalue_threshold"),
        ({"method": "ism", "gradient_correction": True}, InvalidArgument, "gradient_correction"),
        ({"positives_only": True}, InvalidArgument, "positives_only"),
        ({"name": "x" * 201}, InvalidArgument, "name"),
    ]
    for options, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            client.discover_motifs(model_id, sequences[:50], **options)
    with pytest.raises(NotFound):
        client.discover_motifs("model-" + "0" * 32, sequences[:50])


def test_sequences_without_signal_fail_precondition(world):
    client, model_id, _, _ = world
    rng = np.random.default_rng(9)
    noise = ["".join(rng.choice(list("ACGT"), LENGTH)) for _ in range(150)]
    with pytest.raises(FailedPrecondition, match="pattern|seqlets"):
        client.discover_motifs(model_id, noise, num_references=3)


def test_more_than_the_child_memory_is_resource_exhausted(world):
    client, model_id, sequences, _ = world
    with pytest.raises(ResourceExhausted, match="MOTIFLENS_DISCOVERY_MEMORY_MB"):
        client.discover_motifs(model_id, sequences[:50], max_seqlets=100_000)


def test_cli_discover_with_a_meme_database_writes_the_table_meme_and_logos(world, tmp_path):
    """A custom MEME file (CTCF alone) replaces JASPAR: only CTCF can be named."""
    client, model_id, sequences, _ = world
    fasta, database = tmp_path / "planted.fa", tmp_path / "ctcf.meme"
    fasta.write_text("".join(f">seq{i}\n{s}\n" for i, s in enumerate(sequences)))
    write_meme([jaspar_motif(PLANTED[0])], database)
    out, err = io.StringIO(), io.StringIO()
    argv = ["--address", client.address, "--timeout", "600", "motifs", "discover", model_id]
    argv += ["--fasta", str(fasta), "--num-references", "5", "--meme", str(database)]
    argv += ["--out", str(tmp_path / "found")]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("motifs-") and f"from {len(sequences)} sequences" in lines[0]
    assert lines[1].split() == ["PATTERN", "SIGN", "SEQLETS", "BEST_MATCH", "TF", "E_VALUE", "CONSENSUS"]
    table = (tmp_path / "found" / "patterns.tsv").read_text().splitlines()
    best = {row.split("\t")[3] for row in table[1:]}
    assert PLANTED[0] in best and best <= {PLANTED[0], "-"}
    names = [row.split("\t")[0] for row in table[1:]]
    assert [m.motif_id for m in read_meme_text((tmp_path / "found" / "motifs.meme").read_text())] == names
    for name in names:
        assert (tmp_path / "found" / "logos" / f"{name}.cwm.png").read_bytes()[:4] == b"\x89PNG"
    assert "attributing" in err.getvalue() and "matching" in err.getvalue()  # progress on stderr


def test_trust_report_of_the_detector(world, tmp_path):
    client, model_id, sequences, _ = world
    mixed = sequences[::4]  # both motifs: 40 CTCF, 40 MEF2A sequences
    report = client.trust_report(model_id, mixed, num_references=5, num_shuffles=2)
    assert report.model_id == model_id and report.num_sequences == 80 and report.database == "JASPAR2016"
    # Its two filters are JASPAR matrices: both match, shuffled copies mostly do not.
    assert report.filter_match == 1.0 and report.filter_match_chance < 0.5
    assert report.filter_match_excess == pytest.approx(report.filter_match - report.filter_match_chance)
    assert set(report.method_agreement) == {"saliency~ism", "saliency~deepshap", "ism~deepshap"}
    assert report.mean_method_agreement > 0.3 and report.reference_stability > 0.3
    assert 0 <= report.off_simplex_fraction <= 1 and report.ground_truth == {}  # inline sequences
    assert json.loads(report.json)["filter_match"] == report.filter_match
    # The CLI prints the same report as JSON and writes it.
    out, err = io.StringIO(), io.StringIO()
    fasta = tmp_path / "some.fa"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(mixed)))
    argv = ["--address", client.address, "--timeout", "600", "trust", model_id, "--fasta", str(fasta)]
    argv += ["--num-references", "5", "--json", "--out", str(tmp_path / "trust.json")]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(argv) == 0, err.getvalue()
    printed = json.loads(out.getvalue())
    assert printed == json.loads((tmp_path / "trust.json").read_text())
    assert printed["filter_match"] == 1.0 and printed["num_sequences"] == 80
    with pytest.raises(InvalidArgument, match="num_shuffles"):
        client.trust_report(model_id, sequences[:10], num_shuffles=1000)
    with pytest.raises(InvalidArgument, match="target"):
        client.trust_report(model_id, sequences[:10], target=3)
