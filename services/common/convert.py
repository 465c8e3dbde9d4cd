"""Proto <-> numpy/core conversions shared by the services, with validation at the boundary.

Every function takes the ``field`` path of the message it reads (e.g.
``"motifs[2]"`` or ``"sequences"``) and raises
:class:`motiflens.errors.InvalidInputError` whose message starts with that path
and says what was expected and what came, e.g.
``"motifs[2].pwm: expected shape (W, 4), got (3, 5)"``. The server's error
interceptor turns those into INVALID_ARGUMENT with a ``google.rpc.BadRequest``
detail for the field.

Tensors are ``bytes data`` + ``repeated int64 shape`` + ``DType dtype``,
little-endian, C order (``common.proto``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from motiflens_client.api import DTYPE_BY_NUMPY, NUMPY_BY_DTYPE, common_pb2, pb

from motiflens.errors import InvalidInputError
from motiflens.motifs import Motif
from motiflens.sequences import one_hot
from motiflens.tomtom import TomtomHit
from services.common.store import check_id

#: Split enum -> name passed to a ``load_split`` hook (unset means the test split).
SPLIT_NAMES: dict[int, str] = {
    common_pb2.SPLIT_UNSPECIFIED: "test",
    common_pb2.SPLIT_TRAIN: "train",
    common_pb2.SPLIT_VALID: "valid",
    common_pb2.SPLIT_TEST: "test",
}

#: ``load_split(dataset_id, split, offset, limit) -> X``: rows [offset, offset + limit) of a
#: stored data set split ("train", "valid" or "test"), limit 0 = to the end; shape (N, L, 4).
LoadSplit = Callable[[str, str, int, int], np.ndarray]

_MOTIF_ID = re.compile(r"\S+")
#: Most axes a Tensor may declare (numpy's own limit is 64; the API uses at most 3).
MAX_AXES = 32
#: Largest size a Tensor's shape may declare, zero extents left out (numpy's index range is 2**63).
MAX_DECLARED_BYTES = 2**62


def dtype_name(code: int) -> str:
    """``common_pb2.DTYPE_FLOAT32`` -> ``"DTYPE_FLOAT32"`` (the number for unknown values)."""
    try:
        return pb.DType.Name(code)
    except ValueError:
        return str(code)


def _dtype_names(dtypes: Iterable[np.dtype]) -> str:
    return ", ".join(dtype_name(DTYPE_BY_NUMPY[np.dtype(d).newbyteorder("=")]) for d in dtypes)


# --------------------------------------------------------------------------- tensors


def tensor_to_array(
    tensor: pb.Tensor,
    *,
    field: str,
    dtypes: Sequence[np.dtype | type | str] | None = None,
    ndim: int | None = None,
    finite: bool = False,
) -> np.ndarray:
    """Decode a Tensor message into a numpy array, validated.

    Parameters
    ----------
    tensor : pb.Tensor
    field : str
        Path of the tensor in the request, used in error messages.
    dtypes : sequence of dtype, optional
        Accepted element types (default: every DType).
    ndim : int, optional
        Required number of axes.
    finite : bool, default False
        Reject NaN and infinities (float types only).

    Returns
    -------
    np.ndarray
        Native byte order, shape ``tuple(tensor.shape)``; a read-only view of the
        message bytes.

    Raises
    ------
    InvalidInputError
        Unset or unaccepted dtype, negative extents, wrong number of axes (or more
        than :data:`MAX_AXES`), extents no array can have, a byte length that is not
        ``prod(shape) * itemsize``, or non-finite values.
    """
    accepted = None if dtypes is None else [np.dtype(d) for d in dtypes]
    if tensor.dtype == common_pb2.DTYPE_UNSPECIFIED:
        choices = _dtype_names(accepted) if accepted else ", ".join(pb.DType.keys()[1:])
        raise InvalidInputError(f"{field}.dtype: unset; expected {choices}")
    if tensor.dtype not in NUMPY_BY_DTYPE:
        raise InvalidInputError(f"{field}.dtype: unknown value {tensor.dtype}")
    dtype = NUMPY_BY_DTYPE[tensor.dtype]
    if accepted is not None and dtype.newbyteorder("=") not in [d.newbyteorder("=") for d in accepted]:
        raise InvalidInputError(
            f"{field}.dtype: expected {_dtype_names(accepted)}, got {dtype_name(tensor.dtype)}"
        )
    shape = tuple(int(extent) for extent in tensor.shape)
    if any(extent < 0 for extent in shape):
        raise InvalidInputError(f"{field}.shape: expected extents >= 0, got {list(shape)}")
    if ndim is not None and len(shape) != ndim:
        raise InvalidInputError(f"{field}.shape: expected {ndim} axes, got {len(shape)} ({list(shape)})")
    if len(shape) > MAX_AXES:
        raise InvalidInputError(f"{field}.shape: {len(shape)} axes; at most {MAX_AXES} are accepted")
    # numpy cannot even describe an empty array whose other extents multiply past its index range.
    if math.prod(extent for extent in shape if extent) * dtype.itemsize > MAX_DECLARED_BYTES:
        raise InvalidInputError(
            f"{field}.shape: {list(shape)} declares more than 2**62 bytes; no tensor that large is accepted"
        )
    expected = math.prod(shape) * dtype.itemsize
    if len(tensor.data) != expected:
        raise InvalidInputError(
            f"{field}.data: expected {expected} bytes (shape {list(shape)} of {dtype_name(tensor.dtype)}, "
            f"{dtype.itemsize} bytes each), got {len(tensor.data)}"
        )
    array = np.frombuffer(tensor.data, dtype=dtype).reshape(shape)
    if dtype.byteorder == "<" and not np.little_endian:  # pragma: no cover - big-endian hosts
        array = array.astype(dtype.newbyteorder("="))
    if finite and dtype.kind == "f" and not np.all(np.isfinite(array)):
        position = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise InvalidInputError(f"{field}.data: expected finite values, got {array[position]} at {position}")
    return array


def array_to_tensor(array: np.ndarray) -> pb.Tensor:
    """Encode a numpy array as a Tensor (little-endian, C order).

    Raises
    ------
    InvalidInputError
        The dtype has no DType (e.g. float16, bool, object).
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in DTYPE_BY_NUMPY:
        raise InvalidInputError(
            f"array dtype: expected one of {_dtype_names(NUMPY_BY_DTYPE.values())}, got {array.dtype}"
        )
    code = DTYPE_BY_NUMPY[native]
    data = np.ascontiguousarray(array, dtype=NUMPY_BY_DTYPE[code]).tobytes()
    return pb.Tensor(dtype=code, shape=list(array.shape), data=data)


# --------------------------------------------------------------------------- motifs


def motif_from_proto(message: pb.Motif, *, field: str) -> Motif:
    """A core Motif from a Motif message.

    Parameters
    ----------
    message : pb.Motif
        ``id`` non-empty without whitespace; ``pwm`` float64 (float32 accepted),
        shape (W, 4), W >= 1, rows summing to 1.
    field : str
        Path of the motif, e.g. ``"motifs[2]"``.

    Raises
    ------
    InvalidInputError
        E.g. ``"motifs[2].pwm: expected shape (W, 4), got (3, 5)"``.
    """
    if not _MOTIF_ID.fullmatch(message.id):
        raise InvalidInputError(f"{field}.id: expected a non-empty id without whitespace, got {message.id!r}")
    if not message.HasField("pwm"):
        raise InvalidInputError(f"{field}.pwm: unset; expected a (W, 4) float64 tensor")
    pwm = tensor_to_array(message.pwm, field=f"{field}.pwm", dtypes=(np.float64, np.float32), finite=True)
    if pwm.ndim != 2 or pwm.shape[1] != 4 or pwm.shape[0] == 0:
        raise InvalidInputError(f"{field}.pwm: expected shape (W, 4), W >= 1, got {tuple(pwm.shape)}")
    try:
        pwm = pwm.astype(np.float64)
        return Motif(motif_id=message.id, name=message.name, pwm=pwm, nsites=message.nsites)
    except InvalidInputError as error:
        # The core says "<id>: pwm row 3: ..."; re-anchor it on the request field.
        reason = str(error).removeprefix(f"{message.id}: ")
        raise InvalidInputError(f"{field}.{reason}") from None


def motifs_from_proto(messages: Sequence[pb.Motif], *, field: str = "motifs") -> list[Motif]:
    """Core Motifs from repeated Motif messages: at least one, unique ids.

    Raises
    ------
    InvalidInputError
        No motif, a bad motif (see :func:`motif_from_proto`), or a repeated id.
    """
    if len(messages) == 0:
        raise InvalidInputError(f"{field}: expected at least one motif, got none")
    motifs: list[Motif] = []
    first: dict[str, int] = {}
    for index, message in enumerate(messages):
        motif = motif_from_proto(message, field=f"{field}[{index}]")
        if motif.motif_id in first:
            raise InvalidInputError(
                f"{field}[{index}].id: duplicate id {motif.motif_id!r} "
                f"(first at {field}[{first[motif.motif_id]}])"
            )
        first[motif.motif_id] = index
        motifs.append(motif)
    return motifs


def motif_to_proto(motif: Motif) -> pb.Motif:
    """A Motif message (pwm as float64 (W, 4)) from a core Motif."""
    return pb.Motif(
        id=motif.motif_id,
        name=motif.name,
        pwm=array_to_tensor(np.asarray(motif.pwm, np.float64)),
        nsites=motif.nsites,
    )


def tomtom_hit_to_proto(hit: TomtomHit) -> pb.TomtomHit:
    """A TomtomHit message from a core TomtomHit."""
    return pb.TomtomHit(
        query_id=hit.query_id,
        target_id=hit.target_id,
        target_name=hit.target_name,
        offset=hit.offset,
        p_value=hit.p_value,
        e_value=hit.e_value,
        q_value=hit.q_value,
        overlap=hit.overlap,
        query_consensus=hit.query_consensus,
        target_consensus=hit.target_consensus,
        orientation=hit.orientation,
    )


# --------------------------------------------------------------------------- sequences


def sequences_to_onehot(
    message: pb.Sequences,
    *,
    field: str,
    load_split: LoadSplit | None = None,
    length: int | None = None,
    max_sequences: int | None = None,
) -> np.ndarray:
    """One-hot DNA ``X`` from a Sequences message in any of its three forms.

    The number of sequences and their length are checked against ``max_sequences``
    and ``length`` from what the message declares (the strings' count and lengths,
    the tensor's shape) before anything is decoded, so a small message cannot make
    the server allocate a large array.

    Parameters
    ----------
    message : pb.Sequences
        ``strings`` (A, C, G, T, N, either case; one length), ``one_hot`` (float32,
        shape (N, L, 4), N >= 1, L >= 1, every value in [0, 1]) or ``dataset_split``.
    field : str
        Path of the message, e.g. ``"sequences"``.
    load_split : callable, optional
        ``load_split(dataset_id, split, offset, limit) -> X`` for the
        ``dataset_split`` form, ``split`` being "train", "valid" or "test" (unset:
        "test") and ``limit`` 0 meaning all rows from ``offset``. It raises
        NotFoundError for an unknown data set. Without it that form is rejected.
    length : int, optional
        Required sequence length L (e.g. the model's input length).
    max_sequences : int, optional
        Most sequences accepted.

    Returns
    -------
    np.ndarray, shape (N, L, 4), float32
        Channels A, C, G, T; ``N`` bases are all-zero columns.

    Raises
    ------
    InvalidInputError
        No form set, bad characters or lengths (``sequences.strings[3]: ...``),
        a bad tensor or values outside [0, 1], more than ``max_sequences``
        sequences, a length other than ``length``, a malformed data set id,
        negative offset or limit, or the ``dataset_split`` form without ``load_split``.
    """
    form = message.WhichOneof("source")
    if form is None:
        raise InvalidInputError(f"{field}: expected one of strings, one_hot or dataset_split; got none")
    if form == "strings":
        strings = message.strings.sequences
        _check_size(len(strings), field, max_sequences)
        if length is not None:
            for index, sequence in enumerate(strings):
                if len(sequence) != length:
                    raise InvalidInputError(
                        f"{field}.strings.sequences[{index}]: wrong length; "
                        f"the model takes sequences of {length} nt, got {len(sequence)}"
                    )
        try:
            return one_hot(list(strings))
        except InvalidInputError as error:
            raise InvalidInputError(f"{field}.strings.{error}") from None
    if form == "one_hot":
        declared = tuple(int(extent) for extent in message.one_hot.shape)
        if len(declared) == 3 and declared[2] == 4:
            # The declared shape is only a claim; check it before tensor_to_array trusts it.
            _check_size(declared[0], field, max_sequences)
            _check_length(declared[1], f"{field}.one_hot", length)
        X = tensor_to_array(message.one_hot, field=f"{field}.one_hot", dtypes=(np.float32,), finite=True)
        _check_onehot_shape(X, f"{field}.one_hot")
        _check_unit_range(X, f"{field}.one_hot.data")
        return X
    ref = message.dataset_split
    if load_split is None:
        raise InvalidInputError(
            f"{field}.dataset_split: this service does not read stored data sets; send strings or one_hot"
        )
    dataset_id = check_id(ref.dataset_id, field_name=f"{field}.dataset_split.dataset_id")
    if ref.split not in SPLIT_NAMES:
        raise InvalidInputError(f"{field}.dataset_split.split: unknown value {ref.split}")
    if ref.offset < 0:
        raise InvalidInputError(f"{field}.dataset_split.offset: expected >= 0, got {ref.offset}")
    if ref.limit < 0:
        raise InvalidInputError(f"{field}.dataset_split.limit: expected >= 0 (0 = all rows), got {ref.limit}")
    X = np.asarray(load_split(dataset_id, SPLIT_NAMES[ref.split], int(ref.offset), int(ref.limit)))
    _check_onehot_shape(X, f"{field}.dataset_split")
    _check_size(X.shape[0], field, max_sequences)
    _check_length(X.shape[1], f"{field}.dataset_split", length)
    return X.astype(np.float32, copy=False)


def _check_size(count: int, field: str, max_sequences: int | None) -> None:
    if max_sequences is not None and count > max_sequences:
        raise InvalidInputError(
            f"{field}: {count} sequences; at most {max_sequences} per request "
            "(send fewer per call, e.g. with dataset_split offset/limit)"
        )


def _check_length(extent: int, field: str, length: int | None) -> None:
    if length is not None and extent != length:
        raise InvalidInputError(
            f"{field}: wrong length; the model takes sequences of {length} nt, got {extent}"
        )


def _check_unit_range(X: np.ndarray, field: str) -> None:
    """One-hot values (also soft ones, e.g. 0.25 for N) lie in [0, 1]."""
    outside = (X < 0) | (X > 1)
    if outside.any():
        position = tuple(int(i) for i in np.argwhere(outside)[0])
        raise InvalidInputError(
            f"{field}: expected one-hot values in [0, 1], got {X[position]} at {position}"
        )


def _check_onehot_shape(X: np.ndarray, field: str) -> None:
    if X.ndim != 3 or X.shape[2] != 4:
        raise InvalidInputError(f"{field}: expected shape (N, L, 4), got {tuple(X.shape)}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidInputError(
            f"{field}: expected N >= 1 sequences of length L >= 1, got shape {tuple(X.shape)}"
        )
