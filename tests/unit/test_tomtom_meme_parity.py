"""Known answers: motiflens Tomtom against MEME Tomtom 5.5.6's own published outputs.

The files in tests/data/meme_tomtom (see its README) are MEME's example outputs with
the default distance (``-dist ed``) against JASPAR 2018 CORE non-redundant (1,404
motifs). Every E <= 1 hit MEME printed is ours too and no other, the best hits agree,
offsets, overlaps and strands agree, and p-values agree within 10 % (median within
0.1 %): what is left is memelite's binned median of each query column's scores.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from motiflens.motifs import Motif, motif_database, read_meme
from motiflens.tomtom import tomtom, with_pseudocount
from motiflens.tomtom_parity import as_rows, parity, read_tomtom_tsv

DATA = Path(__file__).resolve().parents[1] / "data" / "meme_tomtom"


@pytest.fixture(scope="module")
def jaspar2018():
    database = motif_database("JASPAR2018", tax_group=None)
    assert len(database) == 1404
    return database


@pytest.mark.parametrize(
    ("queries", "published", "hits"),
    [
        ("streme_queries.meme", "streme_vs_jaspar2018_ed.tsv", 217),
        ("meme_queries.meme", "meme_vs_jaspar2018_ed.tsv", 126),
    ],
)
def test_euclidean_hits_are_meme_tomtoms(jaspar2018, queries, published, hits):
    meme = read_tomtom_tsv(DATA / published)
    assert len(meme) == hits
    ours = tomtom(read_meme(DATA / queries), jaspar2018, evalue_threshold=1.0)  # distance: ed, the default
    result = parity(meme, as_rows(ours), threshold=1.0)
    assert (result.recall, result.precision, result.best_hit_agreement) == (1.0, 1.0, 1.0)
    assert result.same_alignment == 1.0
    assert 0.999 < statistics.median(result.p_ratios) < 1.001
    assert 0.9 < min(result.p_ratios) and max(result.p_ratios) < 1.1


def _scored_motifs(kind: str) -> dict[str, tuple[float, np.ndarray]]:
    """MEME's motifs as it scored them (tomtom.xml excerpt): id -> (nsites, (W, 4) probabilities)."""
    root = ElementTree.parse(DATA / "streme_scored_motifs.xml").getroot()
    motifs = {}
    for motif in root.findall(f"{kind}/motif"):
        rows = [[float(pos.get(base)) for base in "ACGT"] for pos in motif.findall("pos")]
        motifs[motif.get("id")] = (float(motif.get("nsites")), np.array(rows))
    return motifs


def test_queries_and_targets_get_memes_pseudocount(jaspar2018):
    """MEME adds -motif-pseudo 0.1 x background, weighted by nsites, to both sides before scoring."""
    scored_queries = _scored_motifs("queries")
    queries = {motif.motif_id: motif for motif in read_meme(DATA / "streme_queries.meme")}
    assert len(scored_queries) == len(queries) == 8
    for motif_id, (nsites, scored) in scored_queries.items():
        assert queries[motif_id].nsites == nsites
        np.testing.assert_allclose(with_pseudocount(queries[motif_id]), scored, rtol=2e-5, atol=1e-9)
        assert np.abs(queries[motif_id].pwm - scored).max() > 1e-4  # the pseudocount is visible
    scored_targets = _scored_motifs("targets")
    assert len(scored_targets) == 40
    for motif_id, (nsites, scored) in scored_targets.items():
        target = jaspar2018[motif_id]
        assert target.nsites == nsites  # JASPAR's count total, as in its MEME file
        # JASPAR's MEME file rounds probabilities to 6 decimals; the counts are exact here.
        np.testing.assert_allclose(with_pseudocount(target), scored, rtol=1e-4, atol=1e-6)
    # A motif without nsites counts as 20 sites, MEME's default.
    bare = Motif("bare", "", np.eye(4)[[0, 1]])
    np.testing.assert_allclose(with_pseudocount(bare)[0], [(20 + 0.025) / 20.1, *([0.025 / 20.1] * 3)])


@pytest.mark.parametrize("distance", ["ed", "pearson"])
@pytest.mark.parametrize("queries", ["filter_like", "noisy_jaspar"])
def test_filter_like_and_noisy_jaspar_queries_agree_with_the_reference(queries, distance):
    """E < 0.1 hits equal to a MEME-faithful reference's (see tests/data/meme_tomtom/README.md)."""
    reference = read_tomtom_tsv(DATA / f"{queries}_vs_jaspar2016_{distance}.reference.tsv")
    assert len(reference) > 300
    ours = tomtom(read_meme(DATA / f"{queries}.meme"), motif_database("JASPAR2016"), distance=distance)
    result = parity(reference, as_rows(ours), threshold=0.1)
    assert (result.recall, result.precision, result.best_hit_agreement) == (1.0, 1.0, 1.0)
    assert result.same_alignment == 1.0
    ratios = sorted(result.p_ratios)
    assert 0.998 < statistics.median(ratios) < 1.002
    # 90 % of the p-values within 1.5 %; the rest are the binned medians' one-bin moves.
    assert 0.99 < ratios[len(ratios) // 20] and ratios[-len(ratios) // 20] < 1.015
