"""The ``Sequences`` message codec: DNA strings, one-hot arrays and stored-split refs <-> proto.

``Sequences`` is a oneof of ``strings`` (A, C, G, T, N, either case, one length),
``one_hot`` (a float32 Tensor, shape (N, L, 4), channels A, C, G, T) and
``dataset_split`` (rows of a stored split). :func:`encode` builds the message,
:func:`decode` reads it back (a one-hot array, or a :class:`SplitRef` for the reader of
stored data to resolve), and :func:`one_hot` is the string encoder (N: an all-zero column).
Errors are :class:`~motiflens_client.wire.errors.WireError` naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from motiflens_client.wire import pb
from motiflens_client.wire.errors import WireError
from motiflens_client.wire.tensors import array_to_tensor, tensor_to_array
from motiflens_client.wire.vocabulary import SPLIT_BY_NAME, choice, split_name

__all__ = [
    "ACCEPTED_BASES",
    "SplitRef",
    "check_one_hot_values",
    "check_strings",
    "decode",
    "encode",
    "one_hot",
    "split_ref",
]

#: The characters a DNA string may hold, as error messages name them.
ACCEPTED_BASES = "A, C, G, T, N (either case)"

# ASCII code -> channel (0-3 for A, C, G, T; 4 for N; 255 for anything else).
_CODE = np.full(256, 255, dtype=np.uint8)
for _channel, _bases in enumerate(("Aa", "Cc", "Gg", "Tt", "Nn")):
    for _base in _bases:
        _CODE[ord(_base)] = _channel
# Row 4 (N) stays all zero.
_TABLE = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), dtype=np.float32)])
# str.translate table deleting the accepted bases: what is left of a string is what is wrong.
_DELETE_BASES = str.maketrans("", "", "ACGTNacgtn")
#: Rows of a one-hot tensor whose values :func:`check_one_hot_values` checks at a time.
CHECK_BLOCK_ROWS = 256


@dataclass(frozen=True)
class SplitRef:
    """Rows ``[offset, offset + limit)`` of a stored split (``limit`` 0: to the end)."""

    dataset_id: str
    split: str = "test"
    offset: int = 0
    limit: int = 0


def _codes(sequence: str, field: str) -> np.ndarray:
    if sequence.isascii():
        codes = _CODE[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
        bad = np.flatnonzero(codes == 255)
        position = int(bad[0]) if bad.size else None
    else:  # name the first character that is not a base (the first non-ASCII one, or earlier)
        position = next(i for i, c in enumerate(sequence) if c.translate(_DELETE_BASES))
    if position is not None:
        raise WireError(
            field,
            f"invalid character {sequence[position]!r} at position {position}; accepted: {ACCEPTED_BASES}",
        )
    return codes


def check_strings(sequences: Sequence[str], *, field: str = "sequences") -> int:
    """Check DNA strings as :func:`one_hot` does, without encoding them; their length L.

    Lets a server reject a bad request before it answers anything and then encode it a
    chunk at a time (:func:`one_hot` of each slice), so memory follows the chunk, not N.

    Raises
    ------
    WireError
        As :func:`one_hot`.
    """
    if len(sequences) == 0:
        raise WireError(field, "expected at least one sequence, got none")
    length = len(sequences[0])
    if length == 0:
        raise WireError(f"{field}[0]", "empty sequence; expected length >= 1")
    for index, sequence in enumerate(sequences):
        if len(sequence) != length:
            raise WireError(
                f"{field}[{index}]",
                f"expected length {length} (the length of {field}[0]), got {len(sequence)}; "
                "all sequences in a batch must have the same length",
            )
        if sequence.translate(_DELETE_BASES):  # a character outside ACGTN: find and name it
            _codes(sequence, f"{field}[{index}]")
    return length


def one_hot(sequences: Sequence[str], *, field: str = "sequences") -> np.ndarray:
    """One-hot encode DNA strings of one length.

    Parameters
    ----------
    sequences : sequence of str
        A, C, G, T, N in either case; all of one length L >= 1.
    field : str, default "sequences"
        Name used in error messages (``sequences[3]: ...``).

    Returns
    -------
    np.ndarray, shape (N, L, 4), float32
        Channels A, C, G, T; an ``N`` base is an all-zero column.

    Raises
    ------
    WireError
        No sequence, an empty or ragged one, or a character outside ACGTN.
    """
    length = check_strings(sequences, field=field)
    codes = np.empty((len(sequences), length), dtype=np.uint8)
    for index, sequence in enumerate(sequences):
        codes[index] = _codes(sequence, f"{field}[{index}]")
    return _TABLE[codes]


def check_one_hot_values(X: np.ndarray, *, field: str) -> None:
    """Raise unless every value of ``X`` (N, L, 4) is finite and in [0, 1].

    Checked :data:`CHECK_BLOCK_ROWS` rows at a time, so the check's temporaries stay small
    whatever N; the first offending value is named with its (row, position, channel).

    Raises
    ------
    WireError
        ``<field>.data``: a NaN or infinity, or a value outside [0, 1].
    """
    for start in range(0, len(X), CHECK_BLOCK_ROWS):
        block = X[start : start + CHECK_BLOCK_ROWS]
        for bad, expected in ((~np.isfinite(block), "finite values"), ((block < 0) | (block > 1), None)):
            if bad.any():
                row, position, channel = (int(i) for i in np.argwhere(bad)[0])
                value = block[row, position, channel]
                where = (start + row, position, channel)
                what = expected or "one-hot values in [0, 1]"
                raise WireError(f"{field}.data", f"expected {what}, got {value} at {where}")


def split_ref(ref: SplitRef, *, field: str = "dataset") -> pb.DatasetSplitRef:
    """A DatasetSplitRef message from a :class:`SplitRef`.

    Raises
    ------
    WireError
        An unknown split name.
    """
    return pb.DatasetSplitRef(
        dataset_id=ref.dataset_id,
        split=choice(SPLIT_BY_NAME, ref.split, f"{field}.split"),  # type: ignore[arg-type]  # a Split value
        offset=ref.offset,
        limit=ref.limit,
    )


def encode(sequences: Sequence[str] | np.ndarray | SplitRef, *, field: str = "sequences") -> pb.Sequences:
    """A Sequences message from strings, a one-hot array or a stored-split reference.

    Parameters
    ----------
    sequences : list of str, np.ndarray or SplitRef
        DNA strings (sent as they are; the server checks bases and lengths); one-hot
        ``X``, shape (N, L, 4), channels A, C, G, T (sent as float32); or rows of a split.
    field : str, default "sequences"
        Name used in error messages.

    Returns
    -------
    pb.Sequences

    Raises
    ------
    WireError
        A bare string (pass a list), an empty list, non-string items, or an array
        that is not numeric (N, L, 4) with N, L >= 1.
    """
    if isinstance(sequences, SplitRef):
        return pb.Sequences(dataset_split=split_ref(sequences, field=field))
    if isinstance(sequences, np.ndarray):
        X = sequences
        if X.ndim != 3 or X.shape[2] != 4 or X.shape[0] == 0 or X.shape[1] == 0:
            raise WireError(
                field, f"expected a one-hot array of shape (N, L, 4) with N, L >= 1, got {X.shape}"
            )
        if not np.issubdtype(X.dtype, np.number) and X.dtype != np.bool_:
            raise WireError(field, f"expected a numeric one-hot array, got dtype {X.dtype}")
        return pb.Sequences(one_hot=array_to_tensor(X.astype(np.float32, copy=False), field=field))
    if isinstance(sequences, str | bytes):
        raise WireError(field, "expected a list of DNA strings, got a single string; wrap it in a list")
    try:
        items = list(sequences)
    except TypeError:
        raise WireError(
            field,
            "expected a list of DNA strings, a one-hot array (N, L, 4) or a DatasetSplit, "
            f"got {type(sequences).__name__}",
        ) from None
    if not items:
        raise WireError(field, "expected at least one sequence, got none")
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise WireError(f"{field}[{index}]", f"expected a DNA string, got {type(item).__name__}")
    return pb.Sequences(strings=pb.SequenceList(sequences=items))


def decode(message: pb.Sequences, *, field: str = "sequences") -> np.ndarray | SplitRef:
    """The sequences of a Sequences message: a one-hot array, or the stored rows it names.

    Parameters
    ----------
    message : pb.Sequences
    field : str, default "sequences"
        Path of the message, e.g. ``"sequences"``.

    Returns
    -------
    np.ndarray, shape (N, L, 4), float32, or SplitRef
        Strings are encoded with :func:`one_hot`; a one-hot tensor is decoded (float32,
        finite, shape (N, L, 4), N, L >= 1, values in [0, 1]); a ``dataset_split`` is
        returned as a :class:`SplitRef` for the caller to read.

    Raises
    ------
    WireError
        No form set; bad strings (``sequences.strings.sequences[3]: ...``); a bad
        tensor or values outside [0, 1]; an unknown split, or a negative offset or limit.
    """
    form = message.WhichOneof("source")
    if form is None:
        raise WireError(field, "expected one of strings, one_hot or dataset_split; got none")
    if form == "strings":
        return one_hot(list(message.strings.sequences), field=f"{field}.strings.sequences")
    if form == "one_hot":
        # A read-only view of the message's bytes: nothing is copied, whatever N.
        X = tensor_to_array(message.one_hot, field=f"{field}.one_hot", dtypes=(np.float32,))
        if X.ndim != 3 or X.shape[2] != 4 or X.shape[0] == 0 or X.shape[1] == 0:
            raise WireError(f"{field}.one_hot", f"expected shape (N, L, 4), N, L >= 1, got {tuple(X.shape)}")
        check_one_hot_values(X, field=f"{field}.one_hot")
        return X
    ref = message.dataset_split
    prefix = f"{field}.dataset_split"
    if ref.offset < 0:
        raise WireError(f"{prefix}.offset", f"expected >= 0, got {ref.offset}")
    if ref.limit < 0:
        raise WireError(f"{prefix}.limit", f"expected >= 0 (0 = all rows), got {ref.limit}")
    return SplitRef(
        dataset_id=ref.dataset_id,
        split=split_name(ref.split, field=f"{prefix}.split"),
        offset=int(ref.offset),
        limit=int(ref.limit),
    )
