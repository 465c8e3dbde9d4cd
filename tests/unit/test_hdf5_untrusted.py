"""Untrusted HDF5: nothing outside the file is ever read; bad values and corrupt bytes are InvalidInputError.

Each hostile construct is built with h5py itself (external raw storage, external and
soft links, virtual datasets) pointing at a secret file the test writes; the reader
must refuse the file and the secret's bytes must appear in nothing it returns or raises.
The fuzz test mutates a valid paper-layout file with a seeded generator and requires
every outcome to be a loaded data set or a core error — never h5py's own exceptions.
"""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np
import pytest

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.hdf5 import Hdf5Limits, open_untrusted
from motiflens.motifs import read_meme
from motiflens.sequences import SPLITS, Dataset, Split, load_hdf5, read_fasta, save_hdf5
from motiflens.synthetic import load_synthetic, make_task1

FUZZ_CASES = 3000
SECRET = b"MOTIFLENS_S3_SECRET_KEY=do-not-leak-0123456789abcdef" * 4


def _one_hot(n: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(n, length))]


def _write_valid(path: Path, n: int = 12, length: int = 20) -> None:
    splits = {
        name: Split(X=_one_hot(n, length, i), y=(np.arange(n) % 2).astype(np.float32)[:, None])
        for i, name in enumerate(SPLITS)
    }
    save_hdf5(path, Dataset(**splits))


def _paper_layout_with(path: Path, x_train_writer) -> None:
    """A paper-layout file whose X_train is written by ``x_train_writer(handle)``."""
    with h5py.File(path, "w") as handle:
        for name in SPLITS:
            if name != "train":
                handle.create_dataset(f"X_{name}", data=np.transpose(_one_hot(4, 13), (0, 2, 1)))
            handle.create_dataset(f"Y_{name}", data=np.zeros((4, 1), np.float32))
        x_train_writer(handle)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def _refused(path: Path, expected: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_hdf5(path, origin="hdf5.content")
    message = str(info.value)
    assert message.startswith("hdf5.content: ")
    assert expected in message
    assert SECRET[:20].decode() not in message


def test_external_raw_storage_is_refused_and_its_file_never_read(tmp_path: Path, secret_file: Path):
    # 4 sequences x 4 x 13 float32 = 832 bytes: the secret, repeated, fills it.
    (tmp_path / "big.bin").write_bytes(SECRET * 5)
    path = tmp_path / "external.h5"
    _paper_layout_with(
        path,
        lambda h: h.create_dataset(
            "X_train", shape=(4, 4, 13), dtype="<f4", external=[(str(tmp_path / "big.bin"), 0, 832)]
        ),
    )
    _refused(path, "X_train: uses external raw storage")


def test_external_link_is_refused(tmp_path: Path, secret_file: Path):
    target = tmp_path / "target.h5"
    with h5py.File(target, "w") as handle:
        handle.create_dataset(
            "X", data=np.frombuffer(SECRET[:832].ljust(832, b"x"), np.float32).reshape(4, 4, 13)
        )
    path = tmp_path / "elink.h5"
    _paper_layout_with(path, lambda h: h.__setitem__("X_train", h5py.ExternalLink(str(target), "/X")))
    _refused(path, "X_train: is an external link")


def test_soft_link_is_refused(tmp_path: Path):
    path = tmp_path / "soft.h5"
    _paper_layout_with(path, lambda h: h.__setitem__("X_train", h5py.SoftLink("/X_valid")))
    _refused(path, "X_train: is a soft or user-defined link")


def test_second_hard_link_is_refused(tmp_path: Path):
    path = tmp_path / "hard.h5"
    _paper_layout_with(path, lambda h: h.__setitem__("X_train", h["X_valid"]))
    _refused(path, "a second link to one object")


def test_virtual_dataset_is_refused(tmp_path: Path, secret_file: Path):
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as handle:
        handle.create_dataset("data", data=np.zeros((4, 4, 13), np.float32))
    layout = h5py.VirtualLayout(shape=(4, 4, 13), dtype="f4")
    layout[:] = h5py.VirtualSource(str(source), "data", shape=(4, 4, 13))
    path = tmp_path / "vds.h5"
    _paper_layout_with(path, lambda h: h.create_virtual_dataset("X_train", layout))
    _refused(path, "X_train: a virtual dataset")


@pytest.mark.parametrize(
    ("dtype", "data"),
    [
        ("complex64", np.ones((4, 4, 13), np.complex64)),
        ("compound", np.zeros((4, 4, 13), dtype=[("a", "f4"), ("b", "i4")])),
        ("strings", np.array([[["x"] * 13] * 4] * 4, dtype=h5py.string_dtype())),
    ],
)
def test_non_numeric_dtypes_are_refused(tmp_path: Path, dtype: str, data: np.ndarray):
    path = tmp_path / f"{dtype}.h5"
    _paper_layout_with(path, lambda h: h.create_dataset("X_train", data=data))
    _refused(path, "X_train: dtype")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.nan, "NaN or infinite"),
        (np.inf, "NaN or infinite"),
        (-1.0, "outside [0.0, 1.0]"),
        (3e38, "outside"),
    ],
)
def test_bad_one_hot_values_are_refused_with_their_row(tmp_path: Path, value: float, expected: str):
    X = np.transpose(_one_hot(4, 13), (0, 2, 1)).copy()
    X[2, 1, 5] = value
    path = tmp_path / "values.h5"
    _paper_layout_with(path, lambda h: h.create_dataset("X_train", data=X))
    _refused(path, expected)
    with pytest.raises(InvalidInputError, match="first at row 2"):
        load_hdf5(path)


@pytest.mark.parametrize("label", [7.5, np.nan, -0.5])
def test_labels_outside_zero_one_are_refused(tmp_path: Path, label: float):
    path = tmp_path / "labels.h5"
    _write_valid(path)
    with h5py.File(path, "a") as handle:
        y = handle["Y_valid"][()]
        y[3, 0] = label
        del handle["Y_valid"]
        handle.create_dataset("Y_valid", data=y)
    _refused(path, "Y_valid")


def test_oversized_chunks_and_too_many_objects_are_refused(tmp_path: Path):
    path = tmp_path / "chunks.h5"
    _write_valid(path)
    with h5py.File(path, "a") as handle:
        handle.create_dataset("extra", shape=(10,), maxshape=(None,), chunks=(20_000_000,), dtype="f4")
    _refused(path, "extra: chunks of 80000000 bytes")
    crowded = tmp_path / "crowded.h5"
    _write_valid(crowded)
    with h5py.File(crowded, "a") as handle:
        for index in range(300):
            handle.create_group(f"g{index}")
    _refused(crowded, "more than 256 groups and datasets")


def test_valid_files_still_load_identically(tmp_path: Path):
    path = tmp_path / "valid.h5"
    _write_valid(path)
    dataset = load_hdf5(path)
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(dataset.train.X, np.transpose(handle["X_train"][()], (0, 2, 1)))
    task = make_task1(60, seed=3, sequence_length=80)
    task.save(tmp_path / "task.h5")
    loaded = load_synthetic(tmp_path / "task.h5")
    np.testing.assert_array_equal(loaded.dataset.test.X, task.dataset.test.X)
    np.testing.assert_array_equal(loaded.motifs[0].pwm, task.motifs[0].pwm)


def test_slab_reads_equal_whole_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import motiflens.hdf5 as hdf5

    path = tmp_path / "valid.h5"
    _write_valid(path, n=50, length=30)
    whole = load_hdf5(path)
    monkeypatch.setattr(hdf5, "SLAB_BYTES", 1000)  # 2 rows of 480 bytes per slab
    sliced = load_hdf5(path)
    np.testing.assert_array_equal(whole.train.X, sliced.train.X)
    np.testing.assert_array_equal(whole.valid.y, sliced.valid.y)


def test_declared_sizes_come_from_shapes_without_reading(tmp_path: Path):
    path = tmp_path / "declared.h5"
    with h5py.File(path, "w") as handle:
        # 2^20 x 4 x 1000 float32 = 16 GiB declared, a few KB on disk (never written).
        handle.create_dataset("X_train", shape=(2**20, 4, 1000), dtype="f4", chunks=(64, 4, 1000))
    with open_untrusted(path, limits=Hdf5Limits()) as file:
        assert file.arrays["X_train"].shape == (2**20, 4, 1000)
        assert file.declared_bytes() == 2**20 * 4 * 1000 * 4
    assert path.stat().st_size < 100_000


# --------------------------------------------------------------------------- fuzz


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buffer = bytearray(data)
    kind = rng.integers(0, 4)
    if kind == 0:  # flip bytes
        for position in rng.integers(0, len(buffer), size=int(rng.integers(1, 9))):
            buffer[position] ^= int(rng.integers(1, 256))
    elif kind == 1:  # truncate
        del buffer[int(rng.integers(1, len(buffer))) :]
    elif kind == 2:  # overwrite a run with one value
        start = int(rng.integers(0, len(buffer)))
        buffer[start : start + int(rng.integers(1, 64))] = bytes([int(rng.integers(0, 256))]) * 64
    else:  # an 8-byte field set to a huge or zero value
        start = int(rng.integers(0, max(1, len(buffer) - 8)))
        buffer[start : start + 8] = (2**63 - 1 if rng.random() < 0.5 else 0).to_bytes(8, "little")
    return bytes(buffer)


def test_fuzz_mutated_hdf5_gives_data_or_core_errors(tmp_path: Path):
    source = tmp_path / "seed.h5"
    task = make_task1(30, seed=0, sequence_length=80)
    task.save(source)
    original = source.read_bytes()
    rng = np.random.default_rng(20261201)
    outcomes = {"loaded": 0, "refused": 0}
    for index in range(FUZZ_CASES):
        path = tmp_path / f"m{index % 4}.h5"
        path.write_bytes(_mutate(original, rng))
        try:
            dataset = load_hdf5(path, origin="hdf5.content")
            load_synthetic(path, dataset=dataset, origin="hdf5.content")
            outcomes["loaded"] += 1
        except (InvalidInputError, NotFoundError) as exc:
            assert str(exc).startswith("hdf5.content"), str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100  # the mutations do break files
    assert sum(outcomes.values()) == FUZZ_CASES


def test_fuzz_mutated_meme_and_fasta_give_data_or_invalid_input():
    meme = (
        b"MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n"
        b"Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"
        b"MOTIF M1 one\nletter-probability matrix: alength= 4 w= 3 nsites= 10 E= 0\n"
        b" 0.1 0.2 0.3 0.4\n 0.25 0.25 0.25 0.25\n 1.0 0.0 0.0 0.0\n\n"
    )
    fasta = b">a\nACGTNACGT\n>b desc\nacgtacgta\n"
    rng = np.random.default_rng(7)
    for _ in range(500):
        for data, parse in ((meme, read_meme), (fasta, read_fasta)):
            text = _mutate(data, rng).decode("latin-1")
            try:
                parse(io.StringIO(text))
            except InvalidInputError:
                pass
