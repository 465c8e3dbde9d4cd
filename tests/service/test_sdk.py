"""The client SDK against the real local stack (``Client.local()``: three service processes).

One stack serves the whole module (starting it costs ~15 s); a second, in-process
motifmatch server with a token covers authentication. Training jobs are tiny
(600 sequences, cnn_local, 1-2 epochs).
"""

from __future__ import annotations

import io
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import h5py
import numpy as np
import pytest
from helpers import make_settings, running_server
from motiflens_client import (
    Client,
    DatasetSplit,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    Job,
    JobFailed,
    MotiflensClientError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    from_rpc_error,
    sdk,
)
from motiflens_client.errors import ERROR_BY_CODE

from motiflens.motifs import Motif, jaspar_motif, write_meme
from services.common.store import open_store
from services.motifmatch.servicer import SERVICE_NAME as MOTIFMATCH_NAME
from services.motifmatch.servicer import MotifMatchServicer, add_to_server

DATA = Path(__file__).resolve().parents[1] / "data"
UNKNOWN = "0" * 32
SDK_LOGGER = "motiflens_client.sdk"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    # A plain directory path: Client.local turns it into a file:// store URL.
    store = tmp_path_factory.mktemp("sdk") / "store"
    client = Client.local(store=str(store), timeout=180)
    try:
        yield client
    finally:
        client.close()
    # close() stopped the services: nothing answers on the trainer port any more.
    with Client(client.address, retries=0, timeout=5) as probe, pytest.raises(Unavailable):
        probe.list_datasets()


@pytest.fixture(scope="module")
def task1(client):
    return client.create_task(1, num_sequences=600, seed=1, name="sdk-task1")


@pytest.fixture(scope="module")
def task3(client):
    return client.create_task(3, num_sequences=600, seed=1, name="sdk-task3")


@pytest.fixture(scope="module")
def job1(client, task1):
    return client.train(
        task1.dataset_id, architecture="cnn_local", activation="exponential", epochs=2, seed=2, name="sdk-t1"
    )


@pytest.fixture(scope="module")
def model1(job1):
    return job1.wait(timeout=300, progress=False).model_id


@pytest.fixture(scope="module")
def model3(client, task3, model1):  # after model1: jobs run one at a time anyway
    job = client.train(task3.dataset_id, architecture="cnn_local", activation="exponential", epochs=1, seed=3)
    return job.wait(timeout=300, progress=False).model_id


@pytest.fixture(scope="module")
def filters1(client, model1, task1):
    return client.filters(model1, DatasetSplit(task1.dataset_id))


def random_dna(count: int, length: int = 200, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(count)]


def one_hot(sequences: list[str]) -> np.ndarray:
    index = np.array([["ACGT".index(base) for base in seq] for seq in sequences])
    return np.eye(4, dtype=np.float32)[index]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CallCounter:
    """Wraps a stub's multicallable and counts the attempts made through it."""

    def __init__(self, method) -> None:
        self.method = method
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.method(*args, **kwargs)


def count_calls(monkeypatch, stub, name: str) -> CallCounter:
    counter = CallCounter(getattr(stub, name))
    monkeypatch.setattr(stub, name, counter)
    return counter


def retry_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SDK_LOGGER and "retry" in r.getMessage()]


# --------------------------------------------------------------------------- no server needed


def test_sdk_imports_without_tensorflow():
    code = (
        "import sys, motiflens_client, motiflens_client.sdk; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; "
        "assert 'motiflens' not in sys.modules and 'services' not in sys.modules, 'server code imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_addresses_default_to_the_next_two_ports():
    with Client("example.org:7000") as c:
        assert (c.interpreter_address, c.motifmatch_address) == ("example.org:7001", "example.org:7002")
    with Client("[::1]:50051", motifmatch_address="other:1") as c:
        assert (c.interpreter_address, c.motifmatch_address) == ("[::1]:50052", "other:1")
    with pytest.raises(InvalidArgument, match="interpreter_address"):
        Client("unix:/tmp/socket")
    with pytest.raises(InvalidArgument, match="timeout"):
        Client(timeout=0)
    with pytest.raises(InvalidArgument, match="tls"):
        Client(tls="/nonexistent/ca.pem")


def test_error_classes_by_code():
    class FakeError(grpc.RpcError):
        def __init__(self, code, details):
            self._code, self._details = code, details

        def code(self):
            return self._code

        def details(self):
            return self._details

    for code, cls in ERROR_BY_CODE.items():
        error = from_rpc_error(FakeError(code, "why"))
        assert type(error) is cls and error.code == code and error.message == "why"
        assert str(error) == f"{code.name}: why"
    other = from_rpc_error(FakeError(grpc.StatusCode.ABORTED, "raced"))
    assert type(other) is MotiflensClientError and str(other) == "ABORTED: raced"
    assert len(ERROR_BY_CODE) == 10 and isinstance(InvalidArgument("x"), ValueError)


def test_client_side_validation_needs_no_server():
    with Client(f"127.0.0.1:{free_port()}", retries=0) as c:
        with pytest.raises(InvalidArgument, match="output: expected one of logit, probability"):
            c.predict("model-" + UNKNOWN, ["ACGT"], output="probabilities")
        with pytest.raises(InvalidArgument, match="single string"):
            c.predict("model-" + UNKNOWN, "ACGT")
        with pytest.raises(InvalidArgument, match=r"\(N, L, 4\)"):
            c.attribute("model-" + UNKNOWN, np.zeros((200, 4), np.float32))
        with pytest.raises(InvalidArgument, match="method"):
            c.attribute("model-" + UNKNOWN, ["ACGT"], method="gradcam")
        with pytest.raises(InvalidArgument, match=r"queries\[0\].pwm: expected shape \(W, 4\)"):
            c.tomtom([("bad", np.ones((5, 3)) / 3)])
        with pytest.raises(InvalidArgument, match="task: expected 1 or 3"):
            c.create_task(2)
    with pytest.raises(InvalidArgument, match="split"):
        DatasetSplit("ds-" + UNKNOWN, split="dev")


# --------------------------------------------------------------------------- trainer


def test_create_get_and_list_datasets(client, task1, task3):
    assert client.address.startswith("127.0.0.1:")
    assert (task1.kind, task1.num_train, task1.num_valid, task1.num_test) == ("task1", 420, 60, 120)
    assert (task1.sequence_length, task1.num_targets, len(task1.label_names)) == (200, 12, 12)
    assert task1.has_ground_truth and task1.seed == 1 and task1.name == "sdk-task1"
    assert (task3.kind, task3.num_targets) == ("task3", 1)
    assert client.get_dataset(task1.dataset_id) == task1
    listed = {d.dataset_id: d for d in client.list_datasets()}
    assert listed[task1.dataset_id] == task1 and task3.dataset_id in listed


def test_import_fasta_text_and_file(client, tmp_path):
    sequences = random_dna(20, length=50, seed=5)
    fasta = "".join(f">seq{i}\n{s}\n" for i, s in enumerate(sequences))
    labels = np.arange(20) % 2
    info = client.import_fasta(fasta, labels, seed=3, name="sdk-fasta")
    assert (info.kind, info.sequence_length, info.num_targets) == ("fasta", 50, 1)
    assert info.num_train + info.num_valid + info.num_test == 20 and not info.has_ground_truth
    path = tmp_path / "seqs.fa"
    path.write_text(fasta)
    from_file = client.import_fasta(str(path), labels.reshape(-1, 1).astype(np.int8), seed=3)
    assert (from_file.num_train, from_file.num_valid, from_file.num_test) == (
        info.num_train,
        info.num_valid,
        info.num_test,
    )
    with pytest.raises(InvalidArgument, match="X"):
        client.import_fasta(fasta.replace("seq3\n" + sequences[3], "seq3\n" + "X" * 50), labels)


def test_import_hdf5(client, tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "small.h5"
    sizes = {"train": 30, "valid": 10, "test": 12}
    with h5py.File(path, "w") as f:
        for split, n in sizes.items():
            f[f"X_{split}"] = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, 40))]
            f[f"Y_{split}"] = rng.integers(0, 2, (n, 3)).astype(np.float32)
    info = client.import_hdf5(path, reverse_complement=True, name="sdk-h5")
    assert (info.kind, info.sequence_length, info.num_targets) == ("hdf5", 40, 3)
    assert (info.num_train, info.num_valid, info.num_test) == (60, 10, 12)  # train doubled by RC


def test_events_yield_each_epoch_then_stop(job1):
    events = list(job1.events(timeout=300))
    assert [e.epoch for e in events] == [1, 2]
    for event in events:
        assert np.isfinite(event.loss) and 0 <= event.val_auroc <= 1 and 0 <= event.val_aupr <= 1
        assert event.learning_rate == pytest.approx(1e-3) and event.seconds > 0
    assert job1.last_info.state == "SUCCEEDED" and job1.last_info.epochs_done == 2


def test_wait_returns_succeeded_job_with_metrics(client, job1, task1, model1):
    info = job1.wait(timeout=300, progress=False)
    assert info.state == "SUCCEEDED" and info.done and info.model_id == model1
    assert (info.dataset_id, info.architecture, info.activation, info.seed) == (
        task1.dataset_id,
        "cnn_local",
        "exponential",
        2,
    )
    metrics = info.test_metrics
    assert 0 <= metrics.auroc <= 1 and 0 <= metrics.aupr <= 1 and metrics.loss > 0
    assert len(metrics.auroc_per_class) == 12 == len(metrics.aupr_per_class)
    assert metrics.auroc == pytest.approx(np.nanmean(metrics.auroc_per_class))
    again = client.job(job1.job_id)
    assert isinstance(again, Job) and again.info() == info and repr(again) == f"Job({job1.job_id!r})"


def test_wait_progress_goes_to_stderr(job1, model1, capsys, monkeypatch):
    job1.wait(progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    # Forced on a non-terminal (a log file): one line per epoch, no carriage returns.
    lines = captured.err.splitlines()
    assert "\r" not in captured.err and len(lines) == 3
    assert "epoch 1/2" in lines[0] and "epoch 2/2" in lines[1] and "val AUPR" in lines[0]
    assert f"{job1.job_id} SUCCEEDED after 2 epochs" in lines[2]
    monkeypatch.setattr(sdk.handles, "_is_tty", lambda stream: True)
    job1.wait(progress=True)
    assert "\r" in capsys.readouterr().err  # a terminal gets the updating bar
    monkeypatch.undo()
    job1.wait(progress=False)
    job1.wait()  # None: stderr is not a terminal here, and this is no notebook
    assert capsys.readouterr().err == ""


def test_wait_in_a_notebook_prints_one_line_per_epoch(job1, model1, capsys, monkeypatch):
    monkeypatch.setattr(sdk.handles, "_in_notebook", lambda: True)
    job1.wait()
    lines = capsys.readouterr().err.splitlines()
    assert "\r" not in "".join(lines) and len(lines) == 3
    assert "epoch 1/2" in lines[0] and "epoch 2/2" in lines[1] and "SUCCEEDED" in lines[2]


def test_cancelled_job_wait_raises_job_failed(client, task1, model3):
    job = client.train(task1.dataset_id, architecture="cnn_local", epochs=50, seed=9, name="sdk-cancel")
    job.cancel()
    with pytest.raises(JobFailed) as caught:
        job.wait(timeout=120, progress=False)
    assert caught.value.job.state == "CANCELLED" and caught.value.job.job_id == job.job_id
    assert caught.value.code == grpc.StatusCode.CANCELLED and caught.value.job.model_id == ""
    assert client.job(job.job_id).info().state == "CANCELLED"
    assert job.job_id in {j.job_id for j in client.list_jobs()}


def test_list_jobs_and_models(client, job1, model1, model3, task1):
    jobs = {j.job_id: j for j in client.list_jobs()}
    assert jobs[job1.job_id].model_id == model1 and jobs[job1.job_id].state == "SUCCEEDED"
    models = client.list_models(task1.dataset_id)
    assert [m.model_id for m in models] == [model1]
    model = models[0]
    assert (model.job_id, model.name, model.architecture, model.activation) == (
        job1.job_id,
        "sdk-t1",
        "cnn_local",
        "exponential",
    )
    assert (model.input_length, model.num_outputs) == (200, 12)
    assert model.test_metrics == jobs[job1.job_id].test_metrics
    assert {model1, model3} <= {m.model_id for m in client.list_models()}


def test_first_layer_l2_is_resolved_and_reported(client, task3, model3, job1):
    """The log_relu control (relu + first-layer L2 0.2) over the wire; defaults are reported resolved."""
    job = client.train(
        task3.dataset_id, architecture="cnn_2", activation="relu", first_layer_l2=0.2, epochs=1, name="l2"
    )
    info = job.wait(timeout=300, progress=False)
    assert info.state == "SUCCEEDED" and info.first_layer_l2 == pytest.approx(0.2)
    model = next(m for m in client.list_models(task3.dataset_id) if m.model_id == info.model_id)
    assert model.first_layer_l2 == pytest.approx(0.2)
    # Unset: the activation's own (exponential: the model's 1e-6).
    assert client.job(job1.job_id).info().first_layer_l2 == pytest.approx(1e-6)
    with pytest.raises(InvalidArgument, match=r"model.first_layer_l2: expected a finite number >= 0"):
        client.train(task3.dataset_id, architecture="cnn_2", first_layer_l2=-1.0, epochs=1)


# --------------------------------------------------------------------------- interpreter


def test_predict_strings_equal_one_hot_and_stored_rows(client, model1, task1):
    sequences = random_dna(5)
    from_strings = client.predict(model1, sequences)
    assert from_strings.shape == (5, 12) and from_strings.dtype == np.float32
    assert np.all((from_strings > 0) & (from_strings < 1))
    np.testing.assert_allclose(client.predict(model1, one_hot(sequences)), from_strings, rtol=1e-5, atol=1e-6)
    logits = client.predict(model1, sequences, output="logit")
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), from_strings, rtol=1e-5, atol=1e-6)
    stored = client.predict(model1, DatasetSplit(task1.dataset_id, offset=2, limit=4))
    first = client.predict(model1, DatasetSplit(task1.dataset_id, limit=6))
    assert stored.shape == (4, 12)
    np.testing.assert_allclose(stored, first[2:6], rtol=1e-5, atol=1e-6)


def test_attribute_chunked_equals_unchunked(client, model1, task1):
    sequences = random_dna(7, seed=1)
    whole = client.attribute(model1, sequences, target=3)
    chunked = client.attribute(model1, sequences, target=3, chunk_size=3)
    assert whole.shape == (7, 200, 4) == chunked.shape and whole.dtype == np.float32
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-7)
    assert np.abs(whole).max() > 0
    times_input = client.attribute(model1, one_hot(sequences), target=3, times_input=True, chunk_size=2)
    np.testing.assert_allclose(times_input, whole * one_hot(sequences), rtol=1e-5, atol=1e-7)
    ism = client.attribute(model1, DatasetSplit(task1.dataset_id, limit=5), method="ism", chunk_size=2)
    assert ism.shape == (5, 200, 4) and np.isfinite(ism).all()


def test_attribution_maps_give_modisco_inputs(client, model1):
    sequences = random_dna(5, seed=4)
    X = one_hot(sequences)
    maps = client.attribution_maps(model1, sequences, target=2, num_references=3, seed=1, chunk_size=2)
    assert maps.form == "projected" and maps.scores.shape == maps.hypothetical.shape == (5, 200, 4)
    np.testing.assert_allclose(maps.scores, maps.hypothetical * X, atol=1e-7)
    assert maps.settings["method"] == "deepshap" and maps.settings["num_references"] == 3
    assert maps.settings["form"] == "projected" and maps.settings["target"] == 2
    # The same projection through attribute(); and DeepSHAP's raw scores sum to the same totals.
    projected = client.attribute(
        model1, sequences, method="deepshap", target=2, num_references=3, seed=1, form="projected"
    )
    np.testing.assert_allclose(projected, maps.scores, rtol=1e-5, atol=1e-7)
    raw = client.attribute(model1, sequences, method="deepshap", target=2, num_references=3, seed=1)
    np.testing.assert_allclose(raw.sum(axis=(1, 2)), maps.scores.sum(axis=(1, 2)), atol=1e-4)
    arrays = maps.modisco_arrays(X)
    assert set(arrays) == {"ohe", "shap"} and arrays["ohe"].shape == arrays["shap"].shape == (5, 4, 200)
    np.testing.assert_array_equal(arrays["shap"], maps.hypothetical.transpose(0, 2, 1))
    with pytest.raises(ValueError, match="one_hot"):
        maps.modisco_arrays(X[:2])
    with pytest.raises(InvalidArgument, match="form"):
        client.attribute(model1, sequences, form="raw")
    corrected = client.attribute(model1, sequences, target=2, gradient_correction=True)
    np.testing.assert_allclose(corrected.sum(-1), 0, atol=1e-5)


def test_scan_filters(client, model1):
    sequences = random_dna(5, seed=2)
    scans = client.scan_filters(model1, sequences)
    assert scans.shape == (5, 200, 24) and scans.dtype == np.float32
    assert scans.min() >= 0  # exponential activation
    np.testing.assert_allclose(client.scan_filters(model1, sequences, chunk_size=2), scans, rtol=1e-6)


def test_filters_as_pwms_and_meme(client, model1, task1, filters1):
    assert len(filters1.filters) == 24
    assert [f.index for f in filters1.filters] == list(range(24))
    assert [f.motif_id for f in filters1.filters] == [f"filter{i}" for i in range(24)]
    for motif in filters1.filters:
        assert motif.pwm.ndim == 2 and motif.pwm.shape[1] == 4 and motif.pwm.dtype == np.float64
        np.testing.assert_allclose(motif.pwm.sum(axis=1), 1.0, atol=1e-6)
        assert motif.num_sites >= 0 and motif.logo_png is None
    assert filters1.meme.startswith("MEME version 4")
    assert filters1.meme.count("\nMOTIF filter") == 24
    with_logos = client.filters(model1, DatasetSplit(task1.dataset_id, limit=40), logos=True, window=12)
    assert all(f.pwm.shape == (12, 4) for f in with_logos.filters)
    assert all(f.logo_png.startswith(b"\x89PNG") for f in with_logos.filters)


def test_localize_with_pwm_baseline(client, model1, task1):
    result = client.localize(model1, task1.dataset_id, pwm_baseline=True)
    assert result.filters.num_sequences == 120 == result.pwm_baseline.num_sequences
    assert 0 <= result.filters.auroc <= 1 and 0 <= result.filters.pooled_auroc <= 1
    assert result.pwm_baseline.auroc > 0.85  # ground-truth PWM scans localize the motifs
    part = client.localize(model1, DatasetSplit(task1.dataset_id, limit=30))
    assert part.filters.num_sequences == 30 and part.pwm_baseline is None


def test_interpretability_on_task3(client, model3, task3):
    result = client.interpretability(model3, task3.dataset_id)
    assert result.method == "saliency"
    assert 0 < result.num_sequences < 120
    assert result.per_sequence_auroc.shape == (result.num_sequences,) == result.per_sequence_aupr.shape
    assert result.auroc == pytest.approx(np.nanmean(result.per_sequence_auroc))
    assert 0 <= result.aupr <= 1
    every = client.interpretability(model3, DatasetSplit(task3.dataset_id), positives_only=False)
    assert every.num_sequences == 120


def test_localize_needs_ground_truth(client, model1):
    sequences = random_dna(20, seed=7)
    fasta = "".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences))
    plain = client.import_fasta(fasta, np.ones((20, 12), np.float32))
    with pytest.raises(FailedPrecondition):
        client.localize(model1, plain.dataset_id)


# --------------------------------------------------------------------------- motifmatch


def test_databases(client):
    databases = {d.database_id: d for d in client.databases()}
    assert databases["JASPAR2016"].num_motifs == 519 and databases["JASPAR2016"].source == "jaspar"


def test_tomtom_finds_a_jaspar_motif_itself(client):
    motif = jaspar_motif("MA0058.3")  # MAX
    result = client.tomtom([(motif.motif_id, motif.pwm)])
    assert result.num_targets == 519
    assert result.tsv.startswith("Query_ID\tTarget_ID")
    best = min(result.hits, key=lambda hit: hit.p_value)
    assert (best.query_id, best.target_id, best.offset, best.orientation) == ("MA0058.3", "MA0058.3", 0, "+")
    assert best.overlap == motif.pwm.shape[0] and best.e_value < 1e-3


def test_match_filters_fractions(client, filters1):
    result = client.match_filters(filters1, ground_truth="task1")
    assert result.ground_truth == "task1" and result.distance == "ed"
    assert 0 <= result.match_fraction <= 1 and 0 <= result.match_any_fraction <= 1
    assert result.match_fraction == pytest.approx(len(result.matches) / 24)
    assert set(result.covered_tfs) == {tf for tfs in result.matches.values() for tf in tfs}
    assert {hit.query_id for hit in result.hits} <= {f"filter{i}" for i in range(24)}
    unnamed = client.match_filters(filters1)  # no ground truth: none is assumed
    assert unnamed.match_fraction is None and unnamed.ground_truth == "" and unnamed.matches == {}
    assert unnamed.match_any_fraction == result.match_any_fraction
    with pytest.raises(InvalidArgument, match="ground_truth: expected a mapping"):
        client.match_filters(filters1, ground_truth="task7")


def test_match_filters_counts_a_planted_ground_truth_motif(client):
    max_motif, sp1 = jaspar_motif("MA0058.3"), jaspar_motif("MA0079.3")
    stream = io.StringIO()
    write_meme(
        [
            Motif(motif_id="filter0", name="", pwm=max_motif.pwm),
            Motif(motif_id="filter2", name="", pwm=sp1.pwm),
        ],
        stream,
    )
    result = client.match_filters(stream.getvalue(), num_filters=4, ground_truth={"MAX": ["MA0058.3"]})
    assert result.matches == {0: ("MAX",)} and result.covered_tfs == ("MAX",)
    assert result.match_fraction == pytest.approx(0.25)
    assert result.match_any_fraction == pytest.approx(0.5)  # filter2 matches SP1, not in the ground truth


def test_upload_database_then_tomtom_against_it(client, tmp_path):
    uploaded = client.upload_database("sdk-queries", DATA / "tomtom_queries.meme")
    assert uploaded.database_id.startswith("db-") and uploaded.num_motifs == 2
    assert uploaded.source == "upload" and uploaded.name == "sdk-queries"
    assert uploaded.database_id in {d.database_id for d in client.databases()}
    text = (DATA / "tomtom_queries.meme").read_text()
    result = client.tomtom(text, database=uploaded.database_id)
    assert result.num_targets == 2
    self_hits = {(hit.query_id, hit.target_id) for hit in result.hits if hit.query_id == hit.target_id}
    assert self_hits == {("sp1_like", "sp1_like"), ("arid3a_rc", "arid3a_rc")}
    from_text = client.upload_database("sdk-text", text)
    assert from_text.num_motifs == 2 and from_text.database_id != uploaded.database_id


# --------------------------------------------------------------------------- errors


def test_unknown_ids_are_not_found_with_the_servers_message(client, model1, monkeypatch, caplog):
    counter = count_calls(monkeypatch, client._trainer, "GetDataset")
    with caplog.at_level(logging.WARNING, logger=SDK_LOGGER), pytest.raises(NotFound) as caught:
        client.get_dataset("ds-" + UNKNOWN)
    assert counter.calls == 1 and retry_records(caplog) == []  # NOT_FOUND is never retried
    error = caught.value
    assert error.code == grpc.StatusCode.NOT_FOUND and UNKNOWN in error.message
    assert str(error) == f"NOT_FOUND: {error.message}"
    with pytest.raises(NotFound, match=UNKNOWN):
        client.job("job-" + UNKNOWN)
    with pytest.raises(NotFound, match=UNKNOWN):
        client.predict("model-" + UNKNOWN, ["ACGT" * 50])
    with pytest.raises(NotFound, match=UNKNOWN):
        client.train("ds-" + UNKNOWN, architecture="cnn_local")
    with pytest.raises(NotFound, match=UNKNOWN):
        client.tomtom(DATA.joinpath("tomtom_queries.meme").read_text(), database="db-" + UNKNOWN)


def test_malformed_ids_and_bad_bases_are_invalid_argument(client, model1):
    with pytest.raises(InvalidArgument, match="dataset_id: 'not-an-id' is not a valid id") as caught:
        client.get_dataset("not-an-id")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(InvalidArgument, match="job_id"):
        Job(client, "../etc").info()
    with pytest.raises(InvalidArgument, match=r"sequences\.strings\.sequences\[1\].*'X'"):
        client.predict(model1, ["ACGT" * 50, "ACXT" * 50])
    with pytest.raises(InvalidArgument, match=r"sequences.*length"):
        client.attribute(model1, ["ACGT" * 50, "ACGT" * 49])


def test_unreachable_server_is_unavailable_after_the_retries(monkeypatch, caplog):
    with Client(f"127.0.0.1:{free_port()}", retries=2, timeout=20) as dead:
        unary = count_calls(monkeypatch, dead._trainer, "ListDatasets")
        stream = count_calls(monkeypatch, dead._interpreter, "Attribute")
        with caplog.at_level(logging.WARNING, logger=SDK_LOGGER):
            started = time.monotonic()
            with pytest.raises(Unavailable) as caught:
                dead.list_datasets()
            elapsed = time.monotonic() - started
            assert unary.calls == 3 and len(retry_records(caplog)) == 2
            assert elapsed >= 0.2 + 0.4
            assert caught.value.code == grpc.StatusCode.UNAVAILABLE
            caplog.clear()
            with pytest.raises(Unavailable):
                dead.attribute("model-" + UNKNOWN, ["ACGT"])
            assert stream.calls == 3 and len(retry_records(caplog)) == 2
    with Client(f"127.0.0.1:{free_port()}", retries=0) as no_retry:
        counter = count_calls(monkeypatch, no_retry._trainer, "ListJobs")
        with pytest.raises(Unavailable):
            no_retry.list_jobs()
        assert counter.calls == 1


def test_tiny_timeout_is_deadline_exceeded(client, model1, model3, task1, task3, monkeypatch):
    counter = count_calls(monkeypatch, client._interpreter, "ScoreInterpretability")
    with pytest.raises(DeadlineExceeded) as caught:
        client.interpretability(model3, task3.dataset_id, method="ism", timeout=0.01)
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and counter.calls == 1
    with pytest.raises(DeadlineExceeded):
        client.attribute(
            model1, DatasetSplit(task1.dataset_id, limit=8), method="integrated_gradients", timeout=0.01
        )


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    store = open_store((tmp_path_factory.mktemp("auth") / "store").as_uri())
    with running_server(
        lambda server: add_to_server(MotifMatchServicer(store), server),
        service_name=MOTIFMATCH_NAME,
        settings=make_settings("motifmatch", token="s3cret"),
        store=store,
    ) as running:
        yield f"127.0.0.1:{running.port}"


def test_token_wrong_missing_and_right(token_server):
    meme = (DATA / "tomtom_queries.meme").read_text()
    with Client(token_server, motifmatch_address=token_server, token="wrong") as wrong:
        with pytest.raises(PermissionDenied) as caught:
            wrong.upload_database("x", meme)
        assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    with Client(token_server, motifmatch_address=token_server) as missing, pytest.raises(Unauthenticated):
        missing.upload_database("x", meme)
    with Client(token_server, motifmatch_address=token_server, token="s3cret") as right:
        assert right.upload_database("x", meme).num_motifs == 2


def test_results_are_stored_and_read_back(client):
    from motiflens_client import InvalidArgument, NotFound

    result = {"rows": [{"activation": "exponential", "match_fraction": 0.84}], "note": "ok"}
    result_id = client.save_result("demo", result)
    assert result_id.startswith("result-")
    assert client.get_result(result_id) == result
    with pytest.raises(NotFound):
        client.get_result("result-" + "0" * 32)
    with pytest.raises(InvalidArgument, match="result_id"):
        client.get_result("../etc/passwd")
    with pytest.raises(InvalidArgument, match="not JSON-serialisable"):
        client.save_result("bad", {"x": object()})


def test_put_result_rejects_invalid_json_over_the_wire(client):
    import grpc
    from motiflens_client.api import pb, trainer_pb2_grpc

    with grpc.insecure_channel(client.address) as channel:
        stub = trainer_pb2_grpc.TrainerServiceStub(channel)
        for text, message in (("{not json", "not valid JSON"), ("", "empty")):
            with pytest.raises(grpc.RpcError) as info:
                stub.PutResult(pb.PutResultRequest(name="x", json=text), timeout=30)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert message in info.value.details()
