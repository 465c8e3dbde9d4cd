"""MEME 5 alphabet blocks (``ALPHABET "DNA" DNA-LIKE`` ... ``END ALPHABET``) in motif files."""

import io

import numpy as np
import pytest

from motiflens.errors import InvalidInputError
from motiflens.motifs import read_meme
from motiflens.motifs._alphabet import MAX_ALPHABET_LINE_LENGTH, MAX_ALPHABET_LINES

# The block MEME 5 writes for its DNA alphabet (alph_print, as in STREME's and meme2meme's
# output and JASPAR's MEME downloads), here in a STREME-like file. The two motifs have
# distinct columns, so any reordering of A, C, G, T would show.
STANDARD_BLOCK = """\
ALPHABET "DNA" DNA-LIKE
A "Adenine" CC0000 ~ T "Thymine" 008000
C "Cytosine" 0000CC ~ G "Guanine" FFB300
N "Any base" = ACGT
X = ACGT
. = ACGT
V "Not T" = ACG
H "Not G" = ACT
D "Not C" = AGT
B "Not A" = CGT
M "Amino" = AC
R "Purine" = AG
W "Weak" = AT
S "Strong" = CG
Y "Pyrimidine" = CT
K "Keto" = GT
U = T
END ALPHABET
"""

MOTIFS = """\
strands: + -

Background letter frequencies
A 0.292 C 0.208 G 0.208 T 0.292

MOTIF 1-ACGT STREME-1
letter-probability matrix: alength= 4 w= 4 nsites= 116 E= 1.1e-010
 0.700000 0.100000 0.100000 0.100000
 0.050000 0.850000 0.050000 0.050000
 0.000000 0.200000 0.600000 0.200000
 0.100000 0.000000 0.000000 0.900000

MOTIF 2-GGA STREME-2
letter-probability matrix: alength= 4 w= 3 nsites= 40 E= 3.2e-002
 0.100000 0.000000 0.800000 0.100000
 0.000000 0.300000 0.700000 0.000000
 0.550000 0.150000 0.150000 0.150000
"""

EXPECTED_PWMS = [
    [[0.7, 0.1, 0.1, 0.1], [0.05, 0.85, 0.05, 0.05], [0.0, 0.2, 0.6, 0.2], [0.1, 0.0, 0.0, 0.9]],
    [[0.1, 0.0, 0.8, 0.1], [0.0, 0.3, 0.7, 0.0], [0.55, 0.15, 0.15, 0.15]],
]


def _file(block: str, motifs: str = MOTIFS, version: str = "MEME version 5.4.1") -> str:
    return f"{version}\n\n{block}\n{motifs}"


def _read(text: str):
    return read_meme(io.StringIO(text))


def _check(motifs) -> None:
    assert [(m.motif_id, m.name, m.width, m.nsites) for m in motifs] == [
        ("1-ACGT", "STREME-1", 4, 116.0),
        ("2-GGA", "STREME-2", 3, 40.0),
    ]
    for motif, expected in zip(motifs, EXPECTED_PWMS, strict=True):
        np.testing.assert_allclose(motif.pwm, expected, atol=1e-12)
    assert motifs[0].consensus == "ACGT"


def test_the_standard_meme5_dna_block_reads_like_alphabet_acgt():
    motifs = _read(_file(STANDARD_BLOCK))
    _check(motifs)
    plain = _read(_file("ALPHABET= ACGT\n"))
    for block_motif, plain_motif in zip(motifs, plain, strict=True):
        np.testing.assert_array_equal(block_motif.pwm, plain_motif.pwm)


def test_a_block_declaring_the_core_symbols_in_another_order_keeps_columns_a_c_g_t():
    # MEME orders matrix columns by the *sorted* core symbols (alph-in.c keeps them in a
    # tree keyed by alph_sym_cmp), not by declaration order: this block still means A C G T.
    reordered = """\
ALPHABET "DNA" DNA-LIKE
T "Thymine" 008000 ~ A "Adenine" CC0000
G "Guanine" FFB300 ~ C "Cytosine" 0000CC
N "Any base" = TGCA
END ALPHABET
"""
    motifs = _read(_file(reordered))
    _check(motifs)
    # Had the columns followed the declaration (T, A, G, C), row 1 would read T-rich.
    assert motifs[0].pwm[0].argmax() == 0


def test_comments_ambiguity_codes_aliases_and_case_are_accepted():
    block = """\
alphabet   # no name and no -LIKE: a custom alphabet that is structurally DNA
# core symbols first
C "Cytosine #1" 0000CC ~ G\t# a '#' inside a name is not a comment
A ~ T "Thymine \\"T\\" \\u00e9"

? = ACGT     # MEME's reserved wildcard, standing for every core symbol
n "any base" = ACGT
R = GA       # comprising symbols in any order
U = T        # an alias of a core symbol
end alphabet
"""
    _check(_read(_file(block)))
    # MEME's full text output may close the block with a line of 80 '*' instead.
    divider = STANDARD_BLOCK.replace("END ALPHABET", "*" * 80)
    _check(_read(_file(divider)))
    # A header with only a name, and the standard block under a comment-laden header.
    _check(_read(_file(STANDARD_BLOCK.replace(" DNA-LIKE", ""))))
    _check(_read(_file(STANDARD_BLOCK.replace('"DNA" DNA-LIKE', 'v1 "DNA" DNA-LIKE  # MEME 5'))))


RNA_BLOCK = """\
ALPHABET "RNA"
A "Adenine" CC0000
C "Cytosine" 0000CC
G "Guanine" FFB300
U "Uracil" 008000
N "Any base" = ACGU
T = U
END ALPHABET
"""

PROTEIN_BLOCK = (
    'ALPHABET "Protein"\n' + "\n".join("ACDEFGHIKLMNPQRSTVWY") + "\nX = ACDEFGHIKLMNPQRSTVWY\nEND ALPHABET\n"
)

METHYL_BLOCK = """\
ALPHABET "DNA with covalent modifications" DNA-LIKE
A "Adenine" 8510A8 ~ T "Thymine" A89610
C "Cytosine" A50026 ~ G "Guanine" 313695
m "5-Methylcytosine" D73027 ~ 1 "Guanine:5-Methylcytosine" 4575B4
N = ACGT
END ALPHABET
"""


@pytest.mark.parametrize(
    ("block", "line", "reason"),
    [
        pytest.param(RNA_BLOCK.replace('"RNA"', '"RNA" RNA-LIKE'), 3, "RNA-LIKE", id="rna-like-header"),
        pytest.param(RNA_BLOCK, 3, "core symbols A, C, G, U do not define DNA", id="rna-core"),
        pytest.param(
            PROTEIN_BLOCK.replace('"Protein"', "PROTEIN-LIKE"), 3, "PROTEIN-LIKE", id="protein-like"
        ),
        pytest.param(PROTEIN_BLOCK, 3, "core symbols A, C, D, E, F", id="protein-core"),
        pytest.param(METHYL_BLOCK, 3, "core symbols A, C, G, T, m, 1 do not define DNA", id="methyl-dna"),
    ],
)
def test_non_dna_alphabet_blocks_are_refused(block, line, reason):
    with pytest.raises(InvalidInputError) as error:
        _read(_file(block))
    message = str(error.value)
    assert f"line {line}:" in message and reason in message
    assert "DNA motifs only" in message


def _block_lines(*lines: str) -> str:
    return "\n".join(['ALPHABET "DNA" DNA-LIKE', *lines]) + "\n"


CORE = ("A ~ T", "C ~ G")


@pytest.mark.parametrize(
    ("block", "line", "reason"),
    [
        pytest.param(
            _block_lines(*CORE, "N = ACGT"), 8, "no 'END ALPHABET' before this MOTIF line", id="no-end"
        ),
        pytest.param(
            _block_lines(*CORE, 'A "Adenine again"', "END ALPHABET"),
            6,
            "symbol 'A' is already defined (line 4)",
            id="duplicate-core",
        ),
        pytest.param(
            _block_lines(*CORE, "N = ACGT", "N = AC", "END ALPHABET"),
            7,
            "'N' is already defined",
            id="dup-ambig",
        ),
        pytest.param(
            _block_lines("A ~ G", "C ~ T", "END ALPHABET"), 4, "complement A ~ G", id="bad-complement"
        ),
        pytest.param(_block_lines("A ~ A", "END ALPHABET"), 4, "complement A ~ A", id="self-complement"),
        pytest.param(
            _block_lines("A", "C", "G", "T", "END ALPHABET"),
            4,
            "core symbol A has no complement",
            id="no-complement",
        ),
        pytest.param(
            _block_lines("A ~ T", "W = AT", "C ~ G", "END ALPHABET"),
            6,
            "core symbols come first",
            id="core-late",
        ),
        pytest.param(
            _block_lines(*CORE, "N = ACGTU", "END ALPHABET"),
            6,
            "names 'U', which is not a core symbol",
            id="undef",
        ),
        pytest.param(_block_lines(*CORE, "N =", "END ALPHABET"), 6, "N = nothing", id="empty-ambig"),
        pytest.param(_block_lines("? ~ T", "END ALPHABET"), 4, "'?' is reserved", id="wildcard-core"),
        pytest.param(
            _block_lines(*CORE, "? = AC", "END ALPHABET"), 6, "every core symbol", id="wildcard-part"
        ),
        pytest.param(
            _block_lines(*CORE, "A ~ T ~ C", "END ALPHABET"), 6, "expected a core symbol", id="garbage"
        ),
        pytest.param(
            _block_lines(*CORE, 'N "unclosed = ACGT', "END ALPHABET"), 6, "got 'N \"unclosed", id="quote"
        ),
        pytest.param(
            _block_lines(*CORE, "strands: + -", "END ALPHABET"),
            6,
            "or 'END ALPHABET', got 'strands",
            id="no-end2",
        ),
        pytest.param("ALPHABET DNA\n", 3, "header of a MEME alphabet block", id="bad-header"),
        pytest.param("ALPHABET= ACGU\n", 3, "expected 'ALPHABET= ACGT'", id="builtin-rna"),
        pytest.param(
            _block_lines(*CORE, f'N "{"x" * MAX_ALPHABET_LINE_LENGTH}" = ACGT', "END ALPHABET"),
            6,
            f"expected at most {MAX_ALPHABET_LINE_LENGTH}",
            id="long-line",
        ),
        pytest.param(
            _block_lines(*CORE, *["# comment"] * MAX_ALPHABET_LINES, "END ALPHABET"),
            3 + MAX_ALPHABET_LINES + 1,
            f"within {MAX_ALPHABET_LINES} lines",
            id="too-many-lines",
        ),
    ],
)
def test_malformed_blocks_are_errors_naming_the_line(block, line, reason):
    with pytest.raises(InvalidInputError) as error:
        _read(_file(block, motifs="MOTIF a\nletter-probability matrix: w= 1\n1 0 0 0\n"))
    message = str(error.value)
    assert f"line {line}:" in message, message
    assert reason in message, message


def test_a_block_running_to_the_end_of_the_input_names_its_header():
    with pytest.raises(InvalidInputError, match=r"line 3: alphabet block \(line 3\): no 'END ALPHABET'"):
        _read(_file(_block_lines(*CORE), motifs=""))
