"""Variant effects: VCF records → allele windows of a model's input length → ref/alt predictions.

The rules (what labs need, and what this module does):

- **Reading**: :func:`read_vcf` reads plain or bgzip VCF with pysam (htslib). A header
  without ``#CHROM``, a truncated or corrupt bgzip stream or a malformed record is
  InvalidInputError naming the record; nothing is scored from a file that does not
  read to its end.
- **Alleles**: a multi-allelic record becomes one :class:`Variant` per ALT allele
  (``allele`` 1, 2, ...), in input order.
- **Skipped, with a reason** (:class:`Skipped`): symbolic alleles (``<DEL>``, ``*``,
  breakends, ``.``), REF or ALT with characters other than ACGTN, a REF that disagrees
  with the genome ("REF mismatch: genome has ..."; never scored silently), a contig
  missing from the genome in either naming, an indel whose ALT does not fit in the
  window.
- **Contig names**: the VCF's name is looked up as it is; when absent its other common
  form (``chr1`` ↔ ``1``, ``chrM`` ↔ ``MT``) is used, and the summary counts how many
  variants were renamed that way.
- **Windows**: the model's input length L, the variant's first REF base at index
  ``L // 2``. Beyond a chromosome end the window is padded with N (an all-zero column),
  and the summary counts the padded variants. The ALT window is the same left flank,
  the ALT bases, then the genome after REF: an indel is re-centred on its first base
  and trimmed (or extended from the genome) to L.
- **Effects**: alt − ref of the chosen output (logit or probability) for every unit;
  ``both_strands`` averages each prediction with that of the reverse complement.
  For a SNV this is exactly the ISM value at that position and base (the same
  calculation), which :func:`allele_maps` shows around the variant at both alleles.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from motiflens.errors import InvalidInputError
from motiflens.genome.fasta import Genome, contig_aliases
from motiflens.sequences import one_hot, reverse_complement

#: Characters a REF or ALT may hold (IUPAC codes other than N are refused).
BASES = frozenset("ACGTN")


@dataclass(frozen=True)
class Variant:
    """One ALT allele of a VCF record.

    Attributes
    ----------
    record : int
        Index of the record in the file (0-based, input order).
    allele : int
        Index of the ALT allele in the record (1-based, as in VCF's GT).
    chrom : str
        As the VCF names it.
    pos : int
        1-based position of REF's first base.
    id, ref, alt : str
    """

    record: int
    allele: int
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str

    @property
    def key(self) -> str:
        """``chrom:pos:ref>alt``, the variant's name in tables."""
        return f"{self.chrom}:{self.pos}:{self.ref}>{self.alt}"


#: Why a variant is skipped, as :attr:`Skipped.category` says it (summaries count these).
SKIP_CATEGORIES = ("symbolic", "invalid_allele", "ref_mismatch", "unknown_contig", "too_long", "past_end")


@dataclass(frozen=True)
class Skipped:
    """A variant not scored, why (in words), and the kind of reason (one of :data:`SKIP_CATEGORIES`)."""

    variant: Variant
    reason: str
    category: str


@dataclass
class Windows:
    """The scoreable variants' ref and alt windows, and what was skipped.

    Attributes
    ----------
    variants : list of Variant
        Scoreable variants, in input order.
    ref, alt : np.ndarray, shape (n, L, 4), float32
        One-hot windows, the variant's first base at index ``L // 2``.
    skipped : list of Skipped
    renamed : int
        Variants whose contig was found only in the other naming (chr1 vs 1).
    padded : int
        Variants whose window runs past a chromosome end (padded with N).
    """

    variants: list[Variant]
    ref: np.ndarray
    alt: np.ndarray
    skipped: list[Skipped] = field(default_factory=list)
    renamed: int = 0
    padded: int = 0


def read_vcf(
    path: str | os.PathLike, *, max_records: int = 1_000_000, field_name: str = "vcf"
) -> list[Variant]:
    """The ALT alleles of every record of a VCF file (plain or bgzip), in input order.

    Raises
    ------
    InvalidInputError
        Not a VCF (no ``#CHROM`` header line), a truncated or corrupt file, a malformed
        record (named by its number), or more than ``max_records`` records.
    """
    import pysam

    pysam.set_verbosity(0)  # htslib's own warnings go to stderr otherwise
    try:
        handle = pysam.VariantFile(str(path))
    except (ValueError, OSError) as exc:
        raise InvalidInputError(
            f"{field_name}: not a readable VCF ({_htslib_message(exc)}); expected '##' meta lines, "
            "then a '#CHROM POS ID REF ALT QUAL FILTER INFO' header line, plain or bgzip",
            field=field_name,
        ) from None
    variants: list[Variant] = []
    count = 0
    with handle:
        records = iter(handle)
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except (ValueError, OSError) as exc:
                raise InvalidInputError(
                    f"{field_name}: record {count + 1} is unreadable ({_htslib_message(exc)}): a truncated "
                    "or corrupt file, or a malformed line",
                    field=field_name,
                ) from None
            if count >= max_records:
                raise InvalidInputError(
                    f"{field_name}: more than {max_records} records; split the file", field=field_name
                )
            for allele, alt in enumerate(record.alts or (".",), start=1):
                variants.append(
                    Variant(
                        record=count,
                        allele=allele,
                        chrom=str(record.chrom),
                        pos=int(record.pos),
                        id=str(record.id or "."),
                        ref=str(record.ref or ""),
                        alt=str(alt),
                    )
                )
            count += 1
    return variants


def _htslib_message(exc: BaseException) -> str:
    return str(exc).split(" - ")[0][:300] or type(exc).__name__


def _allele_problem(variant: Variant) -> tuple[str, str]:
    """(reason, category) when a variant cannot be scored from its alleles alone, else ("", "")."""
    alt = variant.alt
    if alt.startswith("<") or alt in ("*", ".") or "[" in alt or "]" in alt:
        return f"symbolic allele {alt!r} (only sequence alleles are scored)", "symbolic"
    for name, allele in (("REF", variant.ref), ("ALT", alt)):
        if not allele or not set(allele.upper()) <= BASES:
            return f"{name} {allele!r} is not a sequence of A, C, G, T, N", "invalid_allele"
    return "", ""


def _fetch_padded(genome: Genome, chrom: str, start: int, end: int) -> tuple[str, bool]:
    """``[start, end)`` of ``chrom`` with N beyond its ends; and whether padding was needed."""
    size = genome.contig_length(chrom)
    left, right = max(0, -start), max(0, end - size)
    inner = genome.fetch(chrom, max(0, start), min(size, end)) if max(0, start) < min(size, end) else ""
    return "N" * left + inner + "N" * right, bool(left or right)


def variant_windows(genome: Genome, variants: Sequence[Variant], length: int) -> Windows:
    """Ref and alt windows of ``length`` nt for every scoreable variant (rules: the module docstring)."""
    centre = length // 2
    chosen: list[Variant] = []
    refs: list[str] = []
    alts: list[str] = []
    skipped: list[Skipped] = []
    renamed = padded = 0
    sizes = genome.sizes
    for variant in variants:
        problem, category = _allele_problem(variant)
        if problem:
            skipped.append(Skipped(variant, problem, category))
            continue
        chrom = variant.chrom
        if chrom not in sizes:
            other = next((name for name in contig_aliases(chrom) if name in sizes), None)
            if other is None:
                reason = f"contig {chrom!r} is not in the genome (in either naming)"
                skipped.append(Skipped(variant, reason, "unknown_contig"))
                continue
            chrom = other
            renamed += 1
        ref, alt = variant.ref.upper(), variant.alt.upper()
        start = variant.pos - 1  # 0-based first REF base
        if start + len(ref) > sizes[chrom]:
            skipped.append(Skipped(variant, f"position {variant.pos} is past the end of {chrom}", "past_end"))
            continue
        if len(alt) > length - centre:
            reason = f"ALT of {len(alt)} nt does not fit in the {length}-nt window"
            skipped.append(Skipped(variant, reason, "too_long"))
            continue
        # One read covers the REF window, the REF bases and the genome after them that the
        # ALT window needs (N beyond the ends); both windows are cut from it.
        first = start - centre
        used = max(length, centre + len(ref) + length - centre - len(alt))
        span, _ = _fetch_padded(genome, chrom, first, first + used)
        genome_ref = span[centre : centre + len(ref)]
        if genome_ref != ref:
            reason = f"REF mismatch: the genome has {genome_ref!r} at {chrom}:{variant.pos}"
            skipped.append(Skipped(variant, reason, "ref_mismatch"))
            continue
        after = centre + len(ref)
        chosen.append(variant)
        refs.append(span[:length])
        alts.append(span[:centre] + alt + span[after : after + length - centre - len(alt)])
        padded += first < 0 or first + used > sizes[chrom]
    empty = np.zeros((0, length, 4), np.float32)
    return Windows(
        variants=chosen,
        ref=one_hot(refs) if refs else empty,
        alt=one_hot(alts) if alts else empty,
        skipped=skipped,
        renamed=renamed,
        padded=padded,
    )


def model_predictor(model, output: str, *, batch_size: int = 512) -> Callable[[np.ndarray], np.ndarray]:
    """``predict(X (n, L, 4)) -> (n, T) float32`` of ``model``'s logits ("logit") or output ("probability").

    Built once per model and output: ``predict_on_batch`` reuses one compiled function.
    """
    from motiflens.models import logits_model

    if output not in ("logit", "probability"):
        raise InvalidInputError(f"output: expected 'logit' or 'probability', got {output!r}", field="output")
    scorer = logits_model(model) if output == "logit" else model

    def predict(X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, int(scorer.output_shape[-1])), np.float32)
        return np.concatenate(
            [
                np.asarray(scorer.predict_on_batch(X[start : start + batch_size]), np.float32)
                for start in range(0, len(X), batch_size)
            ]
        )

    return predict


@dataclass
class Effects:
    """Predictions at both alleles and their difference, one row per scored variant.

    Attributes
    ----------
    ref, alt, effect : np.ndarray, shape (n, T), float32
        The chosen output at REF and ALT, and alt − ref.
    output : str
        "logit" or "probability".
    probability_effect : np.ndarray or None, shape (n, T), float32
        For the logit of a sigmoid model: sigmoid(alt) − sigmoid(ref), the effect on the
        probability (of the strand-averaged logits with ``both_strands``); else None.
    """

    ref: np.ndarray
    alt: np.ndarray
    effect: np.ndarray
    output: str
    probability_effect: np.ndarray | None = None


def variant_effects(
    model, windows: Windows, *, output: str = "logit", both_strands: bool = False, sigmoid: bool = False
) -> Effects:
    """Predictions at the ref and alt windows and the effect alt − ref.

    ``sigmoid`` (the model's output is the sigmoid of its logits) with ``output`` "logit"
    also gives the effect on the probability.

    ``model`` is a Keras model (scored through :func:`model_predictor` with ``output``) or
    a ``predict(X) -> (n, T)`` callable of that output. REF and ALT windows are predicted
    together; ``both_strands`` averages each with its reverse complement's prediction.
    """
    import keras  # here, so that reading a VCF (a child process of the services) needs no TensorFlow

    predict = model_predictor(model, output) if isinstance(model, keras.Model) else model
    n = len(windows.ref)
    X = np.concatenate([windows.ref, windows.alt])
    both = np.asarray(predict(X), np.float64)
    if both_strands:
        both = 0.5 * (both + np.asarray(predict(reverse_complement(X)), np.float64))
    both = both.astype(np.float32)
    ref, alt = both[:n], both[n:]
    effect = (alt.astype(np.float64) - ref).astype(np.float32)
    probability = None
    if sigmoid and output == "logit":
        probability = (_sigmoid(alt) - _sigmoid(ref)).astype(np.float32)
    return Effects(ref=ref, alt=alt, effect=effect, output=output, probability_effect=probability)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def allele_maps(
    model, windows: Windows, *, method: str = "ism", flank: int = 20, target: int = 0, output: str = "logit"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Attribution maps at both alleles around the variant: (ref maps, alt maps, first position).

    Each map has shape (n, 2 * flank + 1, 4): positions ``L // 2 - flank`` .. ``L // 2 + flank``
    of the windows (clipped to the window), from :func:`motiflens.attribution.attribute`
    (``method`` "ism" or "saliency"; ISM gives f(mutant) − f(x) per base).
    """
    from motiflens.attribution import attribute

    if method not in ("ism", "saliency"):
        raise InvalidInputError(f"method: expected 'ism' or 'saliency', got {method!r}", field="method")
    length = windows.ref.shape[1]
    first = max(0, length // 2 - flank)
    last = min(length, length // 2 + flank + 1)
    maps = []
    for X in (windows.ref, windows.alt):
        if len(X) == 0:
            maps.append(np.zeros((0, last - first, 4), np.float32))
            continue
        result = attribute(model, X, method, target=target, output=output)
        maps.append(np.asarray(result.scores, np.float32)[:, first:last])
    return maps[0], maps[1], first
