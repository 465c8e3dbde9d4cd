"""The paper's experiments through the services: runner, result types, HTML report, ``make demo``.

An application of the client (layer 4; SDK public names only, never TensorFlow):

- :mod:`~motiflens_client.experiments.paper`: the paper's constants (attribution
  methods, Task 3's ground truth, the noise motif);
- :mod:`~motiflens_client.experiments.results`: :class:`ExperimentResult` and its parts,
  saved as ``results.json`` + ``results.csv``; :func:`filter_set_from_match`;
- :mod:`~motiflens_client.experiments.runner`: :class:`Experiment`, one grid of trainings
  on a synthetic task, then filters, Tomtom and (Task 3) interpretability;
- :mod:`~motiflens_client.experiments.figures` and :mod:`~motiflens_client.experiments.report`:
  :func:`write_report` (``report.html`` with the paper's figures; needs the ``plots`` extra
  when called);
- :mod:`~motiflens_client.experiments.demo`: ``make demo``
  (``python -m motiflens_client.experiments.demo``).

::

    from motiflens_client import Client
    from motiflens_client.experiments import Experiment, write_report

    with Client.local() as client:
        result = Experiment(1, ["cnn_deep"], ["relu", "exponential"], [0], epochs=20).run(client)
    result.save("out")
    write_report(result, "out")
"""

from motiflens_client.experiments.paper import (
    ATTRIBUTION_METHODS,
    GROUND_TRUTH_TF_COUNT,
    NOISE_MOTIF_IDS,
    TASK3_GROUND_TRUTH,
)
from motiflens_client.experiments.report import REPORT_HTML, write_report
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

__all__ = [
    "Experiment",
    "ExperimentResult",
    "RunResult",
    "FilterSet",
    "InterpretabilityScore",
    "ExampleSequence",
    "filter_set_from_match",
    "write_report",
    # constants
    "ATTRIBUTION_METHODS",
    "TASK3_GROUND_TRUTH",
    "GROUND_TRUTH_TF_COUNT",
    "NOISE_MOTIF_IDS",
    "RESULTS_JSON",
    "RESULTS_CSV",
    "FORMAT_VERSION",
    "LONG_CALL_TIMEOUT",
    "REPORT_HTML",
]
