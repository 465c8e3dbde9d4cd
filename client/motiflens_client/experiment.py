"""Compatibility module: the experiment runner and result types, moved to a package.

Re-exports the public names this module had before the split: the runner
(:mod:`~motiflens_client.experiments.runner`), the result types
(:mod:`~motiflens_client.experiments.results`) and the paper's constants
(:mod:`~motiflens_client.experiments.paper`). New code imports from
:mod:`motiflens_client.experiments`.
"""

from motiflens_client.experiments.paper import (
    ATTRIBUTION_METHODS,
    GROUND_TRUTH_TF_COUNT,
    NOISE_MOTIF_IDS,
    TASK3_GROUND_TRUTH,
)
from motiflens_client.experiments.results import (
    FORMAT_VERSION,
    RESULTS_CSV,
    RESULTS_JSON,
    ExampleSequence,
    ExperimentResult,
    FilterSet,
    InterpretabilityScore,
    RunResult,
    filter_set_from_match,
)
from motiflens_client.experiments.runner import LONG_CALL_TIMEOUT, Experiment
from motiflens_client.wire.vocabulary import activation_label

__all__ = [
    "ATTRIBUTION_METHODS",
    "FORMAT_VERSION",
    "GROUND_TRUTH_TF_COUNT",
    "LONG_CALL_TIMEOUT",
    "NOISE_MOTIF_IDS",
    "RESULTS_CSV",
    "RESULTS_JSON",
    "TASK3_GROUND_TRUTH",
    "ExampleSequence",
    "Experiment",
    "ExperimentResult",
    "FilterSet",
    "InterpretabilityScore",
    "RunResult",
    "activation_label",
    "filter_set_from_match",
]
