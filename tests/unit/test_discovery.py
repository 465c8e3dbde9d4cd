"""TF-MoDISco through motiflens.discovery on constructed attribution maps with known motifs."""

import numpy as np
import pytest

from motiflens.discovery import DiscoverySettings, Pattern, discover_motifs, discovery_bytes, match_patterns
from motiflens.errors import FailedPreconditionError, InvalidInputError
from motiflens.motifs import jaspar_motif, motif_database

EYE = np.eye(4, dtype=np.float32)
LENGTH, PER_MOTIF = 200, 300
PLANTED = {"MA0139.1": "CTCF", "MA0052.3": "MEF2A"}


@pytest.fixture(scope="module")
def planted():
    """600 random sequences, each with one site sampled from CTCF (first 300) or MEF2A (rest).

    The hypothetical map is what a model scoring the PWM would give: log2(p / 0.25) of
    every base at the site's positions, small noise elsewhere.
    """
    rng = np.random.default_rng(0)
    bases = rng.integers(0, 4, (2 * PER_MOTIF, LENGTH))
    hypothetical = rng.normal(0, 0.02, (2 * PER_MOTIF, LENGTH, 4)).astype(np.float32)
    sites = []
    for index, motif_id in enumerate(PLANTED):
        pwm = jaspar_motif(motif_id).pwm
        width = len(pwm)
        for n in range(index * PER_MOTIF, (index + 1) * PER_MOTIF):
            start = int(rng.integers(40, LENGTH - 40 - width))
            bases[n, start : start + width] = [rng.choice(4, p=row) for row in pwm]
            hypothetical[n, start : start + width] += np.log2(np.clip(pwm, 0.01, None) / 0.25)
            sites.append((start, start + width))
    return EYE[bases], hypothetical, sites


@pytest.fixture(scope="module")
def found(planted):
    one_hot, hypothetical, _ = planted
    return discover_motifs(one_hot, hypothetical)


def test_each_planted_motif_is_a_pattern_that_tomtom_names(found, planted):
    _, _, sites = planted
    assert all(isinstance(p, Pattern) for p in found)
    matches = match_patterns(found, motif_database("JASPAR2016"))
    recovered = {}
    for pattern in found:
        hits = matches[pattern.name]
        if pattern.sign == "positive" and hits and hits[0].target_id in PLANTED:
            recovered.setdefault(hits[0].target_id, pattern)  # the largest such pattern
    assert set(recovered) == set(PLANTED), {p.name: [h.target_id for h in matches[p.name][:3]] for p in found}
    for index, motif_id in enumerate(PLANTED):
        pattern = recovered[motif_id]
        assert matches[pattern.name][0].e_value < 1e-3
        # Seqlets lie on the planted sites of the right sequences, in input coordinates.
        on_site = [
            index * PER_MOTIF <= s.sequence < (index + 1) * PER_MOTIF
            and s.start < sites[s.sequence][1]
            and sites[s.sequence][0] < s.end
            for s in pattern.seqlets
        ]
        assert pattern.num_seqlets >= 100 and np.mean(on_site) > 0.95
        # The three matrices have one width; the PWM's rows are base frequencies.
        assert pattern.pwm.shape == pattern.cwm.shape == pattern.hypothetical_cwm.shape
        np.testing.assert_allclose(pattern.pwm.sum(1), 1, atol=1e-6)
        start, end = pattern.trim_span()
        motif = pattern.motif()
        assert motif.motif_id == pattern.name and motif.pwm.shape == (end - start, 4)
        assert motif.nsites == pattern.num_seqlets


def test_discovery_is_deterministic(found, planted):
    one_hot, hypothetical, _ = planted
    again = discover_motifs(one_hot, hypothetical)
    assert [p.name for p in again] == [p.name for p in found]
    for a, b in zip(again, found, strict=True):
        np.testing.assert_array_equal(a.cwm, b.cwm)
        assert a.seqlets == b.seqlets


def test_noise_alone_gives_no_pattern():
    rng = np.random.default_rng(1)
    one_hot = EYE[rng.integers(0, 4, (200, LENGTH))]
    with pytest.raises(FailedPreconditionError, match="no pattern|no seqlets"):
        discover_motifs(one_hot, rng.normal(0, 0.01, one_hot.shape).astype(np.float32))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda x, h: (x, h[:, :100]), "hypothetical"),
        (lambda x, h: (x, np.where(h > 2, np.nan, h)), "hypothetical"),
        (lambda x, h: (x * 0.5, h), "one_hot"),
    ],
)
def test_bad_inputs_name_the_field(planted, change, field):
    one_hot, hypothetical, _ = planted
    with pytest.raises(InvalidInputError) as caught:
        discover_motifs(*change(one_hot[:20], hypothetical[:20]))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (DiscoverySettings(window=LENGTH + 1), "window"),
        (DiscoverySettings(window=10), "window"),
        (DiscoverySettings(max_seqlets=0), "max_seqlets"),
        (DiscoverySettings(target_seqlet_fdr=1.5), "target_seqlet_fdr"),
        (DiscoverySettings(n_leiden_runs=True), "n_leiden_runs"),
    ],
)
def test_bad_settings_name_the_field(settings, field):
    with pytest.raises(InvalidInputError) as caught:
        settings.checked(LENGTH)
    assert caught.value.field == field


def test_memory_estimate_grows_with_the_inputs_and_the_seqlets():
    base = discovery_bytes(1000, LENGTH, DiscoverySettings())
    # The per-sequence part is exactly linear: 10 float64 tracks over the window, x2 temporaries,
    # plus the float32 inputs.
    per_sequence = 2 * 10 * LENGTH * 4 * 8 + 2 * LENGTH * 4 * 4
    assert discovery_bytes(2000, LENGTH, DiscoverySettings()) - base == 1000 * per_sequence
    assert discovery_bytes(1000, LENGTH, DiscoverySettings(max_seqlets=20000)) > base
    # 10,000 sequences of 1,000 nt use the 400-nt window, not the whole length, for the tracks.
    assert discovery_bytes(10_000, 1000, DiscoverySettings()) < discovery_bytes(
        10_000, 1000, DiscoverySettings(window=1000)
    )
