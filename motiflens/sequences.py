"""DNA sequences: one-hot encoding, FASTA and HDF5 I/O, reverse complement, shuffles.

Conventions used throughout motiflens:

- One-hot DNA is ``X`` with shape (N, L, 4), float32, channels in A, C, G, T order.
- An unknown base ``N`` encodes as an all-zero column by default (it then contributes
  nothing to any convolution), or as 0.25 in every channel with
  ``n_encoding="uniform"``. Decoding turns either form back into ``N``.
- Lower-case input is accepted and treated as upper case (soft-masked genome
  sequence is common in FASTA files).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from motiflens.errors import InvalidInputError, NotFoundError

ALPHABET = "ACGT"
ACCEPTED_CHARACTERS = "A, C, G, T, N (either case)"
SPLITS = ("train", "valid", "test")

NEncoding = Literal["zero", "uniform"]

# Byte -> channel index lookup: 0..3 for ACGT, 4 for N, 255 for anything else.
_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _base in enumerate("ACGTN"):
    _CODE[ord(_base)] = _i
    _CODE[ord(_base.lower())] = _i
_N_CODE = 4


def _codes(sequence: str, index: int) -> np.ndarray:
    """Channel codes (0-3 ACGT, 4 N) of one sequence, or an error naming the bad character."""
    try:
        raw = np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as exc:
        position = exc.start
        raise InvalidInputError(
            f"sequences[{index}]: invalid character {sequence[position]!r} at position "
            f"{position}; accepted: {ACCEPTED_CHARACTERS}",
            field=f"sequences[{index}]",
        ) from None
    codes = _CODE[raw]
    bad = np.flatnonzero(codes == 255)
    if bad.size:
        position = int(bad[0])
        raise InvalidInputError(
            f"sequences[{index}]: invalid character {sequence[position]!r} at position "
            f"{position}; accepted: {ACCEPTED_CHARACTERS}",
            field=f"sequences[{index}]",
        )
    return codes


def one_hot(sequences: Sequence[str] | str, *, n_encoding: NEncoding = "zero") -> np.ndarray:
    """One-hot encode DNA strings of equal length.

    Parameters
    ----------
    sequences : sequence of str, or a single str
        DNA over A, C, G, T, N in either case; all of the same length L >= 1.
    n_encoding : {"zero", "uniform"}, default "zero"
        How ``N`` is encoded: all-zero column, or 0.25 in each channel.

    Returns
    -------
    np.ndarray, shape (N, L, 4), float32
        Channels in A, C, G, T order. A single str gives N = 1.

    Raises
    ------
    InvalidInputError
        Empty input, an empty sequence, ragged lengths or a character outside ACGTN
        (the message names the sequence index, the character and its position).
    """
    if isinstance(sequences, str):
        sequences = [sequences]
    if n_encoding not in ("zero", "uniform"):
        raise InvalidInputError(
            f"n_encoding: expected 'zero' or 'uniform', got {n_encoding!r}", field="n_encoding"
        )
    if len(sequences) == 0:
        raise InvalidInputError("sequences: expected at least one sequence, got none", field="sequences")
    length = len(sequences[0])
    if length == 0:
        raise InvalidInputError("sequences[0]: empty sequence; expected length >= 1", field="sequences[0]")
    codes = np.empty((len(sequences), length), dtype=np.uint8)
    for index, sequence in enumerate(sequences):
        if len(sequence) != length:
            raise InvalidInputError(
                f"sequences[{index}]: expected length {length} (the length of sequences[0]), "
                f"got {len(sequence)}; all sequences in a batch must have the same length",
                field=f"sequences[{index}]",
            )
        codes[index] = _codes(sequence, index)
    # Row 4 of the table is the encoding of N.
    table = np.zeros((5, 4), dtype=np.float32)
    table[:4] = np.eye(4, dtype=np.float32)
    if n_encoding == "uniform":
        table[_N_CODE] = 0.25
    return table[codes]


def decode(X: np.ndarray) -> list[str]:
    """Turn one-hot DNA back into strings.

    Parameters
    ----------
    X : np.ndarray, shape (N, L, 4) or (L, 4)
        One-hot DNA in A, C, G, T order. Columns that are all zero or uniform
        (no single maximum) decode to ``N``.

    Returns
    -------
    list of str
        N strings of length L.
    """
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[None]
    X = check_one_hot(X, allow_empty=True, finite=False)
    best = X.argmax(axis=-1)
    top = X.max(axis=-1)
    ties = (X == top[..., None]).sum(axis=-1) > 1
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[best]
    letters[ties | (top <= 0)] = ord("N")
    return [row.tobytes().decode("ascii") for row in letters]


def check_one_hot(
    X: npt.ArrayLike,
    field: str = "X",
    *,
    length: int | None = None,
    dtype: npt.DTypeLike | None = None,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Validate a batch of one-hot DNA, shape (N, L, 4), and return it as an array.

    The one home of the (N, L, 4) check: the core and the services call it at
    their boundaries. Checks run in this order, each raising with its own message:
    numeric array, shape (N, L, 4), N >= 1, L == ``length``, all values finite.
    Values are not required to be hard one-hot (soft columns such as 0.25 for N
    pass), nor to lie in [0, 1].

    Parameters
    ----------
    X : array_like, shape (N, L, 4)
        One-hot DNA, channels A, C, G, T.
    field : str, default "X"
        Field path named in the messages and carried as ``error.field``, e.g.
        ``"X"``, ``"train.X"``, ``"ground_truth"``.
    length : int, optional
        Required sequence length L (e.g. the model's input length); None accepts any.
    dtype : numpy dtype, optional
        Convert to this dtype (e.g. ``np.float32``); None keeps X's dtype (no copy
        of an ndarray).
    allow_empty : bool, default False
        Accept N = 0.
    finite : bool, default True
        Reject NaN and infinite values.

    Returns
    -------
    np.ndarray, shape (N, L, 4)
        X as an array, of ``dtype`` if given.

    Raises
    ------
    InvalidInputError
        X is not numeric, not 3-D with last axis 4, empty (unless ``allow_empty``),
        of the wrong length, or not finite (if ``finite``). ``error.field`` is ``field``.
    """
    try:
        X = np.asarray(X, dtype=dtype)
        if finite:
            all_finite = bool(np.isfinite(X).all())
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{field}: expected a numeric array of shape (N, L, 4)", field=field
        ) from None
    if X.ndim != 3 or X.shape[-1] != 4:
        raise InvalidInputError(f"{field}: expected shape (N, L, 4), got {tuple(X.shape)}", field=field)
    if not allow_empty and X.shape[0] == 0:
        raise InvalidInputError(f"{field}: empty batch (N = 0); expected at least one sequence", field=field)
    if length is not None and X.shape[1] != length:
        # Both phrasings: "expected length" as elsewhere, "takes sequences of" as the services say.
        raise InvalidInputError(
            f"{field}: expected length {length} nt; the model takes sequences of {length} nt, "
            f"got {X.shape[1]}",
            field=field,
        )
    if finite and not all_finite:
        raise InvalidInputError(
            f"{field}: contains NaN or infinite values; expected one-hot DNA", field=field
        )
    return X


def reverse_complement(X: np.ndarray) -> np.ndarray:
    """Reverse complement of one-hot DNA.

    With channels in A, C, G, T order the complement is the channel axis reversed.

    Parameters
    ----------
    X : np.ndarray, shape (N, L, 4)

    Returns
    -------
    np.ndarray, shape (N, L, 4), same dtype (a copy)
    """
    X = check_one_hot(X, allow_empty=True, finite=False)
    return np.ascontiguousarray(X[:, ::-1, ::-1])


_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reverse_complement_string(sequence: str) -> str:
    """Reverse complement of a DNA string (case kept, N stays N)."""
    _codes(sequence, 0)
    return sequence.translate(_COMPLEMENT)[::-1]


# --------------------------------------------------------------------------- shuffles


def _eulerian_dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shuffle a code sequence keeping every dinucleotide count (Altschul & Erickson 1985).

    The sequence is a walk in the graph whose vertices are letters and whose edges
    are its dinucleotides. A random Eulerian walk from the same first letter uses
    every edge once, so the counts are kept exactly. For the walk to finish, each
    vertex's last exit must lead towards the final letter: pick a random last edge
    per vertex and accept the choice when those edges form a tree rooted at the
    final letter.
    """
    n = codes.size
    if n <= 2:
        return codes.copy()
    first, last = int(codes[0]), int(codes[-1])
    outgoing: dict[int, list[int]] = {}
    for source, target in zip(codes[:-1].tolist(), codes[1:].tolist(), strict=True):
        outgoing.setdefault(source, []).append(target)

    while True:
        last_edge = {
            vertex: int(rng.integers(len(edges))) for vertex, edges in outgoing.items() if vertex != last
        }
        if _last_edges_form_tree(outgoing, last_edge, last):
            break

    order: dict[int, list[int]] = {}
    for vertex, edges in outgoing.items():
        if vertex in last_edge:
            keep = edges[last_edge[vertex]]
            rest = edges[: last_edge[vertex]] + edges[last_edge[vertex] + 1 :]
            rng.shuffle(rest)
            order[vertex] = rest + [keep]
        else:
            shuffled = list(edges)
            rng.shuffle(shuffled)
            order[vertex] = shuffled

    walk = np.empty(n, dtype=codes.dtype)
    walk[0] = first
    position = dict.fromkeys(order, 0)
    current = first
    for i in range(1, n):
        following = order[current][position[current]]
        position[current] += 1
        walk[i] = following
        current = following
    return walk


def _last_edges_form_tree(outgoing: dict[int, list[int]], last_edge: dict[int, int], root: int) -> bool:
    """True when following each vertex's last edge reaches ``root`` without a cycle."""
    for start in last_edge:
        seen = set()
        vertex = start
        while vertex != root:
            if vertex in seen:
                return False
            seen.add(vertex)
            vertex = outgoing[vertex][last_edge[vertex]]
    return True


def dinucleotide_shuffle(
    X: np.ndarray, *, num_shuffles: int = 1, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """Shuffle one-hot sequences keeping their exact dinucleotide counts.

    Used to make attribution references: the shuffles keep a sequence's composition
    and dinucleotide content but destroy its motifs. All-zero (N) positions take part
    as a fifth letter, so they are kept too.

    Parameters
    ----------
    X : np.ndarray, shape (N, L, 4)
        One-hot DNA (exactly one 1 per column, or all zeros for N).
    num_shuffles : int, default 1
        Shuffles made per sequence.
    seed : int, numpy Generator or None
        Source of randomness; the same seed gives the same shuffles.

    Returns
    -------
    np.ndarray, shape (N, num_shuffles, L, 4), same dtype as X
    """
    X = check_one_hot(X, allow_empty=True, finite=False)
    if num_shuffles < 1:
        raise InvalidInputError(f"num_shuffles: expected >= 1, got {num_shuffles}", field="num_shuffles")
    column_sums = X.sum(axis=-1)
    if not np.all(np.isin(column_sums, (0.0, 1.0))) or not np.all(np.isin(X, (0.0, 1.0))):
        raise InvalidInputError(
            "X: dinucleotide_shuffle needs hard one-hot columns (one 1, or all zero for N)", field="X"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    codes = np.where(column_sums > 0, X.argmax(axis=-1), _N_CODE).astype(np.int64)
    table = np.zeros((5, 4), dtype=X.dtype)
    table[:4] = np.eye(4, dtype=X.dtype)
    out = np.empty((X.shape[0], num_shuffles, X.shape[1], 4), dtype=X.dtype)
    for i, row in enumerate(codes):
        for k in range(num_shuffles):
            out[i, k] = table[_eulerian_dinucleotide_shuffle(row, rng)]
    return out


def dinucleotide_counts(X: np.ndarray) -> np.ndarray:
    """Counts of each dinucleotide per sequence.

    Parameters
    ----------
    X : np.ndarray, shape (N, L, 4)

    Returns
    -------
    np.ndarray, shape (N, 4, 4), int64
        ``counts[n, a, b]`` is how often base a is followed by base b in sequence n.
    """
    X = check_one_hot(X, allow_empty=True, finite=False)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.int64)  # einsum sums in the input's dtype: uint8 windows would wrap at 256
    return np.einsum("nla,nlb->nab", X[:, :-1], X[:, 1:]).round().astype(np.int64)


# --------------------------------------------------------------------------- FASTA


@dataclass(frozen=True)
class FastaRecords:
    """Records of a FASTA file: ``names[i]`` is the header (without ``>``) of ``sequences[i]``."""

    names: list[str]
    sequences: list[str]


def read_fasta(source: str | os.PathLike | io.TextIOBase) -> FastaRecords:
    """Read a FASTA file (multi-line records allowed, blank lines ignored).

    Parameters
    ----------
    source : path or text stream

    Raises
    ------
    InvalidInputError
        Sequence text before the first header, a record with no sequence, a file
        with no record, or a character outside ACGTN (with line number).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="ascii", errors="replace") as handle:
            return _parse_fasta(handle, str(source))
    return _parse_fasta(source, "<stream>")


def _parse_fasta(lines: Iterable[str], origin: str) -> FastaRecords:
    names: list[str] = []
    chunks: list[list[str]] = []
    for line_number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            if chunks and not chunks[-1]:
                raise InvalidInputError(f"{origin}:{line_number}: record {names[-1]!r} has no sequence")
            names.append(line[1:].strip())
            chunks.append([])
            continue
        if not names:
            raise InvalidInputError(
                f"{origin}:{line_number}: sequence text before the first '>' header; "
                "a FASTA record starts with a line '>name'"
            )
        bad = np.flatnonzero(_CODE[np.frombuffer(line.encode("ascii", "replace"), np.uint8)] == 255)
        if bad.size:
            column = int(bad[0])
            raise InvalidInputError(
                f"{origin}:{line_number}: invalid character {line[column]!r} at column {column + 1} "
                f"in record {names[-1]!r}; accepted: {ACCEPTED_CHARACTERS}"
            )
        chunks[-1].append(line)
    if not names:
        raise InvalidInputError(f"{origin}: no FASTA record found (expected lines starting with '>')")
    if not chunks[-1]:
        raise InvalidInputError(f"{origin}: record {names[-1]!r} has no sequence")
    return FastaRecords(names=names, sequences=["".join(chunk) for chunk in chunks])


def write_fasta(path: str | os.PathLike, names: Sequence[str], sequences: Sequence[str]) -> None:
    """Write records to a FASTA file, 80 characters a line."""
    if len(names) != len(sequences):
        raise InvalidInputError(f"names: expected {len(sequences)} names, got {len(names)}", field="names")
    with open(path, "w", encoding="ascii") as handle:
        for name, sequence in zip(names, sequences, strict=True):
            handle.write(f">{name}\n")
            for start in range(0, len(sequence), 80):
                handle.write(sequence[start : start + 80] + "\n")


# --------------------------------------------------------------------------- HDF5


@dataclass
class Split:
    """One split of a data set.

    Attributes
    ----------
    X : np.ndarray, shape (N, L, 4), float32
    y : np.ndarray, shape (N, T), float32
        Targets; T = 1 for a binary task.
    model : np.ndarray or None, shape (N, L, 4), float32
        Ground-truth sequence model (per-position base probabilities) of synthetic data.
    """

    X: np.ndarray
    y: np.ndarray
    model: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass
class Dataset:
    """A data set in the paper's layout: train, valid and test splits.

    ``layout`` records the X axis order found in the file: "(N, 4, L)" or "(N, L, 4)".
    """

    train: Split
    valid: Split
    test: Split
    layout: str = "(N, L, 4)"
    attrs: dict = field(default_factory=dict)

    def split(self, name: str) -> Split:
        """Return the split called ``name`` (train, valid or test)."""
        if name not in SPLITS:
            raise InvalidInputError(
                f"split: expected one of {', '.join(SPLITS)}, got {name!r}", field="split"
            )
        return getattr(self, name)

    @property
    def sequence_length(self) -> int:
        """L, the length of every sequence."""
        return int(self.train.X.shape[1])

    @property
    def num_targets(self) -> int:
        """T, the number of output labels."""
        return int(self.train.y.shape[1])


def _orient_shape(shape: tuple[int, ...], key: str) -> str:
    """The layout of an X array of declared ``shape``: "(N, L, 4)" or "(N, 4, L)"."""
    if len(shape) != 3:
        raise InvalidInputError(f"{key}: expected a 3-D array (N, 4, L) or (N, L, 4), got shape {shape}")
    if shape[2] == 4:
        return "(N, L, 4)"
    if shape[1] == 4:
        return "(N, 4, L)"
    raise InvalidInputError(f"{key}: expected shape (N, 4, L) or (N, L, 4), got {shape}")


def _read_one_hot_like(file, key: str) -> tuple[np.ndarray, str]:
    """Read X (or a ground-truth model) as (N, L, 4) float32 with values in [0, 1]."""
    layout = _orient_shape(file.arrays[key].shape, f"{file.origin}: {key}")
    X = file.read_float(key, low=0.0, high=1.0)
    if layout == "(N, 4, L)":
        X = np.ascontiguousarray(np.transpose(X, (0, 2, 1)))
    return X, layout


def load_hdf5(
    path: str | os.PathLike, *, reverse_complement: bool = False, origin: str | None = None
) -> Dataset:
    """Load a data set stored in the paper's HDF5 layout.

    The file holds ``X_train``, ``Y_train``, ``X_valid``, ``Y_valid``, ``X_test``,
    ``Y_test`` and, for synthetic tasks, ``model_train``, ``model_valid``,
    ``model_test`` (ground-truth sequence models, same shape as X). X may be stored
    as (N, 4, L) (the authors' files) or (N, L, 4); the layout found is recorded in
    ``Dataset.layout``. The file is read as untrusted (:mod:`motiflens.hdf5`): links,
    external storage, virtual datasets and non-numeric dtypes are refused before
    anything is read, and arrays are read slab by slab.

    Parameters
    ----------
    path : path to the .h5 file
    reverse_complement : bool, default False
        Augment the training split with the reverse complement of every sequence
        (labels duplicated), as the paper did for Tasks 5 and 6. Valid and test are
        left alone.
    origin : str, optional
        How error messages name the file (default: the path).

    Returns
    -------
    Dataset
        X as (N, L, 4) float32, y as (N, T) float32.

    Raises
    ------
    NotFoundError
        The file does not exist or lacks a required key (the message names it).
    InvalidInputError
        The file is not HDF5 or is refused by :func:`motiflens.hdf5.open_untrusted`,
        X/Y lengths differ, X has the wrong shape, X or a model has values outside
        [0, 1], Y has values outside [0, 1] (the paper's tasks are binary), NaN or
        infinities anywhere, or the splits disagree on L or T.
    """
    from motiflens.hdf5 import open_untrusted

    path = Path(path)
    origin = str(path) if origin is None else origin
    if not path.is_file():
        raise NotFoundError(f"{origin}: no such HDF5 file")
    with open_untrusted(path, origin=origin) as file:
        splits = {}
        layouts = set()
        for name in SPLITS:
            x_key, y_key, m_key = f"X_{name}", f"Y_{name}", f"model_{name}"
            for key in (x_key, y_key):
                if key not in file:
                    raise NotFoundError(
                        f"{origin}: missing key {key!r}; the paper's layout needs "
                        "X_train, Y_train, X_valid, Y_valid, X_test, Y_test "
                        f"(found: {', '.join(file.keys()) or 'none'})"
                    )
            _orient_shape(file.arrays[x_key].shape, f"{origin}: {x_key}")
            y_shape = file.arrays[y_key].shape
            if len(y_shape) not in (1, 2):
                raise InvalidInputError(f"{origin}: {y_key}: expected shape (N,) or (N, T), got {y_shape}")
            if file.arrays[x_key].shape[0] != y_shape[0]:
                raise InvalidInputError(
                    f"{origin}: {x_key} has {file.arrays[x_key].shape[0]} sequences but {y_key} has "
                    f"{y_shape[0]} rows"
                )
            if y_shape[0] == 0:
                raise InvalidInputError(f"{origin}: {x_key} is empty")
            X, layout = _read_one_hot_like(file, x_key)
            layouts.add(layout)
            y = file.read_float(y_key, low=0.0, high=1.0)
            if y.ndim == 1:
                y = y[:, None]
            model = None
            if m_key in file:
                model, _ = _read_one_hot_like(file, m_key)
                if model.shape != X.shape:
                    raise InvalidInputError(
                        f"{origin}: {m_key} has shape {model.shape} but {x_key} has {X.shape} (as (N, L, 4))"
                    )
            splits[name] = Split(X=X, y=y, model=model)
        attrs = file.attributes()

    lengths = {s.X.shape[1] for s in splits.values()}
    targets = {s.y.shape[1] for s in splits.values()}
    if len(lengths) > 1 or len(targets) > 1:
        raise InvalidInputError(
            f"{origin}: splits disagree: sequence lengths {sorted(lengths)}, target counts {sorted(targets)}"
        )
    if reverse_complement:
        train = splits["train"]
        splits["train"] = Split(
            X=np.concatenate([train.X, _reverse_complement_array(train.X)]),
            y=np.concatenate([train.y, train.y]),
            model=None
            if train.model is None
            else np.concatenate([train.model, _reverse_complement_array(train.model)]),
        )
    return Dataset(layout=" and ".join(sorted(layouts)), attrs=attrs, **splits)


def _reverse_complement_array(X: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(X[:, ::-1, ::-1])


def save_hdf5(
    path: str | os.PathLike,
    dataset: Dataset,
    *,
    attrs: dict | None = None,
    extra_datasets: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a data set in the paper's layout (X as (N, 4, L), as the authors' files).

    Ground-truth models are written as ``model_<split>`` when present. Small
    metadata goes into HDF5 attributes; ``extra_datasets`` (name -> array) are
    written beside the standard keys (e.g. implanted-motif tables). Writes to a
    temporary file first and renames
    it, so a failed write leaves no partial file at ``path``.
    """
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    try:
        with h5py.File(tmp, "w") as handle:
            for name in SPLITS:
                split = dataset.split(name)
                # track_times=False keeps the bytes a function of the data alone, so the
                # same seed gives a byte-identical file.
                handle.create_dataset(
                    f"X_{name}", data=np.transpose(split.X, (0, 2, 1)).astype(np.float32), track_times=False
                )
                handle.create_dataset(f"Y_{name}", data=split.y.astype(np.float32), track_times=False)
                if split.model is not None:
                    handle.create_dataset(
                        f"model_{name}",
                        data=np.transpose(split.model, (0, 2, 1)).astype(np.float32),
                        track_times=False,
                    )
            for key, value in (extra_datasets or {}).items():
                handle.create_dataset(key, data=value, track_times=False)
            for key, value in {**dataset.attrs, **(attrs or {})}.items():
                handle.attrs[key] = value
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
