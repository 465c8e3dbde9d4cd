"""Variant scores as messages: one batch of :mod:`motiflens.variants` results, and the summary.

Shared by the interpreter's streamed ScoreVariants and the trainer's variant jobs, so a
stored job result reads back exactly as the streamed call sends it.
"""

from __future__ import annotations

import collections

import numpy as np
from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import OUTPUT_BY_NAME

from motiflens.variants import SKIP_CATEGORIES, Variant
from services.common.convert import array_to_tensor


def batch_message(windows, effects, ref_maps=None, alt_maps=None) -> pb.VariantBatch:
    """Scored and skipped alleles of one batch, in input order (record, then allele)."""
    rows: list[tuple[Variant, pb.VariantScore]] = []
    for row, variant in enumerate(windows.variants):
        score = _score(variant)
        score.ref_prediction.extend(effects.ref[row].tolist())
        score.alt_prediction.extend(effects.alt[row].tolist())
        score.effect.extend(effects.effect[row].tolist())
        if effects.probability_effect is not None:
            score.probability_effect.extend(effects.probability_effect[row].tolist())
        if ref_maps is not None:
            score.ref_map.CopyFrom(array_to_tensor(np.asarray(ref_maps[row], np.float32)))
            score.alt_map.CopyFrom(array_to_tensor(np.asarray(alt_maps[row], np.float32)))
        rows.append((variant, score))
    for skipped in windows.skipped:
        score = _score(skipped.variant)
        score.skipped = skipped.reason
        rows.append((skipped.variant, score))
    rows.sort(key=lambda item: (item[0].record, item[0].allele))
    return pb.VariantBatch(variants=[score for _, score in rows])


def _score(variant: Variant) -> pb.VariantScore:
    return pb.VariantScore(
        record=variant.record,
        allele=variant.allele,
        chrom=variant.chrom,
        pos=variant.pos,
        id=variant.id,
        ref=variant.ref,
        alt=variant.alt,
    )


class SummaryCounter:
    """Counts over the batches of one scoring: skips by category, renamed contigs, padded windows."""

    def __init__(self) -> None:
        self.skipped: collections.Counter = collections.Counter()
        self.renamed = 0
        self.padded = 0

    def add(self, windows) -> None:
        """Count one batch's :class:`motiflens.variants.Windows`."""
        self.skipped.update(s.category for s in windows.skipped)
        self.renamed += windows.renamed
        self.padded += windows.padded

    def add_counts(self, counts: dict) -> None:
        """Add the counts of :meth:`to_dict` (a stored shard's)."""
        self.skipped.update(counts.get("skipped", {}))
        self.renamed += int(counts.get("renamed", 0))
        self.padded += int(counts.get("padded", 0))

    def to_dict(self) -> dict:
        """JSON-ready counts."""
        return {"skipped": dict(self.skipped), "renamed": self.renamed, "padded": self.padded}

    def message(
        self,
        *,
        records: int,
        alleles: int,
        output: str,
        both_strands: bool,
        map_start: int,
        input_length: int,
    ) -> pb.VariantSummary:
        """The VariantSummary of ``records`` VCF records and their ``alleles`` ALT alleles, these counts."""
        skipped = sum(self.skipped.values())
        return pb.VariantSummary(
            records=records,
            alleles=alleles,
            scored=alleles - skipped,
            skipped=skipped,
            skipped_by_reason={c: self.skipped[c] for c in SKIP_CATEGORIES if self.skipped[c]},
            renamed_contigs=self.renamed,
            padded=self.padded,
            output=OUTPUT_BY_NAME[output],  # type: ignore[arg-type]  # an OutputKind value
            both_strands=both_strands,
            map_start=map_start,
            input_length=input_length,
        )
