"""Attribution maps on disk in modisco-lite's layout, written and read a block of rows at a time.

TF-MoDISco (modisco-lite's ``modisco motifs -s ohe.npz -a shap.npz``) reads the one-hot
sequences and the *hypothetical* contributions as arrays of shape (N, 4, L): channels
first, A, C, G, T. Two formats hold exactly that:

- ``"npz"``: ``ohe.npz`` and ``shap.npz``, each a zip (stored, not compressed) with one
  member ``arr_0.npy`` of shape (N, 4, L), float32, as ``numpy.savez`` writes it, so
  ``numpy.load(path)["arr_0"]`` and modisco-lite read them unchanged;
- ``"hdf5"``: ``attributions.h5`` with datasets ``ohe`` and ``hypothetical``, (N, 4, L)
  float32, chunked by rows.

:class:`MapFileWriter` appends blocks of rows and never holds more than the block it is
given, so a split of any size is written with the memory of one block;
:func:`read_map_rows` reads any row range back the same way. The projected map (what
the sequence's own bases contribute) is ``hypothetical * ohe``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from motiflens.errors import InvalidInputError

#: The formats and the files each writes, in the artifact's object order.
FILES = {"npz": ("ohe.npz", "shap.npz"), "hdf5": ("attributions.h5",)}
_NPZ_MEMBER = "arr_0.npy"
_HDF5_DATASETS = ("ohe", "hypothetical")
_DTYPE = np.dtype("<f4")


def _channels_first(block: np.ndarray, length: int, what: str) -> np.ndarray:
    block = np.asarray(block, dtype=np.float32)
    if block.ndim != 3 or block.shape[1:] != (length, 4):
        raise InvalidInputError(f"{what}: expected shape (n, {length}, 4), got {block.shape}")
    return np.ascontiguousarray(block.transpose(0, 2, 1), dtype=_DTYPE)


class MapFileWriter:
    """Write N rows of one-hot and hypothetical maps into ``directory`` in ``file_format``.

    Parameters
    ----------
    directory : path
        Where the files of :data:`FILES` ``[file_format]`` are created.
    file_format : {"npz", "hdf5"}
    num_sequences : int
        N, the rows that :meth:`append` must deliver in all before :meth:`close`.
    length : int
        L, nucleotides per sequence.

    Use as a context manager; :meth:`append` takes (n, L, 4) blocks in row order.
    Leaving the block early (an exception) removes nothing: the caller owns the
    directory (a temporary one) and must not publish unfinished files.
    """

    def __init__(self, directory: Path | str, file_format: str, num_sequences: int, length: int):
        if file_format not in FILES:
            raise InvalidInputError(f"format: expected one of {', '.join(FILES)}, got {file_format!r}")
        self.directory = Path(directory)
        self.file_format = file_format
        self.num_sequences = int(num_sequences)
        self.length = int(length)
        self.rows_written = 0
        self.paths = [self.directory / name for name in FILES[file_format]]
        shape = (self.num_sequences, 4, self.length)
        if file_format == "npz":
            self._zips = [
                zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) for path in self.paths
            ]
            self._members = [archive.open(_NPZ_MEMBER, "w", force_zip64=True) for archive in self._zips]
            header = {"descr": np.lib.format.dtype_to_descr(_DTYPE), "fortran_order": False, "shape": shape}
            for member in self._members:
                np.lib.format.write_array_header_2_0(member, header)
        else:
            self._h5 = h5py.File(self.paths[0], "w")
            rows = max(1, min(self.num_sequences, (1 << 20) // max(1, 16 * self.length)))
            self._datasets = [
                self._h5.create_dataset(name, shape=shape, dtype=_DTYPE, chunks=(rows, 4, self.length))
                for name in _HDF5_DATASETS
            ]

    def append(self, one_hot: np.ndarray, hypothetical: np.ndarray) -> None:
        """Write the next block of rows; both arrays (n, L, 4).

        Raises
        ------
        InvalidInputError
            A shape other than (n, L, 4), different n for the two arrays, or more rows
            than ``num_sequences`` in all.
        """
        blocks = [
            _channels_first(one_hot, self.length, "one_hot"),
            _channels_first(hypothetical, self.length, "hypothetical"),
        ]
        n = blocks[0].shape[0]
        if blocks[1].shape[0] != n:
            raise InvalidInputError(f"hypothetical: {blocks[1].shape[0]} rows for {n} one-hot rows")
        if self.rows_written + n > self.num_sequences:
            raise InvalidInputError(
                f"rows: {self.rows_written} + {n} is more than the {self.num_sequences} declared"
            )
        if self.file_format == "npz":
            for member, block in zip(self._members, blocks, strict=True):
                member.write(block.tobytes())
        else:
            for dataset, block in zip(self._datasets, blocks, strict=True):
                dataset[self.rows_written : self.rows_written + n] = block
        self.rows_written += n

    def close(self) -> None:
        """Finish the files. Raises InvalidInputError when fewer rows than declared were written."""
        self._release()
        if self.rows_written != self.num_sequences:
            raise InvalidInputError(
                f"rows: {self.rows_written} written of the {self.num_sequences} declared; "
                "the files are incomplete"
            )

    def _release(self) -> None:
        if self.file_format == "npz":
            for member in self._members:
                member.close()
            for archive in self._zips:
                archive.close()
            self._members, self._zips = [], []
        elif self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> MapFileWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._release()


def _npy_header(member) -> tuple:
    """(shape, fortran_order, dtype) of the .npy stream ``member``, left positioned at its data."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    return np.lib.format.read_array_header_2_0(member)


def map_file_shape(directory: Path | str, file_format: str) -> tuple[int, int]:
    """(N, L) of the maps in ``directory`` (the one-hot file's header; nothing else is read)."""
    directory = Path(directory)
    if file_format == "npz":
        with zipfile.ZipFile(directory / FILES["npz"][0]) as archive, archive.open(_NPZ_MEMBER) as member:
            shape, _, _ = _npy_header(member)
        return int(shape[0]), int(shape[2])
    with h5py.File(directory / FILES["hdf5"][0], "r") as handle:
        shape = handle["ohe"].shape
    return int(shape[0]), int(shape[2])


def read_map_rows(
    directory: Path | str, file_format: str, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows [start, stop) of the maps in ``directory`` as (one-hot, hypothetical), each (n, L, 4) float32.

    Only those rows are read (the NPZ members are stored uncompressed, so a row range
    is a seek and one read).
    """
    directory = Path(directory)
    n, length = map_file_shape(directory, file_format)
    start, stop = max(0, int(start)), min(n, int(stop))
    count = max(0, stop - start)
    arrays = []
    if file_format == "npz":
        row_bytes = 4 * length * _DTYPE.itemsize
        for name in FILES["npz"]:
            with zipfile.ZipFile(directory / name) as archive, archive.open(_NPZ_MEMBER) as member:
                _npy_header(member)
                member.seek(member.tell() + start * row_bytes)
                data = member.read(count * row_bytes)
            arrays.append(np.frombuffer(data, dtype=_DTYPE).reshape(count, 4, length))
    else:
        with h5py.File(directory / FILES["hdf5"][0], "r") as handle:
            arrays = [np.asarray(handle[name][start:stop]) for name in _HDF5_DATASETS]
    return tuple(np.ascontiguousarray(a.transpose(0, 2, 1), dtype=np.float32) for a in arrays)  # type: ignore[return-value]
