"""MotifMatchService: Tomtom of motifs against JASPAR releases and uploaded databases.

A thin adapter: request -> core types (:mod:`services.common.convert`) ->
:func:`motiflens.tomtom.tomtom` / :func:`motiflens.matching.match_statistics` ->
response. Errors are core exceptions; the server's interceptor maps them to
status codes (INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE, ...).

Databases
---------
- JASPAR releases shipped by ``pyjaspar`` (``"JASPAR2014"`` ... ``"JASPAR2026"``),
  selected with ``DatabaseRef.collection`` (default CORE) and ``tax_group``
  (default vertebrates, ``"all"`` for every group).
- Uploaded databases: artifacts of kind ``"motif_database"`` with id ``db-<32 hex>``,
  holding the MEME text as the object ``motifs.meme`` and ``name`` and
  ``num_motifs`` in the manifest metadata.

Loaded databases are kept in an LRU cache keyed by database id (plus collection
and taxon group for JASPAR), so that Tomtom's per-database target columns are
computed once per database.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

import grpc
from motiflens_client.wire import pb
from motiflens_client.wire.pb import motifmatch_pb2, motifmatch_pb2_grpc
from motiflens_client.wire.vocabulary import DISTANCE_BY_NAME, DISTANCE_NAMES

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.matching import (
    TASK1_GROUND_TRUTH,
    TRIM_PADDING,
    TRIM_THRESHOLD,
    hits_by_filter,
    match_statistics,
)
from motiflens.motifs import DEFAULT_RELEASE, Motif, MotifDatabase, jaspar_releases, motif_database
from motiflens.tomtom import format_tomtom_tsv, tomtom
from motiflens.tomtom import warm_up as warm_up_tomtom
from services.common.budget import ComputeSlots
from services.common.convert import motifs_from_proto, tomtom_hit_to_proto
from services.common.metrics import ServiceMetrics
from services.common.motif_databases import (
    DATABASE_ID_PREFIX,
    DATABASE_KIND,
    MEME_OBJECT,
    parse_meme,
    read_uploaded_database,
)
from services.common.server import caller_gone
from services.common.store import ArtifactStore, check_id

logger = logging.getLogger(__name__)

#: Full proto name of the service (health and reflection).
SERVICE_NAME = pb.ListDatabasesRequest.DESCRIPTOR.file.services_by_name["MotifMatchService"].full_name

DEFAULT_COLLECTION = "CORE"
DEFAULT_TAX_GROUP = "vertebrates"
DEFAULT_EVALUE_THRESHOLD = 0.1
#: Tomtom's memory grows with the cube of the query width (against JASPAR2016: width 100
#: about 0.2 GB, 150 about 0.6 GB, 200 about 24 GB), so wider queries are refused.
MAX_QUERY_WIDTH = 100
MAX_NAME_LENGTH = 128
FILTER_PREFIX = "filter"

_JASPAR_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_FILTER_ID = re.compile(rf"{FILTER_PREFIX}(0|[1-9][0-9]*)")


class MotifMatchServicer(motifmatch_pb2_grpc.MotifMatchServiceServicer):
    """The MotifMatchService RPCs.

    Parameters
    ----------
    store : ArtifactStore
        Where uploaded databases live.
    metrics : ServiceMetrics, optional
        The server's metrics (no domain metrics are updated here yet).
    cache_size : int, default 16
        Loaded databases kept in memory.
    compute : ComputeSlots, optional
        Tomtom runs at once (default: one per core); further calls wait for a slot.
    """

    def __init__(
        self,
        store: ArtifactStore,
        *,
        metrics: ServiceMetrics | None = None,
        cache_size: int = 16,
        compute: ComputeSlots | None = None,
    ):
        if cache_size < 1:
            raise ValueError(f"cache_size: expected >= 1, got {cache_size}")
        self._compute = compute or ComputeSlots(os.cpu_count() or 1)
        self._store = store
        self._metrics = metrics
        self._cache: OrderedDict[tuple, MotifDatabase] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load what a first Compare would otherwise wait for; the server's readiness waits for it.

        The default release (JASPAR2016 CORE vertebrates) with its target columns, and
        memelite's Tomtom kernels for both distances (:func:`motiflens.tomtom.warm_up`:
        about 1 s with numba's cache filled, 45-75 s on two cores with a cold one, the
        cold start that made a first Compare miss the SDK's 60 s deadline). The other JASPAR
        releases are not preloaded: ListDatabases loads them on its first call (it counts
        their motifs: about 15 s for all seven on two cores). Loading them in the background
        after readiness made the Compares of those 15 s 2-5x slower than warm ones, and
        holding readiness for them would add 15 s to every start.

        Raises
        ------
        Exception
            Whatever loading or the comparison raises; the server logs it and serves cold.
        """
        default = self._database(pb.DatabaseRef(), field="database")
        stats = warm_up_tomtom(default)
        logger.info(
            "tomtom kernels ready: %d loaded from the numba cache, %d compiled", stats.loaded, stats.compiled
        )

    # ------------------------------------------------------------------ RPCs

    def ListDatabases(self, request, context):
        """JASPAR releases (CORE vertebrates, with motif counts), then uploads, newest first."""
        databases = []
        for release in jaspar_releases():
            # Counting loads the release (seconds on the first call, cached after; see warm_up).
            database = self._database(pb.DatabaseRef(database_id=release), field="database")
            databases.append(
                pb.DatabaseInfo(
                    database_id=release,
                    name=database.name,
                    num_motifs=len(database),
                    source="jaspar",
                    collection=DEFAULT_COLLECTION,
                    tax_group=DEFAULT_TAX_GROUP,
                )
            )
        for manifest in self._store.list_artifacts(kind=DATABASE_KIND):
            databases.append(_upload_info(manifest.artifact_id, manifest.metadata))
        return pb.ListDatabasesResponse(databases=databases)

    def Compare(self, request, context):
        """Tomtom of the query motifs against one database."""
        queries = _queries(request)
        database = self._database(request.database, field="database")
        evalue_threshold = _evalue_threshold(request.evalue_threshold, "evalue_threshold")
        qvalue_threshold = None
        if request.qvalue_threshold != 0:
            qvalue_threshold = request.qvalue_threshold
            if not 0 < qvalue_threshold <= 1:
                raise InvalidInputError(
                    "qvalue_threshold: expected a number in (0, 1] (0: filter by evalue_threshold), "
                    f"got {qvalue_threshold}",
                    field="qvalue_threshold",
                )
        distance = _distance(request.distance)
        if request.trim:
            queries = _trim(queries)
        hits = []
        if queries:
            with self._compute.hold("Compare", context.time_remaining()):
                hits = tomtom(
                    queries,
                    database,
                    evalue_threshold=evalue_threshold,
                    qvalue_threshold=qvalue_threshold,
                    distance=distance,
                    should_stop=caller_gone(context),
                )
        return pb.CompareResponse(
            hits=[tomtom_hit_to_proto(hit) for hit in hits],
            tsv=format_tomtom_tsv(
                hits,
                command_line=f"motiflens.v1.MotifMatchService/Compare {database.name} -dist {distance}",
                distance=distance,
            ),
            num_targets=len(database),
            distance=DISTANCE_BY_NAME[distance],
        )

    def MatchFilters(self, request, context):
        """Match fractions of first-layer filters ``filter<i>`` against the ground truth."""
        queries = _queries(request)
        indices = {}
        for position, motif in enumerate(queries):
            match = _FILTER_ID.fullmatch(motif.motif_id)
            if match is None:
                raise InvalidInputError(
                    f"{_query_field(request, position)}.id: expected '{FILTER_PREFIX}<index>', "
                    f"got {motif.motif_id!r}",
                    field=f"{_query_field(request, position)}.id",
                )
            indices[motif.motif_id] = int(match.group(1))
        if request.num_filters < 0:
            raise InvalidInputError(
                f"num_filters: expected >= 0 (0: the number of queries), got {request.num_filters}",
                field="num_filters",
            )
        num_filters = request.num_filters or len(queries)
        for position, motif in enumerate(queries):
            if indices[motif.motif_id] >= num_filters:
                raise InvalidInputError(
                    f"{_query_field(request, position)}.id: filter index {indices[motif.motif_id]} is "
                    f"outside 0..{num_filters - 1}; set num_filters to the number of first-layer filters",
                    field=f"{_query_field(request, position)}.id",
                )
        ground_truth, ground_truth_source = _chosen_ground_truth(request)
        database = self._database(request.database, field="database")
        evalue_threshold = _evalue_threshold(request.evalue_threshold, "evalue_threshold")
        distance = _distance(request.distance)
        if not request.no_trim:
            queries = _trim(queries)
        hits = []
        if queries:
            with self._compute.hold("MatchFilters", context.time_remaining()):
                hits = tomtom(
                    queries,
                    database,
                    evalue_threshold=evalue_threshold,
                    distance=distance,
                    should_stop=caller_gone(context),
                )
        statistics = match_statistics(hits_by_filter(hits), num_filters, ground_truth=ground_truth)
        response = pb.MatchFiltersResponse(
            match_any_fraction=statistics.match_any_fraction,
            covered_tfs=statistics.covered_tfs,
            matches=[
                pb.FilterMatch(filter_index=index, tfs=tfs)
                for index, tfs in sorted(statistics.filter_tfs.items())
            ],
            hits=[tomtom_hit_to_proto(hit) for hit in hits],
            distance=DISTANCE_BY_NAME[distance],
            ground_truth=ground_truth_source,
        )
        if ground_truth_source:  # absent without a ground truth, never a misleading 0
            response.match_fraction = statistics.match_fraction
        return response

    def UploadDatabase(self, request, context):
        """Validate a MEME file and store it as a new database ``db-...``."""
        name = request.name.strip()
        if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise InvalidInputError(
                f"name: expected 1-{MAX_NAME_LENGTH} printable characters, "
                f"got {request.name[:MAX_NAME_LENGTH]!r}",
                field="name",
            )
        motifs = parse_meme(request.meme, field="meme")
        manifest = self._store.put_artifact(
            DATABASE_KIND,
            {MEME_OBJECT: request.meme.encode("utf-8")},
            metadata={"name": name, "num_motifs": len(motifs)},
            provenance={"source": "upload", "rpc": "MotifMatchService/UploadDatabase"},
            id_prefix=DATABASE_ID_PREFIX,
        )
        logger.info(
            "stored motif database %s (%d motifs)",
            manifest.artifact_id,
            len(motifs),
            extra={"database_id": manifest.artifact_id},
        )
        return pb.UploadDatabaseResponse(database=_upload_info(manifest.artifact_id, manifest.metadata))

    # ------------------------------------------------------------------ databases

    def _database(self, ref: pb.DatabaseRef, *, field: str) -> MotifDatabase:
        """The MotifDatabase a DatabaseRef names (cached)."""
        database_id = ref.database_id or DEFAULT_RELEASE
        releases = jaspar_releases()
        if database_id in releases:
            collection = _jaspar_word(ref.collection, f"{field}.collection") or DEFAULT_COLLECTION
            tax_group = _jaspar_word(ref.tax_group, f"{field}.tax_group") or DEFAULT_TAX_GROUP
            key: tuple[str, ...] = (database_id, collection, tax_group)

            def load() -> MotifDatabase:
                try:
                    return motif_database(
                        database_id,
                        collection=collection,
                        tax_group=None if tax_group == "all" else tax_group,
                    )
                except NotFoundError:
                    raise NotFoundError(
                        f"{field}: {database_id} has no motif in collection {collection!r} with tax_group "
                        f"{tax_group!r}"
                    ) from None

        elif database_id.startswith(DATABASE_ID_PREFIX + "-"):
            check_id(database_id, field_name=f"{field}.database_id", prefix=DATABASE_ID_PREFIX)
            for name in ("collection", "tax_group"):
                if getattr(ref, name):
                    raise InvalidInputError(
                        f"{field}.{name}: applies to JASPAR releases only, "
                        f"not to uploaded database {database_id!r}",
                        field=f"{field}.{name}",
                    )
            key = (database_id,)

            def load() -> MotifDatabase:
                return read_uploaded_database(self._store, database_id, field=f"{field}.database_id")

        else:
            raise NotFoundError(
                f"{field}.database_id: unknown database {database_id!r}; known: {', '.join(releases)}, "
                f"or an uploaded id '{DATABASE_ID_PREFIX}-...'"
            )
        return self._cached(key, load)

    def _cached(self, key: tuple, load: Callable[[], MotifDatabase]) -> MotifDatabase:
        with self._lock:
            database = self._cache.get(key)
            if database is not None:
                self._cache.move_to_end(key)
                return database
        database = load()  # outside the lock: loading can take a second
        with self._lock:
            # Another thread may have loaded it meanwhile; keep one object (Tomtom caches by identity).
            database = self._cache.setdefault(key, database)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return database


# ---------------------------------------------------------------------- helpers


def _upload_info(database_id: str, metadata: Mapping) -> pb.DatabaseInfo:
    return pb.DatabaseInfo(
        database_id=database_id,
        name=str(metadata.get("name", "")),
        num_motifs=int(metadata.get("num_motifs", 0)),
        source="upload",
    )


def _query_field(request, position: int) -> str:
    """Where query ``position`` sits in the request, for error messages."""
    if request.WhichOneof("queries") == "motifs":
        return f"motifs[{position}]"
    return f"meme (motif {position + 1})"


def _queries(request) -> list[Motif]:
    """Query motifs of a CompareRequest or MatchFiltersRequest (``motifs`` or ``meme``)."""
    form = request.WhichOneof("queries")
    if form is None:
        raise InvalidInputError(
            "queries: expected motifs (a MotifList) or meme (MEME text); got neither", field="queries"
        )
    if form == "meme":
        motifs = parse_meme(request.meme, field="meme")
    else:
        motifs = motifs_from_proto(request.motifs.motifs, field="motifs")
    for position, motif in enumerate(motifs):
        if motif.width > MAX_QUERY_WIDTH:
            where = _query_field(request, position)
            raise InvalidInputError(
                f"{where}: expected width W <= {MAX_QUERY_WIDTH}, got {motif.width}", field=where
            )
    return motifs


def _trim(motifs: list[Motif]) -> list[Motif]:
    """Motifs cut to their informative span; untrimmable ones dropped."""
    trimmed = [motif.trim(TRIM_THRESHOLD, TRIM_PADDING) for motif in motifs]
    return [motif for motif in trimmed if motif is not None]


def _distance(value: int) -> str:
    """MEME's ``-dist`` name of a request's Distance (UNSPECIFIED: "ed"); INVALID_ARGUMENT otherwise."""
    if value not in DISTANCE_NAMES:
        raise InvalidInputError(
            f"distance: expected DISTANCE_EUCLIDEAN or DISTANCE_PEARSON (unset: Euclidean), got {value}",
            field="distance",
        )
    return DISTANCE_NAMES[value]


def _evalue_threshold(value: float, field: str) -> float:
    if value == 0:
        return DEFAULT_EVALUE_THRESHOLD
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(
            f"{field}: expected a number > 0 (0: {DEFAULT_EVALUE_THRESHOLD}), got {value}",
            field=field,
        )
    return value


def _jaspar_word(value: str, field: str) -> str:
    if value and not _JASPAR_WORD.fullmatch(value):
        raise InvalidInputError(
            f"{field}: expected a JASPAR name such as 'CORE' or 'vertebrates' (letters, digits, '_'), "
            f"got {value!r}",
            field=field,
        )
    return value


def _chosen_ground_truth(request) -> tuple[dict, str]:
    """The ground truth a MatchFilters request names, and where it came from ("" = none)."""
    maps = (motifmatch_pb2.GROUND_TRUTH_MAP_UNSPECIFIED, motifmatch_pb2.GROUND_TRUTH_MAP_TASK1)
    if request.ground_truth_map not in maps:
        raise InvalidInputError(
            "ground_truth_map: expected GROUND_TRUTH_MAP_TASK1 or unset (no built-in map), "
            f"got {request.ground_truth_map}",
            field="ground_truth_map",
        )
    if request.ground_truth and request.ground_truth_map:
        raise InvalidInputError(
            "ground_truth: set either ground_truth entries or ground_truth_map, not both",
            field="ground_truth",
        )
    if request.ground_truth:
        return _ground_truth(request.ground_truth), "request"
    if request.ground_truth_map == motifmatch_pb2.GROUND_TRUTH_MAP_TASK1:
        return dict(TASK1_GROUND_TRUTH), "task1"
    return {}, ""


def _ground_truth(entries) -> dict[str, frozenset[str]]:
    truth: dict[str, frozenset[str]] = {}
    for index, entry in enumerate(entries):
        field = f"ground_truth[{index}]"
        if not entry.tf.strip():
            raise InvalidInputError(f"{field}.tf: expected a TF name, got {entry.tf!r}", field=f"{field}.tf")
        if entry.tf in truth:
            raise InvalidInputError(
                f"{field}.tf: {entry.tf!r} appears twice; list all its motif ids in one entry",
                field=f"{field}.tf",
            )
        if not entry.motif_ids or not all(motif_id.strip() for motif_id in entry.motif_ids):
            raise InvalidInputError(
                f"{field}.motif_ids: expected one or more non-empty motif ids", field=f"{field}.motif_ids"
            )
        truth[entry.tf] = frozenset(entry.motif_ids)
    return truth


def add_to_server(servicer: MotifMatchServicer, server: grpc.Server) -> None:
    """Register ``servicer`` on a grpc server (the ``register`` callback of create_server)."""
    motifmatch_pb2_grpc.add_MotifMatchServiceServicer_to_server(servicer, server)
