"""Compatibility module: the HTML report, now :mod:`motiflens_client.experiments.report`.

Re-exports :func:`write_report` and the public constants this module had before the
split (the figures' building blocks are in :mod:`motiflens_client.experiments.figures`).
New code imports from :mod:`motiflens_client.experiments`.
"""

from motiflens_client.experiments.figures import ACTIVATION_FUNCTIONS, METHOD_TITLES
from motiflens_client.experiments.report import REPORT_HTML, write_report

__all__ = ["ACTIVATION_FUNCTIONS", "METHOD_TITLES", "REPORT_HTML", "write_report"]
