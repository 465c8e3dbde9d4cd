"""MEME 5 alphabet blocks in motif files: ``ALPHABET ["name"] [DNA-LIKE]`` ... ``END ALPHABET``.

MEME 5's tools, and the many scripts that copy their output, may declare the alphabet of a
motif file with a block in MEME's "Custom Alphabet Definition Format" instead of the one
line ``ALPHABET= ACGT`` (abridged from the block MEME prints for its DNA alphabet)::

    ALPHABET "DNA" DNA-LIKE
    A "Adenine" CC0000 ~ T "Thymine" 008000
    C "Cytosine" 0000CC ~ G "Guanine" FFB300
    N "Any base" = ACGT
    X = ACGT
    . = ACGT
    U = T
    END ALPHABET

The grammar follows MEME's own reader (``src/alph-in.c`` and the embedded-block states of
``src/motif-in-meme-text.c``, MEME 5):

- Header: ``ALPHABET``, optionally ``v1``, an optional quoted name and an optional
  ``RNA-LIKE``, ``DNA-LIKE`` or ``PROTEIN-LIKE`` (case-insensitive).
- Core symbols first, one per line (``SYM ["name"] [RRGGBB]``) or as a complementary pair
  (``SYM ["name"] [RRGGBB] ~ SYM ["name"] [RRGGBB]``); then ambiguous symbols and aliases
  (``SYM ["name"] [RRGGBB] = CORE-SYMBOLS``), after which no core symbol may follow.
- A symbol is one of ``A-Z a-z 0-9 ? . * -``; names are JSON-style quoted strings; colours are
  6 hex digits. ``#`` starts a comment (outside quotes). The block ends at ``END ALPHABET``
  (or, in MEME's full text output, at a line of 80 ``*``).
- ``?`` is reserved for the wildcard: never a core symbol, and as an ambiguous symbol it must
  stand for every core symbol.

Column order: MEME orders the columns of every matrix (and the background) by the core
symbols *sorted* (``alph_sym_cmp``: letters in ASCII order, then digits, then the other
symbols; ``alph-in.c`` keeps the core symbols in a tree keyed that way), not in the order
the block declares them. For the DNA alphabet that is always A, C, G, T — motiflens's
order — so a block that declares ``G ~ C`` before ``T ~ A`` reads exactly like the standard
one.

motiflens compares DNA motifs only, so the block must define the DNA alphabet: core symbols
exactly A, C, G and T, complements A ~ T and C ~ G, any names, colours, ambiguity codes and
aliases. RNA (``ACGU``), protein and custom alphabets (e.g. DNA plus methylated bases) are
refused with the line that says so.
"""

from __future__ import annotations

import re

from motiflens.motifs._text import _Lines

#: A block longer than this (lines, comments and blank lines included) is refused: a
#: complete DNA definition takes about 20, the largest possible one (every symbol MEME
#: allows defined once) 66.
MAX_ALPHABET_LINES = 200
#: Longest line accepted inside a block (characters); MEME truncates names to 40.
MAX_ALPHABET_LINE_LENGTH = 300

DNA_CORE = "ACGT"
DNA_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}

_SYM = r"[A-Za-z0-9?.*\-]"
# A JSON-style string: no bare quote or backslash; escapes \" \\ \/ \b \f \n \r \t \uXXXX.
_NAME = r'"(?:[^"\\]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*"'
_COLOUR = r"[0-9A-Fa-f]{6}"
_SYMBOL_DEF = rf"({_SYM})(?:\s+{_NAME})?(?:\s+{_COLOUR})?"

_BUILTIN = re.compile(r"ALPHABET\s*=\s*(\S*)", re.IGNORECASE)
_HEADER = re.compile(rf"ALPHABET(?:\s+v[1-9][0-9]*)?(?:\s+{_NAME})?(?:\s+(RNA|DNA|PROTEIN)-LIKE)?", re.I)
_END = re.compile(r"END\s+ALPHABET", re.IGNORECASE)
_DIVIDER = re.compile(r"\*{80}")
_CORE_SINGLE = re.compile(_SYMBOL_DEF)
_CORE_PAIR = re.compile(rf"{_SYMBOL_DEF}\s*~\s*{_SYMBOL_DEF}")
_AMBIGUOUS = re.compile(rf"{_SYMBOL_DEF}\s*=\s*({_SYM}*)")

_EXPECTED = (
    'expected a core symbol (\'A "Adenine" CC0000 ~ T "Thymine" 008000\'), an ambiguous symbol '
    "('N \"Any base\" = ACGT') or 'END ALPHABET'"
)
_DNA_ONLY = "motiflens reads DNA motifs only: core symbols A, C, G, T with complements A ~ T and C ~ G"


def is_alphabet_line(text: str) -> bool:
    """Whether a header line (stripped) declares the alphabet.

    ``ALPHABET...`` always does; in other cases (MEME matches these case-insensitively) only
    ``alphabet= ...`` or a block header, so that other text stays ignored.
    """
    if text.startswith("ALPHABET"):
        return True
    if text[:8].upper() != "ALPHABET":
        return False
    return _BUILTIN.fullmatch(text) is not None or _HEADER.fullmatch(_strip_comment(text)) is not None


def read_alphabet(lines: _Lines, index: int) -> int:
    """Check the alphabet declared at line ``index``; return the index of the line after it.

    Accepts ``ALPHABET= ACGT`` (also without ``=``, as motiflens always has) and a MEME 5
    alphabet block that defines DNA (see the module docstring); the motif columns are then
    A, C, G, T.

    Raises
    ------
    InvalidInputError
        Naming the line: another built-in alphabet (``ALPHABET= ACGU``, protein), a header
        that is not MEME's, a line that is neither a symbol definition nor ``END
        ALPHABET``, a redefined symbol, a complement other than A ~ T / C ~ G, an
        ambiguous symbol naming an undefined core symbol, a core symbol after the
        ambiguous ones, a misused ``?``, a missing ``END ALPHABET``, a block or line over
        the bounds, or a block whose core symbols are not exactly A, C, G, T.
    """
    text = lines.text(index)
    builtin = _BUILTIN.fullmatch(text)
    if builtin is not None or text[len("ALPHABET") :].strip() == DNA_CORE:
        letters = builtin.group(1) if builtin is not None else DNA_CORE
        if letters != DNA_CORE:
            raise lines.error(index, f"alphabet: expected 'ALPHABET= ACGT' ({_DNA_ONLY}), got {text!r}")
        return index + 1
    header = _HEADER.fullmatch(_strip_comment(text))
    if header is None:
        raise lines.error(
            index,
            "alphabet: expected 'ALPHABET= ACGT' or the header of a MEME alphabet block, "
            f"'ALPHABET [\"name\"] [DNA-LIKE]', got {text!r}",
        )
    like = (header.group(1) or "").upper()
    if like in ("RNA", "PROTEIN"):
        raise lines.error(index, f"alphabet: an {like}-LIKE alphabet block; {_DNA_ONLY}")
    return _read_block(lines, index)


def _strip_comment(text: str) -> str:
    """``text`` without a ``#`` comment (a ``#`` inside a quoted name is kept), stripped."""
    in_string = False
    previous = ""
    for position, char in enumerate(text):
        if in_string:
            if char == '"' and previous != "\\":
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            return text[:position].strip()
        previous = char
    return text.strip()


def _read_block(lines: _Lines, header: int) -> int:
    """Parse the block after the header line ``header``; return the index after its end."""
    where = f"alphabet block (line {header + 1})"
    defined: dict[str, int] = {}  # symbol -> 0-based line of its definition
    complements: dict[str, str | None] = {}  # core symbol -> its complement
    seen_ambiguous = False

    def define(symbol: str, index: int) -> None:
        if symbol in defined:
            raise lines.error(
                index, f"{where}: symbol {symbol!r} is already defined (line {defined[symbol] + 1})"
            )
        defined[symbol] = index

    index = header + 1
    while True:
        if index >= len(lines):
            raise lines.error(header, f"{where}: no 'END ALPHABET' before the end of the input")
        if index - header > MAX_ALPHABET_LINES:
            raise lines.error(
                index, f"{where}: expected 'END ALPHABET' within {MAX_ALPHABET_LINES} lines of the header"
            )
        raw = lines.text(index)
        if len(raw) > MAX_ALPHABET_LINE_LENGTH:
            raise lines.error(
                index, f"{where}: line of {len(raw)} characters; expected at most {MAX_ALPHABET_LINE_LENGTH}"
            )
        text = _strip_comment(raw)
        if not text:
            index += 1
            continue
        if _END.fullmatch(text) or (_DIVIDER.fullmatch(text) and index > header + 1):
            break
        if text.startswith("MOTIF"):
            raise lines.error(index, f"{where}: no 'END ALPHABET' before this MOTIF line")
        declared: list[tuple[str, str | None]] = []  # (core symbol, complement) of this line
        pair = _CORE_PAIR.fullmatch(text)
        single = _CORE_SINGLE.fullmatch(text) if pair is None else None
        if pair is not None:
            first, second = pair.groups()
            declared = [(first, second), (second, first)]
        elif single is not None:
            declared = [(single.group(1), None)]
        if declared:
            if seen_ambiguous:
                raise lines.error(
                    index, f"{where}: core symbol after the ambiguous symbols; core symbols come first"
                )
            first, second = declared[0]
            if second is not None and (
                first == second
                or (first in DNA_COMPLEMENT and second in DNA_COMPLEMENT and DNA_COMPLEMENT[first] != second)
            ):
                raise lines.error(index, f"{where}: complement {first} ~ {second}; DNA pairs A ~ T and C ~ G")
            for symbol, complement in declared:
                if symbol == "?":
                    raise lines.error(
                        index, f"{where}: '?' is reserved for the wildcard and cannot be a core symbol"
                    )
                define(symbol, index)
                complements[symbol] = complement
            index += 1
            continue
        ambiguous = _AMBIGUOUS.fullmatch(text)
        if ambiguous is None:
            raise lines.error(index, f"{where}: {_EXPECTED}, got {raw!r}")
        seen_ambiguous = True
        symbol, comprise = ambiguous.groups()
        if not comprise:
            raise lines.error(index, f"{where}: {symbol} = nothing; expected the core symbols it stands for")
        for member in comprise:
            if member not in complements:
                raise lines.error(
                    index, f"{where}: {symbol} = {comprise} names {member!r}, which is not a core symbol"
                )
        if symbol == "?" and set(comprise) != set(complements):
            raise lines.error(
                index, f"{where}: '?' is reserved for the wildcard; it must stand for every core symbol"
            )
        define(symbol, index)
        index += 1

    core = sorted(complements, key=_sort_key)  # MEME's column order (module docstring)
    if core != list(DNA_CORE):
        raise lines.error(
            header,
            f"{where}: core symbols {', '.join(core) or 'none'} do not define DNA; {_DNA_ONLY}",
        )
    for symbol in DNA_CORE:
        if complements[symbol] != DNA_COMPLEMENT[symbol]:
            raise lines.error(
                defined[symbol],
                f"{where}: core symbol {symbol} has no complement; expected "
                f"'{symbol} ~ {DNA_COMPLEMENT[symbol]}' (DNA pairs A ~ T and C ~ G)",
            )
    return index + 1


def _sort_key(symbol: str) -> tuple[int, str]:
    """MEME's ``alph_sym_cmp``: letters (ASCII order), then digits, then other symbols."""
    if symbol.isascii() and symbol.isalpha():
        return (0, symbol)
    if symbol.isdigit():
        return (1, symbol)
    return (2, symbol)
