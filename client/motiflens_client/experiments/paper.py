"""The paper's constants (Koo & Ploenzke, 2021) that the experiment runner and reports use.

The attribution methods in the paper's order, Task 3's core TFs with the JASPAR 2016
ids that count as each, how many TFs each task's ground truth has, and the motif
whose hits do not count as "any JASPAR". Task 1's ground-truth map lives on the
server (MatchFilters' ``"task1"``); numpy-free, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping

from motiflens_client.wire.vocabulary import METHOD_NAMES

#: Attribution methods of the paper, in its order.
ATTRIBUTION_METHODS = METHOD_NAMES

#: Task 3's core TFs and the JASPAR 2016 ids that count as each (PAPER-NOTES).
TASK3_GROUND_TRUTH: Mapping[str, tuple[str, ...]] = {
    "SP1": ("MA0079.1", "MA0079.2", "MA0079.3"),
    "Gabpa": ("MA0062.1", "MA0062.2"),
    "CEBPB": ("MA0466.1", "MA0466.2"),
    "MAX": ("MA0058.1", "MA0058.2", "MA0058.3"),
    "YY1": ("MA0095.1", "MA0095.2"),
}

#: Number of TFs behind each task's ground truth (Task 1: the 12 motifs of the paper).
GROUND_TRUTH_TF_COUNT = {1: 12, 3: len(TASK3_GROUND_TRUTH)}

#: Hits to this motif do not count as "any JASPAR" (it hits noise; the authors discounted it).
NOISE_MOTIF_IDS = frozenset({"MA0615.1"})
