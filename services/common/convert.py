"""Proto <-> numpy/core conversions of the services, with validation at the boundary.

Every function takes the ``field`` path of the message it reads (e.g.
``"motifs[2]"`` or ``"sequences"``) and raises
:class:`motiflens.errors.InvalidInputError` whose ``field`` is that path (or a path
below it) and whose message starts with it and says what was expected and what came,
e.g. ``"motifs[2].pwm: expected shape (W, 4), got (3, 5)"``. The server's error
interceptor turns those into INVALID_ARGUMENT with a ``google.rpc.BadRequest``
detail for the field.

The tensor and Sequences codecs are the wire layer's (:mod:`motiflens_client.wire`);
this module adds the services' policy (accepted dtypes, size limits checked before
decoding, stored splits) and turns :class:`~motiflens_client.wire.WireError` into
InvalidInputError with the same message and field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
from motiflens_client.wire import pb, tensors
from motiflens_client.wire import sequences as wire_sequences
from motiflens_client.wire.errors import WireError
from motiflens_client.wire.vocabulary import DEFAULT_SPLIT, SPLIT_BY_NAME

from motiflens.errors import InvalidInputError
from motiflens.motifs import Motif
from motiflens.tomtom import TomtomHit
from services.common.errors import from_wire, invalid
from services.common.store import check_id

#: Split enum -> name passed to a ``load_split`` hook (unset means the test split); from the
#: wire vocabulary.
SPLIT_NAMES: dict[int, str] = {
    pb.SPLIT_UNSPECIFIED: DEFAULT_SPLIT,
    **{value: name for name, value in SPLIT_BY_NAME.items()},
}

#: ``load_split(dataset_id, split, offset, limit) -> X``: rows [offset, offset + limit) of a
#: stored data set split ("train", "valid" or "test"), limit 0 = to the end; shape (N, L, 4).
LoadSplit = Callable[[str, str, int, int], np.ndarray]

_MOTIF_ID = re.compile(r"\S+")


# --------------------------------------------------------------------------- tensors


def tensor_to_array(
    tensor: pb.Tensor,
    *,
    field: str,
    dtypes: Sequence[np.dtype | type | str] | None = None,
    ndim: int | None = None,
    finite: bool = False,
) -> np.ndarray:
    """Decode a Tensor message: the wire codec, its errors as :class:`InvalidInputError`.

    Parameters, shape and view as :func:`motiflens_client.wire.tensors.tensor_to_array`; a
    :class:`WireError` becomes an InvalidInputError with the same message and field
    (``<field>.dtype``, ``<field>.shape`` or ``<field>.data``).
    """
    try:
        return tensors.tensor_to_array(tensor, field=field, dtypes=dtypes, ndim=ndim, finite=finite)
    except WireError as error:
        raise from_wire(error) from None


def array_to_tensor(array: np.ndarray) -> pb.Tensor:
    """Encode a numpy array as a Tensor (little-endian, C order).

    Raises
    ------
    InvalidInputError
        The dtype has no DType (e.g. float16, bool, object).
    """
    try:
        return tensors.array_to_tensor(array)
    except WireError as error:
        raise from_wire(error) from None


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
        raise invalid(f"{field}.id", f"expected a non-empty id without whitespace, got {message.id!r}")
    if not message.HasField("pwm"):
        raise invalid(f"{field}.pwm", "unset; expected a (W, 4) float64 tensor")
    pwm = tensor_to_array(message.pwm, field=f"{field}.pwm", dtypes=(np.float64, np.float32), finite=True)
    if pwm.ndim != 2 or pwm.shape[1] != 4 or pwm.shape[0] == 0:
        raise invalid(f"{field}.pwm", f"expected shape (W, 4), W >= 1, got {tuple(pwm.shape)}")
    try:
        pwm = pwm.astype(np.float64)
        return Motif(motif_id=message.id, name=message.name, pwm=pwm, nsites=message.nsites)
    except InvalidInputError as error:
        # The core says "<id>: pwm row 3: ..."; re-anchor it on the request field.
        reason = str(error).removeprefix(f"{message.id}: ")
        raise InvalidInputError(f"{field}.{reason}", field=field) from None


def motifs_from_proto(messages: Sequence[pb.Motif], *, field: str = "motifs") -> list[Motif]:
    """Core Motifs from repeated Motif messages: at least one, unique ids.

    Raises
    ------
    InvalidInputError
        No motif, a bad motif (see :func:`motif_from_proto`), or a repeated id.
    """
    if len(messages) == 0:
        raise invalid(field, "expected at least one motif, got none")
    motifs: list[Motif] = []
    first: dict[str, int] = {}
    for index, message in enumerate(messages):
        motif = motif_from_proto(message, field=f"{field}[{index}]")
        if motif.motif_id in first:
            raise invalid(
                f"{field}[{index}].id",
                f"duplicate id {motif.motif_id!r} (first at {field}[{first[motif.motif_id]}])",
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
    the server allocate a large array. Decoding is the wire codec's
    (:func:`motiflens_client.wire.sequences.decode`).

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
        No form set, bad characters or lengths (``sequences.strings.sequences[3]: ...``),
        a bad tensor or values outside [0, 1], more than ``max_sequences``
        sequences, a length other than ``length``, a malformed data set id,
        negative offset or limit, or the ``dataset_split`` form without ``load_split``.
    """
    _check_declared(message, field=field, load_split=load_split, length=length, max_sequences=max_sequences)
    try:
        decoded = wire_sequences.decode(message, field=field)
    except WireError as error:
        raise from_wire(error) from None
    if isinstance(decoded, np.ndarray):
        return decoded
    if load_split is None:  # pragma: no cover - a split ref only comes from the dataset_split form
        raise invalid(f"{field}.dataset_split", "this service does not read stored data sets")
    X = np.asarray(load_split(decoded.dataset_id, decoded.split, decoded.offset, decoded.limit))
    _check_onehot_shape(X.shape, f"{field}.dataset_split")
    _check_size(X.shape[0], field, max_sequences)
    _check_length(X.shape[1], f"{field}.dataset_split", length)
    return X.astype(np.float32, copy=False)


class SequenceChunks:
    """A request's sequences, decoded one slice at a time: ``chunks[a:b]`` is (b - a, L, 4) float32.

    From :func:`sequence_chunks`. ``len(chunks)`` is N. Strings are one-hot encoded only for
    the rows asked, so a streaming call holds one chunk's one-hot array (16 bytes a base)
    instead of the whole request's; a one-hot tensor or a stored split is already an array
    and is sliced as a view.
    """

    def __init__(self, count: int, length: int, rows: Callable[[int, int], np.ndarray]) -> None:
        self._count = count
        self.length = length
        self._rows = rows

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError(f"SequenceChunks takes a slice of rows, got {type(key).__name__}")
        start, stop, step = key.indices(self._count)
        if step != 1:
            raise ValueError("SequenceChunks takes contiguous slices (step 1)")
        return self._rows(start, max(start, stop))


def sequence_chunks(
    message: pb.Sequences,
    *,
    field: str,
    load_split: LoadSplit | None = None,
    length: int,
    max_sequences: int | None = None,
) -> SequenceChunks:
    """The sequences of a Sequences message, checked in full now and decoded slice by slice later.

    Every check of :func:`sequences_to_onehot` runs before this returns (a bad request is
    refused before the call answers anything), but strings are encoded only when a slice
    is asked for. Parameters and errors as for :func:`sequences_to_onehot`; ``length`` is
    required (the model's input length).
    """
    if message.WhichOneof("source") != "strings":
        X = sequences_to_onehot(
            message, field=field, load_split=load_split, length=length, max_sequences=max_sequences
        )
        return SequenceChunks(len(X), X.shape[1], lambda start, stop: X[start:stop])
    _check_declared(message, field=field, load_split=load_split, length=length, max_sequences=max_sequences)
    strings = message.strings.sequences
    strings_field = f"{field}.strings.sequences"
    try:
        wire_sequences.check_strings(strings, field=strings_field)
    except WireError as error:
        raise from_wire(error) from None

    def rows(start: int, stop: int) -> np.ndarray:
        if start == stop:
            return np.zeros((0, length, 4), dtype=np.float32)
        return wire_sequences.one_hot(strings[start:stop], field=strings_field)

    return SequenceChunks(len(strings), length, rows)


def _check_declared(
    message: pb.Sequences,
    *,
    field: str,
    load_split: LoadSplit | None,
    length: int | None,
    max_sequences: int | None,
) -> None:
    """The checks that need only what ``message`` declares (counts, lengths, shape), nothing decoded."""
    form = message.WhichOneof("source")
    if form == "strings":
        strings = message.strings.sequences
        _check_size(len(strings), field, max_sequences)
        if length is not None:
            for index, sequence in enumerate(strings):
                if len(sequence) != length:
                    raise invalid(
                        f"{field}.strings.sequences[{index}]",
                        f"wrong length; the model takes sequences of {length} nt, got {len(sequence)}",
                    )
    elif form == "one_hot":
        declared = tuple(int(extent) for extent in message.one_hot.shape)
        if message.one_hot.dtype == pb.DTYPE_FLOAT32 and all(extent >= 0 for extent in declared):
            # The declared shape is only a claim; check it before the decoder trusts it.
            _check_onehot_shape(declared, f"{field}.one_hot")
            _check_size(declared[0], field, max_sequences)
            _check_length(declared[1], f"{field}.one_hot", length)
    elif form == "dataset_split":
        if load_split is None:
            raise invalid(
                f"{field}.dataset_split",
                "this service does not read stored data sets; send strings or one_hot",
            )
        check_id(message.dataset_split.dataset_id, field_name=f"{field}.dataset_split.dataset_id")


def _check_size(count: int, field: str, max_sequences: int | None) -> None:
    if max_sequences is not None and count > max_sequences:
        raise invalid(
            field,
            f"{count} sequences; at most {max_sequences} per request "
            "(send fewer per call, e.g. with dataset_split offset/limit)",
        )


def _check_length(extent: int, field: str, length: int | None) -> None:
    if length is not None and extent != length:
        raise invalid(field, f"wrong length; the model takes sequences of {length} nt, got {extent}")


def _check_onehot_shape(shape: tuple[int, ...], field: str) -> None:
    if len(shape) != 3 or shape[2] != 4:
        raise invalid(field, f"expected shape (N, L, 4), got {tuple(shape)}")
    if shape[0] == 0 or shape[1] == 0:
        raise invalid(field, f"expected N >= 1 sequences of length L >= 1, got shape {tuple(shape)}")
