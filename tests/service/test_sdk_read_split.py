"""``Client.read_split`` over the wire against a real trainer on loopback (in-process, port 0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import make_settings, running_server
from motiflens_client import Client, FailedPrecondition, InvalidArgument, NotFound
from motiflens_client.types import SplitRows

from motiflens.synthetic import make_task1
from services.common.config import JobSettings
from services.common.metrics import ServiceMetrics
from services.common.store import open_store
from services.trainer.jobs import JobManager
from services.trainer.servicer import SERVICE_NAME, TrainerServicer
from tests.service.test_trainer import write_dataset


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    store_url = (tmp_path_factory.mktemp("sdk-read-split") / "store").as_uri()
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
            with Client(f"127.0.0.1:{running.port}", timeout=60, retries=0) as client:
                yield client
    finally:
        jobs.close()


@pytest.fixture(scope="module")
def uploaded(client: Client, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    path = write_dataset(tmp_path_factory.mktemp("h5") / "d.h5", n=40, length=40, targets=3, seed=5)
    with h5py.File(path, "r") as handle:
        arrays = {key: np.asarray(handle[key]) for key in ("X_train", "Y_train", "X_test", "Y_test")}
    for key in ("X_train", "X_test"):
        if arrays[key].shape[1] == 4 and arrays[key].shape[2] != 4:  # the paper's (N, 4, L) layout
            arrays[key] = arrays[key].transpose(0, 2, 1)
    return client.import_hdf5(path).dataset_id, arrays


def test_rows_equal_what_was_stored(client: Client, uploaded):
    dataset_id, stored = uploaded
    rows = client.read_split(dataset_id, rows_per_chunk=3)  # 10 test rows in 4 chunks
    assert isinstance(rows, SplitRows) and len(rows) == 10
    assert (rows.dataset_id, rows.split, rows.offset) == (dataset_id, "test", 0)
    assert rows.one_hot.shape == (10, 40, 4) and rows.one_hot.dtype == np.float32
    assert rows.labels.shape == (10, 3) and rows.labels.dtype == np.float32
    np.testing.assert_array_equal(rows.one_hot, stored["X_test"])
    np.testing.assert_array_equal(rows.labels, stored["Y_test"].reshape(10, -1))
    assert rows.ground_truth is None and rows.names == ()
    assert not rows.one_hot.flags.writeable and not rows.labels.flags.writeable
    # Chunking never changes the result.
    np.testing.assert_array_equal(client.read_split(dataset_id).one_hot, rows.one_hot)


def test_offset_and_limit_select_a_window(client: Client, uploaded):
    dataset_id, stored = uploaded
    window = client.read_split(dataset_id, "train", offset=5, limit=7, rows_per_chunk=2)
    assert (window.split, window.offset, len(window)) == ("train", 5, 7)
    np.testing.assert_array_equal(window.one_hot, stored["X_train"][5:12])
    np.testing.assert_array_equal(window.labels, stored["Y_train"][5:12].reshape(7, -1))
    tail = client.read_split(dataset_id, offset=8)  # limit 0: every row from offset on
    np.testing.assert_array_equal(tail.one_hot, stored["X_test"][8:])


def test_ground_truth_of_a_synthetic_task(client: Client, tmp_path: Path):
    task = make_task1(100, seed=3)
    task.save(tmp_path / "task1.h5")
    dataset_id = client.import_hdf5(tmp_path / "task1.h5").dataset_id
    rows = client.read_split(dataset_id, ground_truth=True, rows_per_chunk=8)
    assert rows.ground_truth is not None and rows.ground_truth.shape == (20, 200, 4)
    np.testing.assert_array_equal(rows.ground_truth, task.dataset.test.model)
    np.testing.assert_array_equal(rows.one_hot, task.dataset.test.X)
    one = client.read_split(dataset_id, offset=4, limit=1, ground_truth=True)
    np.testing.assert_array_equal(one.ground_truth[0], task.dataset.test.model[4])


def test_errors_map_to_the_sdk_classes(client: Client, uploaded):
    dataset_id, _ = uploaded
    with pytest.raises(FailedPrecondition, match="ground_truth"):
        client.read_split(dataset_id, ground_truth=True)
    with pytest.raises(NotFound):
        client.read_split("ds-" + "0" * 32)
    with pytest.raises(InvalidArgument, match="offset"):
        client.read_split(dataset_id, offset=10)  # past the 10 test rows (server side)
    with pytest.raises(InvalidArgument, match="split"):
        client.read_split(dataset_id, "holdout")  # checked before any call
    with pytest.raises(InvalidArgument, match="rows_per_chunk"):
        client.read_split(dataset_id, rows_per_chunk=-1)


def test_fasta_record_names_come_back_with_their_rows(client: Client):
    rng = np.random.default_rng(4)
    sequences = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(20)]
    fasta = "".join(f">rec{i} some description\n{s}\n" for i, s in enumerate(sequences))
    labels = (np.arange(20) % 2).astype(np.float32)
    info = client.import_fasta(fasta, labels, seed=2, reverse_complement=True)
    seen = []
    for split, count in (("train", info.num_train), ("valid", info.num_valid), ("test", info.num_test)):
        rows = client.read_split(info.dataset_id, split, rows_per_chunk=3)
        assert len(rows.names) == len(rows) == count
        for name, one_hot, label in zip(rows.names, rows.one_hot, rows.labels, strict=True):
            index = int(name.removeprefix("rec"))  # the record id: the header's first word
            assert name == f"rec{index}"
            assert label[0] == labels[index]
            if split != "train" or one_hot.argmax(-1).tolist() == ["ACGT".index(c) for c in sequences[index]]:
                seen.append((split, index))
    # Every record sits in exactly one split; train also holds each one's reverse complement.
    assert sorted(index for _, index in seen) == list(range(20))
    assert client.read_split(info.dataset_id, "train", offset=4, limit=3).names == tuple(
        client.read_split(info.dataset_id, "train").names[4:7]
    )


def test_fasta_records_held_out_by_id_or_chromosome_land_in_their_splits(client: Client, tmp_path: Path):
    rng = np.random.default_rng(6)
    ids = [f"chr{1 + i % 4}:{100 * i}-{100 * i + 30}" for i in range(24)]
    fasta = "".join(f">{name}\n{''.join(rng.choice(list('ACGT'), 30))}\n" for name in ids)
    table = tmp_path / "labels.tsv"
    table.write_text(
        "id\tbound\n" + "".join(f"{name}\t{i % 2}\n" for i, name in reversed(list(enumerate(ids))))
    )
    info = client.import_fasta(fasta, table, valid_chroms=["chr3"], test_chroms=["chr4"], test_ids=[ids[0]])
    assert info.label_names == ("bound",)
    names = {
        split: set(client.read_split(info.dataset_id, split).names) for split in ("train", "valid", "test")
    }
    assert names["test"] == {n for n in ids if n.startswith("chr4:")} | {ids[0]}
    assert names["valid"] == {n for n in ids if n.startswith("chr3:")}
    assert names["train"] == set(ids) - names["test"] - names["valid"]
    rows = client.read_split(info.dataset_id, "valid")
    for name, label in zip(rows.names, rows.labels[:, 0], strict=True):
        assert label == ids.index(name) % 2  # labels keyed by id follow their record
    with pytest.raises(InvalidArgument, match="is in both"):
        client.import_fasta(fasta, table, valid_chroms=["chr3"], test_chroms=["chr3"])
    with pytest.raises(InvalidArgument, match="no record 'chr9:1-2'"):
        client.import_fasta(fasta, table, test_ids=["chr9:1-2"])
    with pytest.raises(InvalidArgument, match="the valid split gets no record"):
        client.import_fasta(fasta, table, test_chroms=["chr4"])
