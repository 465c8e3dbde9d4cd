"""TrainerService.Upload / ListUploads over the wire, through the SDK and a raw stub (loopback server)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from helpers import make_settings, running_server
from motiflens_client import Client, InvalidArgument, ResourceExhausted, UploadInfo
from motiflens_client.wire import pb
from motiflens_client.wire.pb import trainer_pb2_grpc

from services.common.config import JobSettings
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore, open_store
from services.trainer.jobs import JobManager
from services.trainer.servicer import SERVICE_NAME, TrainerServicer
from services.trainer.uploads import CONTENT_OBJECT, MAX_CHUNK_BYTES, UPLOAD_KIND

#: The server's upload limit in these tests (small, so that going over it is cheap).
LIMIT = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, ArtifactStore, int]]:
    store_url = (tmp_path_factory.mktemp("uploads") / "store").as_uri()
    store = open_store(store_url)
    metrics = ServiceMetrics()
    jobs = JobManager(store_url, JobSettings(), store=store, metrics=metrics)
    try:
        with running_server(
            TrainerServicer(store, jobs, max_upload_bytes=LIMIT).register,
            service_name=SERVICE_NAME,
            settings=make_settings("trainer"),
            store=store,
            metrics=metrics,
        ) as running:
            with Client(f"127.0.0.1:{running.port}", timeout=60, retries=0) as client:
                yield client, store, running.port
    finally:
        jobs.close()


def _uploads(store: ArtifactStore) -> set[str]:
    return {m.artifact_id for m in store.list_artifacts(UPLOAD_KIND)}


def _raw(port: int, messages: list[pb.UploadChunk]) -> grpc.RpcError:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            trainer_pb2_grpc.TrainerServiceStub(channel).Upload(iter(messages), timeout=30)
    return info.value


def test_a_file_of_several_chunks_arrives_whole(served, tmp_path: Path):
    client, store, _ = served
    content = random.Random(1).randbytes(3 * 1024 * 1024 + 12345)  # four 1 MiB chunks
    path = tmp_path / "genome.fa.gz"
    path.write_bytes(content)

    info = client.upload(path)

    assert isinstance(info, UploadInfo)
    assert (info.name, info.size, info.sha256) == (
        "genome.fa.gz",
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    assert info.upload_id.startswith("upload-")
    assert store.read_object(info.upload_id, CONTENT_OBJECT) == content
    assert info.upload_id in {u.upload_id for u in client.list_uploads()}
    assert client.upload(path, name="other.fa").name == "other.fa"


@pytest.mark.parametrize(
    "messages, code, text",
    [
        ([], grpc.StatusCode.INVALID_ARGUMENT, "the first message of an Upload must be an UploadHeader"),
        ([pb.UploadChunk(data=b"ACGT")], grpc.StatusCode.INVALID_ARGUMENT, "must be an UploadHeader"),
        (
            [pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=10)), pb.UploadChunk(data=b"12345")],
            grpc.StatusCode.INVALID_ARGUMENT,
            "ended after 5 of the 10 bytes",
        ),
        (
            [pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=3)), pb.UploadChunk(data=b"12345")],
            grpc.StatusCode.INVALID_ARGUMENT,
            "more than the 3 bytes the header declared",
        ),
        (
            [
                pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=3)),
                pb.UploadChunk(header=pb.UploadHeader(name="b.bed", size=3)),
            ],
            grpc.StatusCode.INVALID_ARGUMENT,
            "is a second header",
        ),
        (
            [
                pb.UploadChunk(header=pb.UploadHeader(name="../etc/passwd", size=3)),
                pb.UploadChunk(data=b"abc"),
            ],
            grpc.StatusCode.INVALID_ARGUMENT,
            "header.name: expected a file name",
        ),
        (
            [pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=0))],
            grpc.StatusCode.INVALID_ARGUMENT,
            "header.size: expected 1 byte or more",
        ),
        (
            [pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=LIMIT + 1))],
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "over this server's upload limit of 8 MiB (MOTIFLENS_MAX_UPLOAD_MB)",
        ),
        (
            [
                pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=3, sha256="xyz")),
                pb.UploadChunk(data=b"abc"),
            ],
            grpc.StatusCode.INVALID_ARGUMENT,
            "header.sha256: expected 64 lower-case hex digits",
        ),
        (
            [
                pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=3, sha256="0" * 64)),
                pb.UploadChunk(data=b"abc"),
            ],
            grpc.StatusCode.INVALID_ARGUMENT,
            "have sha256 ba7816bf",
        ),
        (
            [
                pb.UploadChunk(header=pb.UploadHeader(name="a.bed", size=MAX_CHUNK_BYTES + 1)),
                pb.UploadChunk(data=b"x" * (MAX_CHUNK_BYTES + 1)),
            ],
            grpc.StatusCode.INVALID_ARGUMENT,
            f"at most {MAX_CHUNK_BYTES} per message",
        ),
    ],
    ids=[
        "empty-stream",
        "data-first",
        "short",
        "long",
        "two-headers",
        "path-name",
        "zero-size",
        "over-limit",
        "bad-digest-text",
        "digest-mismatch",
        "huge-chunk",
    ],
)
def test_a_bad_stream_is_refused_and_stores_nothing(served, messages, code, text):
    _, store, port = served
    before = _uploads(store)
    error = _raw(port, messages)
    assert error.code() == code, error.details()
    assert text in error.details()
    assert _uploads(store) == before


def test_the_sdk_reports_refusals_with_its_error_types(served, tmp_path: Path):
    client, store, _ = served
    before = _uploads(store)
    big = tmp_path / "big.fa"
    with open(big, "wb") as handle:
        handle.truncate(LIMIT + 1)
    with pytest.raises(ResourceExhausted, match="upload limit"):
        client.upload(big)
    empty = tmp_path / "empty.bed"
    empty.write_bytes(b"")
    with pytest.raises(InvalidArgument, match="header.size"):
        client.upload(empty)
    assert _uploads(store) == before
