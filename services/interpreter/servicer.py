"""InterpreterService: proto → core types → motiflens calls → proto.

Models come from the bounded :class:`ModelCache`; stored data sets from
:func:`services.trainer.datasets.load_dataset` (cached per process). Attribution and
scans stream in chunks of ``chunk_size`` sequences; integrated gradients and
DeepSHAP draw references per sequence index, so chunking never changes a result.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import numpy as np
from motiflens_client.api import interpreter_pb2_grpc, pb

from motiflens.attribution import attribute
from motiflens.errors import FailedPreconditionError, InvalidInputError
from motiflens.evaluation import interpretability_scores, localisation_auroc, pwm_scans
from motiflens.filters import filter_pwms, filter_scans, pwm_logo
from motiflens.motifs import write_meme
from services.common.convert import array_to_tensor, motif_to_proto, sequences_to_onehot
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore, check_id
from services.interpreter.model_cache import LoadedModel, ModelCache
from services.trainer.datasets import load_dataset

logger = logging.getLogger(__name__)

METHODS = {
    pb.AttributionMethod.Value("ATTRIBUTION_METHOD_SALIENCY"): "saliency",
    pb.AttributionMethod.Value("ATTRIBUTION_METHOD_ISM"): "ism",
    pb.AttributionMethod.Value("ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS"): "integrated_gradients",
    pb.AttributionMethod.Value("ATTRIBUTION_METHOD_DEEPSHAP"): "deepshap",
}
OUTPUTS = {
    pb.OutputKind.Value("OUTPUT_KIND_UNSPECIFIED"): "logit",
    pb.OutputKind.Value("OUTPUT_KIND_LOGIT"): "logit",
    pb.OutputKind.Value("OUTPUT_KIND_PROBABILITY"): "probability",
}
REFERENCES = {
    pb.ReferenceKind.Value("REFERENCE_KIND_UNSPECIFIED"): "shuffle",
    pb.ReferenceKind.Value("REFERENCE_KIND_SHUFFLE"): "shuffle",
    pb.ReferenceKind.Value("REFERENCE_KIND_DINUCLEOTIDE"): "dinucleotide",
}
SPLITS = {0: "test", 1: "train", 2: "valid", 3: "test"}
DEFAULT_CHUNK = 64
MAX_CHUNK = 1024


class InterpreterServicer(interpreter_pb2_grpc.InterpreterServiceServicer):
    """Filters, attribution maps, scans and interpretability scores of stored models.

    Parameters
    ----------
    store : ArtifactStore
    models : ModelCache
    metrics : ServiceMetrics, optional
        Counts sequences attributed.
    max_sequences : int
        Largest number of sequences one request may name (inline or from a split).
    """

    def __init__(
        self,
        store: ArtifactStore,
        models: ModelCache,
        metrics: ServiceMetrics | None = None,
        *,
        max_sequences: int = 20_000,
    ):
        self.store = store
        self.models = models
        self.metrics = metrics
        self.max_sequences = max_sequences

    # ------------------------------------------------------------------ helpers

    def _load_split(self, dataset_id: str, split: str, offset: int, limit: int) -> np.ndarray:
        dataset, _ = load_dataset(self.store, dataset_id)
        X = dataset.split(split).X
        if offset >= len(X):
            raise InvalidInputError(
                f"dataset_split.offset: {offset} is past the end of {dataset_id} {split} ({len(X)} sequences)"
            )
        stop = len(X) if limit == 0 else min(len(X), offset + limit)
        return X[offset:stop]

    def _sequences(self, message, loaded: LoadedModel, field: str = "sequences") -> np.ndarray:
        X = sequences_to_onehot(message, field=field, load_split=self._load_split)
        if X.shape[0] > self.max_sequences:
            raise InvalidInputError(
                f"{field}: {X.shape[0]} sequences; at most {self.max_sequences} per request "
                "(use dataset_split offset/limit)"
            )
        if X.shape[1] != loaded.input_length:
            raise InvalidInputError(
                f"{field}: model {loaded.model_id} takes sequences of {loaded.input_length} nt, "
                f"got {X.shape[1]}"
            )
        return X

    def _ground_truth(self, ref, loaded: LoadedModel, field: str = "sequences"):
        """X, y and ground-truth models of a synthetic data set split (offset/limit applied)."""
        dataset_id = check_id(ref.dataset_id, field_name=f"{field}.dataset_id", prefix="ds")
        dataset, _ = load_dataset(self.store, dataset_id)
        split = dataset.split(SPLITS.get(ref.split, "test"))
        if split.model is None:
            raise FailedPreconditionError(
                f"{field}.dataset_id: data set {dataset_id} has no ground truth; "
                "use a synthetic task (1 or 3)"
            )
        if ref.offset < 0 or ref.limit < 0:
            raise InvalidInputError(f"{field}: offset and limit must be >= 0")
        stop = len(split) if ref.limit == 0 else min(len(split), ref.offset + ref.limit)
        X, y, model = split.X[ref.offset : stop], split.y[ref.offset : stop], split.model[ref.offset : stop]
        if X.shape[1] != loaded.input_length:
            raise InvalidInputError(
                f"{field}: model {loaded.model_id} takes sequences of {loaded.input_length} nt, "
                f"data set {dataset_id} has {X.shape[1]}"
            )
        return X, y, model

    @staticmethod
    def _chunk_size(value: int) -> int:
        if value < 0 or value > MAX_CHUNK:
            raise InvalidInputError(f"chunk_size: expected 1..{MAX_CHUNK} (0 = {DEFAULT_CHUNK}), got {value}")
        return value or DEFAULT_CHUNK

    @staticmethod
    def _attribution_options(request, loaded: LoadedModel) -> tuple[str, dict]:
        if request.method not in METHODS:
            raise InvalidInputError(
                f"method: expected one of {', '.join(pb.AttributionMethod.Name(m) for m in METHODS)}; "
                f"got {request.method}"
            )
        if request.output not in OUTPUTS:
            raise InvalidInputError(f"output: unknown value {request.output}")
        if request.reference not in REFERENCES:
            raise InvalidInputError(f"reference: unknown value {request.reference}")
        if not 0 <= request.target < loaded.num_outputs:
            raise InvalidInputError(
                f"target: model {loaded.model_id} has {loaded.num_outputs} outputs "
                f"(0..{loaded.num_outputs - 1}), "
                f"got {request.target}"
            )
        for name in ("num_references", "num_steps"):
            if getattr(request, name) < 0:
                raise InvalidInputError(f"{name}: expected >= 0 (0 = default), got {getattr(request, name)}")
        if request.seed < 0:
            raise InvalidInputError(f"seed: expected >= 0, got {request.seed}")
        method = METHODS[request.method]
        options: dict = {"target": int(request.target), "output": OUTPUTS[request.output]}
        if method in ("integrated_gradients", "deepshap"):
            options.update(
                num_references=request.num_references or 10,
                reference=REFERENCES[request.reference],
                seed=int(request.seed),
            )
        if method == "integrated_gradients":
            options["num_steps"] = request.num_steps or 20
        if method == "saliency" and "times_input" in request.DESCRIPTOR.fields_by_name:
            # Only Attribute has it: interpretability scores take Σ_j S_ij X_ij anyway.
            options["times_input"] = bool(request.times_input)
        return method, options

    @staticmethod
    def _settings(method: str, options: dict) -> pb.AttributionSettings:
        method_value = next(value for value, name in METHODS.items() if name == method)
        output_value = pb.OutputKind.Value(
            "OUTPUT_KIND_PROBABILITY" if options["output"] == "probability" else "OUTPUT_KIND_LOGIT"
        )
        settings = pb.AttributionSettings(method=method_value, target=options["target"], output=output_value)
        if "reference" in options:
            settings.reference = pb.ReferenceKind.Value(
                "REFERENCE_KIND_DINUCLEOTIDE"
                if options["reference"] == "dinucleotide"
                else "REFERENCE_KIND_SHUFFLE"
            )
            settings.num_references = options["num_references"]
            settings.seed = options["seed"]
        settings.num_steps = options.get("num_steps", 0)
        settings.times_input = options.get("times_input", False)
        return settings

    def _attribute(
        self, loaded: LoadedModel, X: np.ndarray, method: str, options: dict, offset: int
    ) -> np.ndarray:
        extra = {"index_offset": offset} if method in ("integrated_gradients", "deepshap") else {}
        with loaded.lock:
            scores = np.asarray(attribute(loaded.model, X, method, **options, **extra).scores, np.float32)
        if self.metrics is not None:
            self.metrics.add_sequences_attributed(len(X), method=method)
        return scores

    # ------------------------------------------------------------------ RPCs

    def FilterMotifs(self, request, context):  # noqa: N802 (gRPC method name)
        """First-layer filter PWMs by activation alignment."""
        loaded = self.models.get(request.model_id)
        X = self._sequences(request.sequences, loaded)
        if request.threshold < 0 or request.threshold > 1:
            raise InvalidInputError(
                f"threshold: expected a fraction in (0, 1] (0 = 0.5), got {request.threshold}"
            )
        if request.window < 0:
            raise InvalidInputError(f"window: expected >= 0 (0 = filter width), got {request.window}")
        with loaded.lock:
            alignment = filter_pwms(
                loaded.model, X, threshold=request.threshold or 0.5, window=request.window or None
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
        X = self._sequences(request.sequences, loaded)
        settings = self._settings(method, options)
        for start in range(0, len(X), chunk):
            if not context.is_active():
                logger.info("Attribute: client went away after %d sequences", start)
                return
            scores = self._attribute(loaded, X[start : start + chunk], method, options, start)
            yield pb.AttributeChunk(offset=start, scores=array_to_tensor(scores), settings=settings)

    def ScanFilters(self, request, context) -> Iterator:  # noqa: N802 (gRPC method name)
        """Post-activation first-layer scans, one chunk at a time."""
        loaded = self.models.get(request.model_id)
        chunk = self._chunk_size(request.chunk_size)
        X = self._sequences(request.sequences, loaded)
        for start in range(0, len(X), chunk):
            if not context.is_active():
                return
            with loaded.lock:
                scans = filter_scans(loaded.model, X[start : start + chunk])
            yield pb.ScanFiltersChunk(offset=start, scans=array_to_tensor(scans.astype(np.float32)))

    def Localize(self, request, context):  # noqa: N802 (gRPC method name)
        """Localisation AUROC of first-layer scans (and optionally the PWM baseline)."""
        loaded = self.models.get(request.model_id)
        if request.padding < 0:
            raise InvalidInputError(f"padding: expected >= 0 (0 = 10), got {request.padding}")
        padding = request.padding or 10
        X, _, ground_truth = self._ground_truth(request.sequences, loaded)
        with loaded.lock:
            scans = filter_scans(loaded.model, X)
        response = pb.LocalizeResponse()
        response.filters.CopyFrom(_localisation(localisation_auroc(scans, ground_truth, padding=padding)))
        if request.include_pwm_baseline:
            _, task = load_dataset(self.store, request.sequences.dataset_id)
            if task is None:
                raise FailedPreconditionError("include_pwm_baseline: the data set has no motif pool")
            baseline = localisation_auroc(pwm_scans(X, task.motifs), ground_truth, padding=padding)
            response.pwm_baseline.CopyFrom(_localisation(baseline))
        return response

    def ScoreInterpretability(self, request, context):  # noqa: N802 (gRPC method name)
        """Interpretability AUROC/AUPR of an attribution method against the ground truth."""
        loaded = self.models.get(request.model_id)
        method, options = self._attribution_options(request, loaded)
        X, y, ground_truth = self._ground_truth(request.sequences, loaded)
        if request.positives_only:
            keep = y[:, request.target] > 0.5
            X, ground_truth = X[keep], ground_truth[keep]
        if len(X) == 0:
            raise InvalidInputError(
                "sequences: no sequence selected (check offset, limit and positives_only)"
            )
        if len(X) > self.max_sequences:
            raise InvalidInputError(
                f"sequences: {len(X)} sequences; at most {self.max_sequences} per request"
            )
        scores = self._attribute(loaded, X, method, options, 0)
        if method == "ism":
            # The paper reduces ISM per position by the L2 norm over the four bases.
            scores = np.linalg.norm(scores, axis=-1)
        result = interpretability_scores(scores, X, ground_truth)
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
        """Probabilities (default) or logits, shape (N, T)."""
        loaded = self.models.get(request.model_id)
        if request.output not in OUTPUTS:
            raise InvalidInputError(f"output: unknown value {request.output}")
        X = self._sequences(request.sequences, loaded)
        with loaded.lock:
            logits = np.asarray(loaded.logits.predict(X, batch_size=256, verbose=0), np.float32)
        values = (
            logits
            if request.output == pb.OutputKind.Value("OUTPUT_KIND_LOGIT")
            else 1 / (1 + np.exp(-logits))
        )
        return pb.PredictResponse(predictions=array_to_tensor(values.astype(np.float32)))


def _localisation(scores) -> pb.LocalizationScore:
    summary = scores.summary()
    return pb.LocalizationScore(
        auroc=summary["auroc"],
        auroc_std=summary["auroc_std"],
        pooled_auroc=summary["pooled_auroc"],
        num_sequences=summary["num_sequences"],
    )
