"""Tests of motiflens.tomtom: MEME Tomtom statistics (-dist ed, the default, and pearson) via memelite."""

import io
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from motiflens.errors import InvalidInputError
from motiflens.motifs import Motif, jaspar_motif, motif_database, read_meme
from motiflens.tomtom import (
    TSV_COLUMNS,
    TomtomHit,
    best_hits,
    format_tomtom_tsv,
    main,
    tomtom,
    tomtom_table,
    write_tomtom_tsv,
)

DATA = Path(__file__).resolve().parents[1] / "data"
N_JASPAR2016 = 519

# JASPAR 2016 motifs whose best hit is not themselves: each ties with the motif
# named here (same p-value, same full overlap; Pearson correlation ignores how
# sharp a column is, so near-copies score exactly alike after binning), and MEME
# breaks such ties by target id. A MEME-faithful reference gives the same ties.
TIED_SELF_HITS = {
    "MA0713.1": "MA0681.1",  # Phox2a / PHOX2B, TAATTTAATTA
    "MA0717.1": "MA0654.1",  # RAX2 / ISX
    "MA0720.1": "MA0654.1",  # Shox2 / ISX, CTAATTAA
    "MA0805.1": "MA0803.1",  # TBX1 / TBX15, AGGTGTGA
    "MA0829.1": "MA0828.1",  # Srebf1 / SREBF2(var.2), ATCACGTGAC
    "MA0836.1": "MA0466.2",  # CEBPG / CEBPB, ATTGCGCAAT
    "MA0837.1": "MA0466.2",  # CEBPE / CEBPB
    "MA0849.1": "MA0042.2",  # FOXO6 / FOXI1, GTAAACA
    "MA0856.1": "MA0512.2",  # RXRG / Rxra, GGGGTCAAAGGTCA
    "MA0872.1": "MA0815.1",  # TFAP2A(var.3) / TFAP2C(var.3), TGCCCTGAGGGCA
}


@pytest.fixture(scope="module")
def jaspar2016():
    return motif_database("JASPAR2016")


#: Ties of the self matches per distance: Euclidean distance sees how sharp a column
#: is, so under it every motif is strictly its own best hit.
TIED_SELF_HITS_BY_DISTANCE = {"ed": {}, "pearson": TIED_SELF_HITS}


@pytest.fixture(scope="module", params=["ed", "pearson"])
def self_table(jaspar2016, request):
    """All 519 JASPAR 2016 CORE vertebrate motifs against their own database, in one call."""
    return tomtom_table(jaspar2016.motifs, jaspar2016, distance=request.param)


# ---------------------------------------------------------------------------
# Recovery of known motifs
# ---------------------------------------------------------------------------


def test_table_shapes_and_types(self_table):
    n = N_JASPAR2016
    assert self_table.strand_p_values.shape == (n, n, 2)
    for name in ("p_values", "e_values", "q_values"):
        values = getattr(self_table, name)
        assert values.shape == (n, n) and values.dtype == np.float64
        assert np.all((values >= 0) & np.isfinite(values))
    assert self_table.offsets.dtype == np.int64 and self_table.overlaps.dtype == np.int64
    assert set(np.unique(self_table.orientations)) == {"+", "-"}
    assert np.all(self_table.p_values <= 1) and np.all(self_table.q_values <= 1)


def test_every_jaspar2016_motif_finds_itself(self_table, jaspar2016):
    ids = jaspar2016.ids
    diagonal = np.arange(N_JASPAR2016)
    self_p = self_table.p_values[diagonal, diagonal]
    assert self_table.e_values[diagonal, diagonal].max() < 1e-3
    # Nothing beats a motif's match with itself; the row minimum is the self match.
    np.testing.assert_array_equal(self_p, self_table.p_values.min(axis=1))
    assert np.all(self_table.orientations[diagonal, diagonal] == "+")
    assert np.all(self_table.offsets[diagonal, diagonal] == 0)
    np.testing.assert_array_equal(self_table.overlaps[diagonal, diagonal], [m.width for m in jaspar2016])

    best = best_hits(self_table.hits())
    assert set(best) == set(ids)
    not_self = {query: hit.target_id for query, hit in best.items() if hit.target_id != query}
    assert not_self == TIED_SELF_HITS_BY_DISTANCE[self_table.distance]
    for query, target in not_self.items():
        i, j = ids.index(query), ids.index(target)
        assert self_table.p_values[i, j] == self_table.p_values[i, i]
        assert self_table.overlaps[i, j] == self_table.overlaps[i, i] == jaspar2016[query].width
        assert target < query  # MEME's tie-break: strand, then target id


def test_reverse_complements_are_found_on_the_minus_strand(jaspar2016):
    ids = ["MA0151.1", "MA0079.3", "MA0052.3", "MA0095.2", "MA0062.2", "MA0083.3", "MA0058.3", "MA0477.1"]
    queries = [jaspar2016[motif_id].reverse_complement() for motif_id in ids]
    best = best_hits(tomtom(queries, jaspar2016))
    for motif_id in ids:
        hit = best[motif_id + "(rc)"]
        target = jaspar2016[motif_id]
        assert (hit.target_id, hit.orientation, hit.offset, hit.overlap) == (motif_id, "-", 0, target.width)
        assert hit.target_consensus == target.reverse_complement().consensus
        assert hit.e_value < 1e-3


def test_offsets_follow_meme_definition(jaspar2016):
    sp1 = jaspar2016["MA0079.3"]  # width 11
    crop = Motif("crop", "", sp1.pwm[1:8])  # target columns 1..7
    arid3a = jaspar2016["MA0151.1"]  # width 6
    padded = Motif("padded", "", np.vstack([np.full((2, 4), 0.25), arid3a.pwm, np.full((1, 4), 0.25)]))
    best = best_hits(tomtom([crop, crop.reverse_complement(), padded], jaspar2016))
    # Offset = target column facing the query's first column.
    assert (best["crop"].target_id, best["crop"].orientation) == ("MA0079.3", "+")
    assert (best["crop"].offset, best["crop"].overlap) == (1, 7)
    # On the minus strand the target is reverse-complemented: columns 1..7 become 3..9.
    assert (best["crop(rc)"].target_id, best["crop(rc)"].orientation) == ("MA0079.3", "-")
    assert (best["crop(rc)"].offset, best["crop(rc)"].overlap) == (3, 7)
    # Query column 2 faces target column 0: the query starts 2 columns left of the target.
    assert (best["padded"].target_id, best["padded"].offset, best["padded"].overlap) == ("MA0151.1", -2, 6)
    assert best["padded"].query_consensus == padded.consensus


@pytest.mark.parametrize("distance", ["ed", "pearson"])
def test_random_pwms_rarely_hit(jaspar2016, distance):
    rng = np.random.default_rng(2021)
    queries = [Motif(f"random{i}", "", rng.dirichlet(np.ones(4), size=10)) for i in range(300)]
    table = tomtom_table(queries, jaspar2016, distance=distance)
    with_hit = np.any(table.e_values <= 0.1, axis=1)
    # E = 0.1 means 0.1 chance hits expected per query, so about 10% at most.
    assert with_hit.mean() <= 0.10
    assert np.all(table.e_values.min(axis=1) > 1e-4)


# ---------------------------------------------------------------------------
# Statistics, order and thresholds
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_table(jaspar2016):
    rng = np.random.default_rng(7)
    noisy = []
    for motif_id in ("MA0079.3", "MA0466.2", "MA0137.3", "MA0095.2"):
        pwm = jaspar2016[motif_id].pwm
        noisy.append(
            Motif(f"noisy_{motif_id}", "", 0.7 * pwm + 0.3 * rng.dirichlet(np.ones(4), size=len(pwm)))
        )
    return tomtom_table(noisy, jaspar2016)


def test_evalue_is_p_times_the_number_of_targets(small_table):
    np.testing.assert_array_equal(small_table.e_values, small_table.p_values * N_JASPAR2016)
    for hit in small_table.hits(evalue_threshold=10):
        assert hit.e_value == hit.p_value * N_JASPAR2016
    # The reported strand is the better one.
    np.testing.assert_array_equal(small_table.p_values, small_table.strand_p_values.min(axis=2))


def _direct_benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """q_i = min over p_j >= p_i of p_j * m / #{k : p_k <= p_j}."""
    m = len(p_values)
    ranks = np.array([(p_values <= p).sum() for p in p_values])
    fdr = p_values * m / ranks
    return np.array([min(1.0, fdr[p_values >= p].min()) for p in p_values])


def test_qvalues_are_benjamini_hochberg_over_both_strand_entries(small_table):
    # MEME ranks each target's + and - entries separately: 2N p-values per query.
    for row in range(len(small_table.queries)):
        entries = small_table.strand_p_values[row]
        direct = _direct_benjamini_hochberg(entries.ravel()).reshape(entries.shape)
        strand = (small_table.orientations[row] == "-").astype(int)
        expected = direct[np.arange(N_JASPAR2016), strand]
        np.testing.assert_allclose(small_table.q_values[row], expected, rtol=1e-12)
    assert np.all(small_table.q_values >= small_table.p_values)


def test_hits_are_sorted_and_thresholds_filter(small_table):
    hits = small_table.hits(evalue_threshold=10)
    queries = [q.motif_id for q in small_table.queries]
    assert [h.query_id for h in hits] == sorted((h.query_id for h in hits), key=queries.index)
    for query in queries:
        mine = [h for h in hits if h.query_id == query]
        keys = [(h.p_value, -h.overlap) for h in mine]
        assert keys == sorted(keys)
        assert len({h.target_id for h in mine}) == len(mine)
        row = queries.index(query)
        assert len(mine) == int((small_table.e_values[row] <= 10).sum())
    strict = small_table.hits(evalue_threshold=1e-3)
    assert strict and all(h.e_value <= 1e-3 for h in strict)
    assert {(h.query_id, h.target_id) for h in strict} < {(h.query_id, h.target_id) for h in hits}
    by_q = small_table.hits(qvalue_threshold=0.01)
    assert by_q and all(h.q_value <= 0.01 for h in by_q)
    assert len(by_q) == int((small_table.q_values <= 0.01).sum())
    assert small_table.hits(evalue_threshold=0) == []


def test_tomtom_equals_the_table_hits(small_table, jaspar2016):
    assert tomtom(small_table.queries, jaspar2016) == small_table.hits()
    # A plain sequence of motifs works as a database too.
    assert tomtom(small_table.queries, list(jaspar2016)) == small_table.hits()


def test_bad_arguments_are_rejected(jaspar2016):
    query = [jaspar_motif("MA0151.1")]
    for kwargs, field in [
        ({"evalue_threshold": -1}, "evalue_threshold"),
        ({"evalue_threshold": float("nan")}, "evalue_threshold"),
        ({"qvalue_threshold": 1.5}, "qvalue_threshold"),
    ]:
        with pytest.raises(InvalidInputError, match=field):
            tomtom(query, jaspar2016, **kwargs)
    with pytest.raises(InvalidInputError, match="at least one motif"):
        tomtom([], jaspar2016)
    with pytest.raises(InvalidInputError, match="duplicate query id"):
        tomtom(query * 2, jaspar2016)
    with pytest.raises(InvalidInputError, match="single Motif"):
        tomtom(query[0], jaspar2016)
    with pytest.raises(InvalidInputError, match="at least one target"):
        tomtom(query, [])
    with pytest.raises(InvalidInputError, match="distance: expected one of ed, pearson"):
        tomtom(query, jaspar2016, distance="sandelin")


def test_small_databases_log_a_warning(caplog, jaspar2016):
    with caplog.at_level(logging.WARNING, logger="motiflens.tomtom"):
        tomtom([jaspar2016["MA0151.1"]], jaspar2016.motifs[:30])
    assert "30 target motifs" in caplog.text


# MEME 5.5.6's documented example (doc/examples/tomtom_example_output_files/tomtom.tsv):
# tomtom -min-overlap 5 -dist pearson -evalue -thresh 10 STRGGTCAN.meme JASPAR2018_CORE_non-redundant.meme
# Rows: target, offset, p-value, overlap, orientation. Query as printed in MEME's tomtom.xml.
STRGGTCAN = """\
MEME version 4

MOTIF STRGGTCAN MEME-1
letter-probability matrix: alength= 4 w= 9 nsites= 28 E= 0
0.11256 0.28436 0.49052 0.11256
0.11256 0.00948 0.00948 0.868481
0.66232 0.00948 0.318721 0.00948
0.00948 0.0438393 0.937201 0.00948
0.0438393 0.00948 0.90284 0.0438393
0.00948 0.0438393 0.14692 0.799761
0.0781996 0.799761 0.11256 0.00948
0.90284 0.0438393 0.00948 0.0438393
0.181279 0.52488 0.14692 0.14692
"""
MEME_ROWS = [
    ("MA0066.1", 0, 1.92502e-12, 9, "+"),
    ("MA1151.1", 4, 9.27997e-05, 8, "+"),
    ("MA0072.1", 5, 0.000224838, 9, "+"),
    ("MA0160.1", -1, 0.000419299, 8, "+"),
    ("MA1150.1", 2, 0.000562811, 9, "+"),
    ("MA1148.1", 2, 0.000688228, 9, "+"),
    ("MA1291.1", 0, 0.00127662, 9, "-"),
    ("MA0604.1", -1, 0.00132528, 8, "-"),
    ("MA1112.1", 1, 0.001522, 9, "+"),
    ("MA0526.2", 0, 0.001562, 9, "+"),
    ("MA0643.1", 1, 0.00192765, 9, "+"),
    ("MA0071.1", 2, 0.002588, 8, "+"),
    ("MA0451.1", 3, 0.00274882, 9, "+"),
    ("MA1285.1", 9, 0.00306683, 9, "+"),
    ("MA0065.2", 0, 0.00307505, 9, "+"),
    ("MA0580.1", 1, 0.00307978, 9, "+"),
    ("MA0112.3", -1, 0.00321829, 8, "+"),
    ("MA0552.1", 1, 0.00340331, 9, "+"),
    ("MA0129.1", -1, 0.00364562, 7, "+"),
    ("MA0258.2", -2, 0.00374041, 7, "+"),
    ("MA1288.1", 0, 0.00395935, 9, "-"),
    ("MA1073.1", 0, 0.00410581, 8, "-"),
    ("MA1047.1", -1, 0.00451875, 8, "-"),
    ("MA1110.1", -1, 0.00492063, 8, "-"),
    ("MA0434.1", 1, 0.0049899, 8, "+"),
    ("MA0860.1", -1, 0.0055172, 8, "+"),
    ("MA1063.1", 0, 0.00574848, 9, "-"),
    ("MA1287.1", 2, 0.00616542, 9, "-"),
]


def test_reproduces_meme_tomtom_documented_pearson_example():
    database = motif_database("JASPAR2018", tax_group=None)
    assert len(database) == 1404
    hits = tomtom(read_meme(io.StringIO(STRGGTCAN)), database, evalue_threshold=10, distance="pearson")
    assert [h.target_id for h in hits] == [row[0] for row in MEME_ROWS]
    assert [(h.offset, h.overlap, h.orientation) for h in hits] == [(r[1], r[3], r[4]) for r in MEME_ROWS]
    ours = np.array([h.p_value for h in hits])
    meme = np.array([row[2] for row in MEME_ROWS])
    # The query was printed with 6 digits; MEME's medians are exact, memelite's binned.
    np.testing.assert_allclose(ours, meme, rtol=0.05)
    assert np.median(np.abs(ours / meme - 1)) < 1e-3
    assert hits[0].query_consensus == "GTAGGTCAC"
    assert hits[0].target_consensus == "GTAGGTCACGGTGACCTACT"
    assert hits[1].q_value == pytest.approx(0.0864887, rel=0.01)  # MEME's pi0 = 0.996 < 1


# ---------------------------------------------------------------------------
# TSV and command line
# ---------------------------------------------------------------------------


def _hit(**overrides) -> TomtomHit:
    fields = dict(
        query_id="q",
        target_id="MA0066.1",
        target_name="PPARG",
        offset=-1,
        p_value=1.925021e-12,
        e_value=1.925021e-12 * 1404,
        q_value=5.382324e-09,
        overlap=9,
        query_consensus="GTAGGTCAC",
        target_consensus="GTAGGTCACGGTGACCTACT",
        orientation="+",
    )
    fields.update(overrides)
    return TomtomHit(**fields)


def test_tsv_has_meme_columns_rows_and_trailing_comments(tmp_path):
    hits = [_hit(), _hit(target_id="MA1151.1", p_value=9.27997e-05, e_value=0.130291, q_value=0.0864887)]
    text = format_tomtom_tsv(hits, command_line="tomtom-like q.meme JASPAR2016")
    lines = text.splitlines()
    assert lines[0] == (
        "Query_ID\tTarget_ID\tOptimal_offset\tp-value\tE-value\tq-value\tOverlap\t"
        "Query_consensus\tTarget_consensus\tOrientation"
    )
    assert tuple(lines[0].split("\t")) == TSV_COLUMNS
    # MEME prints p, E and q with %g of single-precision values.
    assert (
        lines[1]
        == "q\tMA0066.1\t-1\t1.92502e-12\t2.70273e-09\t5.38232e-09\t9\tGTAGGTCAC\tGTAGGTCACGGTGACCTACT\t+"
    )
    assert lines[2].split("\t")[3:6] == ["9.27997e-05", "0.130291", "0.0864887"]
    assert lines[3] == ""
    comments = lines[4:]
    assert len(comments) == 2 and all(line.startswith("# ") for line in comments)
    assert comments[-1] == "# tomtom-like q.meme JASPAR2016"
    assert not any(line.startswith("#") for line in lines[:4])
    path = tmp_path / "tomtom.tsv"
    write_tomtom_tsv(hits, path, command_line="tomtom-like q.meme JASPAR2016")
    assert path.read_text() == text
    assert format_tomtom_tsv([]).splitlines()[0] == lines[0]


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "motiflens.tomtom", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_prints_the_expected_best_hits():
    result = _run_cli(str(DATA / "tomtom_queries.meme"), "JASPAR2016")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert tuple(lines[0].split("\t")) == TSV_COLUMNS
    rows = [line.split("\t") for line in lines[1:] if line and not line.startswith("#")]
    first = {}
    for row in rows:
        assert len(row) == 10
        first.setdefault(row[0], row)
    assert first["sp1_like"][1:3] == ["MA0079.3", "0"] and first["sp1_like"][9] == "+"
    assert first["arid3a_rc"][1] == "MA0151.1" and first["arid3a_rc"][9] == "-"
    assert all(float(row[4]) <= 0.1 for row in rows)
    assert lines[-1].startswith("# python -m motiflens.tomtom ")
    assert "-dist ed -min-overlap 1" in lines[-2]  # MEME 5's default distance


def test_cli_dist_pearson_gives_the_pearson_statistics(capsys):
    queries = str(DATA / "tomtom_queries.meme")
    assert main([queries, "JASPAR2016", "--dist", "pearson", "--thresh", "10"]) == 0
    out = capsys.readouterr().out
    assert "-dist pearson -min-overlap 1" in out
    expected = tomtom(
        read_meme(queries), motif_database("JASPAR2016"), evalue_threshold=10, distance="pearson"
    )
    rows = [line.split("\t") for line in out.splitlines()[1:] if line and line[0] != "#"]
    assert [(row[0], row[1]) for row in rows] == [(hit.query_id, hit.target_id) for hit in expected]
    with pytest.raises(SystemExit) as refused:  # argparse refuses other names
        main([queries, "JASPAR2016", "--dist", "kullback"])
    assert refused.value.code == 2


def test_cli_reports_a_malformed_file_with_its_line_number(tmp_path):
    bad = tmp_path / "bad.meme"
    bad.write_text(
        "MEME version 4\n\nALPHABET= ACGT\n\nMOTIF a\nletter-probability matrix: w= 2\n0.5 0.5 0\n"
    )
    result = _run_cli(str(bad), "JASPAR2016")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "line 7" in result.stderr and "expected 4 probabilities" in result.stderr


def test_cli_in_process_errors_and_qvalue_mode(capsys, tmp_path):
    queries = str(DATA / "tomtom_queries.meme")
    assert main([queries, "JASPAR1999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "JASPAR2016" in err and "JASPAR2024" in err
    assert main([str(tmp_path / "missing.meme"), "JASPAR2016"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([queries, str(tmp_path / "missing_db.meme")]) == 2
    assert "neither a motif file nor a JASPAR release" in capsys.readouterr().err
    assert main([queries, "JASPAR2016", "--qvalue", "--thresh", "0.001"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:] if line and line[0] != "#"]
    assert rows and all(float(row[5]) <= 0.001 for row in rows)
