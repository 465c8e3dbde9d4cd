"""References (baselines) of integrated gradients and DeepSHAP: shuffles of each sequence.

``reference="shuffle"`` (the paper): a random permutation of the positions of x
per reference; ``reference="dinucleotide"``: a dinucleotide shuffle
(:func:`motiflens.sequences.dinucleotide_shuffle`, needs hard one-hot input).
The references of sequence i come from a generator seeded with ``(seed, i)``, so
they do not depend on ``batch_size``; :func:`make_references` returns them, and
:func:`_reference_blocks` yields the same references a bounded block at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from motiflens.attribution._graph import (
    REFERENCES,
    Reference,
    _check_choice,
    _check_offset,
    _check_positive_int,
    _check_seed,
)
from motiflens.sequences import check_one_hot, dinucleotide_shuffle


def _draw(x: np.ndarray, rng: np.random.Generator, count: int, reference: str) -> np.ndarray:
    """The next ``count`` references of one sequence x (L, 4) from its generator; (count, L, 4)."""
    if reference == "shuffle":
        return np.stack([x[rng.permutation(x.shape[0])] for _ in range(count)]).astype(np.float32)
    # dinucleotide_shuffle draws shuffle after shuffle from rng, so blocks continue one stream.
    return dinucleotide_shuffle(x[None], num_shuffles=count, seed=rng)[0].astype(np.float32)


def _references(
    X: np.ndarray, first_index: int, num_references: int, reference: str, seed: int
) -> np.ndarray:
    """References of X[i] drawn from a generator seeded (seed, first_index + i); (N, R, L, 4)."""
    out = np.empty((X.shape[0], num_references, *X.shape[1:]), dtype=np.float32)
    for i, x in enumerate(X):
        out[i] = _draw(x, np.random.default_rng([seed, first_index + i]), num_references, reference)
    return out


def _reference_blocks(
    X: np.ndarray, first_index: int, num_references: int, reference: str, seed: int, block: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The references of :func:`_references` in blocks of at most ``block``, never all at once.

    Yields (sequence index into X, shape (U,); references, shape (U, L, 4)), U <= block,
    sequence-major: X[0]'s references first. Each sequence's generator is consumed in
    order, so the references are exactly those of :func:`_references`.
    """
    indices: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    size = 0
    for i, x in enumerate(X):
        rng = np.random.default_rng([seed, first_index + i])
        left = num_references
        while left:
            count = min(left, block - size)
            parts.append(_draw(x, rng, count, reference))
            indices.append(np.full(count, i))
            size, left = size + count, left - count
            if size == block:
                yield np.concatenate(indices), np.concatenate(parts)
                indices, parts, size = [], [], 0
    if size:
        yield np.concatenate(indices), np.concatenate(parts)


def make_references(
    X: np.ndarray,
    *,
    num_references: int = 10,
    reference: Reference = "shuffle",
    seed: int = 0,
    index_offset: int = 0,
) -> np.ndarray:
    """The references that integrated gradients and DeepSHAP use for X.

    Parameters
    ----------
    X : np.ndarray, shape (N, L, 4), float32
        One-hot DNA.
    num_references : int, default 10
        References per sequence.
    reference : {"shuffle", "dinucleotide"}, default "shuffle"
        Random permutation of positions (the paper), or a dinucleotide shuffle
        (keeps dinucleotide counts; needs hard one-hot columns or all-zero N).
    seed : int, default 0
        Sequence i's references come from a generator seeded with (seed, i).

    index_offset : int, default 0
        X[i] is treated as sequence ``index_offset + i`` for seeding.

    Returns
    -------
    np.ndarray, shape (N, num_references, L, 4), float32

    Raises
    ------
    InvalidInputError
        Bad shape, bad counts, unknown reference kind or negative seed.
    """
    X = check_one_hot(X, dtype=np.float32)
    num_references = _check_positive_int(num_references, "num_references")
    _check_choice(reference, "reference", REFERENCES)
    return _references(X, _check_offset(index_offset), num_references, reference, _check_seed(seed))
