"""TrainerService treats every upload and every field as hostile (over the wire, real server).

- HDF5 uploads that would make the server read another file (external raw storage,
  external links, virtual datasets) are INVALID_ARGUMENT and the named file's bytes
  appear in no response, error or stored data set;
- a tiny upload declaring gigabytes is RESOURCE_EXHAUSTED before anything is read,
  and leaves no temporary folder behind;
- seeded mutations of a valid upload never give INTERNAL or UNKNOWN;
- Train refuses widths and numbers that would exhaust memory or poison training;
- names are bounded and printable, and errors never echo a huge value back.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc
import h5py
import numpy as np
import pytest
from motiflens_client.api import pb, trainer_pb2

from motiflens.errors import CancelledError
from motiflens.synthetic import make_task1
from services.common.store import open_store
from services.trainer.datasets import UPLOAD_DIR_PREFIX, create_synthetic, list_datasets
from tests.service.test_trainer import RPC_TIMEOUT, create_task1, trainer_server
from tests.unit.test_hdf5_untrusted import SECRET, _mutate, _paper_layout_with

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory):
    with trainer_server((tmp_path_factory.mktemp("boundary") / "store").as_uri()) as running:
        yield running


def _upload(stub, content: bytes, name: str = "upload") -> grpc.RpcError | pb.DatasetInfo:
    request = pb.CreateDatasetRequest(name=name, hdf5=pb.Hdf5Import(content=content))
    try:
        return stub.CreateDataset(request, timeout=RPC_TIMEOUT).dataset
    except grpc.RpcError as error:
        return error


def _hostile_files(directory: Path) -> dict[str, Path]:
    secret = directory / "secret.bin"
    secret.write_bytes(SECRET * 5)
    secret.chmod(0o600)
    target = directory / "target.h5"
    with h5py.File(target, "w") as handle:
        handle.create_dataset("X", data=np.frombuffer((SECRET * 5)[:832], np.float32).reshape(4, 4, 13))
    layout = h5py.VirtualLayout(shape=(4, 4, 13), dtype="f4")
    layout[:] = h5py.VirtualSource(str(target), "X", shape=(4, 4, 13))
    writers = {
        "external_storage": lambda h: h.create_dataset(
            "X_train", shape=(4, 4, 13), dtype="<f4", external=[(str(secret), 0, 832)]
        ),
        "external_link": lambda h: h.__setitem__("X_train", h5py.ExternalLink(str(target), "/X")),
        "virtual_dataset": lambda h: h.create_virtual_dataset("X_train", layout),
    }
    files = {}
    for name, writer in writers.items():
        files[name] = directory / f"{name}.h5"
        _paper_layout_with(files[name], writer)
    return files


def test_uploads_naming_other_files_are_refused_and_leak_nothing(trainer, tmp_path: Path):
    before = len(trainer.stub.ListDatasets(pb.ListDatasetsRequest(), timeout=RPC_TIMEOUT).datasets)
    expected = {
        "external_storage": "X_train: uses external raw storage",
        "external_link": "X_train: is an external link",
        "virtual_dataset": "X_train: a virtual dataset",
    }
    for name, path in _hostile_files(tmp_path).items():
        error = _upload(trainer.stub, path.read_bytes(), name=name)
        assert isinstance(error, grpc.RpcError), name
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith("hdf5.content: ")
        assert expected[name] in error.details()
        everything = error.details().encode() + b"".join(
            value if isinstance(value, bytes) else value.encode()
            for _, value in error.trailing_metadata() or ()
        )
        assert SECRET[:16] not in everything
    after = trainer.stub.ListDatasets(pb.ListDatasetsRequest(), timeout=RPC_TIMEOUT).datasets
    assert len(after) == before


def test_tiny_upload_declaring_gigabytes_is_refused_before_reading(trainer, tmp_path: Path):
    path = tmp_path / "declared.h5"
    # 1.25 M sequences x 4 x 200 float32 = 3.7 GiB declared, never written: a few KB.
    _paper_layout_with(
        path,
        lambda h: h.create_dataset(
            "X_train", shape=(1_250_000, 4, 200), dtype="f4", chunks=(256, 4, 200), compression="gzip"
        ),
    )
    content = path.read_bytes()
    assert len(content) < 100_000
    error = _upload(trainer.stub, content)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "hdf5.content: needs about" in error.details()
    assert "MOTIFLENS_MEMORY_BUDGET_MB" in error.details()
    leftovers = list(Path(tempfile.gettempdir()).glob(f"{UPLOAD_DIR_PREFIX}{os.getpid()}-*"))
    assert leftovers == []


def test_bad_values_in_uploads_are_invalid_argument(trainer, tmp_path: Path):
    task = make_task1(60, seed=1, sequence_length=80)
    task.save(tmp_path / "task.h5")
    cases = {"nan": np.nan, "negative": -1.0, "huge": 3e38}
    for name, value in cases.items():
        path = tmp_path / f"{name}.h5"
        path.write_bytes((tmp_path / "task.h5").read_bytes())
        with h5py.File(path, "a") as handle:
            X = handle["X_test"][()]
            X[1, 2, 3] = value
            del handle["X_test"]
            handle.create_dataset("X_test", data=X)
        error = _upload(trainer.stub, path.read_bytes())
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, name
        assert error.details().startswith("hdf5.content: X_test: "), error.details()
        assert "first at row 1" in error.details()


def test_mutated_uploads_never_give_internal(trainer, tmp_path: Path):
    task = make_task1(30, seed=0, sequence_length=80)
    task.save(tmp_path / "seed.h5")
    original = (tmp_path / "seed.h5").read_bytes()
    rng = np.random.default_rng(12)
    codes: dict[str, int] = {}
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; server is in-process
    for _ in range(150):
        result = _upload(trainer.stub, _mutate(original, rng))
        code = "OK" if isinstance(result, pb.DatasetInfo) else result.code().name
        codes[code] = codes.get(code, 0) + 1
    assert set(codes) <= {"OK", "INVALID_ARGUMENT"}, codes
    assert codes.get("INVALID_ARGUMENT", 0) > 20
    # A mutated size field must not make the server allocate what it declares.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 512 * 1024
    assert create_task1(trainer.stub, 100).num_train == 70  # still serving


@pytest.mark.parametrize(
    ("model", "training", "code", "field"),
    [
        (
            pb.ModelSpec(architecture="cnn_local", width_multiplier=100),
            None,
            "INVALID_ARGUMENT",
            "width_multiplier",
        ),
        (
            pb.ModelSpec(architecture="basset", width_multiplier=16),
            None,
            "RESOURCE_EXHAUSTED",
            "width_multiplier",
        ),
        (
            pb.ModelSpec(
                architecture="cnn_local", activation="scaled_exponential", activation_params={"scale": np.nan}
            ),
            None,
            "INVALID_ARGUMENT",
            "model.activation_params['scale']",
        ),
        (
            pb.ModelSpec(architecture="cnn_local", initializer="random_normal", initializer_std=np.inf),
            None,
            "INVALID_ARGUMENT",
            "model.initializer_std",
        ),
        (
            pb.ModelSpec(architecture="cnn_local"),
            pb.TrainingSpec(learning_rate=np.inf),
            "INVALID_ARGUMENT",
            "training.learning_rate",
        ),
        (
            pb.ModelSpec(architecture="cnn_local"),
            pb.TrainingSpec(lr_decay_factor=np.nan),
            "INVALID_ARGUMENT",
            "training.lr_decay_factor",
        ),
    ],
)
def test_train_refuses_sizes_and_numbers_that_would_break_training(trainer, model, training, code, field):
    dataset_id = create_task1(trainer.stub, 200).dataset_id
    jobs_before = len(trainer.stub.ListJobs(pb.ListJobsRequest(), timeout=RPC_TIMEOUT).jobs)
    request = pb.TrainRequest(
        dataset_id=dataset_id, model=model, training=training or pb.TrainingSpec(epochs=1)
    )
    with pytest.raises(grpc.RpcError) as info:
        trainer.stub.Train(request, timeout=RPC_TIMEOUT)
    assert info.value.code().name == code
    assert field in info.value.details()
    assert len(trainer.stub.ListJobs(pb.ListJobsRequest(), timeout=RPC_TIMEOUT).jobs) == jobs_before


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x" * (4 * 1024 * 1024 - 64), "characters; at most 200"),
        ("x" * 201, "201 characters; at most 200"),
        ("bad\x00name", "non-printable character '\\x00' at position 3"),
        ("two\nlines", "non-printable character '\\n'"),
        ("\x1b[31mred", "non-printable character '\\x1b'"),
    ],
)
def test_names_are_bounded_and_printable(trainer, name: str, expected: str):
    request = pb.CreateDatasetRequest(
        name=name, synthetic=pb.SyntheticSpec(task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=100)
    )
    with pytest.raises(grpc.RpcError) as info:
        trainer.stub.CreateDataset(request, timeout=RPC_TIMEOUT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("name: ")
    assert expected in info.value.details()
    assert len(info.value.details()) < 300
    listed = trainer.stub.ListDatasets(pb.ListDatasetsRequest(), timeout=RPC_TIMEOUT).datasets
    assert all(len(d.name) <= 200 for d in listed)


def test_malformed_ids_are_not_echoed_in_full(trainer):
    for call, request in (
        (trainer.stub.GetJob, pb.GetJobRequest(job_id="j" * 10_000)),
        (trainer.stub.GetDataset, pb.GetDatasetRequest(dataset_id="../" * 3000)),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=RPC_TIMEOUT)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "(10000 characters)" in info.value.details() or "(9000 characters)" in info.value.details()
        assert len(info.value.details()) < 300


def _mount_tiny_tmpfs(mountpoint: Path) -> subprocess.CompletedProcess:
    """Mount a 512 KiB tmpfs at ``mountpoint`` (needs mount privileges in this namespace)."""
    mountpoint.mkdir(exist_ok=True)
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )


def check_a_full_disk_is_resource_exhausted(root: Path) -> None:
    """Mount a tiny tmpfs under ``root`` and run the disk-full checks on a trainer whose store is on it.

    Runs in whatever mount namespace it is called in: the test calls it directly as root, or
    in a child process under ``unshare --user --map-root-user --mount`` (no privileges needed),
    where the tmpfs and everything the trainer writes stay inside the child's namespace.
    """
    tiny = root / "tiny"
    mounted = _mount_tiny_tmpfs(tiny)
    assert mounted.returncode == 0, mounted.stderr.decode()
    try:
        with trainer_server((tiny / "store").as_uri()) as trainer:
            request = pb.CreateDatasetRequest(
                synthetic=pb.SyntheticSpec(task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=600)
            )
            with pytest.raises(grpc.RpcError) as info:
                trainer.stub.CreateDataset(request, timeout=RPC_TIMEOUT)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, info.value  # retrying won't help
            assert "is full" in info.value.details()
            artifacts = tiny / "store" / "artifacts"
            assert not artifacts.exists() or list(artifacts.iterdir()) == []
            assert (
                list(trainer.stub.ListDatasets(pb.ListDatasetsRequest(), timeout=RPC_TIMEOUT).datasets) == []
            )
            # Once there is room again (a small data set fits), the same trainer stores it.
            small = pb.CreateDatasetRequest(
                synthetic=pb.SyntheticSpec(
                    task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=20, sequence_length=80
                )
            )
            assert trainer.stub.CreateDataset(small, timeout=RPC_TIMEOUT).dataset.num_train == 14
    finally:
        subprocess.run(["umount", "-l", str(tiny)], check=False, capture_output=True)


def _unprivileged_mount_namespace_works() -> bool:
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True, check=False
    )
    return probe.returncode == 0


def test_a_full_disk_is_resource_exhausted_and_leaves_nothing_behind(tmp_path: Path):
    if os.geteuid() == 0:
        check_a_full_disk_is_resource_exhausted(tmp_path)
        return
    if shutil.which("unshare") is None or not _unprivileged_mount_namespace_works():
        pytest.skip("no mount privileges and no unprivileged mount namespace (unshare) here")
    # Not root: run the same checks in a child that owns a private mount namespace.
    code = (
        "import sys; from pathlib import Path; "
        "from tests.service.test_trainer_boundary import check_a_full_disk_is_resource_exhausted as check; "
        "check(Path(sys.argv[1])); print('full-disk checks passed')"
    )
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "full-disk checks passed" in result.stdout


def test_synthetic_generation_abandoned_by_its_caller_stores_nothing(tmp_path: Path):
    store = open_store((tmp_path / "store").as_uri())
    for calls in (0, 1):  # gone after generating, and after writing the file
        asked = []
        with pytest.raises(CancelledError, match="synthetic task1: abandoned before it was stored"):
            create_synthetic(
                store,
                "task1",
                num_sequences=200,
                seed=1,
                should_stop=lambda asked=asked, calls=calls: asked.append(1) or len(asked) > calls,
            )
        assert len(asked) == calls + 1
    assert list_datasets(store) == []
    assert not [p for p in Path(tempfile.gettempdir()).glob(f"{UPLOAD_DIR_PREFIX}{os.getpid()}-*")]
    kept = create_synthetic(store, "task1", num_sequences=200, seed=1, should_stop=lambda: False)
    assert [info.dataset_id for info in list_datasets(store)] == [kept.dataset_id]
