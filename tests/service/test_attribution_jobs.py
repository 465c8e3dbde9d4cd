"""Attribution jobs through the real stack: a stored split attributed shard by shard, merged, read back.

The model is the constructed CTCF/MEF2A detector of :mod:`planted` (imported as a lab's
.keras file); the data set is its planted sequences imported from FASTA. Known answers:
a job's maps equal one ``Attribute`` call on the same rows (sharding and chunking never
change a result), the stored files are modisco-lite's inputs exactly, and progress
comes one event per shard.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import time

import h5py
import numpy as np
import pytest
from motiflens_client import Client, DatasetSplit, FailedPrecondition, InvalidArgument, JobFailed, NotFound
from motiflens_client.wire import pb
from planted import LENGTH, PLANTED, detector, planted_sequences
from test_cli import run_cli
from test_sweeps import trainer as trainer_service

from motiflens.attribution import attribute
from motiflens.errors import NotFoundError as MotiflensNotFound
from motiflens.models import load_model
from motiflens.motifs import jaspar_motif, write_meme
from services.common.store import open_store

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attribution-jobs")
    detector().save(folder / "detector.keras")
    sequences, sites = planted_sequences()
    fasta = "".join(f">seq{i}\n{s}\n" for i, s in enumerate(sequences))
    labels = np.array([1 if i % 3 else 0 for i in range(len(sequences))], dtype=np.int8)
    # timeout= bounds the stack's start; client.timeout is each call's deadline (default 60 s):
    # the first TF-MoDISco call of a fresh machine compiles numba for about a minute.
    with Client.local(temporary=True, timeout=600) as client:
        client.timeout = 900
        model_id = client.import_model(folder / "detector.keras", name="pwm detector").model_id
        dataset = client.import_fasta(fasta, labels, name="planted")
        yield client, model_id, dataset


def test_a_deepshap_job_equals_one_attribute_call_and_is_modisco_layout(world, tmp_path):
    client, model_id, dataset = world
    rows = DatasetSplit(dataset.dataset_id, "train", offset=5, limit=150)
    job = client.attribute_split(
        model_id, rows, method="deepshap", num_references=3, seed=4, shard_size=40, chunk_size=16, name="ds"
    )
    info = job.wait(timeout=600, progress=False)
    assert (info.state, info.shards, info.shards_done, info.sequences_done) == ("SUCCEEDED", 4, 4, 150)
    assert (info.split, info.offset, info.num_sequences, info.file_format) == ("train", 5, 150, "npz")
    assert info.settings["method"] == "deepshap" and info.settings["num_references"] == 3
    assert info.attributions_id.startswith("attr-") and info.executor == "local"

    # Sharding (40) and chunking (16) change nothing: one Attribute call over the same rows.
    expected = client.attribution_maps(model_id, rows, method="deepshap", num_references=3, seed=4)
    stored = client.read_attributions(info.attributions_id)
    np.testing.assert_allclose(stored.hypothetical, expected.hypothetical, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(stored.projected, expected.scores, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(
        stored.one_hot, client.read_split(dataset.dataset_id, "train").one_hot[5:155]
    )
    assert stored.provenance["model_id"] == model_id and stored.provenance["num_sequences"] == 150
    assert stored.provenance["options"]["seed"] == 4

    # The stored objects are modisco-lite's -s/-a inputs: arr_0 of shape (N, 4, L).
    store = open_store(client.store_url)
    manifest = store.get_manifest(info.attributions_id, kind="attributions")
    assert set(manifest.objects) == {"ohe.npz", "shap.npz"} and manifest.metadata["shape"] == [150, 4, LENGTH]
    store.fetch_artifact(info.attributions_id, tmp_path)
    ohe = np.load(tmp_path / "ohe.npz")["arr_0"]
    shap = np.load(tmp_path / "shap.npz")["arr_0"]
    assert ohe.shape == shap.shape == (150, 4, LENGTH) and ohe.dtype == np.float32
    np.testing.assert_array_equal(ohe, stored.one_hot.transpose(0, 2, 1))
    np.testing.assert_array_equal(shap, stored.hypothetical.transpose(0, 2, 1))
    # The shards are gone once merged; a window of rows reads back alone.
    assert not store.list_artifacts("attribution_shard")
    window = client.read_attributions(info.attributions_id, offset=100, limit=30)
    np.testing.assert_array_equal(window.hypothetical, stored.hypothetical[100:130])

    # WatchJob replays one progress event per shard, in order, after the fact too.
    events = list(client.attribution_job(job.job_id).events(timeout=60))
    assert [(e.shards_done, e.sequences_done) for e in events] == [(1, 40), (2, 80), (3, 120), (4, 150)]


def test_an_ism_job_in_hdf5_equals_the_mean_centred_ism_map(world, tmp_path):
    client, model_id, dataset = world
    rows = DatasetSplit(dataset.dataset_id, "test", limit=30)
    info = client.attribute_split(model_id, rows, method="ism", file_format="hdf5", shard_size=16).wait(
        timeout=600, progress=False
    )
    assert (info.state, info.shards, info.file_format) == ("SUCCEEDED", 2, "hdf5")
    expected = client.attribution_maps(model_id, rows, method="ism")
    stored = client.read_attributions(info.attributions_id)
    np.testing.assert_allclose(stored.hypothetical, expected.hypothetical, atol=1e-5)
    # The hypothetical ISM map is mean-centred per position.
    np.testing.assert_allclose(stored.hypothetical.sum(axis=2), 0, atol=1e-4)
    store = open_store(client.store_url)
    store.fetch_artifact(info.attributions_id, tmp_path)
    with h5py.File(tmp_path / "attributions.h5", "r") as handle:
        assert handle["ohe"].shape == handle["hypothetical"].shape == (30, 4, LENGTH)
        np.testing.assert_array_equal(handle["hypothetical"][:], stored.hypothetical.transpose(0, 2, 1))


def test_bad_requests_are_refused_and_write_nothing(world):
    client, model_id, dataset = world
    before = len(client.list_jobs())
    split = DatasetSplit(dataset.dataset_id, "train")
    cases = [
        ({"target": 3}, InvalidArgument, r"attribution\.target"),
        ({"num_references": 10**6}, InvalidArgument, r"attribution\.num_references"),
        (
            {"method": "ism", "gradient_correction": True},
            InvalidArgument,
            r"attribution\.gradient_correction",
        ),
        ({"shard_size": 10**6}, InvalidArgument, "shard_size"),
        ({"chunk_size": 5000}, InvalidArgument, r"attribution\.chunk_size"),
        ({"parallelism": -1}, InvalidArgument, "parallelism"),
        ({"name": "x" * 300}, InvalidArgument, "name"),
        ({"labels": {"Bad Key": "v"}}, InvalidArgument, "labels"),
        ({"file_format": "zip"}, InvalidArgument, "file_format"),
    ]
    for options, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            client.attribute_split(model_id, split, **options)
    with pytest.raises(InvalidArgument, match="offset"):
        client.attribute_split(model_id, DatasetSplit(dataset.dataset_id, "valid", offset=10**6))
    with pytest.raises(NotFound, match="model"):
        client.attribute_split("model-" + "0" * 32, split)
    with pytest.raises(NotFound):
        client.attribute_split(model_id, DatasetSplit("ds-" + "0" * 32, "train"))
    with pytest.raises(InvalidArgument, match="DatasetSplit"):
        client.attribute_split(model_id, ["ACGT" * 30])  # type: ignore[arg-type]
    # On the wire: inline sequences, and the Attribute-only fields, are named.
    stub = client._trainer
    base = pb.AttributeRequest(model_id=model_id, method=pb.ATTRIBUTION_METHOD_SALIENCY)
    inline = pb.AttributeSplitRequest(attribution=base)
    inline.attribution.sequences.strings.sequences.append("A" * LENGTH)
    with pytest.raises(InvalidArgument, match=r"attribution\.sequences"):
        client._unary(stub, "AttributeSplit", inline)
    for field_name, value in (("times_input", True), ("include_hypothetical", True)):
        request = pb.AttributeSplitRequest(attribution=base)
        request.attribution.sequences.dataset_split.dataset_id = dataset.dataset_id
        setattr(request.attribution, field_name, value)
        with pytest.raises(InvalidArgument, match=rf"attribution\.{field_name}"):
            client._unary(stub, "AttributeSplit", request)
    with pytest.raises(InvalidArgument, match="attribution"):
        client._unary(stub, "AttributeSplit", pb.AttributeSplitRequest())
    assert len(client.list_jobs()) == before
    with pytest.raises(NotFound):
        client.read_attributions("attr-" + "0" * 32)
    with pytest.raises(InvalidArgument, match="attributions_id"):
        client.read_attributions("../etc")


def test_a_cancelled_job_stores_nothing(world):
    client, model_id, dataset = world
    job = client.attribute_split(
        model_id,
        DatasetSplit(dataset.dataset_id, "train"),
        method="deepshap",
        num_references=50,
        shard_size=8,
    )
    job.cancel()
    with pytest.raises(JobFailed, match="cancel"):
        job.wait(timeout=600, progress=False)
    info = job.info()
    assert info.state == "CANCELLED" and info.attributions_id == ""
    store = open_store(client.store_url)
    assert not [m for m in store.list_artifacts("attributions") if m.metadata.get("job_id") == job.job_id]
    assert not [
        m for m in store.list_artifacts("attribution_shard") if m.metadata.get("job_id") == job.job_id
    ]


def test_discover_motifs_on_a_stored_job_finds_the_planted_motifs(world):
    """The job → TF-MoDISco path: DiscoverMotifs reads the artifact's maps instead of attributing."""
    client, model_id, dataset = world
    job = client.attribute_split(model_id, DatasetSplit(dataset.dataset_id, "train"), num_references=5)
    info = job.wait(timeout=600, progress=False)
    events = []
    found = client.discover_motifs(
        "", attributions_id=info.attributions_id, progress=lambda *e: events.append(e)
    )
    assert found.num_sequences == info.num_sequences == dataset.num_train
    assert found.attribution["method"] == "deepshap" and found.attribution["num_references"] == 5
    names = {
        p.best_match.target_id for p in found.patterns if p.sign == "positive" and p.best_match is not None
    }
    assert set(PLANTED) <= names
    assert events[0][:3] == ("attributing", dataset.num_train, dataset.num_train)
    store = open_store(client.store_url)
    manifest = store.get_manifest(found.motifs_id, kind="motifs")
    assert manifest.provenance["sequences"]["attributions_id"] == info.attributions_id
    # positives_only keeps the rows labelled 1 (two thirds of them here).
    positives = client.read_split(dataset.dataset_id, "train").labels[:, 0].sum()
    fewer = client.discover_motifs("", attributions_id=info.attributions_id, positives_only=True)
    assert fewer.num_sequences == int(positives) < dataset.num_train
    # The artifact decides the attribution; anything else beside it is refused, by name.
    with pytest.raises(InvalidArgument, match="attributions_id"):
        client.discover_motifs("", attributions_id=info.attributions_id, method="ism")
    other = pb.DiscoverMotifsRequest(attributions_id=info.attributions_id, num_references=3)
    with pytest.raises(InvalidArgument, match="num_references"):
        list(client._stream(client._interpreter, "DiscoverMotifs", other, timeout=60))
    wrong = pb.DiscoverMotifsRequest(attributions_id=info.attributions_id, model_id="model-" + "1" * 32)
    with pytest.raises(InvalidArgument, match="model_id"):
        list(client._stream(client._interpreter, "DiscoverMotifs", wrong, timeout=60))
    with pytest.raises(NotFound):
        client.discover_motifs("", attributions_id="attr-" + "0" * 32)

    # A database uploaded to motifmatch (MEF2A alone) is matched against by its id.
    text = io.StringIO()
    write_meme([jaspar_motif(PLANTED[1])], text)
    database = client.upload_database("MEF2A only", text.getvalue())
    only = client.discover_motifs("", attributions_id=info.attributions_id, database=database.database_id)
    assert only.database == database.database_id
    named = {p.best_match.target_id for p in only.patterns if p.best_match is not None}
    assert named == {PLANTED[1]}
    report = client.trust_report(
        model_id,
        DatasetSplit(dataset.dataset_id, "test", limit=40),
        num_references=3,
        num_shuffles=2,
        database=database.database_id,
    )
    assert report.database == database.database_id
    with pytest.raises(NotFound, match="database"):
        client.discover_motifs("", attributions_id=info.attributions_id, database="db-" + "0" * 32)


def test_a_job_over_an_uploaded_gzip_fasta_equals_the_inline_call(world, tmp_path):
    client, model_id, _ = world
    sequences, _ = planted_sequences()
    chosen = sequences[::7]  # 46 records
    path = tmp_path / "mine.fa.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("".join(f">r{i}\n{s[:60]}\n{s[60:]}\n" for i, s in enumerate(chosen)))  # two lines each
    upload = client.upload(path)
    info = client.attribute_split(
        # chunk_size 8: saliency still runs whole passes (a shard of 20 at once) and writes in order.
        model_id,
        fasta_upload_id=upload.upload_id,
        method="saliency",
        shard_size=20,
        chunk_size=8,
    ).wait(timeout=600, progress=False)
    assert (info.state, info.shards, info.num_sequences, info.dataset_id) == ("SUCCEEDED", 3, len(chosen), "")
    stored = client.read_attributions(info.attributions_id)
    expected = client.attribution_maps(model_id, chosen, method="saliency")
    np.testing.assert_allclose(stored.hypothetical, expected.hypothetical, atol=1e-5)
    assert stored.provenance["fasta_upload_id"] == upload.upload_id
    with pytest.raises(FailedPrecondition, match="no labels"):
        client.discover_motifs("", attributions_id=info.attributions_id, positives_only=True)

    # Records of another length, text that is not FASTA, a truncated gzip: refused before a job exists.
    before = len(client.list_jobs())
    for content, pattern in (
        (b">a\n" + b"A" * 119 + b"\n", "119 nt"),
        (b"hello\n", "before the first"),
        (gzip.compress(b">a\n" + b"A" * LENGTH + b"\n")[:-12], "gzip"),
    ):
        bad = tmp_path / "bad.fa"
        bad.write_bytes(content)
        with pytest.raises(InvalidArgument, match=pattern):
            client.attribute_split(model_id, fasta_upload_id=client.upload(bad).upload_id)
    with pytest.raises(InvalidArgument, match="not both"):
        client.attribute_split(model_id, DatasetSplit("ds-" + "0" * 32), fasta_upload_id=upload.upload_id)
    assert len(client.list_jobs()) == before


def test_a_motifs_job_gives_the_streamed_call_s_patterns(world):
    """DiscoverMotifsJob: the same request as a trainer job, its result stored and read back by id."""
    client, model_id, dataset = world
    info = client.attribute_split(model_id, DatasetSplit(dataset.dataset_id, "train"), num_references=5).wait(
        timeout=600, progress=False
    )
    streamed = client.discover_motifs("", attributions_id=info.attributions_id)
    job = client.discover_motifs_job(info.attributions_id, name="planted job")
    done = job.wait(timeout=900)
    assert done.state == "SUCCEEDED" and done.motifs_id == "motifs-" + job.job_id.split("-", 1)[1]
    assert (done.attributions_id, done.num_sequences, done.database) == (
        info.attributions_id,
        dataset.num_train,
        "JASPAR2016",
    )
    stored = client.get_motifs(done.motifs_id)
    assert done.num_patterns == len(stored.patterns) == len(streamed.patterns)
    assert [(p.name, p.num_seqlets) for p in stored.patterns] == [
        (p.name, p.num_seqlets) for p in streamed.patterns
    ]
    best = {
        p.best_match.target_id for p in stored.patterns if p.sign == "positive" and p.best_match is not None
    }
    assert set(PLANTED) <= best
    store = open_store(client.store_url)
    assert store.get_manifest(done.motifs_id, kind="motifs").provenance["job_id"] == job.job_id
    with pytest.raises(MotiflensNotFound):  # the stored request is gone with the job
        store.get_blob("job_requests", job.job_id)

    # Refused before a job exists: no artifact, a field the artifact decides, an impossible size.
    before = len(client.list_jobs())
    with pytest.raises(InvalidArgument, match="attributions_id"):
        client._unary(client._trainer, "DiscoverMotifsJob", pb.DiscoverMotifsRequest(model_id=model_id))
    with pytest.raises(InvalidArgument, match="settings.window"):
        client.discover_motifs_job(info.attributions_id, window=LENGTH + 1)
    with pytest.raises(NotFound):
        client.discover_motifs_job("attr-" + "0" * 32)
    assert len(client.list_jobs()) == before
    with pytest.raises(NotFound):
        client.get_motifs("motifs-" + "0" * 32)


def test_a_killed_worker_s_job_resumes_keeping_its_stored_shards(tmp_path):
    """SIGKILL the worker process mid-job: the trainer re-queues it; stored shards are not recomputed."""
    detector().save(tmp_path / "detector.keras")
    sequences, _ = planted_sequences()
    fasta = "".join(f">seq{i}\n{s}\n" for i, s in enumerate(sequences))
    with trainer_service((tmp_path / "store").as_uri()) as running:
        client, store = running.client, open_store(running.store_url)
        model_id = client.import_model(tmp_path / "detector.keras").model_id
        dataset_id = client.import_fasta(fasta, [1] * len(sequences)).dataset_id
        rows = DatasetSplit(dataset_id, "train")
        job = client.attribute_split(model_id, rows, method="deepshap", num_references=20, shard_size=10)

        def first_shards() -> dict | None:
            shards = [m.metadata["shard"] for m in store.list_artifacts("attribution_shard")]
            record = store.get_record("jobs", job.job_id)
            return {"shards": shards, "record": record} if shards and record.get("worker") else None

        seen = wait_for(first_shards, timeout=300)
        assert seen, store.get_record("jobs", job.job_id)
        pid = seen["record"]["worker"]["pid"]
        os.kill(pid, signal.SIGKILL)
        info = job.wait(timeout=900, progress=False)
        record = store.get_record("jobs", job.job_id)
        assert info.state == "SUCCEEDED" and info.resumes == 1 and record["worker"]["pid"] != pid
        assert "died" in record["last_interruption"]
        # The shards stored before the kill were kept, not recomputed by the second worker.
        workers = store.get_manifest(info.attributions_id).metadata["shard_workers"]
        assert len(workers) == info.shards == 23
        assert all(workers[i].endswith(f":{pid}") for i in seen["shards"])
        assert workers[-1].endswith(f":{record['worker']['pid']}")
        # And the result is that of an uninterrupted computation (references by row index).
        folder = tmp_path / "model"
        store.fetch_artifact(model_id, folder)
        X = client.read_split(dataset_id, "train").one_hot
        expected = attribute(load_model(folder), X, "deepshap", num_references=20, target=0, output="logit")
        np.testing.assert_allclose(
            client.read_attributions(info.attributions_id).hypothetical, expected.hypothetical, atol=1e-5
        )


def wait_for(predicate, timeout: float, interval: float = 0.1):
    """``predicate()`` once it is truthy, polled every ``interval`` s; None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def test_cli_starts_a_job_writes_modisco_inputs_and_discovers_from_it(world, tmp_path):
    client, model_id, dataset = world
    address = ["--address", client.address, "--timeout", "600"]
    run = run_cli(
        *address,
        "attributions",
        "start",
        model_id,
        "--dataset",
        dataset.dataset_id,
        "--split",
        "train",
        "--method",
        "saliency",
        "--shard-size",
        "100",
        "--wait",
        "--out",
        str(tmp_path / "maps"),
    )
    assert run.code == 0, run.err
    attributions_id = run.out.split()[0]
    assert attributions_id.startswith("attr-") and f"{dataset.num_train} sequences, 3 shard(s)" in run.out
    ohe = np.load(tmp_path / "maps" / "ohe.npz")["arr_0"]
    shap = np.load(tmp_path / "maps" / "shap.npz")["arr_0"]
    assert ohe.shape == shap.shape == (dataset.num_train, 4, LENGTH)
    expected = client.attribution_maps(model_id, DatasetSplit(dataset.dataset_id, "train"), method="saliency")
    np.testing.assert_allclose(shap, expected.hypothetical.transpose(0, 2, 1), atol=1e-5)
    again = run_cli(*address, "attributions", "get", attributions_id, "--out", str(tmp_path / "again"))
    assert again.code == 0, again.err
    assert np.array_equal(np.load(tmp_path / "again" / "shap.npz")["arr_0"], shap)
    # Without --wait only the job id is printed.
    started = run_cli(
        *address, "attributions", "start", model_id, "--dataset", dataset.dataset_id, "--limit", "5"
    )
    assert started.code == 0 and started.out.strip().startswith("job-")
    assert (
        run_cli(
            *address,
            "attributions",
            "start",
            model_id,
            "--dataset",
            dataset.dataset_id,
            "--out",
            str(tmp_path / "x"),
        ).code
        == 2
    )  # --out needs --wait

    found = run_cli(*address, "motifs", "discover", "--attributions", attributions_id, "--job")
    assert found.code == 0, found.err
    assert found.out.startswith("motifs-") and f"from {dataset.num_train} sequences" in found.out
    assert "job job-" in found.err
    refused = run_cli(*address, "motifs", "discover", model_id, "--attributions", attributions_id)
    assert refused.code == 2 and "MODEL_ID" in refused.err
