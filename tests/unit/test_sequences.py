import io
from collections import Counter

import h5py
import numpy as np
import pytest

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.sequences import (
    Dataset,
    Split,
    decode,
    dinucleotide_counts,
    dinucleotide_shuffle,
    load_hdf5,
    one_hot,
    read_fasta,
    reverse_complement,
    reverse_complement_string,
    save_hdf5,
    write_fasta,
)


def random_sequences(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_one_hot_pinned_values_and_order():
    X = one_hot(["ACGTN", "acgtn"])
    assert X.shape == (2, 5, 4) and X.dtype == np.float32
    expected = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(X[0], expected)
    np.testing.assert_array_equal(X[1], expected)  # lower case is the same


def test_one_hot_uniform_n_encoding():
    X = one_hot("ANA", n_encoding="uniform")
    np.testing.assert_array_equal(X[0, 1], [0.25, 0.25, 0.25, 0.25])
    assert X[0].sum() == pytest.approx(3.0)
    assert decode(X) == ["ANA"]


def test_decode_round_trip():
    sequences = random_sequences(20, 57) + ["ACGTNNACGT" * 5 + "ACGTACG"]
    sequences[0] = "N" + sequences[0][1:]
    assert decode(one_hot(sequences[:-1])) == sequences[:-1]
    assert decode(one_hot([sequences[-1]])) == [sequences[-1]]


@pytest.mark.parametrize(
    ("sequences", "message"),
    [
        (["ACGT", "ACXT"], r"sequences\[1\]: invalid character 'X' at position 2"),
        (["ACGT", "ACG-"], r"sequences\[1\]: invalid character '-' at position 3"),
        (["ACGTé"], r"sequences\[0\]: invalid character 'é' at position 4"),
        (["ACGT", "ACG"], r"sequences\[1\]: expected length 4 .* got 3"),
        ([], "expected at least one sequence"),
        ([""], "empty sequence"),
    ],
)
def test_one_hot_rejects_bad_input(sequences, message):
    with pytest.raises(InvalidInputError, match=message):
        one_hot(sequences)


def test_invalid_character_message_lists_accepted_alphabet():
    with pytest.raises(InvalidInputError, match="accepted: A, C, G, T, N"):
        one_hot("ACGU")


def test_reverse_complement_matches_string_definition():
    sequences = random_sequences(10, 31, seed=3)
    X_rc = reverse_complement(one_hot(sequences))
    assert decode(X_rc) == [reverse_complement_string(s) for s in sequences]
    assert reverse_complement_string("AACGTN") == "NACGTT"
    np.testing.assert_array_equal(reverse_complement(X_rc), one_hot(sequences))


def test_dinucleotide_shuffle_preserves_counts_exactly():
    sequences = random_sequences(25, 200, seed=1) + ["AAAAAAAAAACCCCCCCCCCGT", "ACNNGTACNA"]
    for group in (sequences[:25], sequences[25:26], sequences[26:]):
        X = one_hot(group)
        shuffles = dinucleotide_shuffle(X, num_shuffles=4, seed=7)
        assert shuffles.shape == (len(group), 4, X.shape[1], 4)
        for i, sequence in enumerate(group):
            original = Counter(zip(sequence, sequence[1:], strict=False))
            for k in range(4):
                shuffled = decode(shuffles[i, k])[0]
                assert Counter(zip(shuffled, shuffled[1:], strict=False)) == original
                assert shuffled[0] == sequence[0] and shuffled[-1] == sequence[-1]


def test_dinucleotide_shuffle_actually_shuffles_and_is_seeded():
    X = one_hot(random_sequences(20, 200, seed=2))
    a = dinucleotide_shuffle(X, num_shuffles=2, seed=11)
    b = dinucleotide_shuffle(X, num_shuffles=2, seed=11)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(dinucleotide_counts(a[:, 0]), dinucleotide_counts(X))
    # A random 200-mer has an astronomically large number of Eulerian rearrangements:
    # identity must be rare, and positions must mostly change.
    identical = (a[:, 0] == X).all(axis=(1, 2))
    assert identical.sum() == 0
    same_base = (a[:, 0].argmax(-1) == X.argmax(-1)).mean()
    assert 0.15 < same_base < 0.40  # about 1/4 expected for a shuffle
    assert not np.array_equal(a[:, 0], a[:, 1])


def test_dinucleotide_shuffle_rejects_soft_input():
    with pytest.raises(InvalidInputError, match="hard one-hot"):
        dinucleotide_shuffle(np.full((1, 10, 4), 0.25, np.float32))


def test_fasta_read_write_round_trip(tmp_path):
    path = tmp_path / "x.fa"
    names = ["seq one", "two"]
    sequences = ["ACGT" * 30, "acgtn" * 5]
    write_fasta(path, names, sequences)
    records = read_fasta(path)
    assert records.names == names and records.sequences == sequences
    text = ">a\nACGT\nAC\n\n>b desc\nGG\n"
    records = read_fasta(io.StringIO(text))
    assert records.sequences == ["ACGTAC", "GG"] and records.names == ["a", "b desc"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ACGT\n>a\nACGT\n", r"<stream>:1: sequence text before the first '>' header"),
        (">a\n>b\nACGT\n", r"<stream>:2: record 'a' has no sequence"),
        (">a\nACGT\n>b\n", r"record 'b' has no sequence"),
        (">a\nACGT\nACZT\n", r"<stream>:3: invalid character 'Z' at column 3 in record 'a'"),
        ("", "no FASTA record found"),
    ],
)
def test_fasta_rejects_malformed_input(text, message):
    with pytest.raises(InvalidInputError, match=message):
        read_fasta(io.StringIO(text))


def make_dataset(length=50, targets=3, with_model=True):
    rng = np.random.default_rng(0)

    def split(n):
        X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))]
        y = rng.integers(0, 2, (n, targets)).astype(np.float32)
        return Split(X, y, X * 0.5 + 0.125 if with_model else None)

    return Dataset(split(30), split(5), split(7))


def test_hdf5_round_trip_and_layout(tmp_path):
    dataset = make_dataset()
    path = tmp_path / "d.h5"
    save_hdf5(path, dataset, attrs={"task": "test"})
    with h5py.File(path) as handle:
        assert handle["X_train"].shape == (30, 4, 50)  # the authors' layout
    loaded = load_hdf5(path)
    assert loaded.layout == "(N, 4, L)"
    assert loaded.attrs["task"] == "test"
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(loaded.split(name).X, dataset.split(name).X)
        np.testing.assert_array_equal(loaded.split(name).y, dataset.split(name).y)
        np.testing.assert_array_equal(loaded.split(name).model, dataset.split(name).model)
    assert not list(tmp_path.glob("*.partial"))


def test_hdf5_accepts_n_l_4_layout_and_reverse_complement(tmp_path):
    dataset = make_dataset(with_model=False)
    path = tmp_path / "nl4.h5"
    with h5py.File(path, "w") as handle:
        for name in ("train", "valid", "test"):
            handle[f"X_{name}"] = dataset.split(name).X
            handle[f"Y_{name}"] = dataset.split(name).y.astype(np.int8)
    loaded = load_hdf5(path, reverse_complement=True)
    assert loaded.layout == "(N, L, 4)"
    assert len(loaded.train) == 60 and len(loaded.valid) == 5 and len(loaded.test) == 7
    np.testing.assert_array_equal(loaded.train.X[30:], reverse_complement(dataset.train.X))
    np.testing.assert_array_equal(loaded.train.y[30:], dataset.train.y)
    assert loaded.train.y.dtype == np.float32


def test_hdf5_errors(tmp_path):
    with pytest.raises(NotFoundError, match="no such HDF5 file"):
        load_hdf5(tmp_path / "absent.h5")
    bad = tmp_path / "not.h5"
    bad.write_text("hello")
    with pytest.raises(InvalidInputError, match="not a readable HDF5 file"):
        load_hdf5(bad)
    dataset = make_dataset(with_model=False)
    missing = tmp_path / "missing.h5"
    with h5py.File(missing, "w") as handle:
        for name in ("train", "valid"):
            handle[f"X_{name}"] = dataset.split(name).X
            handle[f"Y_{name}"] = dataset.split(name).y
        handle["X_test"] = dataset.test.X
    with pytest.raises(NotFoundError, match="missing key 'Y_test'"):
        load_hdf5(missing)
    mismatched = tmp_path / "mismatched.h5"
    with h5py.File(mismatched, "w") as handle:
        for name in ("train", "valid", "test"):
            handle[f"X_{name}"] = dataset.split(name).X
            handle[f"Y_{name}"] = dataset.split(name).y[:3]
    with pytest.raises(InvalidInputError, match="X_train has 30 sequences but Y_train has 3 rows"):
        load_hdf5(mismatched)
    wrong_shape = tmp_path / "wrong.h5"
    with h5py.File(wrong_shape, "w") as handle:
        for name in ("train", "valid", "test"):
            handle[f"X_{name}"] = np.zeros((3, 5, 7), np.float32)
            handle[f"Y_{name}"] = np.zeros((3, 1), np.float32)
    with pytest.raises(InvalidInputError, match=r"expected shape \(N, 4, L\) or \(N, L, 4\)"):
        load_hdf5(wrong_shape)


def test_loads_the_papers_irf1_file(irf1_path):
    dataset = load_hdf5(irf1_path)
    assert dataset.layout == "(N, 4, L)"
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (2724, 389, 779)
    assert dataset.sequence_length == 400 and dataset.num_targets == 1
    assert dataset.train.X.dtype == np.float32 and dataset.train.y.dtype == np.float32
    # Real one-hot DNA: every column holds at most one 1.
    assert set(np.unique(dataset.test.X.sum(-1))) <= {0.0, 1.0}
    assert 0.3 < dataset.train.y.mean() < 0.7
    augmented = load_hdf5(irf1_path, reverse_complement=True)
    assert len(augmented.train) == 2 * 2724
