"""ReadSplit: a stored split's rows, streamed in bounded chunks.

The one route by which clients (the experiment runner, the report, a lab's own tools)
read stored data; nobody reads the store's layout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from motiflens_client.wire import pb

from motiflens.errors import FailedPreconditionError, InvalidInputError
from services.common import datasets
from services.common.convert import SPLIT_NAMES, array_to_tensor
from services.common.store import ArtifactStore

#: Upper bound on the arrays of one SplitRows message (one-hot + labels + ground truth).
CHUNK_BYTES = 4 * 1024 * 1024


def rows_per_chunk(requested: int, row_bytes: int) -> int:
    """Rows per message: ``requested`` (>= 0; 0 = as many as fit), capped to fit :data:`CHUNK_BYTES`."""
    fitting = max(1, CHUNK_BYTES // max(1, row_bytes))
    return min(requested, fitting) if requested else fitting


def split_chunks(
    store: ArtifactStore, request: pb.ReadSplitRequest, is_active: Callable[[], bool]
) -> Iterator[pb.SplitRows]:
    """The SplitRows messages answering ``request``, computed one at a time.

    Parameters
    ----------
    store : ArtifactStore
    request : pb.ReadSplitRequest
    is_active : callable
        False once the caller has gone (cancelled, deadline passed): no more chunks are made.

    Yields
    ------
    pb.SplitRows
        ``one_hot`` (n, L, 4) float32, ``labels`` (n, T) float32, ``names`` (n record
        names) when the data set stores them, ``ground_truth`` (n, L, 4) float32 when asked for.

    Raises
    ------
    InvalidInputError
        Malformed id, unknown split, negative offset/limit/rows_per_chunk, offset past the end.
    NotFoundError
        Unknown data set.
    FailedPreconditionError
        Ground truth asked of a data set that stores none.
    """
    ref = request.rows
    if ref.split not in SPLIT_NAMES:
        raise InvalidInputError(
            f"rows.split: unknown split enum value {ref.split}; expected TRAIN, VALID or TEST"
        )
    split = SPLIT_NAMES[ref.split]
    if request.rows_per_chunk < 0:  # checked before the data set is loaded
        raise InvalidInputError(
            f"rows_per_chunk: expected >= 0 (0 = the server's default), got {request.rows_per_chunk}"
        )
    X = datasets.load_split(store, ref.dataset_id, split, int(ref.offset), int(ref.limit), field="rows")
    dataset, _ = datasets.load_dataset(store, ref.dataset_id)
    part = dataset.split(split)
    first = int(ref.offset)
    y = part.y[first : first + X.shape[0]]
    truth = None
    if request.ground_truth:
        if part.model is None:
            raise FailedPreconditionError(
                f"ground_truth: data set {ref.dataset_id!r} stores no ground-truth sequence model "
                "(only the synthetic tasks do); ask without ground_truth"
            )
        truth = part.model[first : first + X.shape[0]]
    names = datasets.load_row_names(store, ref.dataset_id)
    split_names = names[split][first : first + X.shape[0]] if names is not None else None
    row_bytes = 4 * (X.shape[1] * 4 * (2 if truth is not None else 1) + y.reshape(len(y), -1).shape[1])
    step = rows_per_chunk(request.rows_per_chunk, row_bytes)
    total = int(X.shape[0])
    for start in range(0, total, step):
        if not is_active():
            return
        stop = min(total, start + step)
        message = pb.SplitRows(
            offset=first + start,
            one_hot=array_to_tensor(np.ascontiguousarray(X[start:stop], dtype=np.float32)),
            labels=array_to_tensor(np.ascontiguousarray(y[start:stop], dtype=np.float32)),
            total_rows=total,
        )
        if split_names is not None:
            message.names.extend(split_names[start:stop])
        if truth is not None:
            message.ground_truth.CopyFrom(
                array_to_tensor(np.ascontiguousarray(truth[start:stop], np.float32))
            )
        yield message
