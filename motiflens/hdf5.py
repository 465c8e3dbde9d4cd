"""Reading HDF5 files that come from someone else: structure check first, bounded reads after.

HDF5 can make the reader open other files: *external raw storage* (a dataset whose
bytes live in a file the creator named, ``create_dataset(..., external=[...])``),
*external links* (a link to an object in another file), *virtual datasets* (a dataset
mapped from others, possibly in other files) and *soft links* (paths resolved at read
time). A client's upload must never make the server read, say, ``/proc/self/environ``,
so :func:`open_untrusted` walks the whole file, without following any link, and
refuses all of these — and compound, complex, reference and other non-numeric dtypes,
unknown filters (plugins) and oversized chunks — before a single array is read.
:meth:`UntrustedHdf5.read_float` then reads one dataset slab by slab into a preallocated float32
array, so peak memory is the array plus one slab, and refuses NaN and infinities.

Every failure, h5py's own included, becomes :class:`InvalidInputError` naming the file
(``origin``) and the key, because a corrupt upload is the client's mistake.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from motiflens.errors import InvalidInputError, MotiflensError, NotFoundError

#: dtype kinds a dataset may have: float, signed and unsigned integer, bool.
NUMERIC_KINDS = "fiub"
#: HDF5's built-in filters (deflate, shuffle, fletcher32, szip, nbit, scale-offset);
#: any other id would load a plugin library from the filter search path.
BUILTIN_FILTERS = frozenset({1, 2, 3, 4, 5, 6})
#: Bytes read per slab in :meth:`UntrustedHdf5.read_float`.
SLAB_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Hdf5Limits:
    """Bounds on an untrusted file's structure.

    Attributes
    ----------
    max_objects : int
        Groups and datasets in the whole file.
    max_rank : int
        Axes of one dataset.
    max_chunk_bytes : int
        Bytes of one chunk (a chunk is decompressed whole, whatever is read).
    max_attributes : int
        Attributes on one object.
    max_attribute_bytes : int
        Stored bytes of one attribute.
    """

    max_objects: int = 256
    max_rank: int = 4
    max_chunk_bytes: int = 64 * 1024 * 1024
    max_attributes: int = 64
    max_attribute_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class ArrayInfo:
    """Declared shape and dtype of one dataset (nothing read).

    Attributes
    ----------
    shape : tuple of int
    dtype : np.dtype
    """

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=object))


class UntrustedHdf5:
    """An open, checked file: ``arrays`` (key -> ArrayInfo of every dataset) and the h5py handle.

    Obtain one with :func:`open_untrusted`; read datasets with :meth:`read_float`,
    :meth:`read_int` and attributes with :meth:`attributes`.
    """

    def __init__(self, handle, origin: str, arrays: dict[str, ArrayInfo]) -> None:
        self.handle = handle
        self.origin = origin
        self.arrays = arrays

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    def keys(self) -> list[str]:
        """Dataset paths, sorted (top-level names have no slash)."""
        return sorted(self.arrays)

    def declared_bytes(self, keys=None, itemsize: int = 4) -> int:
        """Bytes the datasets ``keys`` (default all) take with ``itemsize``-byte elements."""
        keys = self.arrays if keys is None else keys
        return sum(self.arrays[key].size * itemsize for key in keys if key in self.arrays)

    def read_float(
        self, key: str, *, dtype=np.float32, finite: bool = True, low=None, high=None
    ) -> np.ndarray:
        """Read dataset ``key`` as floats, slab by slab along axis 0.

        Parameters
        ----------
        key : str
        dtype : numpy float dtype, default float32
        finite : bool, default True
            Refuse NaN and +-inf.
        low, high : float, optional
            Refuse values below ``low`` or above ``high``.

        Returns
        -------
        np.ndarray, ``dtype``, the dataset's shape

        Raises
        ------
        InvalidInputError
            Unreadable bytes, or a value outside what is allowed (the message gives the
            first offending row).
        """
        return self._read(key, dtype, finite=finite, low=low, high=high)

    def read_int(self, key: str) -> np.ndarray:
        """Read dataset ``key`` as int64 (integer or bool datasets only)."""
        info = self._info(key)
        if info.dtype.kind not in "iub":
            raise InvalidInputError(f"{self.origin}: {key}: expected integers, got dtype {info.dtype}")
        return self._read(key, np.int64, finite=False, low=None, high=None)

    def attributes(self) -> dict:
        """The root group's attributes as plain Python values (bytes decoded as UTF-8)."""
        with _h5py_errors(self.origin, "attributes"):
            return {key: _attr_value(value, self.origin, key) for key, value in self.handle.attrs.items()}

    def _info(self, key: str) -> ArrayInfo:
        if key not in self.arrays:
            raise NotFoundError(f"{self.origin}: missing key {key!r}")
        return self.arrays[key]

    def _read(self, key: str, dtype, *, finite: bool, low, high) -> np.ndarray:
        info = self._info(key)
        dataset = self.handle[key]
        out = np.empty(info.shape, dtype=dtype)
        if out.size == 0:
            return out
        if not info.shape:  # a scalar dataset
            with _h5py_errors(self.origin, key):
                out[()] = dataset[()]
            _check_values(out, self.origin, key, 0, finite, low, high)
            return out
        row_bytes = max(1, out[0].size * max(info.dtype.itemsize, out.itemsize))
        step = max(1, SLAB_BYTES // row_bytes)
        for start in range(0, info.shape[0], step):
            stop = min(start + step, info.shape[0])
            with _h5py_errors(self.origin, key):
                slab = dataset[start:stop]
            out[start:stop] = slab
            _check_values(out[start:stop], self.origin, key, start, finite, low, high)
        return out


def _check_values(values: np.ndarray, origin: str, key: str, first_row: int, finite: bool, low, high) -> None:
    if values.dtype.kind != "f":
        return
    bad = None
    if finite:
        bad = ~np.isfinite(values)
        what = "NaN or infinite values"
    if bad is None or not bad.any():
        bad = None
        conditions = []
        if low is not None:
            conditions.append(values < low)
        if high is not None:
            conditions.append(values > high)
        if conditions:
            bad = np.logical_or.reduce(conditions)
            what = f"values outside [{low}, {high}]"
            if not bad.any():
                bad = None
    if bad is not None:
        row = first_row + int(np.argwhere(bad)[0][0]) if values.ndim else first_row
        raise InvalidInputError(f"{origin}: {key}: {what} (first at row {row}); expected finite numbers")


@contextmanager
def _h5py_errors(origin: str, key: str) -> Iterator[None]:
    """Turn any failure of h5py (corrupt bytes, odd types) into InvalidInputError naming the key."""
    try:
        yield
    except MotiflensError:
        raise
    except (
        OSError,
        RuntimeError,
        KeyError,
        ValueError,
        TypeError,
        UnicodeDecodeError,
        AttributeError,
    ) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{origin}: {key}: unreadable HDF5 ({detail})") from None


def _attr_value(value, origin: str, key: str):
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise InvalidInputError(f"{origin}: attribute {key!r}: not UTF-8 text") from None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return (
            [_attr_value(item, origin, key) for item in value.tolist()]
            if value.dtype.kind == "O"
            else (value.tolist())
        )
    return value


@contextmanager
def open_untrusted(
    path: str | os.PathLike, *, origin: str | None = None, limits: Hdf5Limits | None = None
) -> Iterator[UntrustedHdf5]:
    """Open an HDF5 file from a client, check its whole structure, and yield it.

    Parameters
    ----------
    path : path of the file
    origin : str, optional
        How messages name the file (e.g. ``"hdf5.content"`` for an upload); default the path.
    limits : Hdf5Limits, optional

    Yields
    ------
    UntrustedHdf5

    Raises
    ------
    InvalidInputError
        Not HDF5, corrupt, or holding a soft or external link, a virtual dataset,
        external storage, a non-numeric dtype, an unknown filter, an oversized chunk or
        more objects/attributes than ``limits`` allow. Nothing outside ``path`` is opened.
    """
    import h5py

    origin = str(path) if origin is None else origin
    limits = limits or Hdf5Limits()
    try:
        # The default (sec2) driver reads only this file; locking off because the file is ours.
        handle = h5py.File(path, "r", driver=None, locking=False)
    except (OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{origin}: not a readable HDF5 file ({detail})") from None
    try:
        with _h5py_errors(origin, "/"):
            arrays = _walk(handle, origin, limits)
        yield UntrustedHdf5(handle, origin, arrays)
    finally:
        try:
            handle.close()
        except Exception:  # noqa: BLE001 - a corrupt file may fail to close; nothing to keep
            pass


def _walk(root, origin: str, limits: Hdf5Limits) -> dict[str, ArrayInfo]:
    """Every dataset of the file by path, refusing anything that reads outside it."""
    import h5py

    arrays: dict[str, ArrayInfo] = {}
    seen: set[int] = set()
    pending = [("", root)]
    count = 0
    while pending:
        prefix, group = pending.pop()
        _check_attributes(group, origin, prefix or "/", limits)
        for name in group:
            path = f"{prefix}{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                kind = (
                    "an external link"
                    if isinstance(link, h5py.ExternalLink)
                    else "a soft or user-defined link"
                )
                raise InvalidInputError(
                    f"{origin}: {path}: is {kind}; only datasets stored inside the file are accepted"
                )
            count += 1
            if count > limits.max_objects:
                raise InvalidInputError(f"{origin}: more than {limits.max_objects} groups and datasets")
            item = group[name]
            address = h5py.h5o.get_info(item.id).addr
            if address in seen:
                raise InvalidInputError(
                    f"{origin}: {path}: a second link to one object; links are not accepted"
                )
            seen.add(address)
            if isinstance(item, h5py.Group):
                pending.append((f"{path}/", item))
            elif isinstance(item, h5py.Dataset):
                arrays[path] = _check_dataset(item, origin, path, limits)
            else:
                raise InvalidInputError(
                    f"{origin}: {path}: a named datatype or unknown object; expected datasets"
                )
    return arrays


def _check_dataset(dataset, origin: str, path: str, limits: Hdf5Limits) -> ArrayInfo:
    import h5py

    plist = dataset.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise InvalidInputError(
            f"{origin}: {path}: a virtual dataset; only data stored inside the file is accepted"
        )
    if plist.get_external_count() > 0:
        raise InvalidInputError(
            f"{origin}: {path}: uses external raw storage (its bytes live in another file); "
            "only data stored inside the file is accepted"
        )
    for index in range(plist.get_nfilters()):
        code = plist.get_filter(index)[0]
        if code not in BUILTIN_FILTERS:
            raise InvalidInputError(
                f"{origin}: {path}: filter {code} is not one of HDF5's built-in filters "
                "(deflate/gzip, shuffle, fletcher32, szip, nbit, scale-offset)"
            )
    dtype = dataset.dtype
    if dtype.kind not in NUMERIC_KINDS or dtype.names is not None or dtype.subdtype is not None:
        raise InvalidInputError(
            f"{origin}: {path}: dtype {dtype} is not accepted; expected float, integer or bool arrays"
        )
    shape = dataset.shape
    if shape is None:
        raise InvalidInputError(f"{origin}: {path}: an empty (null) dataspace; expected an array")
    if len(shape) > limits.max_rank:
        raise InvalidInputError(
            f"{origin}: {path}: {len(shape)} axes; at most {limits.max_rank} are accepted"
        )
    chunks = dataset.chunks
    if chunks is not None:
        chunk_bytes = int(np.prod(chunks, dtype=object)) * dtype.itemsize
        if chunk_bytes > limits.max_chunk_bytes:
            raise InvalidInputError(
                f"{origin}: {path}: chunks of {chunk_bytes} bytes; at most "
                f"{limits.max_chunk_bytes} are accepted"
            )
    _check_attributes(dataset, origin, path, limits)
    return ArrayInfo(shape=tuple(int(n) for n in shape), dtype=np.dtype(dtype))


def _check_attributes(obj, origin: str, path: str, limits: Hdf5Limits) -> None:
    import h5py

    names = list(obj.attrs)
    if len(names) > limits.max_attributes:
        raise InvalidInputError(f"{origin}: {path}: {len(names)} attributes; at most {limits.max_attributes}")
    for name in names:
        attribute = h5py.h5a.open(obj.id, name.encode() if isinstance(name, str) else name)
        dtype = attribute.dtype
        numeric = dtype.kind in NUMERIC_KINDS and dtype.names is None and dtype.subdtype is None
        text = h5py.check_string_dtype(dtype) is not None
        if not (numeric or text):
            raise InvalidInputError(
                f"{origin}: {path}: attribute {name!r} has dtype {dtype}; expected numbers or text"
            )
        if attribute.get_storage_size() > limits.max_attribute_bytes:
            raise InvalidInputError(
                f"{origin}: {path}: attribute {name!r} over {limits.max_attribute_bytes} bytes"
            )
