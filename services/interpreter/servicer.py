"""InterpreterService: proto → core types → motiflens calls → proto.

Models come from the bounded :class:`ModelCache`; stored data sets from
:func:`services.common.datasets.load_dataset` (cached per process). Attribution and
scans stream in chunks of ``chunk_size`` sequences; integrated gradients and
DeepSHAP draw references per sequence index, so chunking never changes a result.

Every call is bounded before it computes (:mod:`services.interpreter.requests`):
integer parameters have ranges and floats must be finite (INVALID_ARGUMENT); the
bytes it will hold, estimated from the declared sizes, are reserved from the
process's memory budget before the sequences are decoded (RESOURCE_EXHAUSTED when
they can never fit); the reference methods have a limit on model evaluations. Long
loops ask :func:`~services.common.server.caller_gone` between passes and
chunks, so a call whose caller cancelled or whose deadline passed stops computing
(CancelledError, recorded as CANCELLED) and frees the model and the budget.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from motiflens_client.wire import pb
from motiflens_client.wire.errors import WireError
from motiflens_client.wire.pb import interpreter_pb2_grpc
from motiflens_client.wire.vocabulary import (
    FORM_BY_NAME,
    OUTPUT_BY_NAME,
    split_name,
)

from motiflens.attribution import Attribution, StopCheck, attribute
from motiflens.errors import FailedPreconditionError, InvalidInputError
from motiflens.evaluation import interpretability_scores, localization_auroc, pwm_scans
from motiflens.filters import filter_pwms, pwm_logo
from motiflens.motifs import write_meme
from services.common.attribution_options import (
    attribution_options,
    attribution_settings,
    enum_name,
    score_form,
)
from services.common.budget import MemoryBudget
from services.common.config import DEFAULT_MEMORY_BUDGET_MB, DiscoveryLimits
from services.common.convert import (
    SequenceChunks,
    array_to_tensor,
    motif_to_proto,
    sequence_chunks,
    sequences_to_onehot,
)
from services.common.datasets import load_dataset
from services.common.errors import from_wire
from services.common.metrics import ServiceMetrics
from services.common.server import caller_gone
from services.common.store import ArtifactStore, check_id
from services.interpreter.batching import split_rows
from services.interpreter.model_cache import INFERENCE_BATCH, LoadedModel, ModelCache
from services.interpreter.reports import ReportCalls
from services.interpreter.requests import (
    FLOAT32,
    MAX_EVALUATIONS,
    attribution_bytes,
    check_finite,
    check_range,
    check_work,
    describe_call,
    holding,
    onehot_bytes,
    pass_bytes,
    pass_rows,
    scan_bytes,
    size_parameters,
)
from services.interpreter.streaming import ahead, rechunk
from services.interpreter.variants import GenomeCache, VariantCalls

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 64
MAX_CHUNK = 1024
DEFAULT_PADDING = 10
DEFAULT_THRESHOLD = 0.5
#: The interpreter's memory budget when none is passed in (MOTIFLENS_MEMORY_BUDGET_MB's default).
DEFAULT_BUDGET_BYTES = DEFAULT_MEMORY_BUDGET_MB["interpreter"] * 1024 * 1024

#: ``cost(N) -> bytes`` a call will hold at its peak for N sequences.
Cost = Callable[[int], int]


def _compute_group(method: str, chunk: int, rows: int) -> int:
    """Sequences attributed together (one block of :func:`~services.interpreter.streaming.rechunk`).

    The chunk size only shapes the stream's messages. Saliency is one row per sequence,
    so a 64-sequence chunk attributed alone runs a quarter-full pass, about twice as
    slow per sequence: it is attributed a full pass of ``rows`` at a time and the stream
    re-cuts the passes into chunks. The other methods evaluate many rows per sequence
    (mutants, path points, references), so one chunk already fills its passes; and
    integrated gradients and DeepSHAP draw references per sequence index from the
    chunk's offset.
    """
    return rows if method == "saliency" else chunk


class InterpreterServicer(ReportCalls, VariantCalls, interpreter_pb2_grpc.InterpreterServiceServicer):
    """Filters, attribution maps, scans and interpretability scores of stored models.

    Parameters
    ----------
    store : ArtifactStore
    models : ModelCache
    metrics : ServiceMetrics, optional
        Counts sequences attributed.
    max_sequences : int
        Largest number of sequences one request may name (inline or from a split).
    budget : MemoryBudget, optional
        The process's memory budget (default: :data:`DEFAULT_BUDGET_BYTES` of its own);
        share the one the PredictionService uses.
    max_evaluations : int
        Model evaluations one integrated gradients or DeepSHAP call may ask for
        (default :data:`~services.interpreter.requests.MAX_EVALUATIONS`).
    discovery_limits : DiscoveryLimits, optional
        Memory and time of DiscoverMotifs' TF-MoDISco child process.
    coalesce : bool, default True
        Run concurrent Predict, saliency and ISM calls of one model together
        (:mod:`services.interpreter.batching`); False: each call its own pass.
    """

    def __init__(
        self,
        store: ArtifactStore,
        models: ModelCache,
        metrics: ServiceMetrics | None = None,
        *,
        max_sequences: int = 20_000,
        budget: MemoryBudget | None = None,
        max_evaluations: int = MAX_EVALUATIONS,
        discovery_limits: DiscoveryLimits | None = None,
        coalesce: bool = True,
    ):
        self.store = store
        #: Whether concurrent compatible calls of a model share a pass (batching.py).
        self.coalesce = coalesce
        self.discovery_limits = discovery_limits or DiscoveryLimits()
        self.models = models
        self.metrics = metrics
        self.max_sequences = max_sequences
        self.budget = budget or MemoryBudget(DEFAULT_BUDGET_BYTES)
        self.max_evaluations = max_evaluations
        self.genomes = GenomeCache()

    # ------------------------------------------------------------------ helpers

    def _load_split(self, dataset_id: str, split: str, offset: int, limit: int) -> np.ndarray:
        dataset, _ = load_dataset(self.store, dataset_id)
        X = dataset.split(split).X
        if offset >= len(X):
            raise InvalidInputError(
                f"dataset_split.offset: {offset} is past the end of {dataset_id} {split} "
                f"({len(X)} sequences)",
                field="dataset_split.offset",
            )
        stop = len(X) if limit == 0 else min(len(X), offset + limit)
        return X[offset:stop]

    def _sequences(self, message, loaded: LoadedModel, field: str = "sequences") -> np.ndarray:
        return sequences_to_onehot(
            message,
            field=field,
            load_split=self._load_split,
            length=loaded.input_length,
            max_sequences=self.max_sequences,
        )

    def _chunks(self, message, loaded: LoadedModel) -> SequenceChunks:
        """The sequences of ``message``, checked now, one-hot encoded a chunk at a time."""
        return sequence_chunks(
            message,
            field="sequences",
            load_split=self._load_split,
            length=loaded.input_length,
            max_sequences=self.max_sequences,
        )

    @contextmanager
    def _budgeted(
        self,
        message,
        loaded: LoadedModel,
        what: str,
        cost: Cost,
        admit: Callable[[int], None] | None = None,
        *,
        chunked: bool = False,
    ) -> Iterator[Any]:
        """The sequences of ``message``, with ``cost(N)`` bytes of the budget held while the block runs.

        When the message declares N (strings, a one-hot tensor) the bytes are reserved
        and ``admit(N)`` runs before anything is decoded; a stored split is a view of
        the cached data set, so it is sliced first. ``chunked``: a :class:`SequenceChunks`
        (checked in full, encoded per slice: ``cost`` then counts one chunk's one-hot
        array) instead of the (N, L, 4) array.
        """
        decode = self._chunks if chunked else self._sequences
        declared = _declared_count(message)
        if declared is not None and declared <= self.max_sequences:
            if admit is not None:
                admit(declared)
            with self.budget.reserve(cost(declared), describe_call(what, declared, loaded)):
                yield decode(message, loaded)
            return
        X = decode(message, loaded)
        if admit is not None:
            admit(len(X))
        with self.budget.reserve(cost(len(X)), describe_call(what, len(X), loaded)):
            yield X

    def _ground_truth(self, ref, loaded: LoadedModel, field: str = "sequences"):
        """X, y and ground-truth models of a synthetic data set split (offset/limit applied)."""
        dataset_id = check_id(ref.dataset_id, field_name=f"{field}.dataset_id", prefix="ds")
        if ref.offset < 0 or ref.limit < 0:
            raise InvalidInputError(
                f"{field}: offset and limit must be >= 0 (limit 0 = to the end), "
                f"got {ref.offset} and {ref.limit}",
                field=field,
            )
        try:
            split_label = split_name(ref.split, field=f"{field}.split")
        except WireError as error:
            raise from_wire(error) from None
        dataset, _ = load_dataset(self.store, dataset_id)
        split = dataset.split(split_label)
        if split.model is None:
            raise FailedPreconditionError(
                f"{field}.dataset_id: data set {dataset_id} has no ground truth; "
                "use a synthetic task (1 or 3)"
            )
        stop = len(split) if ref.limit == 0 else min(len(split), ref.offset + ref.limit)
        X, y, model = split.X[ref.offset : stop], split.y[ref.offset : stop], split.model[ref.offset : stop]
        if X.shape[1] != loaded.input_length:
            raise InvalidInputError(
                f"{field}: model {loaded.model_id} takes sequences of {loaded.input_length} nt, "
                f"data set {dataset_id} has {X.shape[1]}",
                field=field,
            )
        return X, y, model

    def _check_selection(self, X: np.ndarray, field: str = "sequences") -> None:
        if len(X) == 0:
            raise InvalidInputError(
                f"{field}: no sequence selected (check offset, limit and positives_only)", field=field
            )
        if len(X) > self.max_sequences:
            raise InvalidInputError(
                f"{field}: {len(X)} sequences; at most {self.max_sequences} per request (use offset/limit)",
                field=field,
            )

    @staticmethod
    def _chunk_size(value: int) -> int:
        return check_range(value, "chunk_size", 1, MAX_CHUNK, zero=str(DEFAULT_CHUNK)) or DEFAULT_CHUNK

    @staticmethod
    def _attribution_options(request, loaded: LoadedModel) -> tuple[str, dict]:
        return attribution_options(request, loaded.outputs)

    _form = staticmethod(score_form)
    _settings = staticmethod(attribution_settings)

    def _attribute(
        self,
        loaded: LoadedModel,
        X: np.ndarray,
        method: str,
        options: dict,
        offset: int,
        should_stop: StopCheck,
    ) -> Attribution:
        extra = {"index_offset": offset} if method in ("integrated_gradients", "deepshap") else {}
        rows = pass_rows(loaded)

        def compute(X_all: np.ndarray, stop: StopCheck) -> Attribution:
            return attribute(
                loaded.model, X_all, method, **options, **extra, batch_size=rows, should_stop=stop
            )

        if self.coalesce and method in COALESCED_METHODS:
            # Concurrent calls with the same method and options share one pass.
            key = ("attribute", method, repr(sorted(options.items())))
            result = loaded.coalescer.run(
                key, X, compute, _split_attribution, should_stop, method, max_rows=rows
            )
        else:
            # References are drawn per sequence index (index_offset): each call runs alone.
            with holding(loaded.lock, should_stop, method):
                result = compute(X, should_stop)
        if self.metrics is not None:
            self.metrics.add_sequences_attributed(len(X), method=method)
        return result

    def _attribution_cost(
        self, loaded: LoadedModel, method: str, options: dict, group: int, chunk: int, maps: int = 1
    ) -> Cost:
        """Bytes of an Attribute call: one group's sequences and attribution, the stream's buffers.

        ``group`` sequences are decoded and attributed at a time (see :func:`_compute_group`)
        while the previous group's maps wait to be sent; they are re-cut into messages of
        ``chunk`` sequences (a joined buffer of up to group + chunk rows, one message and
        its bytes). ``maps`` is the number of (n, L, 4) tensors each chunk message carries.
        """
        length = loaded.input_length
        return lambda n: (
            onehot_bytes(min(n, group), length)
            + attribution_bytes(loaded, method, options, min(n, group))
            + maps * onehot_bytes(min(n, group), length)  # the finished group waiting (streaming.ahead)
            + maps * onehot_bytes(min(n, group + chunk), length)  # rechunk's joined buffer
            + 2 * maps * onehot_bytes(min(n, chunk), length)
        )

    # ------------------------------------------------------------------ RPCs

    def FilterMotifs(self, request, context):  # noqa: N802 (gRPC method name)
        """First-layer filter PWMs by activation alignment."""
        loaded = self.models.get(request.model_id)
        threshold = check_finite(request.threshold, "threshold")
        if not 0 <= threshold <= 1:
            raise InvalidInputError(
                f"threshold: expected a fraction in (0, 1] (0 = {DEFAULT_THRESHOLD}), got {threshold}",
                field="threshold",
            )
        window = check_range(request.window, "window", 1, loaded.input_length, zero="the filter width")
        stop = caller_gone(context)

        def cost(n: int) -> int:
            # filter_pwms holds the scans, a mask over them and the sites' indices.
            rows = min(n, INFERENCE_BATCH)
            return (
                onehot_bytes(n, loaded.input_length)
                + 3 * scan_bytes(loaded, n)
                + pass_bytes(loaded, rows, gradients=False)
            )

        with self._budgeted(request.sequences, loaded, "FilterMotifs", cost) as X:
            with holding(loaded.lock, stop, "FilterMotifs"):
                scans = loaded.scans(X, stop)
            alignment = filter_pwms(
                loaded.model,
                X,
                threshold=threshold or DEFAULT_THRESHOLD,
                window=window or None,
                scans=scans,
                should_stop=stop,
            )
        motifs = alignment.motifs()
        response = pb.FilterMotifsResponse()
        for filter_motif, motif in zip(alignment.filters, motifs, strict=True):
            item = response.filters.add(
                index=filter_motif.index,
                num_sites=filter_motif.num_sites,
                max_activation=filter_motif.max_activation,
            )
            item.motif.CopyFrom(motif_to_proto(motif))
            if request.include_logos:
                buffer = io.BytesIO()
                pwm_logo(motif.pwm, buffer, title=f"{motif.motif_id} ({filter_motif.num_sites} sites)")
                item.logo_png = buffer.getvalue()
        text = io.StringIO()
        write_meme(motifs, text)
        response.meme = text.getvalue()
        return response

    def Attribute(self, request, context) -> Iterator:  # noqa: N802 (gRPC method name)
        """Attribution maps, one chunk of sequences at a time."""
        loaded = self.models.get(request.model_id)
        method, options = self._attribution_options(request, loaded)
        chunk = self._chunk_size(request.chunk_size)
        form, include_hypothetical = self._form(request)
        settings = self._settings(method, options)
        settings.form = FORM_BY_NAME[form]  # type: ignore[assignment]  # a ScoreForm value
        settings.include_hypothetical = include_hypothetical
        stop = caller_gone(context)
        group = _compute_group(method, chunk, pass_rows(loaded))
        with self._budgeted(
            request.sequences,
            loaded,
            f"Attribute {method}{size_parameters(options, chunk_size=chunk)}",
            self._attribution_cost(loaded, method, options, group, chunk, maps=1 + include_hypothetical),
            lambda n: check_work(method, options, n, "Attribute", self.max_evaluations),
            chunked=True,
        ) as X:

            def blocks() -> Generator[list[np.ndarray], None, None]:
                for first in range(0, len(X), group):
                    result = self._attribute(loaded, X[first : first + group], method, options, first, stop)
                    maps = [_form_of(result, form)]
                    if include_hypothetical:
                        maps.append(_form_of(result, "hypothetical"))
                    yield maps

            # The next group computes while this one's messages are sent (one group: nothing to overlap).
            computed = ahead(blocks(), stop, name="attribute-ahead") if len(X) > group else blocks()
            try:
                for offset, maps in rechunk(computed, chunk):
                    message = pb.AttributeChunk(
                        offset=offset, scores=array_to_tensor(maps[0]), settings=settings
                    )
                    if include_hypothetical:
                        message.hypothetical.CopyFrom(array_to_tensor(maps[1]))
                    yield message
            finally:
                computed.close()  # the worker ends before the budget is released

    def ScanFilters(self, request, context) -> Iterator:  # noqa: N802 (gRPC method name)
        """Post-activation first-layer scans, one chunk at a time."""
        loaded = self.models.get(request.model_id)
        chunk = self._chunk_size(request.chunk_size)
        stop = caller_gone(context)

        def cost(n: int) -> int:
            # A chunk's scans, its tensor message and the message's bytes.
            rows = min(n, INFERENCE_BATCH)
            return (
                onehot_bytes(min(n, chunk), loaded.input_length)  # decoded a chunk at a time
                + 3 * scan_bytes(loaded, min(n, chunk))
                + pass_bytes(loaded, rows, gradients=False)
            )

        with self._budgeted(
            request.sequences, loaded, f"ScanFilters (chunk_size {chunk})", cost, chunked=True
        ) as X:
            for start in range(0, len(X), chunk):
                with holding(loaded.lock, stop, "ScanFilters"):
                    scans = loaded.scans(X[start : start + chunk], stop)
                yield pb.ScanFiltersChunk(offset=start, scans=array_to_tensor(scans))

    def Localize(self, request, context):  # noqa: N802 (gRPC method name)
        """Localization AUROC of first-layer scans (and optionally the PWM baseline)."""
        loaded = self.models.get(request.model_id)
        if loaded.scanner is not None and loaded.scanner.output.shape[1] != loaded.input_length:
            raise FailedPreconditionError(
                f"model_id: model {loaded.model_id}'s first layer has 'valid' padding, so its scans "
                f"cover {loaded.scanner.output.shape[1]} of {loaded.input_length} positions; localization "
                "compares one scan value per input position (a 'same'-padded first layer)"
            )
        padding = check_range(request.padding, "padding", 1, loaded.input_length, zero=str(DEFAULT_PADDING))
        padding = padding or DEFAULT_PADDING
        stop = caller_gone(context)
        X, _, ground_truth = self._ground_truth(request.sequences, loaded)
        self._check_selection(X)
        task = None
        if request.include_pwm_baseline:
            _, task = load_dataset(self.store, request.sequences.dataset_id)
            if task is None:
                raise FailedPreconditionError("include_pwm_baseline: the data set has no motif pool")
        # Scans and the localization's per-position arrays; the PWM baseline's scans (N, L, M).
        need = 2 * scan_bytes(loaded, len(X)) + 4 * onehot_bytes(len(X), loaded.input_length)
        if task is not None:
            need += 2 * len(X) * loaded.input_length * len(task.motifs) * FLOAT32
        with self.budget.reserve(need, describe_call("Localize", len(X), loaded)):
            with holding(loaded.lock, stop, "Localize"):
                scans = loaded.scans(X, stop)
            response = pb.LocalizeResponse()
            localization = localization_auroc(scans, ground_truth, padding=padding, should_stop=stop)
            response.filters.CopyFrom(_localization(localization))
            if task is not None:
                baseline_scans = pwm_scans(X, task.motifs, should_stop=stop)
                baseline = localization_auroc(baseline_scans, ground_truth, padding=padding, should_stop=stop)
                response.pwm_baseline.CopyFrom(_localization(baseline))
        return response

    def ScoreInterpretability(self, request, context):  # noqa: N802 (gRPC method name)
        """Interpretability AUROC/AUPR of an attribution method against the ground truth."""
        loaded = self.models.get(request.model_id)
        method, options = self._attribution_options(request, loaded)
        stop = caller_gone(context)
        X, y, ground_truth = self._ground_truth(request.sequences, loaded)
        if request.positives_only:
            keep = y[:, request.target] > 0.5
            X, ground_truth = X[keep], ground_truth[keep]
        self._check_selection(X)
        check_work(method, options, len(X), "ScoreInterpretability", self.max_evaluations)
        # The attribution of every sequence, then per-position scores and ranks for the AUCs.
        need = attribution_bytes(loaded, method, options, len(X)) + 4 * onehot_bytes(
            len(X), loaded.input_length
        )
        what = describe_call(f"ScoreInterpretability {method}{size_parameters(options)}", len(X), loaded)
        with self.budget.reserve(need, what):
            scores = _form_of(self._attribute(loaded, X, method, options, 0, stop), "scores")
            if method == "ism":
                # The paper reduces ISM per position by the L2 norm over the four bases.
                scores = np.linalg.norm(scores, axis=-1)
            result = interpretability_scores(scores, X, ground_truth, should_stop=stop)
        summary = result.summary()
        return pb.ScoreInterpretabilityResponse(
            auroc=summary["auroc"],
            auroc_std=summary["auroc_std"],
            aupr=summary["aupr"],
            aupr_std=summary["aupr_std"],
            num_sequences=summary["num_sequences"],
            per_sequence_auroc=array_to_tensor(result.auroc.astype(np.float64)),
            per_sequence_aupr=array_to_tensor(result.aupr.astype(np.float64)),
            settings=self._settings(method, options),
        )

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        """Probabilities (default, when the model has them) or logits, shape (N, T)."""
        loaded = self.models.get(request.model_id)
        output = loaded.output_kind(
            None if request.output == 0 else enum_name(OUTPUT_BY_NAME, request.output, "output"),
            default="probability",
        )
        stop = caller_gone(context)

        def cost(n: int) -> int:
            outputs = 3 * n * loaded.num_outputs * FLOAT32
            return (
                onehot_bytes(n, loaded.input_length)
                + outputs
                + pass_bytes(loaded, min(n, INFERENCE_BATCH), gradients=False)
            )

        with self._budgeted(request.sequences, loaded, "Predict", cost) as X:
            if self.coalesce:  # concurrent Predict calls of this model share a pass
                values = loaded.coalescer.run(
                    ("predict", output),
                    X,
                    lambda X_all, stop_all: loaded.predict(X_all, output, stop_all),
                    split_rows,
                    stop,
                    "Predict",
                    max_rows=INFERENCE_BATCH,
                )
            else:
                with holding(loaded.lock, stop, "Predict"):
                    values = loaded.predict(X, output, stop)
        return pb.PredictResponse(predictions=array_to_tensor(values.astype(np.float32)))


#: Attribution methods whose rows do not depend on each other or on their index in the
#: request, so that concurrent calls can share a pass (integrated gradients and DeepSHAP
#: draw their references per sequence index).
COALESCED_METHODS = frozenset({"saliency", "ism", "ism_naive"})


def _split_attribution(result: Attribution, sizes: Sequence[int]) -> list[Attribution]:
    """One pass's Attribution cut into consecutive pieces of ``sizes`` sequences."""
    bounds = np.cumsum([0, *sizes])

    def rows(array: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
        return None if array is None else array[a:b]

    return [
        dataclasses.replace(
            result,
            scores=result.scores[a:b],
            hypothetical=rows(result.hypothetical, a, b),
            projected=rows(result.projected, a, b),
        )
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _declared_count(message) -> int | None:
    """N as a Sequences message declares it (strings, one-hot tensor); None for a stored split."""
    form = message.WhichOneof("source")
    if form == "strings":
        return len(message.strings.sequences)
    if form == "one_hot" and len(message.one_hot.shape) == 3:
        return max(0, int(message.one_hot.shape[0]))
    return None


def _localization(scores) -> pb.LocalizationScore:
    summary = scores.summary()
    return pb.LocalizationScore(
        auroc=summary["auroc"],
        auroc_std=summary["auroc_std"],
        pooled_auroc=summary["pooled_auroc"],
        num_sequences=summary["num_sequences"],
    )


def _form_of(result: Attribution, form: str) -> np.ndarray:
    """The (n, L, 4) float32 map of ``result`` named by a FORM_BY_NAME key."""
    maps = {"scores": result.scores, "hypothetical": result.hypothetical, "projected": result.projected}
    return np.asarray(maps[form], np.float32)
