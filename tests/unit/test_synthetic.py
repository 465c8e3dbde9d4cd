"""Tests of the Task 1 and Task 3 generators against PAPER-NOTES.md, "Synthetic data generation"."""

import h5py
import numpy as np
import pytest

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.motifs import jaspar_motif
from motiflens.sequences import SPLITS, load_hdf5
from motiflens.synthetic import (
    IMPLANT_COLUMNS,
    MOTIF_COUNT_PROBABILITIES,
    SIMILARITY_THRESHOLD,
    TASK1_MOTIF_COUNTS,
    TASK1_MOTIF_IDS,
    TASK3_CORE_MOTIF_IDS,
    TASK3_FAMILY_PREFIXES,
    TASK3_MOTIF_COUNTS,
    load_synthetic,
    make_task1,
    make_task3,
    motif_similarity,
    task3_background_candidates,
)

NUM_SEQUENCES = 10000


@pytest.fixture(scope="module")
def task1():
    return make_task1(NUM_SEQUENCES, seed=1)


@pytest.fixture(scope="module")
def task3():
    return make_task3(NUM_SEQUENCES, seed=1)


@pytest.fixture(params=["task1", "task3"])
def task(request, task1, task3):
    return {"task1": task1, "task3": task3}[request.param]


def _widths(task):
    return np.array([motif.width for motif in task.motifs])


def _motifs_per_sequence(task, split):
    return np.bincount(task.implants[split][:, 0], minlength=len(task.dataset.split(split)))


# --------------------------------------------------------------------------- shapes and splits


def test_shapes_dtypes_and_split_sizes(task):
    num_labels = 12 if task.name == "task1" else 1
    sizes = {"train": 7000, "valid": 1000, "test": 2000}
    for split in SPLITS:
        data = task.dataset.split(split)
        assert data.X.shape == (sizes[split], 200, 4) and data.X.dtype == np.float32
        assert data.model.shape == data.X.shape and data.model.dtype == np.float32
        assert data.y.shape == (sizes[split], num_labels) and data.y.dtype == np.float32
        table = task.implants[split]
        assert table.dtype == np.int32 and table.shape[1] == len(IMPLANT_COLUMNS)
    assert len(task.label_names) == num_labels


def test_split_sizes_round_train_and_valid_and_give_test_the_rest():
    task = make_task1(999, seed=0)
    assert [len(task.dataset.split(split)) for split in SPLITS] == [699, 100, 200]


def test_pools_hold_forward_motifs_then_their_reverse_complements(task1, task3):
    assert [motif.motif_id for motif in task1.motifs[:12]] == list(TASK1_MOTIF_IDS.values())
    assert task1.label_names == list(TASK1_MOTIF_IDS)
    for forward, reverse in zip(task1.motifs[:12], task1.motifs[12:], strict=True):
        assert reverse.motif_id == forward.motif_id + "(rc)"
        np.testing.assert_array_equal(reverse.pwm, forward.pwm[::-1, ::-1])
    np.testing.assert_array_equal(task1.motif_labels, np.tile(np.arange(12), 2))

    assert len(task3.motifs) == 110
    assert [motif.motif_id for motif in task3.motifs[:5]] == list(TASK3_CORE_MOTIF_IDS.values())
    assert [motif.motif_id for motif in task3.motifs[5:10]] == [
        f"{i}(rc)" for i in TASK3_CORE_MOTIF_IDS.values()
    ]
    background_ids = [motif.motif_id for motif in task3.motifs[10:60]]
    assert len(set(background_ids)) == 50
    assert [motif.motif_id for motif in task3.motifs[60:]] == [f"{i}(rc)" for i in background_ids]
    candidate_ids = {motif.motif_id for motif in task3_background_candidates()}
    assert set(background_ids) <= candidate_ids
    np.testing.assert_array_equal(task3.motif_labels, np.r_[np.zeros(10), -np.ones(100)])


# --------------------------------------------------------------------------- motif counts and labels


@pytest.mark.parametrize(("name", "counts"), [("task1", TASK1_MOTIF_COUNTS), ("task3", TASK3_MOTIF_COUNTS)])
def test_motifs_per_sequence_follow_the_specified_distribution(name, counts, task1, task3):
    task = {"task1": task1, "task3": task3}[name]
    per_sequence = np.concatenate([_motifs_per_sequence(task, split) for split in SPLITS])
    assert per_sequence.size == NUM_SEQUENCES
    assert set(np.unique(per_sequence)) <= set(counts)
    observed = np.array([(per_sequence == k).mean() for k in counts])
    # 2 percentage points is over 4 binomial standard deviations at N = 10,000.
    np.testing.assert_allclose(observed, MOTIF_COUNT_PROBABILITIES, atol=0.02)


def test_task1_labels_are_the_tfs_of_the_implanted_motifs(task1):
    for split in SPLITS:
        table = task1.implants[split]
        expected = np.zeros_like(task1.dataset.split(split).y)
        expected[table[:, 0], task1.motif_labels[table[:, 2]]] = 1.0
        np.testing.assert_array_equal(task1.dataset.split(split).y, expected)
    # With up to 5 draws from 24 motifs, a TF is present in about 14.7% of sequences.
    y = np.concatenate([task1.dataset.split(split).y for split in SPLITS])
    assert np.all(np.abs(y.mean(axis=0) - 0.147) < 0.02)


def test_task3_positives_draw_only_core_motifs_and_classes_are_balanced(task3):
    total_positive = 0
    negative_core_draws = negative_draws = 0
    for split in SPLITS:
        y = task3.dataset.split(split).y[:, 0]
        table = task3.implants[split]
        label_of_row = y[table[:, 0]]
        # Label 1 iff drawn from the core pool (indices 0-9).
        assert np.all(table[label_of_row == 1, 2] < 10)
        has_background_motif = np.zeros(y.size, dtype=bool)
        has_background_motif[table[table[:, 2] >= 10, 0]] = True
        assert np.all(y[has_background_motif] == 0)
        negative_rows = table[label_of_row == 0]
        negative_core_draws += int((negative_rows[:, 2] < 10).sum())
        negative_draws += len(negative_rows)
        total_positive += int(y.sum())
    assert total_positive == NUM_SEQUENCES // 2
    # Negatives draw uniformly from all 110 motifs, 10 of them core.
    assert abs(negative_core_draws / negative_draws - 10 / 110) < 0.01


def test_task3_classes_are_shuffled_across_splits(task3):
    # Unshuffled, train would be all positive; each split's positive fraction is near 0.5.
    for split in SPLITS:
        assert abs(task3.dataset.split(split).y.mean() - 0.5) < 0.05


# --------------------------------------------------------------------------- ground-truth model


def test_model_columns_sum_to_one_and_background_is_uniform(task):
    widths = _widths(task)
    for split in SPLITS:
        model = task.dataset.split(split).model
        np.testing.assert_allclose(model.sum(axis=-1), 1.0, atol=1e-6)
        table = task.implants[split]
        covered = np.zeros(model.shape[:2], dtype=bool)
        for sequence, start, motif, _ in table:
            covered[sequence, start : start + widths[motif]] = True
        assert np.all(model[~covered] == 0.25)
        # Motifs never overlap: covered positions equal the summed implant widths.
        assert covered.sum() == widths[table[:, 2]].sum()


def test_model_rows_at_each_implant_equal_the_implanted_pwm(task):
    widths = _widths(task)
    for split in SPLITS:
        model = task.dataset.split(split).model
        table = task.implants[split]
        assert np.all(table[:, 1] >= 0)
        assert np.all(table[:, 1] + widths[table[:, 2]] <= 200)
        for index, motif in enumerate(task.motifs):
            rows = table[table[:, 2] == index]
            windows = model[rows[:, 0, None], rows[:, 1, None] + np.arange(motif.width)]
            np.testing.assert_array_equal(
                windows, np.broadcast_to(motif.pwm.astype(np.float32), windows.shape)
            )
            expected_strand = int(motif.motif_id.endswith("(rc)"))
            assert np.all(rows[:, 3] == expected_strand)


def test_implant_tables_are_sorted_by_sequence_then_start(task):
    for split in SPLITS:
        table = task.implants[split].astype(np.int64)
        keys = table[:, 0] * 1000 + table[:, 1]
        assert np.all(np.diff(keys) > 0)


def test_bases_are_one_hot_and_follow_the_model(task1):
    data = task1.dataset.train
    np.testing.assert_array_equal(data.X.sum(axis=-1), 1.0)
    assert np.isin(data.X, (0.0, 1.0)).all()
    # A base of probability 0 is never drawn.
    assert not np.any((data.X == 1) & (data.model == 0))
    background = np.all(data.model == 0.25, axis=-1)
    frequencies = data.X[background].mean(axis=0)
    # ~1.1 million background bases: the standard error is about 0.0004.
    np.testing.assert_allclose(frequencies, 0.25, atol=0.003)


def test_implanted_windows_match_the_consensus_far_more_often_than_background(task):
    rng = np.random.default_rng(0)
    hits = total = expected = 0.0
    background_hits = background_total = 0
    for split in SPLITS:
        data = task.dataset.split(split)
        codes = data.X.argmax(axis=-1)
        table = task.implants[split]
        for index, motif in enumerate(task.motifs):
            rows = table[table[:, 2] == index]
            consensus = motif.pwm.argmax(axis=1)
            offsets = np.arange(motif.width)
            windows = codes[rows[:, 0, None], rows[:, 1, None] + offsets]
            hits += (windows == consensus).all(axis=1).sum()
            total += len(rows)
            expected += len(rows) * np.prod(motif.pwm.max(axis=1))
            # Same sequences, random windows of the same width lying wholly in background.
            starts = rng.integers(0, data.X.shape[1] - motif.width + 1, size=len(rows))
            in_background = (data.model[rows[:, 0, None], starts[:, None] + offsets] == 0.25).all(axis=(1, 2))
            random_windows = codes[rows[in_background, 0, None], starts[in_background, None] + offsets]
            background_hits += int((random_windows == consensus).all(axis=1).sum())
            background_total += int(in_background.sum())
    implant_rate = hits / total
    expected_rate = expected / total
    # Binomial: 5 standard deviations around the rate the PWMs predict (about 0.07).
    assert abs(implant_rate - expected_rate) < 5 * np.sqrt(expected_rate * (1 - expected_rate) / total)
    assert background_total > 10000
    # Chance is 0.25**W <= 2.4e-4; +1 makes the bound hold even with no background hit.
    assert implant_rate > 50 * (background_hits + 1) / background_total


# --------------------------------------------------------------------------- determinism and I/O


@pytest.mark.parametrize("make", [make_task1, make_task3])
def test_same_seed_gives_byte_identical_files_and_another_seed_differs(make, tmp_path):
    make(400, seed=5).save(tmp_path / "a.h5")
    make(400, seed=5).save(tmp_path / "b.h5")
    make(400, seed=6).save(tmp_path / "c.h5")
    first, second, other = ((tmp_path / name).read_bytes() for name in ("a.h5", "b.h5", "c.h5"))
    assert first == second
    assert first != other
    a, c = load_synthetic(tmp_path / "a.h5"), load_synthetic(tmp_path / "c.h5")
    assert not np.array_equal(a.dataset.train.X, c.dataset.train.X)
    assert not np.array_equal(a.implants["train"], c.implants["train"])


def test_task3_seed_picks_the_background_motifs():
    ids_a = [motif.motif_id for motif in make_task3(40, seed=5).motifs]
    ids_b = [motif.motif_id for motif in make_task3(40, seed=5).motifs]
    ids_c = [motif.motif_id for motif in make_task3(40, seed=6).motifs]
    assert ids_a == ids_b
    assert ids_a[:10] == ids_c[:10] and ids_a[10:] != ids_c[10:]


@pytest.mark.parametrize("make", [make_task1, make_task3])
def test_save_load_round_trip(make, tmp_path):
    task = make(300, seed=2)
    path = tmp_path / "task.h5"
    task.save(path)
    loaded = load_synthetic(path)
    assert loaded.name == task.name
    assert loaded.label_names == task.label_names
    assert loaded.motifs == task.motifs
    np.testing.assert_array_equal(loaded.motif_labels, task.motif_labels)
    assert loaded.dataset.attrs == task.dataset.attrs
    assert loaded.dataset.attrs["seed"] == 2
    for split in SPLITS:
        original, read = task.dataset.split(split), loaded.dataset.split(split)
        np.testing.assert_array_equal(read.X, original.X)
        np.testing.assert_array_equal(read.y, original.y)
        np.testing.assert_array_equal(read.model, original.model)
        np.testing.assert_array_equal(loaded.implants[split], task.implants[split])


def test_saved_file_uses_the_papers_layout(tmp_path):
    task = make_task1(300, seed=2)
    path = tmp_path / "task1.h5"
    task.save(path)
    with h5py.File(path, "r") as handle:
        assert handle["X_train"].shape == (210, 4, 200)
        assert handle["model_test"].shape == (60, 4, 200)
    dataset = load_hdf5(path)
    assert dataset.layout == "(N, 4, L)"
    np.testing.assert_array_equal(dataset.valid.X, task.dataset.valid.X)
    np.testing.assert_array_equal(dataset.test.model, task.dataset.test.model)


def test_load_synthetic_rejects_a_plain_dataset_file(tmp_path):
    from motiflens.sequences import save_hdf5

    path = tmp_path / "plain.h5"
    save_hdf5(path, make_task1(50, seed=0).dataset)
    with pytest.raises(NotFoundError, match="implants_train"):
        load_synthetic(path)


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_sequences": 5}, "too few"),
        ({"split_fractions": (0.7, 0.2, 0.2)}, "summing to 1"),
        ({"split_fractions": (0.8, 0.2)}, "3 fractions"),
        ({"split_fractions": (1.1, -0.1, 0.0)}, "positive"),
        ({"sequence_length": 79}, "expected >= 80"),
        ({"seed": -1}, "seed"),
        ({"num_sequences": 100.0}, "integer"),
    ],
)
def test_task1_rejects_bad_arguments(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        make_task1(**{"num_sequences": 100, **kwargs})


def test_task1_accepts_the_shortest_sequence_that_fits_five_motifs():
    task = make_task1(50, seed=0, sequence_length=80)
    assert task.dataset.train.X.shape[1] == 80


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"num_sequences": 101}, "even"), ({"sequence_length": 146}, "expected >= 147")],
)
def test_task3_rejects_bad_arguments(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        make_task3(**{"num_sequences": 100, **kwargs})


# --------------------------------------------------------------------------- background candidates


def test_background_candidates_exclude_core_look_alikes():
    candidates = task3_background_candidates()
    assert len(candidates) == 418
    core = [jaspar_motif(motif_id) for motif_id in TASK3_CORE_MOTIF_IDS.values()]
    prefixes = tuple(prefix for family in TASK3_FAMILY_PREFIXES.values() for prefix in family)
    names = {motif.name for motif in candidates}
    for motif in candidates:
        assert not any(part.upper().startswith(prefixes) for part in motif.name.split("::"))
        assert max(motif_similarity(reference, motif) for reference in core) <= SIMILARITY_THRESHOLD
    # Family members and look-alikes from other families are gone; unrelated TFs stay.
    assert not names & {"SP1", "KLF5", "ELK1", "CEBPA", "USF1", "YY2", "EGR1", "ZNF740", "HLF"}
    assert {"CTCF", "FOXA1", "GATA2", "REST"} <= names


def test_motif_similarity_is_one_for_a_motif_and_its_reverse_complement():
    sp1 = jaspar_motif("MA0079.3")
    assert motif_similarity(sp1, sp1) == pytest.approx(1.0)
    assert motif_similarity(sp1, sp1.reverse_complement()) == pytest.approx(1.0)
    # An AT-hook motif and the GC box have little in common.
    assert motif_similarity(sp1, jaspar_motif("MA0151.1")) < 0.5


def test_default_sizes_are_the_papers():
    import inspect

    assert inspect.signature(make_task1).parameters["num_sequences"].default == 30000
    assert inspect.signature(make_task3).parameters["num_sequences"].default == 20000
