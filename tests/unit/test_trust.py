"""Trust scores (motiflens.trust) against known answers."""

import keras
import numpy as np
import pytest
from scipy.stats import spearmanr

from motiflens.motifs import information_content, jaspar_motif, jaspar_motifs
from motiflens.trust import filter_match, rank_agreement, reverse_complement, score_trust, shuffled_columns

EYE = np.eye(4, dtype=np.float32)
LENGTH, WIDTH = 100, 19
CTCF = "MA0139.1"


def test_rank_agreement_is_spearman_per_row():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 30))
    b = a + rng.normal(scale=1.0, size=a.shape)
    b[0] = np.round(b[0])  # ties
    a[1, :10] = 0.0  # ties on the other side
    expected = [spearmanr(x, y).statistic for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(rank_agreement(a, b), expected, atol=1e-12)
    np.testing.assert_allclose(rank_agreement(a, a), 1.0)
    np.testing.assert_allclose(rank_agreement(a, -a), -1.0)
    assert rank_agreement(a, np.zeros_like(a)).tolist() == [0.0] * 6  # nothing to rank


def test_reverse_complement_of_one_hot():
    X = EYE[[[0, 0, 1, 2]]]  # AACG
    np.testing.assert_array_equal(reverse_complement(X), EYE[[[1, 2, 3, 3]]])  # CGTT
    Y = EYE[np.random.default_rng(1).integers(0, 4, (3, 50))]
    np.testing.assert_array_equal(reverse_complement(reverse_complement(Y)), Y)


def test_shuffled_columns_keep_information_but_not_order():
    motifs = [jaspar_motif(CTCF), jaspar_motif("MA0052.3")]
    shuffled = shuffled_columns(motifs, seed=3)
    for motif, other in zip(motifs, shuffled, strict=True):
        assert other.motif_id == f"shuffled:{motif.motif_id}"
        np.testing.assert_allclose(
            np.sort(information_content(other.pwm)), np.sort(information_content(motif.pwm))
        )
        assert not np.array_equal(other.pwm, motif.pwm)
    assert [m.pwm.tolist() for m in shuffled_columns(motifs, seed=3)] == [m.pwm.tolist() for m in shuffled]


def test_database_motifs_match_and_their_shuffles_mostly_do_not():
    database = jaspar_motifs("JASPAR2016", "CORE", "vertebrates")
    queries = [m for m in database if len(m.pwm) >= 12][:20]
    observed, chance = filter_match(queries, database, num_shuffles=3, seed=0)
    assert observed == 1.0
    assert chance < 0.6


def detector(activation: str) -> keras.Model:
    """Two filters, CTCF and its reverse complement (log-odds, scaled) -> activation -> mean -> logit."""
    inputs = keras.Input((LENGTH, 4))
    conv = keras.layers.Conv1D(2, WIDTH, padding="same", name="conv1")
    x = keras.layers.Activation(activation)(conv(inputs))
    x = keras.layers.Flatten()(keras.layers.AveragePooling1D(LENGTH)(x))
    logits = keras.layers.Dense(1, name="logits")
    model = keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(logits(x)))
    log_odds = np.log2(np.clip(jaspar_motif(CTCF).pwm, 0.01, None) / 0.25).astype(np.float32)
    kernel = np.stack([log_odds, log_odds[::-1, ::-1]], axis=-1)  # (19, 4, 2)
    best = kernel.max(axis=1).sum(axis=0)
    conv.set_weights([0.3 * kernel, -0.18 * best])
    logits.set_weights([np.full((2, 1), LENGTH / 20, np.float32), np.array([-2.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(5)
    pwm = jaspar_motif(CTCF).pwm
    bases = rng.integers(0, 4, (40, LENGTH))
    for n in range(len(bases)):
        start = int(rng.integers(10, LENGTH - 10 - WIDTH))
        site = [rng.choice(4, p=row) for row in pwm]
        bases[n, start : start + WIDTH] = site if n % 2 else [3 - b for b in site[::-1]]  # both strands
    return EYE[bases]


def test_a_strand_symmetric_motif_detector_scores_as_trustworthy(planted):
    database = jaspar_motifs("JASPAR2016", "CORE", "vertebrates")
    scores = score_trust(
        detector("exponential"), planted, database=database, num_references=5, num_shuffles=3
    )
    assert scores.num_sequences == len(planted)
    assert scores.filter_match == 1.0 and scores.filter_match_excess == pytest.approx(
        1.0 - scores.filter_match_chance
    )
    assert scores.filter_match_chance < 0.5
    # The filters are strand-symmetric, so x and its reverse complement differ in their maps only
    # as much as two reference sets do (the RC draws its own shuffles): the noise floor.
    assert scores.reference_stability > 0.5
    assert scores.reverse_complement_stability > scores.reference_stability - 0.05
    assert scores.mean_method_agreement > 0.5
    assert set(scores.method_agreement) == {"saliency~ism", "saliency~deepshap", "ism~deepshap"}
    for name, values in scores.per_sequence.items():
        assert values.shape == (len(planted),), name
        assert np.all(np.abs(values) <= 1.0 + 1e-12)
    assert 0.0 <= scores.off_simplex_fraction <= 1.0
    summary = scores.summary()
    assert "per_sequence" not in summary and summary["num_sequences"] == len(planted)


def test_a_random_model_scores_below_the_motif_detector(planted):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH, 4))
    x = keras.layers.Activation("relu")(keras.layers.Conv1D(8, WIDTH, padding="same", name="conv1")(inputs))
    x = keras.layers.Flatten()(keras.layers.MaxPooling1D(10)(x))
    logits = keras.layers.Dense(1, name="logits")(keras.layers.Dense(16, activation=None)(x))
    random_model = keras.Model(inputs, keras.layers.Activation("sigmoid", name="predictions")(logits))
    database = jaspar_motifs("JASPAR2016", "CORE", "vertebrates")
    good = score_trust(detector("exponential"), planted, database=database, num_references=5, num_shuffles=2)
    bad = score_trust(random_model, planted, database=database, num_references=5, num_shuffles=2)
    assert good.filter_match_excess > bad.filter_match_excess
    assert good.reverse_complement_stability > bad.reverse_complement_stability
    assert good.mean_method_agreement > bad.mean_method_agreement
