"""TrainerService.ReadSplit: a stored split's rows over the wire, chunked, with its errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import h5py
import numpy as np
import pytest
from motiflens_client.api import common_pb2, pb

from motiflens.synthetic import make_task1
from services.common.convert import tensor_to_array
from services.trainer.split_rows import CHUNK_BYTES, rows_per_chunk
from tests.service.helpers import rpc_error
from tests.service.test_trainer import RPC_TIMEOUT, Trainer, trainer_server, write_dataset


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trainer]:
    with trainer_server((tmp_path_factory.mktemp("read-split") / "store").as_uri()) as running:
        yield running


def upload(trainer: Trainer, path: Path) -> pb.DatasetInfo:
    request = pb.CreateDatasetRequest(hdf5=pb.Hdf5Import(content=path.read_bytes()))
    return trainer.stub.CreateDataset(request, timeout=RPC_TIMEOUT).dataset


def read(trainer: Trainer, dataset_id: str, split: int, **kwargs) -> list[pb.SplitRows]:
    ref = pb.DatasetSplitRef(
        dataset_id=dataset_id, split=split, offset=kwargs.pop("offset", 0), limit=kwargs.pop("limit", 0)
    )
    return list(trainer.stub.ReadSplit(pb.ReadSplitRequest(rows=ref, **kwargs), timeout=RPC_TIMEOUT))


def stacked(chunks: list[pb.SplitRows], key: str) -> np.ndarray:
    return np.concatenate([tensor_to_array(getattr(c, key), field=key) for c in chunks])


@pytest.fixture(scope="module")
def uploaded(trainer: Trainer, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    path = write_dataset(tmp_path_factory.mktemp("h5") / "d.h5", n=40, length=40, targets=3, seed=5)
    return upload(trainer, path).dataset_id, path


def test_rows_come_back_exactly_in_chunks(trainer: Trainer, uploaded):
    dataset_id, path = uploaded
    with h5py.File(path, "r") as handle:
        X_test, Y_test = np.asarray(handle["X_test"]), np.asarray(handle["Y_test"])
        X_train, Y_train = np.asarray(handle["X_train"]), np.asarray(handle["Y_train"])
    if X_test.shape[1] == 4 and X_test.shape[2] != 4:  # the paper's (N, 4, L) file layout
        X_test, X_train = X_test.transpose(0, 2, 1), X_train.transpose(0, 2, 1)
    chunks = read(trainer, dataset_id, common_pb2.SPLIT_TEST, rows_per_chunk=3)
    assert [c.offset for c in chunks] == [0, 3, 6, 9][: len(chunks)] and len(chunks) == 4
    assert {c.total_rows for c in chunks} == {10}
    np.testing.assert_array_equal(stacked(chunks, "one_hot"), X_test)
    np.testing.assert_array_equal(stacked(chunks, "labels"), Y_test.reshape(10, -1))
    assert not any(c.HasField("ground_truth") for c in chunks) and not any(c.names for c in chunks)
    # An offset and a limit select rows [5, 12) of the train split; unset split = test.
    window = read(trainer, dataset_id, common_pb2.SPLIT_TRAIN, offset=5, limit=7)
    assert len(window) == 1 and window[0].offset == 5 and window[0].total_rows == 7
    np.testing.assert_array_equal(stacked(window, "one_hot"), X_train[5:12])
    np.testing.assert_array_equal(stacked(window, "labels"), Y_train[5:12].reshape(7, -1))
    unset = read(trainer, dataset_id, common_pb2.SPLIT_UNSPECIFIED)
    np.testing.assert_array_equal(stacked(unset, "one_hot"), X_test)


def test_ground_truth_of_a_synthetic_task(trainer: Trainer, tmp_path: Path):
    task = make_task1(100, seed=3)
    task.save(tmp_path / "task1.h5")
    info = upload(trainer, tmp_path / "task1.h5")
    chunks = read(trainer, info.dataset_id, common_pb2.SPLIT_TEST, ground_truth=True, rows_per_chunk=8)
    assert [c.offset for c in chunks] == [0, 8, 16]
    np.testing.assert_array_equal(stacked(chunks, "ground_truth"), task.dataset.test.model)
    np.testing.assert_array_equal(stacked(chunks, "one_hot"), task.dataset.test.X)


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"dataset_id": "ds-" + "0" * 32}, grpc.StatusCode.NOT_FOUND, "ds-"),
        ({"dataset_id": "../etc"}, grpc.StatusCode.INVALID_ARGUMENT, "dataset_id"),
        ({"offset": 10}, grpc.StatusCode.INVALID_ARGUMENT, "rows.offset"),
        ({"offset": -1}, grpc.StatusCode.INVALID_ARGUMENT, "offset"),
        ({"split": 7}, grpc.StatusCode.INVALID_ARGUMENT, "rows.split"),
        ({"rows_per_chunk": -2}, grpc.StatusCode.INVALID_ARGUMENT, "rows_per_chunk"),
        ({"ground_truth": True}, grpc.StatusCode.FAILED_PRECONDITION, "ground_truth"),
    ],
)
def test_bad_requests_name_the_field(trainer: Trainer, uploaded, change: dict, code, words: str):
    dataset_id, _ = uploaded
    ref = pb.DatasetSplitRef(
        dataset_id=change.pop("dataset_id", dataset_id),
        split=change.pop("split", common_pb2.SPLIT_TEST),
        offset=change.pop("offset", 0),
    )
    error = rpc_error(trainer.stub.ReadSplit, pb.ReadSplitRequest(rows=ref, **change), timeout=RPC_TIMEOUT)
    assert error.code() == code and words in error.details()


def test_chunks_stay_under_the_message_bound():
    row = 1024 * 1024  # a 1 MiB row
    assert rows_per_chunk(0, row) == CHUNK_BYTES // row
    assert rows_per_chunk(10**6, row) == CHUNK_BYTES // row  # a client cannot ask for more
    assert rows_per_chunk(2, 10) == 2 and rows_per_chunk(0, 10 * CHUNK_BYTES) == 1
