"""Deleting artifacts and paging through lists, over the wire against a real trainer (loopback)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from helpers import make_settings, running_server
from motiflens_client import Client, FailedPrecondition, InvalidArgument, NotFound
from motiflens_client.wire import pb
from motiflens_client.wire.pb import trainer_pb2_grpc
from test_cli import run_cli

from services.common.config import JobSettings
from services.common.metrics import ServiceMetrics
from services.common.store import open_store
from services.trainer.jobs import JobManager
from services.trainer.servicer import SERVICE_NAME, TrainerServicer


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Client, trainer_pb2_grpc.TrainerServiceStub, str]]:
    store_url = (tmp_path_factory.mktemp("lifecycle") / "store").as_uri()
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
            with Client(address, timeout=120, retries=0) as client, grpc.insecure_channel(address) as channel:
                yield client, trainer_pb2_grpc.TrainerServiceStub(channel), address
    finally:
        jobs.close()


def _upload(client: Client, tmp_path, number: int) -> str:
    path = tmp_path / f"f{number}.bed"
    path.write_text(f"chr1\t{number}\t{number + 10}\n")
    return client.upload(path).upload_id


def test_pages_cover_every_item_once_newest_first_and_stay_put_when_items_arrive(served, tmp_path):
    client, stub, _ = served
    made = [_upload(client, tmp_path, n) for n in range(7)]
    first = stub.ListUploads(pb.ListUploadsRequest(page_size=3), timeout=30)
    assert len(first.uploads) == 3 and first.next_page_token
    newer = _upload(client, tmp_path, 100)  # arrives at the front: later pages must not shift
    second = stub.ListUploads(
        pb.ListUploadsRequest(page_size=3, page_token=first.next_page_token), timeout=30
    )
    third = stub.ListUploads(
        pb.ListUploadsRequest(page_size=3, page_token=second.next_page_token), timeout=30
    )
    seen = [u.upload_id for page in (first, second, third) for u in page.uploads]
    assert len(seen) == len(set(seen)) >= 7 and set(made) <= set(seen) and newer not in seen
    keys = [(u.created_at, u.upload_id) for page in (first, second, third) for u in page.uploads]
    assert keys == sorted(keys, reverse=True)
    # The SDK follows every page.
    assert {u.upload_id for u in client.list_uploads()} >= {*made, newer}


@pytest.mark.parametrize(
    "request_, text",
    [
        (pb.ListUploadsRequest(page_size=5000), "page_size: expected 0 (default 100) to 1000"),
        (pb.ListUploadsRequest(page_size=-1), "page_size"),
        (pb.ListUploadsRequest(page_token="not-a-token"), "page_token: not a token"),
        (pb.ListUploadsRequest(page_token="WyJ4Il0="), "page_token: not a token"),  # ["x"]
    ],
    ids=["too-big", "negative", "garbage", "wrong-shape"],
)
def test_bad_paging_arguments_are_invalid(served, request_, text):
    _, stub, _ = served
    with pytest.raises(grpc.RpcError) as info:
        stub.ListUploads(request_, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and text in info.value.details()


def test_a_data_set_in_use_is_kept_until_its_job_ends_then_deleted(served):
    client, _, address = served
    data = client.create_task(1, num_sequences=300, seed=2, name="doomed")
    job = client.train(data.dataset_id, architecture="cnn_2", epochs=200)
    with pytest.raises(FailedPrecondition, match=f"used by 1 pending or running job\\(s\\): {job.job_id}"):
        client.delete_dataset(data.dataset_id)
    client.get_dataset(data.dataset_id)  # still whole
    job.cancel()
    deadline = time.monotonic() + 300
    while job.info().state not in ("CANCELLED", "SUCCEEDED", "FAILED") and time.monotonic() < deadline:
        time.sleep(0.5)
    run = run_cli("--address", address, "dataset", "delete", data.dataset_id)
    assert run.code == 0, run.err
    with pytest.raises(NotFound):
        client.get_dataset(data.dataset_id)
    assert data.dataset_id not in {d.dataset_id for d in client.list_datasets()}
    with pytest.raises(NotFound):
        client.delete_dataset(data.dataset_id)


def test_each_delete_takes_only_its_own_kind(served, tmp_path):
    client, _, _ = served
    upload = _upload(client, tmp_path, 500)
    result = client.save_result("r", {"a": 1})
    with pytest.raises(NotFound, match="is an upload, not a model"):
        client.delete_model(upload)
    with pytest.raises(NotFound, match="is a result, not an upload"):
        client.delete_upload(result)
    client.delete_result(result)
    client.delete_upload(upload)
    with pytest.raises(NotFound):
        client.get_result(result)
    assert upload not in {u.upload_id for u in client.list_uploads()}


def test_labels_are_set_changed_filtered_and_go_with_their_artifact(served):
    client, stub, _ = served
    first = client.create_task(1, num_sequences=200, seed=4, name="a")
    second = client.create_task(1, num_sequences=200, seed=5, name="b")
    assert client.set_labels(first.dataset_id, {"lab": "koo", "cell": "k562"}) == {
        "lab": "koo",
        "cell": "k562",
    }
    client.set_labels(second.dataset_id, {"lab": "koo"})
    assert [d.dataset_id for d in client.list_datasets(labels={"lab": "koo", "cell": "k562"})] == [
        first.dataset_id
    ]
    assert {d.dataset_id for d in client.list_datasets(labels={"lab": "koo"})} == {
        first.dataset_id,
        second.dataset_id,
    }
    assert client.get_dataset(first.dataset_id).labels == {"lab": "koo", "cell": "k562"}
    # Through the API a data set can be labelled when it is made.
    made = stub.CreateDataset(
        pb.CreateDatasetRequest(
            name="c",
            synthetic=pb.SyntheticSpec(task=pb.SYNTHETIC_TASK_1, num_sequences=200),
            labels={"lab": "x"},
        ),
        timeout=120,
    )
    assert dict(made.dataset.labels) == {"lab": "x"}
    assert [d.dataset_id for d in client.list_datasets(labels={"lab": "x"})] == [made.dataset.dataset_id]
    # A model gets its job's labels.
    job = client.train(first.dataset_id, architecture="cnn_2", epochs=1, labels={"run": "smoke"})
    info = job.wait(timeout=300)
    assert info.state == "SUCCEEDED", info.error
    assert [m.model_id for m in client.list_models(labels={"run": "smoke"})] == [info.model_id]
    assert client.list_models(labels={"run": "smoke"})[0].labels == {"run": "smoke"}
    # Replace, clear, and gone with the artifact.
    client.set_labels(second.dataset_id, {})
    assert client.get_dataset(second.dataset_id).labels == {}
    client.delete_dataset(second.dataset_id)
    assert second.dataset_id not in {d.dataset_id for d in client.list_datasets(labels={"lab": "koo"})}


@pytest.mark.parametrize(
    "labels, text",
    [
        ({"Lab": "x"}, "key 'Lab'"),
        ({"lab": "x" * 129}, "at most 128 printable characters"),
        ({"lab": "a\nb"}, "printable"),
        ({f"k{i}": "v" for i in range(33)}, "at most 32"),
    ],
    ids=["upper-key", "long-value", "newline", "too-many"],
)
def test_bad_labels_are_refused(served, labels, text):
    client, _, _ = served
    data = client.list_datasets()[0]
    with pytest.raises(InvalidArgument, match=text):
        client.set_labels(data.dataset_id, labels)
    with pytest.raises(InvalidArgument, match="label_selector: term 'lab' is not key=value"):
        client._unary(client._trainer, "ListDatasets", pb.ListDatasetsRequest(label_selector="lab"))
    with pytest.raises(NotFound):
        client.set_labels("ds-" + "0" * 32, {"a": "b"})
