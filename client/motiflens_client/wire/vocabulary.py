"""Every enum <-> name table that both sides of the wire must agree on, in one place.

The SDK and CLI accept the names; the services decode the enum values. Each table is
name -> enum value with its inverse next to it, so adding a method or a split is one
edit here. ``*_NAMES`` tuples keep the order users see (help texts, the paper's order).
"""

from __future__ import annotations

from collections.abc import Mapping

from motiflens_client.wire import pb
from motiflens_client.wire.errors import WireError

__all__ = [
    "SPLIT_BY_NAME",
    "SPLIT_NAMES",
    "DEFAULT_SPLIT",
    "split_name",
    "METHOD_BY_NAME",
    "METHOD_NAMES",
    "method_name",
    "OUTPUT_BY_NAME",
    "OUTPUT_NAMES",
    "REFERENCE_BY_NAME",
    "REFERENCE_NAMES",
    "FORM_BY_NAME",
    "ATTRIBUTION_FORMAT_BY_NAME",
    "FORM_NAMES",
    "GRADIENT_METHODS",
    "TASK_BY_NUMBER",
    "DISTANCE_BY_NAME",
    "DISTANCE_NAMES",
    "distance_name",
    "JOB_STATES",
    "TERMINAL_STATES",
    "state_name",
    "SERVICES",
    "DEFAULT_PORTS",
    "PORT_OFFSETS",
    "activation_label",
    "choice",
]

#: Split name -> Split enum value.
SPLIT_BY_NAME: dict[str, int] = {"train": pb.SPLIT_TRAIN, "valid": pb.SPLIT_VALID, "test": pb.SPLIT_TEST}
#: Split names, in data set order.
SPLIT_NAMES: tuple[str, ...] = tuple(SPLIT_BY_NAME)
#: The split read where a request leaves it unset.
DEFAULT_SPLIT = "test"

#: AttributionMethod name -> enum value, in the paper's order.
METHOD_BY_NAME: dict[str, int] = {
    "saliency": pb.ATTRIBUTION_METHOD_SALIENCY,
    "ism": pb.ATTRIBUTION_METHOD_ISM,
    "integrated_gradients": pb.ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS,
    "deepshap": pb.ATTRIBUTION_METHOD_DEEPSHAP,
}
METHOD_NAMES: tuple[str, ...] = tuple(METHOD_BY_NAME)

#: OutputKind name -> enum value (what attribution differentiates).
OUTPUT_BY_NAME: dict[str, int] = {"logit": pb.OUTPUT_KIND_LOGIT, "probability": pb.OUTPUT_KIND_PROBABILITY}
OUTPUT_NAMES: tuple[str, ...] = tuple(OUTPUT_BY_NAME)

#: ReferenceKind name -> enum value (baselines of integrated gradients and DeepSHAP).
REFERENCE_BY_NAME: dict[str, int] = {
    "shuffle": pb.REFERENCE_KIND_SHUFFLE,
    "dinucleotide": pb.REFERENCE_KIND_DINUCLEOTIDE,
}
REFERENCE_NAMES: tuple[str, ...] = tuple(REFERENCE_BY_NAME)

#: ScoreForm name -> enum value: which map an attribution's ``scores`` holds
#: ("scores": the method's own definition; see motiflens.attribution.forms).
FORM_BY_NAME: dict[str, int] = {
    "scores": pb.SCORE_FORM_UNSPECIFIED,
    "hypothetical": pb.SCORE_FORM_HYPOTHETICAL,
    "projected": pb.SCORE_FORM_PROJECTED,
}
FORM_NAMES: tuple[str, ...] = tuple(FORM_BY_NAME)
#: AttributionFileFormat name -> enum value: how an attribution job's artifact stores
#: its maps (unset means "npz").
ATTRIBUTION_FORMAT_BY_NAME: dict[str, int] = {
    "npz": pb.ATTRIBUTION_FILE_FORMAT_NPZ,
    "hdf5": pb.ATTRIBUTION_FILE_FORMAT_HDF5,
}
#: The attribution methods that differentiate, so take gradient correction.
GRADIENT_METHODS: tuple[str, ...] = ("saliency", "integrated_gradients", "deepshap")

#: The paper's synthetic task number -> SyntheticTask enum value.
TASK_BY_NUMBER: dict[int, int] = {1: pb.SYNTHETIC_TASK_1, 3: pb.SYNTHETIC_TASK_3}

#: MEME's ``-dist`` name -> Tomtom Distance on the wire.
DISTANCE_BY_NAME: dict[str, int] = {"ed": pb.DISTANCE_EUCLIDEAN, "pearson": pb.DISTANCE_PEARSON}
#: Tomtom Distance on the wire -> MEME's ``-dist`` name (UNSPECIFIED means "ed").
DISTANCE_NAMES: dict[int, str] = {
    pb.DISTANCE_UNSPECIFIED: "ed",
    pb.DISTANCE_EUCLIDEAN: "ed",
    pb.DISTANCE_PEARSON: "pearson",
}

#: Where genome-interval windows are centred -> WindowCentre ("auto": the summit where the
#: peak file gives one, else the midpoint).
CENTRE_BY_NAME: dict[str, int] = {
    "auto": pb.WINDOW_CENTRE_UNSPECIFIED,
    "summit": pb.WINDOW_CENTRE_SUMMIT,
    "midpoint": pb.WINDOW_CENTRE_MIDPOINT,
}
#: How a genome-interval import makes negatives -> Negatives ("none": peak windows only).
NEGATIVES_BY_NAME: dict[str, int] = {
    "none": pb.NEGATIVES_UNSPECIFIED,
    "background": pb.NEGATIVES_BACKGROUND,
    "gc_matched": pb.NEGATIVES_GC_MATCHED,
    "shuffled": pb.NEGATIVES_SHUFFLED,
}

#: Job states without the ``JOB_STATE_`` prefix, in lifecycle order.
JOB_STATES: tuple[str, ...] = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
#: States a job never leaves.
TERMINAL_STATES: frozenset[str] = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

#: The three services, in start order.
SERVICES: tuple[str, ...] = ("trainer", "interpreter", "motifmatch")
#: Default gRPC port of each service (the ``make up`` layout: base, base + 1, base + 2).
DEFAULT_PORTS: Mapping[str, int] = {"trainer": 50051, "interpreter": 50052, "motifmatch": 50053}
#: Offset of each service's port from the trainer's.
PORT_OFFSETS: Mapping[str, int] = {name: offset for offset, name in enumerate(SERVICES)}


def _name_of(table: Mapping[str, int], value: int, default: str) -> str:
    for name, code in table.items():
        if code == value:
            return name
    return default


def split_name(value: int, *, field: str = "split") -> str:
    """Split enum value -> name; unset is :data:`DEFAULT_SPLIT`.

    Raises
    ------
    WireError
        An unknown value.
    """
    if value == pb.SPLIT_UNSPECIFIED:
        return DEFAULT_SPLIT
    name = _name_of(SPLIT_BY_NAME, value, "")
    if not name:
        raise WireError(field, f"unknown value {value}")
    return name


def enum_name(table: Mapping[str, int], value: int, *, field: str) -> str:
    """The name of enum ``value`` in ``table`` (name -> value).

    Raises
    ------
    WireError
        A value ``table`` does not hold.
    """
    name = _name_of(table, value, "")
    if not name:
        raise WireError(field, f"unknown value {value}; expected one of {', '.join(table)}")
    return name


def method_name(value: int, default: str = "") -> str:
    """AttributionMethod enum value -> name (``default`` for unset or unknown values)."""
    return _name_of(METHOD_BY_NAME, value, default)


def distance_name(value: int) -> str:
    """Distance enum value -> MEME's ``-dist`` name ("ed" for unset or unknown values)."""
    return DISTANCE_NAMES.get(value, "ed")


def state_name(value: int) -> str:
    """JobState enum value -> "PENDING", "RUNNING", ... ("UNSPECIFIED" for 0 or unknown values)."""
    try:
        return pb.JobState.Name(value).removeprefix("JOB_STATE_")
    except ValueError:
        return "UNSPECIFIED"


def activation_label(name: str, params: Mapping[str, float]) -> str:
    """The label of an activation with parameters, as the trainer names sweep models.

    ``("exponential", {})`` -> ``"exponential"``; ``("scaled_exponential", {"scale": 2})``
    -> ``"scaled_exponential(scale=2)"``.
    """
    if not params:
        return name
    return f"{name}({', '.join(f'{k}={float(v):g}' for k, v in sorted(params.items()))})"


def choice(table: Mapping[str, int], value: str, field: str) -> int:
    """``table[value]``, or a WireError naming the accepted names.

    Raises
    ------
    WireError
        ``value`` is not a key of ``table``.
    """
    try:
        return table[value]
    except (KeyError, TypeError):
        raise WireError(field, f"expected one of {', '.join(table)}, got {value!r}") from None
