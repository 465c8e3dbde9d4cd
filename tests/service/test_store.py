"""The artifact store, every operation against both backends (a temp directory and a loopback S3)."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from motiflens.errors import (
    AlreadyExistsError,
    InvalidInputError,
    MotiflensError,
    NotFoundError,
    UnavailableError,
)
from services.common.store import (
    MANIFEST,
    ArtifactStore,
    CorruptArtifactError,
    check_id,
    new_id,
    open_store,
)
from services.common.store.file import FileStore
from services.common.store.s3 import STREAM_PART_SIZE, S3Store


def raw_write(store: ArtifactStore, path: str, data: bytes, server=None) -> None:
    """Write ``path`` (relative to the store) underneath the store: the file or the S3 object itself."""
    if isinstance(store, FileStore):
        target = store.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    else:
        key = f"{store.prefix}/{path}" if store.prefix else path
        server.client().put_object(store.bucket, key, io.BytesIO(data), len(data))


@pytest.fixture
def s3(store: ArtifactStore, request: pytest.FixtureRequest):
    """The session S3 server when ``store`` is the S3 backend, else None."""
    return request.getfixturevalue("s3_server") if isinstance(store, S3Store) else None


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


# ---------------------------------------------------------------- artifacts


def test_put_artifact_writes_a_verifiable_manifest(store: ArtifactStore, tmp_path: Path) -> None:
    weights = payload(3000, seed=1)
    config_path = tmp_path / "config.json"
    config_path.write_bytes(b'{"activation": "exponential"}')
    provenance = {"dataset_id": new_id("ds"), "seed": 7, "config": {"filters": 32}}

    manifest = store.put_artifact(
        "model",
        {"weights.bin": weights, "config.json": config_path, "empty.txt": b""},
        provenance=provenance,
        metadata={"name": "cnn-deep"},
    )

    assert check_id(manifest.artifact_id, prefix="model") == manifest.artifact_id
    assert manifest.kind == "model"
    assert manifest.provenance == provenance
    assert manifest.metadata == {"name": "cnn-deep"}
    assert manifest.created_at.endswith("Z")
    expected = {"weights.bin": weights, "config.json": config_path.read_bytes(), "empty.txt": b""}
    assert {name: (info.sha256, info.size) for name, info in manifest.objects.items()} == {
        name: (hashlib.sha256(data).hexdigest(), len(data)) for name, data in expected.items()
    }
    assert store.get_manifest(manifest.artifact_id) == manifest
    assert store.get_manifest(manifest.artifact_id, kind="model") == manifest
    for name, data in expected.items():
        assert store.read_object(manifest.artifact_id, name) == data

    fetched = store.fetch_artifact(manifest.artifact_id, tmp_path / "fetched" / "model")
    assert fetched == manifest
    assert {p.name: p.read_bytes() for p in (tmp_path / "fetched" / "model").iterdir()} == expected


def test_get_manifest_with_another_kind_is_not_found(store: ArtifactStore) -> None:
    manifest = store.put_artifact("dataset", {"data.h5": b"x"}, id_prefix="ds")
    assert manifest.artifact_id.startswith("ds-")
    with pytest.raises(NotFoundError, match="is a dataset, not a model"):
        store.get_manifest(manifest.artifact_id, kind="model")
    with pytest.raises(NotFoundError, match="has no object 'weights.bin'; it has: data.h5"):
        store.read_object(manifest.artifact_id, "weights.bin")


def test_list_artifacts_filters_by_kind(store: ArtifactStore) -> None:
    assert store.list_artifacts() == []
    models = {store.put_artifact("model", {"w": bytes([i])}).artifact_id for i in range(2)}
    dataset = store.put_artifact("dataset", {"d": b"d"}, id_prefix="ds").artifact_id

    listed = store.list_artifacts()
    assert {m.artifact_id for m in listed} == models | {dataset}
    assert [(m.created_at, m.artifact_id) for m in listed] == sorted(
        ((m.created_at, m.artifact_id) for m in listed), reverse=True
    )
    assert {m.artifact_id for m in store.list_artifacts("model")} == models
    assert [m.artifact_id for m in store.list_artifacts("dataset")] == [dataset]
    assert store.list_artifacts("result") == []


def test_artifacts_are_immutable(store: ArtifactStore) -> None:
    artifact_id = new_id("model")
    first = store.put_artifact("model", {"w": b"first"}, artifact_id=artifact_id)
    with pytest.raises(AlreadyExistsError, match=f"artifact '{artifact_id}' exists already"):
        store.put_artifact("model", {"w": b"second"}, artifact_id=artifact_id)
    assert store.get_manifest(artifact_id) == first
    assert store.read_object(artifact_id, "w") == b"first"


def test_unknown_ids_are_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    unknown = new_id("model")
    for call in (
        lambda: store.get_manifest(unknown),
        lambda: store.read_object(unknown, "w"),
        lambda: store.fetch_artifact(unknown, tmp_path / "out"),
    ):
        with pytest.raises(NotFoundError, match=f"artifact '{unknown}' does not exist"):
            call()
    assert not (tmp_path / "out").exists()


def test_corrupted_object_is_detected_on_read(store: ArtifactStore, s3, tmp_path: Path) -> None:
    manifest = store.put_artifact("model", {"w": payload(1000, seed=2), "b": b"bias"})
    artifact_id = manifest.artifact_id
    raw_write(store, f"artifacts/{artifact_id}/w", payload(1000, seed=3), s3)

    with pytest.raises(CorruptArtifactError, match="'w' does not match the sha256") as info:
        store.read_object(artifact_id, "w")
    # A server-side fault: INTERNAL over gRPC, never INVALID_ARGUMENT (the caller did nothing wrong).
    assert isinstance(info.value, MotiflensError) and not isinstance(info.value, InvalidInputError)
    with pytest.raises(CorruptArtifactError):
        store.fetch_artifact(artifact_id, tmp_path / "out")
    assert store.read_object(artifact_id, "b") == b"bias"

    raw_write(store, f"artifacts/{artifact_id}/{MANIFEST}", b"{not json", s3)
    with pytest.raises(CorruptArtifactError, match="manifest is unreadable"):
        store.get_manifest(artifact_id)
    healthy = store.put_artifact("model", {"w": b"w"})
    assert [m.artifact_id for m in store.list_artifacts()] == [healthy.artifact_id]  # the bad one is skipped


def test_half_written_artifact_is_invisible(store: ArtifactStore) -> None:
    artifact_id = new_id("model")
    store._put(f"artifacts/{artifact_id}/weights.bin", b"objects, but no manifest")

    with pytest.raises(NotFoundError):
        store.get_manifest(artifact_id)
    with pytest.raises(NotFoundError):
        store.read_object(artifact_id, "weights.bin")
    assert store.list_artifacts() == []


def test_failure_before_the_manifest_leaves_nothing_visible(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = store._put
    written = []

    def put_then_fail(path: str, data: bytes) -> None:
        if written:
            raise UnavailableError(f"artifact store {store.url} is unavailable: simulated failure")
        real_put(path, data)
        written.append(path)

    monkeypatch.setattr(store, "_put", put_then_fail)
    artifact_id = new_id("model")
    objects = {"a.bin": payload(100, seed=4), "b.bin": payload(100, seed=5)}
    with pytest.raises(UnavailableError, match="simulated failure"):
        store.put_artifact("model", objects, artifact_id=artifact_id)

    assert written == [f"artifacts/{artifact_id}/a.bin"]
    assert not store._exists(f"artifacts/{artifact_id}/a.bin")  # the failed write cleaned up after itself
    with pytest.raises(NotFoundError):
        store.get_manifest(artifact_id)
    assert store.list_artifacts() == []

    # Once the backend is back, writing the same id again completes the artifact.
    monkeypatch.setattr(store, "_put", real_put)
    manifest = store.put_artifact("model", objects, artifact_id=artifact_id)
    assert [m.artifact_id for m in store.list_artifacts()] == [artifact_id]
    assert store.read_object(artifact_id, "b.bin") == objects["b.bin"] == payload(100, seed=5)
    assert manifest.objects["a.bin"].sha256 == hashlib.sha256(objects["a.bin"]).hexdigest()


# ---------------------------------------------------------------- records


def test_records_round_trip_and_overwrite(store: ArtifactStore) -> None:
    assert store.list_records("jobs") == []
    store.put_record("jobs", "job-1", {"state": "RUNNING", "epoch": 1})
    store.put_record("jobs", "job-2", {"state": "QUEUED"})
    store.put_record("jobs", "job-1", {"state": "SUCCEEDED", "epoch": 5})
    store.put_record("events", "job-1.000001", {"epoch": 1, "loss": 0.5})

    assert store.get_record("jobs", "job-1") == {"state": "SUCCEEDED", "epoch": 5}
    by_state = sorted(store.list_records("jobs"), key=lambda record: record["state"])
    assert by_state == [{"state": "QUEUED"}, {"state": "SUCCEEDED", "epoch": 5}]
    assert store.list_records("events") == [{"epoch": 1, "loss": 0.5}]
    with pytest.raises(NotFoundError, match="jobs record 'job-3' does not exist"):
        store.get_record("jobs", "job-3")


# ---------------------------------------------------------------- validation and escapes

GOOD_ID = "model-" + "0" * 32
BAD_IDS = [
    "",
    "../../secret",
    "/etc/passwd",
    "model-" + "0" * 31,
    "model-" + "g" * 32,
    "Model-" + "0" * 32,
    "model-" + "0" * 32 + "/../x",
    "a" * 17 + "-" + "0" * 32,
    "x" * 300,
    None,
]
BAD_KEYS = ["", ".hidden", "..", "../secret", "a/b", "/abs", "a\\b", "x" * 129, "a b", None]


def test_malformed_ids_and_keys_are_invalid(store: ArtifactStore) -> None:
    for bad in BAD_IDS:
        with pytest.raises(InvalidInputError, match="is not a valid id"):
            store.get_manifest(bad)
        with pytest.raises(InvalidInputError, match="is not a valid id"):
            store.read_object(bad, "w")
        with pytest.raises(InvalidInputError):
            store.put_artifact("model", {"w": b"w"}, artifact_id=bad or "x")
    for bad in BAD_KEYS:
        with pytest.raises(InvalidInputError, match="is not a valid name"):
            store.read_object(GOOD_ID, bad)
        with pytest.raises(InvalidInputError, match="is not a valid name"):
            store.get_record("jobs", bad)
        with pytest.raises(InvalidInputError, match="is not a valid name"):
            store.get_record(bad, "job-1")
        with pytest.raises(InvalidInputError, match="is not a valid name"):
            store.put_record("jobs", bad, {})
        with pytest.raises(InvalidInputError, match="is not a valid name"):
            store.list_records(bad)
        with pytest.raises(InvalidInputError, match="object name"):
            store.put_artifact("model", {"ok.bin": b"ok", bad: b"w"})
    with pytest.raises(InvalidInputError, match="starting with 'ds-'"):
        check_id(GOOD_ID, prefix="ds")
    with pytest.raises(InvalidInputError, match="id prefix"):
        store.put_artifact("model", {"w": b"w"}, id_prefix="../x")
    with pytest.raises(InvalidInputError, match="'manifest.json' is reserved"):
        store.put_artifact("model", {"w": b"w", MANIFEST: b"{}"})
    with pytest.raises(InvalidInputError, match="provenance: expected JSON-serialisable values"):
        store.put_artifact("model", {"w": b"w"}, provenance={"path": Path("/x")})
    # Every name is checked before anything is written: no stray objects either.
    assert store._list_prefixes("artifacts/") == []
    assert store.list_records("jobs") == []


def test_nothing_outside_the_store_is_reachable(store: ArtifactStore, s3, tmp_path: Path) -> None:
    secret = {"leaked": True}
    if isinstance(store, FileStore):
        # store.root is tmp_path/store: these files sit beside and above the store.
        (tmp_path / "secret.json").write_text(json.dumps(secret))
        (store.root / "records").mkdir(parents=True)
        (store.root / "records" / "linked").symlink_to(tmp_path, target_is_directory=True)
        assert store.root.parent == tmp_path
    else:
        data = json.dumps(secret).encode()
        s3.client().put_object(store.bucket, "secret.json", io.BytesIO(data), len(data))
    attempts = [
        lambda: store.get_record("jobs", "../../../secret"),
        lambda: store.get_record("..", "secret"),
        lambda: store.get_record("../..", "secret"),
        lambda: store.get_record("jobs", str(tmp_path / "secret")),
        lambda: store.read_object("../../secret.json", "x"),
        lambda: store.list_records("../.."),
        # Second line of defence: the backend refuses escaping paths even from inside the store.
        lambda: store._get("../secret.json", missing="secret"),
        lambda: store._get("records/../../secret.json", missing="secret"),
        lambda: store._put("../planted.json", b"{}"),
        lambda: store._exists("../secret.json"),
    ]
    if isinstance(store, FileStore):
        attempts.append(lambda: store.get_record("linked", "secret"))  # symlink to outside
        attempts.append(lambda: store._get(str(tmp_path / "secret.json"), missing="secret"))
    for attempt in attempts:
        with pytest.raises(InvalidInputError):
            attempt()
    assert not (tmp_path / "planted.json").exists()
    if s3 is not None:  # the object outside the prefix is still there, untouched and unread
        assert json.loads(s3.client().get_object(store.bucket, "secret.json").read()) == secret


def test_ping_answers(store: ArtifactStore) -> None:
    store.ping()


# ---------------------------------------------------------------- open_store


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/tmp/store",
        "relative/store",
        "http://127.0.0.1:9000/bucket",
        "file://relative/path",
        "file:relative",
        "file:///tmp/../etc",
        "file:///tmp/store?x=1",
        "s3://",
        "s3:///prefix?endpoint=127.0.0.1:9000",
        "s3://bucket/prefix",
        "s3://bucket/prefix?endpoint=",
        "s3://bucket/prefix?endpoint=127.0.0.1:9000&secure=maybe",
        "s3://bucket/prefix?endpoint=127.0.0.1:9000&colour=blue",
        "s3://bucket/prefix?endpoint=a:1&endpoint=b:2",
        "s3://key:secret@bucket/prefix?endpoint=127.0.0.1:9000",
        "s3://Bad_Bucket/prefix?endpoint=127.0.0.1:9000",
        "s3://bucket/../prefix?endpoint=127.0.0.1:9000",
        "s3://bucket/prefix?endpoint=http://127.0.0.1:9000",
    ],
)
def test_open_store_rejects_malformed_urls(url: str) -> None:
    with pytest.raises(InvalidInputError, match=r"(?s)store URL|S3 bucket|S3 prefix|S3 endpoint"):
        open_store(url, environ={})


def test_open_store_lists_accepted_forms() -> None:
    with pytest.raises(InvalidInputError, match=r"accepted forms: file:///absolute/path, s3://bucket"):
        open_store("ftp://host/x", environ={})


def test_open_store_parses_both_forms(tmp_path: Path) -> None:
    root = tmp_path / "a b" / "store"
    file_store = open_store(root.as_uri())
    assert isinstance(file_store, FileStore) and file_store.root == root and root.is_dir()
    assert file_store.url == root.as_uri()

    environ = {"MOTIFLENS_S3_ACCESS_KEY": "mine", "MOTIFLENS_S3_SECRET_KEY": "s", "AWS_ACCESS_KEY_ID": "aws"}
    s3_store = open_store(
        "s3://my-bucket/runs/motiflens/?endpoint=minio.local:9000&secure=false&region=eu-west-1",
        environ=environ,
    )
    assert isinstance(s3_store, S3Store)
    assert (s3_store.bucket, s3_store.prefix, s3_store.endpoint) == (
        "my-bucket",
        "runs/motiflens",
        "minio.local:9000",
    )
    assert s3_store.url == "s3://my-bucket/runs/motiflens"
    assert s3_store._client._provider.retrieve().access_key == "mine"
    assert not s3_store._client._base_url.is_https
    assert open_store("s3://bucket?endpoint=s3.example.org", environ={})._client._base_url.is_https

    fallback = open_store(
        "s3://bucket?endpoint=h:1", environ={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    )
    assert fallback._client._provider.retrieve().access_key == "a"
    with pytest.raises(InvalidInputError, match="MOTIFLENS_S3_ACCESS_KEY and MOTIFLENS_S3_SECRET_KEY"):
        open_store("s3://bucket?endpoint=h:1", environ={"MOTIFLENS_S3_ACCESS_KEY": "only"})


def test_open_store_refuses_a_file_as_root(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(InvalidInputError, match="not a directory"):
        open_store((tmp_path / "plain").as_uri())


# ---------------------------------------------------------------- S3 failures


def test_dead_s3_endpoint_is_unavailable_fast(s3_server) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = open_store(f"s3://bucket/motiflens?endpoint=127.0.0.1:{port}&secure=false")
    started = time.monotonic()
    with pytest.raises(UnavailableError) as info:
        store.ping()
    assert str(info.value) == (
        f"artifact store s3://bucket/motiflens at 127.0.0.1:{port} is unavailable: connection refused"
    )
    with pytest.raises(UnavailableError, match="connection refused"):
        store.put_artifact("model", {"w": b"w"})
    assert time.monotonic() - started < 5


def test_missing_bucket_is_unavailable(s3_server) -> None:
    store = open_store(s3_server.url("no-such-bucket"))
    message = f"artifact store s3://no-such-bucket/motiflens at {s3_server.endpoint} is unavailable: " + (
        "bucket 'no-such-bucket' does not exist"
    )
    for call in (
        store.ping,
        store.list_artifacts,
        lambda: store.put_artifact("model", {"w": b"w"}),
        lambda: store.get_manifest(GOOD_ID),
        lambda: store.put_record("jobs", "job-1", {}),
    ):
        with pytest.raises(UnavailableError, match=re.escape(message)):
            call()


class KillServerBeforeSecondObject(Mapping):
    """Objects to upload that SIGKILL the S3 server when the second one is read.

    ``put_artifact`` reads an object just before uploading it, so at that moment the
    first object is on the server and the manifest is not: checked, then the crash.
    """

    def __init__(self, objects: dict[str, bytes], server, store: S3Store, artifact_id: str) -> None:
        self.objects, self.server, self.store, self.artifact_id = objects, server, store, artifact_id
        self.state_at_kill: dict[str, bool] | None = None

    def __getitem__(self, name: str) -> bytes:
        if name != next(iter(self.objects)) and self.state_at_kill is None:
            client = self.server.client()
            self.state_at_kill = {
                other: any(
                    client.list_objects(
                        self.store.bucket, f"{self.store.prefix}/artifacts/{self.artifact_id}/{other}"
                    )
                )
                for other in [*self.objects, MANIFEST]
            }
            self.server.kill()
        return self.objects[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)


def test_s3_server_killed_mid_artifact(start_s3_server) -> None:
    server = start_s3_server()
    url = server.url(server.create_bucket())
    store = open_store(url)
    store.put_artifact("dataset", {"x": b"earlier"}, id_prefix="ds")  # a warm, pooled connection
    artifact_id = new_id("model")
    objects = {f"part-{i}.bin": payload(2 << 20, seed=i) for i in range(3)}
    crashing = KillServerBeforeSecondObject(objects, server, store, artifact_id)

    started = time.monotonic()
    with pytest.raises(UnavailableError) as info:
        store.put_artifact("model", crashing, artifact_id=artifact_id)
    elapsed = time.monotonic() - started

    assert crashing.state_at_kill == {
        "part-0.bin": True,
        "part-1.bin": False,
        "part-2.bin": False,
        MANIFEST: False,
    }
    message = str(info.value)
    assert message.startswith(f"artifact store {store.url} at {server.endpoint} is unavailable: ")
    assert "connection refused" in message
    assert elapsed < 10, f"a dead server took {elapsed:.1f} s to report (bounded retries expected)"
    with pytest.raises(UnavailableError, match="connection refused"):
        store.list_artifacts()

    # moto keeps everything in memory, so the restarted server is empty: the bucket is made
    # again, and both the old store (new connections) and a new one list no artifact.
    restarted = start_s3_server(port=server.port)
    restarted.client().make_bucket(store.bucket)
    for reader in (store, open_store(url)):
        reader.ping()
        assert reader.list_artifacts() == []
        with pytest.raises(NotFoundError):
            reader.get_manifest(artifact_id)


# ---------------------------------------------------------------- large files, streamed


def test_a_large_file_goes_in_and_out_in_chunks(store: ArtifactStore, tmp_path: Path) -> None:
    import tracemalloc

    # 40 MiB (S3: five parts); memory must stay near one part or chunk, not the file.
    size = 40 * 1024 * 1024
    source = tmp_path / "genome.fa"
    with open(source, "wb") as handle:
        for index in range(size // 2**20):
            handle.write(payload(2**20, seed=index))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()

    tracemalloc.start()
    try:
        manifest = store.put_artifact("upload", {"content": source})
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fetched = store.fetch_artifact(manifest.artifact_id, tmp_path / "out")
        _, fetch_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (manifest.objects["content"].size, manifest.objects["content"].sha256) == (size, digest)
    assert fetched.artifact_id == manifest.artifact_id
    copy = tmp_path / "out" / "content"
    assert copy.stat().st_size == size
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    # minio holds about two multipart parts at once; the file store one 1 MiB chunk.
    limit = 3 * STREAM_PART_SIZE if isinstance(store, S3Store) else 4 * 2**20
    assert put_peak < limit, f"put_artifact held {put_peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file"
    assert fetch_peak < 4 * 2**20, f"fetch_artifact held {fetch_peak / 2**20:.1f} MiB"


def test_fetch_refuses_an_object_changed_underneath(store: ArtifactStore, s3, tmp_path: Path) -> None:
    manifest = store.put_artifact("upload", {"content": payload(5000, seed=3)})
    raw_write(store, f"artifacts/{manifest.artifact_id}/content", payload(5000, seed=4), s3)
    with pytest.raises(CorruptArtifactError, match="does not match the sha256"):
        store.fetch_artifact(manifest.artifact_id, tmp_path / "out")
    assert not (tmp_path / "out" / "content").exists()  # no corrupt copy left behind


def test_a_deleted_artifact_is_gone_for_every_reader(store: ArtifactStore, tmp_path: Path) -> None:
    kept = store.put_artifact("model", {"w": b"kept"})
    doomed = store.put_artifact("model", {"w": payload(100, seed=8), "config.json": b"{}"})
    assert store.delete_artifact(doomed.artifact_id, kind="model").objects.keys() == {"w", "config.json"}
    for read in (
        lambda: store.get_manifest(doomed.artifact_id),
        lambda: store.read_object(doomed.artifact_id, "w"),
        lambda: store.fetch_artifact(doomed.artifact_id, tmp_path / "out"),
        lambda: store.delete_artifact(doomed.artifact_id),
    ):
        with pytest.raises(NotFoundError):
            read()
    assert [m.artifact_id for m in store.list_artifacts("model")] == [kept.artifact_id]
    with pytest.raises(NotFoundError, match="not a dataset"):
        store.delete_artifact(kept.artifact_id, kind="dataset")
    assert store.read_object(kept.artifact_id, "w") == b"kept"
