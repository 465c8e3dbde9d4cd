"""motiflens client: the SDK (:class:`Client`, :class:`Job`), its result types and errors.

::

    from motiflens_client import Client
    with Client("127.0.0.1:50051") as client:
        print(client.list_datasets())

The generated protobuf API is ``motiflens_client.api``. Depends on grpcio, protobuf
and numpy only; no TensorFlow.
"""

from motiflens_client.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    JobFailed,
    MotiflensClientError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    from_rpc_error,
)
from motiflens_client.sdk import AttributionJob, Client, Job, MotifsJob, Sweep, VariantsJob
from motiflens_client.types import (
    AttributionJobInfo,
    AttributionMaps,
    AttributionProgress,
    CompareResult,
    DatabaseInfo,
    DatasetInfo,
    DatasetSplit,
    DiscoveredPattern,
    EpochEvent,
    FilterMotif,
    Filters,
    Interpretability,
    IntervalsDataset,
    JobInfo,
    Localization,
    LocalizeResult,
    MatchResult,
    Metrics,
    ModelInfo,
    MotifDiscovery,
    MotifsJobInfo,
    StoredAttributions,
    SweepInfo,
    TomtomHit,
    TrustReport,
    UploadInfo,
    VariantScore,
    VariantScores,
    VariantsJobInfo,
    WindowCounts,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Client",
    "Job",
    "Sweep",
    "AttributionJob",
    "MotifsJob",
    "VariantsJob",
    # types
    "VariantsJobInfo",
    "MotifsJobInfo",
    "AttributionJobInfo",
    "AttributionProgress",
    "StoredAttributions",
    "VariantScore",
    "VariantScores",
    "AttributionMaps",
    "CompareResult",
    "DiscoveredPattern",
    "MotifDiscovery",
    "TrustReport",
    "DatabaseInfo",
    "DatasetInfo",
    "DatasetSplit",
    "EpochEvent",
    "FilterMotif",
    "Filters",
    "Interpretability",
    "JobInfo",
    "SweepInfo",
    "Localization",
    "LocalizeResult",
    "MatchResult",
    "Metrics",
    "ModelInfo",
    "TomtomHit",
    # errors
    "MotiflensClientError",
    "AlreadyExists",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "JobFailed",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "from_rpc_error",
    "IntervalsDataset",
    "UploadInfo",
    "WindowCounts",
]
