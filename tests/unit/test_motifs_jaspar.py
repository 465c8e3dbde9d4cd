"""Tests of the JASPAR access layer in motiflens.motifs (pyjaspar ships the releases; no network)."""

import numpy as np
import pytest

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.motifs import Motif, jaspar_motif, jaspar_motifs, jaspar_releases


def test_jaspar2016_core_vertebrates_has_519_motifs():
    motifs = jaspar_motifs()
    assert len(motifs) == 519
    assert len({motif.motif_id for motif in motifs}) == 519
    for motif in motifs:
        assert motif.pwm.shape == (motif.width, 4) and motif.pwm.dtype == np.float64
        np.testing.assert_allclose(motif.pwm.sum(axis=1), 1.0, atol=1e-12)
    assert jaspar_motifs() is motifs  # cached


def test_arid3a_pwm_is_the_count_matrix_over_its_column_totals():
    motif = jaspar_motif("MA0151.1")
    assert (motif.motif_id, motif.name, motif.width) == ("MA0151.1", "Arid3a", 6)
    np.testing.assert_allclose(motif.pwm.sum(axis=1), 1.0, atol=1e-12)
    # JASPAR counts of position 3 are A 1, C 9, G 0, T 17 (27 sites), no pseudocount.
    np.testing.assert_allclose(motif.pwm[2], np.array([1, 9, 0, 17]) / 27)
    assert motif.consensus == "ATTAAA"
    assert motif == next(m for m in jaspar_motifs() if m.motif_id == "MA0151.1")


def test_reverse_complement_flips_rows_and_bases_and_is_its_own_inverse():
    motif = jaspar_motif("MA0151.1")
    reverse = motif.reverse_complement()
    assert reverse.motif_id == "MA0151.1(rc)" and reverse.name == "Arid3a"
    np.testing.assert_array_equal(reverse.pwm, motif.pwm[::-1, ::-1])
    assert reverse.consensus == "TTTAAT"
    assert reverse != motif
    assert reverse.reverse_complement() == motif


def test_pwm_is_read_only_and_validated():
    motif = jaspar_motif("MA0151.1")
    with pytest.raises(ValueError):
        motif.pwm[0, 0] = 0.5
    with pytest.raises(InvalidInputError, match="row 1"):
        Motif("x", "x", np.array([[1.0, 0, 0, 0], [0.5, 0.2, 0, 0]]))
    with pytest.raises(InvalidInputError, match=r"shape \(W, 4\)"):
        Motif("x", "x", np.ones((3, 5)) / 5)


def test_unknown_motif_id_raises_not_found():
    with pytest.raises(NotFoundError, match=r"'MA9999\.1'.*JASPAR2016"):
        jaspar_motif("MA9999.1")


def test_unknown_release_lists_the_known_ones():
    assert {"JASPAR2014", "JASPAR2016", "JASPAR2024"} <= set(jaspar_releases())
    with pytest.raises(InvalidInputError) as error:
        jaspar_motifs(release="JASPAR1999")
    for release in jaspar_releases():
        assert release in str(error.value)
    with pytest.raises(InvalidInputError, match="JASPAR2016"):
        jaspar_motif("MA0151.1", release="JASPAR2015")


def test_other_releases_are_reachable():
    # MA0151.1 is unchanged across releases; the 2024 release holds more motifs than 2016.
    np.testing.assert_array_equal(jaspar_motif("MA0151.1", "JASPAR2024").pwm, jaspar_motif("MA0151.1").pwm)
    assert len(jaspar_motifs("JASPAR2024")) > 519
