import struct

import numpy as np
import pytest

from motiflens.errors import CancelledError, InvalidInputError
from motiflens.filters import (
    TASK1_GROUND_TRUTH,
    attribution_logo,
    bits_axis,
    filter_pwms,
    filter_scans,
    hits_by_filter,
    information_matrix,
    match_statistics,
    pwm_logo,
    pwm_logo_figure,
)
from motiflens.models import build_model
from motiflens.motifs import jaspar_motif
from motiflens.synthetic import make_task1

MAX_ID = "MA0058.3"
OFFSET = 4  # kernel column where the planted motif starts (width-19 kernel)


def planted_model(motif, *, activation="exponential"):
    """cnn_local whose filter 0 is the motif's natural-log odds; other filters are zero.

    Batch norm is set to the identity, so filter 0's activation is exp(score / 2): the
    square root of the motif's likelihood ratio against a uniform background (the
    square root keeps enough near-consensus sites above half the maximum).
    """
    model = build_model(architecture="cnn_local", input_length=200, num_outputs=1, activation=activation)
    conv = model.get_layer("conv1")
    kernel = np.zeros(conv.kernel.shape, dtype=np.float32)
    log_odds = np.log((motif.pwm + 0.01) / 1.04 / 0.25)
    kernel[OFFSET : OFFSET + motif.width, :, 0] = 0.5 * log_odds
    conv.kernel.assign(kernel)
    bn = model.get_layer("conv1_bn")
    filters = kernel.shape[2]
    bn.set_weights([np.ones(filters), np.zeros(filters), np.zeros(filters), np.ones(filters) - bn.epsilon])
    return model


@pytest.fixture(scope="module")
def task():
    return make_task1(3000, seed=8)


@pytest.fixture(scope="module")
def alignment(task):
    return filter_pwms(planted_model(jaspar_motif(MAX_ID)), task.dataset.test.X)


def test_planted_filter_recovers_its_motif(alignment, task):
    motif = jaspar_motif(MAX_ID)
    planted = alignment.filters[0]
    assert planted.pwm.shape == (19, 4)  # default window = filter width
    assert planted.num_sites >= 30
    recovered = planted.pwm[OFFSET : OFFSET + motif.width]
    # Column-wise Pearson correlation with the true motif is high...
    correlation = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(recovered, motif.pwm, strict=True)])
    assert correlation > 0.9
    # ...and the flanks the filter ignores carry far less information than the motif.
    flank_information = information_matrix(planted.pwm[:OFFSET]).sum(axis=1).mean()
    motif_information = information_matrix(recovered).sum(axis=1).mean()
    assert flank_information < 0.35 < 1.0 < motif_information


def test_zero_filters_align_everywhere_and_look_uniform(alignment, task):
    test = task.dataset.test
    zero = alignment.filters[1]
    assert zero.max_activation == pytest.approx(1.0, abs=1e-3)  # exp(0)
    assert zero.num_sites == len(test) * (200 - 18)  # every window that fits
    np.testing.assert_allclose(zero.pwm, 0.25, atol=0.02)
    assert alignment.scans.shape == (len(test), 200, 24)
    assert [motif.motif_id for motif in alignment.motifs()[:2]] == ["filter0", "filter1"]


def test_threshold_window_and_sites_off_the_end(task):
    model = planted_model(jaspar_motif(MAX_ID))
    X = task.dataset.test.X[:200]
    loose = filter_pwms(model, X, threshold=0.1)
    strict = filter_pwms(model, X, threshold=0.9)
    assert loose.filters[0].num_sites > strict.filters[0].num_sites
    wide = filter_pwms(model, X, window=20)
    assert wide.filters[0].pwm.shape == (20, 4)
    # Zero filters see 200 - 19 full 20-nt windows per sequence (one fewer than width 19).
    assert wide.filters[1].num_sites == 200 * (200 - 19)
    scans = filter_scans(model, X)
    np.testing.assert_allclose(scans, loose.scans)


def test_relu_filter_that_never_fires_has_no_sites(task):
    model = planted_model(jaspar_motif(MAX_ID), activation="relu")
    alignment = filter_pwms(model, task.dataset.test.X[:100])
    assert alignment.filters[1].num_sites == 0  # relu(0) = 0 everywhere
    np.testing.assert_array_equal(alignment.filters[1].pwm, 0.25)


def test_filter_pwms_rejects_bad_input(task):
    model = planted_model(jaspar_motif(MAX_ID))
    with pytest.raises(InvalidInputError, match="takes sequences of 200 nt, got 150"):
        filter_pwms(model, np.zeros((2, 150, 4), np.float32))
    with pytest.raises(InvalidInputError, match="empty batch"):
        filter_pwms(model, np.zeros((0, 200, 4), np.float32))
    with pytest.raises(InvalidInputError, match="threshold"):
        filter_pwms(model, task.dataset.test.X[:2], threshold=1.5)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_logos_are_pngs(tmp_path):
    motif = jaspar_motif(MAX_ID)
    pwm_logo(motif.pwm, tmp_path / "max.png", title="MAX")
    width, height = png_size(tmp_path / "max.png")
    assert width > 100 and height > 100
    attribution_logo(np.random.default_rng(0).normal(size=(50, 4)), tmp_path / "attr.png")
    assert png_size(tmp_path / "attr.png")[0] > width  # 50 positions are wider than 10
    with pytest.raises(InvalidInputError, match=r"expected shape \(W, 4\)"):
        pwm_logo(np.zeros((4, 5)), tmp_path / "bad.png")


def _visible_ticks(axis) -> tuple[list[float], list[str]]:
    """The y ticks inside the limits and their labels, after a draw."""
    axis.figure.canvas.draw()
    low, high = axis.get_ylim()
    ticks = [
        (tick, label.get_text())
        for tick, label in zip(axis.get_yticks(), axis.get_yticklabels(), strict=True)
    ]
    inside = [(float(tick), text) for tick, text in ticks if low - 1e-9 <= tick <= high + 1e-9]
    return [tick for tick, _ in inside], [text for _, text in inside]


def test_pwm_logos_tick_the_bits_axis_at_whole_bits():
    import matplotlib.pyplot as plt

    figure = pwm_logo_figure(jaspar_motif(MAX_ID).pwm, title="MAX")
    try:
        (axis,) = figure.axes
        assert axis.get_ylabel() == "bits" and axis.get_ylim() == (0.0, 2.0)
        # matplotlib's default here is 0.0, 0.5, 1.0, 1.5, 2.0.
        assert _visible_ticks(axis) == ([0.0, 1.0, 2.0], ["0", "1", "2"])
    finally:
        plt.close(figure)
    # Whatever the limits, only integers are ticked (none when the range holds no integer).
    for ylim, expected in [
        ((0, 5.3), [0, 1, 2, 3, 4, 5]),
        ((0, 12), [0, 2, 4, 6, 8, 10, 12]),
        ((0, 1), [0, 1]),
        ((0, 0.4), [0]),
        ((0.2, 0.9), []),
    ]:
        figure, axis = plt.subplots(figsize=(3, 1.8))
        try:
            bits_axis(axis, ylim=ylim)
            ticks, labels = _visible_ticks(axis)
            assert ticks == expected, ylim
            assert labels == [str(tick) for tick in expected] and axis.get_ylabel() == "bits"
        finally:
            plt.close(figure)


def test_information_matrix_heights():
    heights = information_matrix(np.array([[1, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0]]))
    np.testing.assert_allclose(heights, [[2, 0, 0, 0], [0, 0, 0, 0], [0.5, 0.5, 0, 0]])


def test_match_statistics_edge_cases():
    # Only filter 0 matches: 1/F, not 0.
    stats = match_statistics({0: ["MA0058.3"]}, 32)
    assert stats.match_fraction == pytest.approx(1 / 32)
    assert stats.match_any_fraction == pytest.approx(1 / 32)
    assert stats.covered_tfs == ["MAX"] and stats.filter_tfs == {0: ["MAX"]}
    # Several hits to one TF count once; a hit outside the ground truth counts as "any" only.
    stats = match_statistics({3: ["MA0058.1", "MA0058.3", "MA0058.2"], 5: ["MA0004.1"]}, 10)
    assert stats.match_fraction == pytest.approx(0.1)
    assert stats.match_any_fraction == pytest.approx(0.2)
    # No hits at all; the noise motif alone does not count as a JASPAR match.
    stats = match_statistics({}, 8)
    assert stats.match_fraction == 0 and stats.match_any_fraction == 0 and stats.covered_tfs == []
    assert match_statistics({2: ["MA0615.1"]}, 8).match_any_fraction == 0
    # A filter matching two TFs counts once in the fraction, for both TFs in coverage.
    stats = match_statistics({1: ["MA0079.3", "MA0095.2"]}, 4)
    assert stats.match_fraction == 0.25 and stats.covered_tfs == ["SP1", "YY1"]
    with pytest.raises(InvalidInputError, match="filter index 9 outside 0..3"):
        match_statistics({9: ["MA0079.3"]}, 4)
    assert set(TASK1_GROUND_TRUTH) == {
        "Arid3a",
        "CEBPB",
        "FOSL1",
        "Gabpa",
        "MAFK",
        "MAX",
        "MEF2A",
        "NFYB",
        "SP1",
        "SRF",
        "STAT1",
        "YY1",
    }


def test_hits_by_filter_groups_query_ids():
    class Hit:
        def __init__(self, query_id, target_id):
            self.query_id, self.target_id = query_id, target_id

    grouped = hits_by_filter([Hit("filter0", "A"), Hit("filter12", "B"), Hit("filter0", "C")])
    assert grouped == {0: ["A", "C"], 12: ["B"]}
    with pytest.raises(InvalidInputError, match="expected 'filter<index>'"):
        hits_by_filter([Hit("motif3", "A")])


def test_planted_filter_pwm_has_its_motif_as_tomtom_best_hit(alignment):
    """The paper's pipeline on a known answer: filter PWM → trim → Tomtom vs JASPAR 2016."""
    from motiflens.motifs import motif_database
    from motiflens.tomtom import best_hits, tomtom

    query = alignment.filters[0].to_motif().trim()
    hits = tomtom([query], motif_database("JASPAR2016"))
    best = best_hits(hits)
    assert best["filter0"].target_id in TASK1_GROUND_TRUTH["MAX"]
    assert best["filter0"].e_value < 1e-3
    stats = match_statistics(hits_by_filter(hits), len(alignment.filters))
    assert stats.filter_tfs == {0: ["MAX"]}
    assert stats.match_fraction == pytest.approx(1 / 24)


def test_filter_pwms_uses_given_scans_and_stops_when_asked(task):
    model = planted_model(jaspar_motif(MAX_ID))
    X = task.dataset.test.X[:100]
    scans = filter_scans(model, X)
    given = filter_pwms(model, X, scans=scans)
    computed = filter_pwms(model, X)
    for a, b in zip(given.filters, computed.filters, strict=True):
        np.testing.assert_array_equal(a.pwm, b.pwm)
        assert a.num_sites == b.num_sites
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) > 3

    with pytest.raises(CancelledError, match="filter_pwms: abandoned after 3 of 24 filters"):
        filter_pwms(model, X, scans=scans, should_stop=should_stop)
    with pytest.raises(InvalidInputError, match=r"scans: expected shape \(100, 200, 24\)"):
        filter_pwms(model, X, scans=scans[:, :, :5])
