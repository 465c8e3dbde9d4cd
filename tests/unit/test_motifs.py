"""Tests of motiflens.motifs: information content, trimming, MEME/JASPAR files and motif databases."""

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import pytest

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.motifs import (
    Motif,
    MotifDatabase,
    jaspar_motif,
    jaspar_motifs,
    jaspar_releases,
    motif_database,
    read_jaspar,
    read_meme,
    write_meme,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def _motif(rows, motif_id="m", name="") -> Motif:
    return Motif(motif_id, name, np.array(rows, dtype=np.float64))


# ---------------------------------------------------------------------------
# Information content and trimming
# ---------------------------------------------------------------------------


def test_information_content_pinned_values():
    motif = _motif(
        [
            [1, 0, 0, 0],  # 2 bits
            [0.25, 0.25, 0.25, 0.25],  # 0 bits
            [0.5, 0.5, 0, 0],  # 1 bit
            [0.7, 0.1, 0.1, 0.1],  # 2 + 0.7 log2 0.7 + 3 * 0.1 log2 0.1
        ]
    )
    expected_last = 2 + 0.7 * np.log2(0.7) + 3 * 0.1 * np.log2(0.1)
    ic = motif.information_content
    assert ic.shape == (4,) and ic.dtype == np.float64
    np.testing.assert_allclose(ic, [2.0, 0.0, 1.0, expected_last], atol=1e-12)
    assert motif.total_information_content == pytest.approx(3.0 + expected_last, abs=1e-12)


def test_information_content_is_strand_invariant():
    motif = jaspar_motif("MA0079.3")
    np.testing.assert_allclose(
        motif.reverse_complement().information_content, motif.information_content[::-1]
    )
    assert 0 < motif.total_information_content < 2 * motif.width


def _profile_motif(informative: list[int], width: int) -> Motif:
    """Uniform columns except one-hot columns at the given positions."""
    pwm = np.full((width, 4), 0.25)
    pwm[informative] = [0, 0, 1, 0]
    return Motif("p", "profile", pwm)


def test_trim_keeps_informative_span_plus_padding():
    motif = _profile_motif([5, 7], width=14)
    trimmed = motif.trim()
    # Columns 5..7 pass 0.5 bits; 3 columns of padding each side: 2..10.
    np.testing.assert_array_equal(trimmed.pwm, motif.pwm[2:11])
    assert (trimmed.motif_id, trimmed.name, trimmed.width) == ("p", "profile", 9)
    # The interior column 6 (0 bits) is kept.
    assert trimmed.information_content[4] == 0.0


def test_trim_clips_padding_at_the_ends_and_honours_arguments():
    motif = _profile_motif([1, 12], width=14)
    np.testing.assert_array_equal(motif.trim().pwm, motif.pwm)  # 1-3 < 0 and 12+3 > 13: clipped
    np.testing.assert_array_equal(motif.trim(padding=0).pwm, motif.pwm[1:13])
    single = _profile_motif([6], 14)
    np.testing.assert_array_equal(single.trim(padding=1).pwm, single.pwm[5:8])
    # Strictly above the threshold: a 1-bit column passes 0.5 but not 1.0.
    half = Motif("h", "", np.array([[0.25] * 4, [0.5, 0.5, 0, 0], [0.25] * 4]))
    assert half.trim(threshold=0.5, padding=0).width == 1
    assert half.trim(threshold=1.0, padding=0) is None


def test_trim_returns_none_when_no_column_is_informative():
    flat = Motif("flat", "", np.full((10, 4), 0.25))
    assert flat.trim() is None
    weak = Motif("weak", "", np.tile([0.4, 0.2, 0.2, 0.2], (10, 1)))  # 0.078 bits per column
    assert weak.trim() is None


def test_trim_rejects_bad_arguments():
    motif = _profile_motif([3], 8)
    with pytest.raises(InvalidInputError, match="padding"):
        motif.trim(padding=-1)
    with pytest.raises(InvalidInputError, match="threshold"):
        motif.trim(threshold=float("nan"))


# ---------------------------------------------------------------------------
# MEME format
# ---------------------------------------------------------------------------


def test_meme_round_trip_keeps_ids_names_and_matrices(tmp_path):
    rng = np.random.default_rng(0)
    motifs = [
        jaspar_motif("MA0079.3"),
        jaspar_motif("MA0151.1").reverse_complement(),
        Motif("random_1", "", rng.dirichlet(np.ones(4), size=12)),
        Motif("onehot", "Pou5f1::Sox2", np.eye(4)[[0, 3, 2, 2, 1]]),
    ]
    path = tmp_path / "motifs.meme"
    write_meme(motifs, path)
    for source in (path, str(path), io.StringIO(path.read_text())):
        back = read_meme(source)
        assert [(m.motif_id, m.name) for m in back] == [(m.motif_id, m.name) for m in motifs]
        for original, read in zip(motifs, back, strict=True):
            assert read.pwm.shape == original.pwm.shape
            np.testing.assert_allclose(read.pwm, original.pwm, atol=1e-6, rtol=0)
    stream = io.StringIO()
    write_meme(motifs, stream, background=[0.3, 0.2, 0.2, 0.3])
    assert "A 0.300000 C 0.200000 G 0.200000 T 0.300000" in stream.getvalue()
    assert stream.getvalue().startswith("MEME version 4\n")


def test_write_meme_rejects_bad_input():
    motif = jaspar_motif("MA0151.1")
    with pytest.raises(InvalidInputError, match="at least one"):
        write_meme([], io.StringIO())
    with pytest.raises(InvalidInputError, match="duplicate"):
        write_meme([motif, motif], io.StringIO())
    with pytest.raises(InvalidInputError, match="whitespace"):
        write_meme([Motif("a b", "", motif.pwm)], io.StringIO())
    with pytest.raises(InvalidInputError, match="background"):
        write_meme([motif], io.StringIO(), background=[0.5, 0.5, 0.5, 0.5])


GOOD_MEME = """\
MEME version 4

ALPHABET= ACGT

strands: + -

Background letter frequencies (from uniform background):
A 0.25000 C 0.25000 G 0.25000 T 0.25000

MOTIF MA0004.1 Arnt
letter-probability matrix: alength= 4 w= 3 nsites= 20 E= 1.5e-005
  0.200000\t  0.800000\t  0.000000\t  0.000000
  0.950000\t  0.000000\t  0.050000\t  0.000000
  0.333\t  0.333\t  0.333\t  0.000

URL http://jaspar.genereg.net/matrix/MA0004.1

MOTIF noname
letter-probability matrix: alength= 4 w= 2
0.1 0.2 0.3 0.4
0.25 0.25 0.25 0.25
"""


def test_read_meme_accepts_optional_fields_and_renormalises_rounded_rows():
    motifs = read_meme(io.StringIO(GOOD_MEME))
    assert [(m.motif_id, m.name, m.width) for m in motifs] == [("MA0004.1", "Arnt", 3), ("noname", "", 2)]
    # 0.333 * 3 = 0.999: within 0.01 of 1, so renormalised to thirds.
    np.testing.assert_allclose(motifs[0].pwm[2], [1 / 3, 1 / 3, 1 / 3, 0], atol=1e-12)
    np.testing.assert_allclose(motifs[0].pwm[0], [0.2, 0.8, 0, 0])
    # w= may be absent; the rows then end at the next non-row line.
    no_width = GOOD_MEME.replace("alength= 4 w= 2", "alength= 4")
    assert read_meme(io.StringIO(no_width))[1].width == 2
    # MEME's own output says e.g. "MEME version 5.5.8 (Release date: ...)".
    later = GOOD_MEME.replace("MEME version 4", "MEME version 5.5.8 (Release date: x)")
    assert len(read_meme(io.StringIO(later))) == 2


def _malformed(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


HEADER = ["MEME version 4", "", "ALPHABET= ACGT", ""]  # lines 1-4


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        pytest.param(_malformed(["MEME version 4", "", "ALPHABET= ACGU", ""]), 3, "alphabet", id="alphabet"),
        pytest.param(
            _malformed(["MEME version 4", "ALPHABET= ACDEFGHIKLMNPQRSTVWY"]), 2, "ACGT", id="protein-alphabet"
        ),
        pytest.param(
            _malformed(
                [*HEADER, "MOTIF a", "letter-probability matrix: w= 2", "0.5 0.5 0 0", "0.5 0.3 0.1 0.05"]
            ),
            8,
            "sum to 0.95",
            id="row-sum",
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "0.5 0.5 0 0"]), 6, "letter-probability", id="no-matrix-line"
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a alt", ""]), 5, "letter-probability", id="no-matrix-at-eof"
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "MOTIF b", "letter-probability matrix: w= 1", "1 0 0 0"]),
            6,
            "letter-probability",
            id="motif-after-motif",
        ),
        pytest.param(
            _malformed(
                [*HEADER, "MOTIF a", "letter-probability matrix: alength= 4 w= 8", *["1 0 0 0"] * 7, ""]
            ),
            6,
            "w= 8 but 7 rows",
            id="too-few-rows",
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "letter-probability matrix: alength= 4 w= 2", *["1 0 0 0"] * 3]),
            9,
            "more rows than w= 2",
            id="too-many-rows",
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "letter-probability matrix: w= 2", "1 0 0 0", "0.5 0.5 0"]),
            8,
            "expected 4 probabilities",
            id="three-numbers",
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "letter-probability matrix: w= 2", "1 0 0 0", "0.5 x 0.5 0"]),
            8,
            "expected a number, got 'x'",
            id="non-numeric",
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "letter-probability matrix: w= 1", "1.2 -0.2 0 0"]),
            7,
            ">= 0",
            id="negative",
        ),
        pytest.param(
            _malformed([*HEADER, "Background letter frequencies", "A 0.25 C 0.25"]), 5, "A, C, G", id="bg"
        ),
        pytest.param(_malformed([*HEADER, "some text"]), 5, "no MOTIF", id="no-motif"),
        pytest.param(_malformed(["", "ALPHABET= ACGT", "MOTIF a"]), 2, "MEME version", id="no-version"),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "letter-probability matrix: alength= 20 w= 1", "1 0 0 0"]),
            6,
            "alength",
            id="alength",
        ),
        pytest.param(
            _malformed(
                [*HEADER, "MOTIF a", "letter-probability matrix: w= 1", "1 0 0 0", ""]
                + ["MOTIF a", "letter-probability matrix: w= 1", "0 1 0 0"]
            ),
            9,
            "duplicate MOTIF id 'a' (first at line 5)",
            id="duplicate-id",
        ),
        pytest.param(
            _malformed([*HEADER, "MOTIF a", "letter-probability matrix: w= x", "1 0 0 0"]),
            6,
            "w:",
            id="bad-w",
        ),
    ],
)
def test_read_meme_rejects_malformed_input_with_the_line_number(text, line, reason):
    with pytest.raises(InvalidInputError) as error:
        read_meme(io.StringIO(text))
    message = str(error.value)
    assert f"line {line}:" in message
    assert reason in message


def test_read_meme_names_the_file_and_reports_missing_files(tmp_path):
    path = tmp_path / "bad.meme"
    path.write_text("MEME version 4\nALPHABET= ACGU\n")
    with pytest.raises(InvalidInputError, match=rf"{path}: line 2: alphabet"):
        read_meme(path)
    with pytest.raises(NotFoundError, match="no such file"):
        read_meme(tmp_path / "missing.meme")
    with pytest.raises(InvalidInputError, match="empty input"):
        read_meme(io.StringIO(""))


def test_read_meme_reads_the_test_fixture():
    motifs = read_meme(DATA / "tomtom_queries.meme")
    assert [(m.motif_id, m.name, m.width) for m in motifs] == [
        ("sp1_like", "SP1-rounded", 11),
        ("arid3a_rc", "", 6),
    ]
    # The fixture is MA0079.3 rounded to 3 decimals.
    np.testing.assert_allclose(motifs[0].pwm, jaspar_motif("MA0079.3").pwm, atol=2e-3)


# ---------------------------------------------------------------------------
# JASPAR format
# ---------------------------------------------------------------------------

JASPAR_TEXT = """\
>MA0001.1\tAGL3
A  [ 0  3 79 40 66 48 65 11 65  0 ]
C  [94 75  4  3  1  2  5  2  3  3 ]
G  [ 1  0  3  4  1  0  5  3 28 88 ]
T  [ 2 19 11 50 29 47 22 81  1  6 ]

>MA0002.1 RUNX1 extra words
0 1 2
3 0 1
1 1 0
0 2 1
"""


def test_read_jaspar_turns_counts_into_probabilities():
    motifs = read_jaspar(io.StringIO(JASPAR_TEXT))
    assert [(m.motif_id, m.name, m.width) for m in motifs] == [
        ("MA0001.1", "AGL3", 10),
        ("MA0002.1", "RUNX1 extra words", 3),
    ]
    np.testing.assert_allclose(motifs[0].pwm[0], np.array([0, 94, 1, 2]) / 97)
    np.testing.assert_allclose(motifs[0].pwm[-1], np.array([0, 3, 88, 6]) / 97)
    assert motifs[0].consensus == "CCATAAATAG"
    # Rows without letters are A, C, G, T in order.
    np.testing.assert_allclose(motifs[1].pwm[1], np.array([1, 0, 1, 2]) / 4)


def test_read_jaspar_accepts_rows_in_any_letter_order_and_matches_pyjaspar():
    reordered = "\n".join(JASPAR_TEXT.splitlines()[i] for i in (0, 4, 2, 1, 3)) + "\n"
    np.testing.assert_array_equal(
        read_jaspar(io.StringIO(reordered))[0].pwm, read_jaspar(io.StringIO(JASPAR_TEXT))[0].pwm
    )
    arid3a = jaspar_motif("MA0151.1")
    counts = np.round(arid3a.pwm * 27).astype(int)  # MA0151.1 has 27 sites
    text = ">MA0151.1 Arid3a\n" + "\n".join(
        f"{b} [ {' '.join(map(str, counts[:, i]))} ]" for i, b in enumerate("ACGT")
    )
    np.testing.assert_allclose(read_jaspar(io.StringIO(text))[0].pwm, arid3a.pwm, atol=1e-12)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        pytest.param("A [1 2]\n", 1, "header", id="no-header"),
        pytest.param(">MA1\nA [1 2]\nC [1 2]\nG [1 2]\n", 1, "4 count rows", id="three-rows"),
        pytest.param(">MA1\nA [1 2]\nC [1 2]\nG [1 2 3]\nT [1 2]\n", 4, "row G has 3 counts", id="unequal"),
        pytest.param(">MA1\nA [1 2]\nC [1 x]\nG [1 2]\nT [1 2]\n", 3, "'x'", id="non-numeric"),
        pytest.param(
            ">MA1\nA [1 0]\nC [1 0]\nG [1 0]\nT [1 0]\n", 1, "position 2 has no counts", id="empty-column"
        ),
        pytest.param(">MA1\nA [1]\nA [1]\nG [1]\nT [1]\n", 3, "base A given twice", id="repeated-base"),
        pytest.param("\n\n", 2, "no motif", id="empty"),
    ],
)
def test_read_jaspar_rejects_malformed_input_with_the_line_number(text, line, reason):
    with pytest.raises(InvalidInputError) as error:
        read_jaspar(io.StringIO(text))
    assert f"line {line}:" in str(error.value)
    assert reason in str(error.value)


# ---------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------


def test_jaspar2016_database_is_cached_immutable_and_indexed():
    database = motif_database()
    assert database is motif_database("JASPAR2016", collection="CORE", tax_group="vertebrates")
    assert database.name == "JASPAR2016 CORE vertebrates"
    assert len(database) == 519 and isinstance(database.motifs, tuple)
    assert database.motifs == jaspar_motifs()
    assert database.ids[:2] == tuple(m.motif_id for m in jaspar_motifs()[:2])
    assert "MA0151.1" in database and "MA9999.1" not in database
    assert database["MA0151.1"] == jaspar_motif("MA0151.1")
    assert [m.motif_id for m in database] == list(database.ids)
    with pytest.raises(NotFoundError, match="MA9999.1"):
        database["MA9999.1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        database.name = "other"


def test_other_releases_and_all_tax_groups():
    assert len(motif_database("JASPAR2024")) == len(jaspar_motifs("JASPAR2024"))
    everything = motif_database("JASPAR2018", tax_group=None)
    # MEME's JASPAR2018_CORE_non-redundant.meme has 1404 motifs.
    assert (everything.name, len(everything)) == ("JASPAR2018 CORE all", 1404)


def test_database_from_files_is_cached_until_the_file_changes(tmp_path):
    path = tmp_path / "db.meme"
    write_meme([jaspar_motif("MA0079.3"), jaspar_motif("MA0151.1")], path)
    first = motif_database(path)
    assert first is motif_database(str(path))
    assert (first.name, first.ids) == ("db.meme", ("MA0079.3", "MA0151.1"))
    write_meme([jaspar_motif("MA0151.1")], path)
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock resolution
    assert motif_database(path).ids == ("MA0151.1",)
    jaspar_file = tmp_path / "db.jaspar"
    jaspar_file.write_text(JASPAR_TEXT)
    assert motif_database(jaspar_file).ids == ("MA0001.1", "MA0002.1")


def test_database_errors_name_the_problem(tmp_path):
    with pytest.raises(InvalidInputError) as error:
        motif_database("JASPAR1999")
    for release in jaspar_releases():
        assert release in str(error.value)
    with pytest.raises(NotFoundError, match="neither a motif file nor a JASPAR release"):
        motif_database(tmp_path / "missing.meme")
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF a\nletter-probability matrix: w= 2\n1 0 0 0\n")
    with pytest.raises(InvalidInputError, match="line 4: MOTIF a: w= 2 but 1 rows"):
        motif_database(bad)
    with pytest.raises(InvalidInputError, match="duplicate motif id"):
        MotifDatabase("dup", (jaspar_motif("MA0151.1"), jaspar_motif("MA0151.1")))
