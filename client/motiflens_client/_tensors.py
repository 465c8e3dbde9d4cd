"""numpy <-> wire conversions of the client: Tensor messages and the Sequences oneof.

Tensors are ``bytes data`` + ``repeated int64 shape`` + ``DType dtype``, little-endian,
C order (``protos/motiflens/v1/common.proto``). The server validates everything again;
the checks here only give early, local messages for mistakes the client can see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import grpc
import numpy as np

from motiflens_client.api import DTYPE_BY_NUMPY, NUMPY_BY_DTYPE, pb
from motiflens_client.errors import InvalidArgument, MotiflensClientError
from motiflens_client.types import DatasetSplit

_SPLIT_BY_NAME = {
    "train": pb.Split.Value("SPLIT_TRAIN"),
    "valid": pb.Split.Value("SPLIT_VALID"),
    "test": pb.Split.Value("SPLIT_TEST"),
}


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
    array = np.asarray(array)
    code = DTYPE_BY_NUMPY.get(array.dtype.newbyteorder("="))
    if code is None:
        accepted = ", ".join(str(d.newbyteorder("=")) for d in NUMPY_BY_DTYPE.values())
        raise InvalidArgument(f"{field}: dtype {array.dtype} cannot be sent; expected one of {accepted}")
    data = np.ascontiguousarray(array, dtype=NUMPY_BY_DTYPE[code]).tobytes()
    return pb.Tensor(dtype=code, shape=list(array.shape), data=data)


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
    dtype = NUMPY_BY_DTYPE.get(tensor.dtype)
    shape = tuple(int(extent) for extent in tensor.shape)
    if dtype is None or any(extent < 0 for extent in shape):
        raise _data_loss(f"{field}: unknown dtype {tensor.dtype} or bad shape {list(shape)}")
    if len(tensor.data) != math.prod(shape) * dtype.itemsize:
        raise _data_loss(
            f"{field}: {len(tensor.data)} bytes do not hold shape {list(shape)} of {dtype} "
            f"({math.prod(shape) * dtype.itemsize} expected)"
        )
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


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
    return pb.DatasetSplitRef(
        dataset_id=dataset.dataset_id,
        split=_SPLIT_BY_NAME[dataset.split],
        offset=dataset.offset,
        limit=dataset.limit,
    )


def sequences_to_proto(
    sequences: Sequence[str] | np.ndarray | DatasetSplit, *, field: str = "sequences"
) -> pb.Sequences:
    """A Sequences message from any of the SDK's three sequence forms.

    Parameters
    ----------
    sequences : list of str, np.ndarray or DatasetSplit
        DNA strings over A, C, G, T, N (either case; one length — the server checks
        bases and lengths); one-hot ``X``, shape (N, L, 4), channels A, C, G, T
        (sent as float32); or a reference to stored sequences.
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
    if isinstance(sequences, np.ndarray):
        X = sequences
        if X.ndim != 3 or X.shape[2] != 4 or X.shape[0] == 0 or X.shape[1] == 0:
            raise InvalidArgument(
                f"{field}: expected a one-hot array of shape (N, L, 4) with N, L >= 1, got {X.shape}"
            )
        if not np.issubdtype(X.dtype, np.number) and X.dtype != np.bool_:
            raise InvalidArgument(f"{field}: expected a numeric one-hot array, got dtype {X.dtype}")
        return pb.Sequences(one_hot=array_to_tensor(X.astype(np.float32, copy=False), field=field))
    if isinstance(sequences, str | bytes):
        raise InvalidArgument(
            f"{field}: expected a list of DNA strings, got a single string; wrap it in a list"
        )
    try:
        items = list(sequences)
    except TypeError:
        raise InvalidArgument(
            f"{field}: expected a list of DNA strings, a one-hot array (N, L, 4) or a DatasetSplit, "
            f"got {type(sequences).__name__}"
        ) from None
    if not items:
        raise InvalidArgument(f"{field}: expected at least one sequence, got none")
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidArgument(f"{field}[{index}]: expected a DNA string, got {type(item).__name__}")
    return pb.Sequences(strings=pb.SequenceList(sequences=items))


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
    if not chunks:
        raise _data_loss(f"{field}: the stream ended without any chunk")
    expected = 0
    ordered = []
    for offset in sorted(chunks):
        if offset != expected:
            raise _data_loss(f"{field}: chunk at offset {offset}, expected {expected} (gap or overlap)")
        ordered.append(chunks[offset])
        expected += len(chunks[offset])
    return ordered[0] if len(ordered) == 1 else np.concatenate(ordered, axis=0)
