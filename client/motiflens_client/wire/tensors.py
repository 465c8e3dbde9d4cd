"""The Tensor codec: numpy arrays <-> ``pb.Tensor``, with the checks both sides need.

Tensors are ``bytes data`` + ``repeated int64 shape`` + ``DType dtype``, little-endian,
C order (``protos/motiflens/v1/common.proto``). Decoding checks the declared shape
before it trusts it, so a small message can never make the reader allocate a large
array. Errors are :class:`~motiflens_client.wire.errors.WireError` with the field path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from motiflens_client.wire import pb
from motiflens_client.wire.errors import WireError

__all__ = [
    "NUMPY_BY_DTYPE",
    "DTYPE_BY_NUMPY",
    "MAX_AXES",
    "MAX_DECLARED_BYTES",
    "dtype_name",
    "array_to_tensor",
    "tensor_to_array",
    "reassemble",
]

#: Wire format of ``Tensor.data``: proto DType -> little-endian numpy dtype.
NUMPY_BY_DTYPE: dict[int, np.dtype] = {
    pb.DTYPE_FLOAT32: np.dtype("<f4"),
    pb.DTYPE_FLOAT64: np.dtype("<f8"),
    pb.DTYPE_INT32: np.dtype("<i4"),
    pb.DTYPE_INT64: np.dtype("<i8"),
    pb.DTYPE_INT8: np.dtype("i1"),
    pb.DTYPE_UINT8: np.dtype("u1"),
}
#: Native-order numpy dtype -> proto DType (the inverse of :data:`NUMPY_BY_DTYPE`).
DTYPE_BY_NUMPY: dict[np.dtype, int] = {
    dtype.newbyteorder("="): code for code, dtype in NUMPY_BY_DTYPE.items()
}
#: Most axes a Tensor may declare (numpy's own limit is 64; the API uses at most 3).
MAX_AXES = 32
#: Largest size a Tensor's shape may declare, zero extents left out (numpy's index range is 2**63).
MAX_DECLARED_BYTES = 2**62


def dtype_name(code: int) -> str:
    """``pb.DTYPE_FLOAT32`` -> ``"DTYPE_FLOAT32"`` (the number for unknown values)."""
    try:
        return pb.DType.Name(code)
    except ValueError:
        return str(code)


def _dtype_names(dtypes: Iterable[np.dtype]) -> str:
    return ", ".join(dtype_name(DTYPE_BY_NUMPY[np.dtype(d).newbyteorder("=")]) for d in dtypes)


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
    WireError
        A dtype the wire format lacks (e.g. float16, bool, object).
    """
    array = np.asarray(array)
    code = DTYPE_BY_NUMPY.get(array.dtype.newbyteorder("="))
    if code is None:
        accepted = ", ".join(str(d.newbyteorder("=")) for d in NUMPY_BY_DTYPE.values())
        raise WireError(field, f"dtype {array.dtype} cannot be sent; expected one of {accepted}")
    data = np.ascontiguousarray(array, dtype=NUMPY_BY_DTYPE[code]).tobytes()
    return pb.Tensor(dtype=code, shape=list(array.shape), data=data)  # type: ignore[arg-type]  # a DType value


def tensor_to_array(
    tensor: pb.Tensor,
    *,
    field: str,
    dtypes: Sequence[np.dtype | type | str] | None = None,
    ndim: int | None = None,
    finite: bool = False,
    copy: bool = False,
) -> np.ndarray:
    """Decode a Tensor message into a numpy array, validated.

    Parameters
    ----------
    tensor : pb.Tensor
    field : str
        Path of the tensor in its message, used in error messages.
    dtypes : sequence of dtype, optional
        Accepted element types (default: every DType).
    ndim : int, optional
        Required number of axes.
    finite : bool, default False
        Reject NaN and infinities (float types only).
    copy : bool, default False
        Return a writable copy instead of a read-only view of the message bytes.

    Returns
    -------
    np.ndarray
        Native byte order, shape ``tuple(tensor.shape)``.

    Raises
    ------
    WireError
        Unset or unaccepted dtype, negative extents, wrong number of axes (or more
        than :data:`MAX_AXES`), extents no array can have, a byte length that is not
        ``prod(shape) * itemsize``, or non-finite values. ``field`` is the path of the
        offending part (``<field>.dtype``, ``<field>.shape`` or ``<field>.data``).
    """
    accepted = None if dtypes is None else [np.dtype(d) for d in dtypes]
    if tensor.dtype == pb.DTYPE_UNSPECIFIED:
        choices = _dtype_names(accepted) if accepted else ", ".join(pb.DType.keys()[1:])
        raise WireError(f"{field}.dtype", f"unset; expected {choices}")
    if tensor.dtype not in NUMPY_BY_DTYPE:
        raise WireError(f"{field}.dtype", f"unknown value {tensor.dtype}")
    dtype = NUMPY_BY_DTYPE[tensor.dtype]
    if accepted is not None and dtype.newbyteorder("=") not in [d.newbyteorder("=") for d in accepted]:
        raise WireError(
            f"{field}.dtype", f"expected {_dtype_names(accepted)}, got {dtype_name(tensor.dtype)}"
        )
    shape = tuple(int(extent) for extent in tensor.shape)
    if any(extent < 0 for extent in shape):
        raise WireError(f"{field}.shape", f"expected extents >= 0, got {list(shape)}")
    if ndim is not None and len(shape) != ndim:
        raise WireError(f"{field}.shape", f"expected {ndim} axes, got {len(shape)} ({list(shape)})")
    if len(shape) > MAX_AXES:
        raise WireError(f"{field}.shape", f"{len(shape)} axes; at most {MAX_AXES} are accepted")
    # numpy cannot even describe an empty array whose other extents multiply past its index range.
    if math.prod(extent for extent in shape if extent) * dtype.itemsize > MAX_DECLARED_BYTES:
        raise WireError(
            f"{field}.shape",
            f"{list(shape)} declares more than 2**62 bytes; no tensor that large is accepted",
        )
    expected = math.prod(shape) * dtype.itemsize
    if len(tensor.data) != expected:
        raise WireError(
            f"{field}.data",
            f"expected {expected} bytes (shape {list(shape)} of {dtype_name(tensor.dtype)}, "
            f"{dtype.itemsize} bytes each), got {len(tensor.data)}",
        )
    array = np.frombuffer(tensor.data, dtype=dtype).reshape(shape)
    if copy or (dtype.byteorder == "<" and not np.little_endian):
        array = array.astype(dtype.newbyteorder("="), copy=True)
    if finite and dtype.kind == "f" and not np.all(np.isfinite(array)):
        position = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise WireError(f"{field}.data", f"expected finite values, got {array[position]} at {position}")
    return array


def reassemble(chunks: dict[int, np.ndarray], *, field: str) -> np.ndarray:
    """Concatenate streamed chunks keyed by their offset into one array along axis 0.

    Parameters
    ----------
    chunks : dict of int to np.ndarray
        Offset of each chunk's first row -> the chunk, shape (n, ...).
    field : str
        Stream field, for the error message.

    Returns
    -------
    np.ndarray
        Shape (N, ...), rows in offset order.

    Raises
    ------
    WireError
        No chunk, or chunks that leave a gap or overlap.
    """
    if not chunks:
        raise WireError(field, "the stream ended without any chunk")
    expected = 0
    ordered = []
    for offset in sorted(chunks):
        if offset != expected:
            raise WireError(field, f"chunk at offset {offset}, expected {expected} (gap or overlap)")
        ordered.append(chunks[offset])
        expected += len(chunks[offset])
    return ordered[0] if len(ordered) == 1 else np.concatenate(ordered, axis=0)
