"""The SDK's side of the wire codecs (:mod:`motiflens_client.wire`): its types and errors.

The codecs themselves live in :mod:`motiflens_client.wire.tensors` and
:mod:`motiflens_client.wire.sequences`; this module maps their
:class:`~motiflens_client.wire.WireError` to the SDK's exceptions (INVALID_ARGUMENT for
what the caller sends, DATA_LOSS for what a server sent) and accepts the SDK's
:class:`~motiflens_client.types.DatasetSplit`. The server validates everything again;
the checks here only give early, local messages for mistakes the client can see.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import grpc
import numpy as np

from motiflens_client.errors import InvalidArgument, MotiflensClientError
from motiflens_client.sdk import inputs
from motiflens_client.types import DatasetSplit
from motiflens_client.wire import WireError, pb
from motiflens_client.wire import sequences as wire_sequences
from motiflens_client.wire import tensors as wire_tensors


def array_to_tensor(array: np.ndarray, *, field: str = "array") -> pb.Tensor:
    """Encode an array as a Tensor message (little-endian, C order).

    Parameters
    ----------
    array : np.ndarray
        float32, float64, int32, int64, int8 or uint8, any shape.
    field : str, default "array"
        Name used in the error message.

    Returns
    -------
    pb.Tensor

    Raises
    ------
    InvalidArgument
        A dtype the wire format lacks (e.g. float16, bool, object).
    """
    try:
        return wire_tensors.array_to_tensor(array, field=field)
    except WireError as error:
        raise InvalidArgument(str(error)) from None


def tensor_to_array(tensor: pb.Tensor, *, field: str = "tensor") -> np.ndarray:
    """Decode a Tensor message from a response.

    Parameters
    ----------
    tensor : pb.Tensor
    field : str, default "tensor"
        Response field, for the error message.

    Returns
    -------
    np.ndarray
        Shape ``tuple(tensor.shape)``, native byte order, writable (a copy of the bytes).

    Raises
    ------
    MotiflensClientError
        Code DATA_LOSS: an unknown dtype or a byte length that does not match the
        shape (a server or transport fault, not the caller's).
    """
    try:
        return wire_tensors.tensor_to_array(tensor, field=field, copy=True)
    except WireError as error:
        raise _data_loss(str(error)) from None


def _data_loss(message: str) -> MotiflensClientError:
    return MotiflensClientError(grpc.StatusCode.DATA_LOSS, message)


def split_ref(dataset: DatasetSplit | str, *, field: str = "dataset") -> pb.DatasetSplitRef:
    """A DatasetSplitRef from a :class:`DatasetSplit` or a data set id (its test split).

    Raises
    ------
    InvalidArgument
        ``dataset`` is neither.
    """
    if isinstance(dataset, str):
        dataset = DatasetSplit(dataset)
    if not isinstance(dataset, DatasetSplit):
        raise InvalidArgument(
            f"{field}: expected a DatasetSplit or a data set id, got {type(dataset).__name__}"
        )
    return wire_sequences.split_ref(_wire_ref(dataset), field=field)


def _wire_ref(dataset: DatasetSplit) -> wire_sequences.SplitRef:
    return wire_sequences.SplitRef(dataset.dataset_id, dataset.split, dataset.offset, dataset.limit)


def sequences_to_proto(
    sequences: Sequence[str] | np.ndarray | DatasetSplit | str | os.PathLike, *, field: str = "sequences"
) -> pb.Sequences:
    """A Sequences message from any of the SDK's three sequence forms.

    Parameters
    ----------
    sequences : list of str, np.ndarray, DatasetSplit or path
        DNA strings over A, C, G, T, N (either case; one length — the server checks
        bases and lengths); one-hot ``X``, shape (N, L, 4), channels A, C, G, T
        (sent as float32); a reference to stored sequences; or a FASTA file (plain
        or gzip, read by :func:`motiflens_client.sdk.inputs.read_fasta`).
    field : str, default "sequences"
        Name used in error messages.

    Returns
    -------
    pb.Sequences

    Raises
    ------
    InvalidArgument
        A bare string (pass a list), an empty list, non-string items, or an array
        that is not (N, L, 4) with N, L >= 1.
    """
    if isinstance(sequences, DatasetSplit):
        return pb.Sequences(dataset_split=split_ref(sequences, field=field))
    if isinstance(sequences, str | os.PathLike) and inputs.is_file(sequences):
        sequences = list(inputs.read_fasta(sequences).sequences)  # a FASTA file, as the CLI takes
    elif isinstance(sequences, os.PathLike):
        raise InvalidArgument(f"{field}: no such FASTA file: {os.fspath(sequences)!r}")
    try:
        return wire_sequences.encode(sequences, field=field)
    except WireError as error:
        raise InvalidArgument(str(error)) from None


def reassemble(chunks: dict[int, np.ndarray], *, field: str) -> np.ndarray:
    """Concatenate streamed chunks keyed by their offset into one array along axis 0.

    Parameters
    ----------
    chunks : dict of int to np.ndarray
        Offset of each chunk's first row -> the chunk, shape (n, ...).
    field : str
        Response field, for the error message.

    Returns
    -------
    np.ndarray
        Shape (N, ...), rows in offset order.

    Raises
    ------
    MotiflensClientError
        DATA_LOSS: no chunk, or chunks that leave a gap or overlap.
    """
    try:
        return wire_tensors.reassemble(chunks, field=field)
    except WireError as error:
        raise _data_loss(str(error)) from None
