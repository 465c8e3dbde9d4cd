"""MotifMatchService calls: databases, Tomtom, ground-truth match fractions, uploads."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from motiflens_client import _convert
from motiflens_client._tensors import (
    array_to_tensor,
)
from motiflens_client.errors import (
    InvalidArgument,
)
from motiflens_client.sdk import inputs
from motiflens_client.sdk._calls import (
    DEFAULT_DATABASE,
    ClientBase,
)
from motiflens_client.types import (
    CompareResult,
    DatabaseInfo,
    FilterMotif,
    Filters,
    MatchResult,
)
from motiflens_client.wire import pb
from motiflens_client.wire.pb import (
    motifmatch_pb2,
)
from motiflens_client.wire.vocabulary import DISTANCE_BY_NAME


class MotifMatchCalls(ClientBase):
    """The MotifMatchService methods of :class:`~motiflens_client.sdk.Client`."""

    def databases(self) -> list[DatabaseInfo]:
        """JASPAR releases (CORE vertebrates, with motif counts), then uploaded databases."""
        response = self._unary(self._motifmatch, "ListDatabases", pb.ListDatabasesRequest())
        return [_convert.database_info(message) for message in response.databases]

    def tomtom(
        self,
        queries: str | Sequence[tuple[str, np.ndarray]] | Filters,
        *,
        database: str = DEFAULT_DATABASE,
        collection: str = "",
        tax_group: str = "",
        evalue_threshold: float = 0.0,
        qvalue_threshold: float = 0.0,
        trim: bool = False,
        distance: str = "ed",
    ) -> CompareResult:
        """Tomtom (MEME Tomtom 5's statistics) of query motifs against one database.

        Parameters
        ----------
        queries : str, sequence of (str, np.ndarray) pairs, or Filters
            MEME text; ``(motif_id, pwm)`` pairs with pwm of shape (W, 4), columns A, C,
            G, T, rows summing to 1 (:class:`FilterMotif` items work too); or filters.
        database : str, default "JASPAR2016"
            JASPAR release or an uploaded database id.
        collection : str, default "" (CORE)
        tax_group : str, default "" (vertebrates; "all" for every group)
        evalue_threshold : float, default 0.0 (0.1)
        qvalue_threshold : float, default 0.0
            When > 0, filter by q-value instead.
        trim : bool, default False
            Trim queries to informative columns first (untrimmable queries are skipped).
        distance : {"ed", "pearson"}, default "ed"
            MEME's ``-dist``: Euclidean distance (MEME 5's default, as the paper ran
            Tomtom) or Pearson correlation.

        Returns
        -------
        CompareResult
        """
        request = pb.CompareRequest(
            database=pb.DatabaseRef(database_id=database, collection=collection, tax_group=tax_group),
            evalue_threshold=evalue_threshold,
            qvalue_threshold=qvalue_threshold,
            trim=trim,
            distance=_distance(distance),
        )
        _set_queries(request, queries)
        return _convert.compare_result(self._unary(self._motifmatch, "Compare", request))

    def match_filters(
        self,
        filters: Filters | str,
        *,
        num_filters: int = 0,
        database: str = DEFAULT_DATABASE,
        evalue_threshold: float = 0.0,
        trim: bool = True,
        ground_truth: Mapping[str, Sequence[str]] | str | None = None,
        distance: str = "ed",
    ) -> MatchResult:
        """Ground-truth and any-database match fractions of first-layer filters.

        Parameters
        ----------
        filters : Filters or str
            Filters, or their MEME text (ids ``filter<index>``).
        num_filters : int, default 0
            The denominator: first-layer filters (0: ``len(filters.filters)`` for
            Filters, the number of motifs in the MEME text otherwise).
        database : str, default "JASPAR2016"
        evalue_threshold : float, default 0.0 (0.1)
        trim : bool, default True
            Trim the filters first, as the paper did.
        ground_truth : mapping of str to list of str, "task1", or None
            TF name -> database ids counting as that TF; ``"task1"`` for the paper's Task 1
            map (12 TFs); None (default): no ground truth, so ``match_fraction`` is None
            (a data set without planted motifs has no ground-truth fraction).
        distance : {"ed", "pearson"}, default "ed"
            As for :meth:`tomtom`.

        Returns
        -------
        MatchResult
        """
        request = pb.MatchFiltersRequest(
            database=pb.DatabaseRef(database_id=database),
            evalue_threshold=evalue_threshold,
            no_trim=not trim,
            distance=_distance(distance),
        )
        if isinstance(filters, Filters):
            request.meme = filters.meme
            num_filters = num_filters or len(filters.filters)
        elif isinstance(filters, str):
            request.meme = filters
        else:
            raise InvalidArgument(f"filters: expected Filters or MEME text, got {type(filters).__name__}")
        request.num_filters = num_filters
        if isinstance(ground_truth, str):
            if ground_truth != "task1":
                raise InvalidArgument(
                    "ground_truth: expected a mapping of TF -> motif ids, 'task1' or None, "
                    f"got {ground_truth!r}"
                )
            request.ground_truth_map = motifmatch_pb2.GROUND_TRUTH_MAP_TASK1
            ground_truth = None
        for tf, motif_ids in (ground_truth or {}).items():
            ids = [motif_ids] if isinstance(motif_ids, str) else list(motif_ids)
            request.ground_truth.append(pb.GroundTruthEntry(tf=tf, motif_ids=ids))
        return _convert.match_result(self._unary(self._motifmatch, "MatchFilters", request))

    def upload_database(self, name: str, meme: str | os.PathLike) -> DatabaseInfo:
        """Store a MEME file as a new motif database for :meth:`tomtom`.

        Parameters
        ----------
        name : str
            Display name.
        meme : str or os.PathLike
            A path when it names an existing file, else MEME minimal-format text.

        Returns
        -------
        DatabaseInfo
            ``database_id`` is ``"db-..."``.

        Raises
        ------
        InvalidArgument
            Unparseable MEME text or a bad name.
        """
        request = pb.UploadDatabaseRequest(name=name, meme=inputs.text_of(meme))
        return _convert.database_info(self._unary(self._motifmatch, "UploadDatabase", request).database)


def _distance(distance: str) -> Any:
    """The wire Distance of MEME's ``-dist`` name; InvalidArgument for another name."""
    if distance not in DISTANCE_BY_NAME:
        raise InvalidArgument(
            f"distance: expected one of {', '.join(DISTANCE_BY_NAME)} (MEME's -dist), got {distance!r}"
        )
    return DISTANCE_BY_NAME[distance]


def _set_queries(request: pb.CompareRequest, queries: Any) -> None:
    if isinstance(queries, Filters):
        request.meme = queries.meme
        return
    if isinstance(queries, str):
        request.meme = queries
        return
    try:
        items = list(queries)
    except TypeError:
        raise InvalidArgument(
            f"queries: expected MEME text, (id, pwm) pairs or Filters, got {type(queries).__name__}"
        ) from None
    if not items:
        raise InvalidArgument("queries: expected at least one motif, got none")
    motifs = request.motifs
    for index, item in enumerate(items):
        nsites = 0
        if isinstance(item, FilterMotif):
            motif_id, pwm, nsites = item.motif_id, item.pwm, item.num_sites
        else:
            try:
                motif_id, pwm = item
            except (TypeError, ValueError):
                raise InvalidArgument(f"queries[{index}]: expected a (motif_id, pwm) pair") from None
        pwm = np.asarray(pwm, dtype=np.float64)
        if pwm.ndim != 2 or pwm.shape[1] != 4:
            raise InvalidArgument(f"queries[{index}].pwm: expected shape (W, 4), got {pwm.shape}")
        motifs.motifs.append(
            pb.Motif(id=str(motif_id), pwm=array_to_tensor(pwm, field=f"queries[{index}].pwm"), nsites=nsites)
        )
