"""InterpreterService calls that turn attributions into reports: DiscoverMotifs and ScoreTrust.

A mixin of :class:`~services.interpreter.servicer.InterpreterServicer` (it uses the
servicer's attribution helpers, budget and store); kept apart so that each module stays
one concern. TF-MoDISco's child process and the stored artifact are in
:mod:`services.common.discovery`; the trust scores themselves in :mod:`motiflens.trust`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import METHOD_BY_NAME, split_name

from motiflens.errors import FailedPreconditionError
from motiflens.evaluation import interpretability_scores
from motiflens.trust import score_trust
from services.common import discovery
from services.common.attributions import map_shape
from services.common.datasets import load_dataset
from services.common.errors import invalid
from services.common.server import caller_gone
from services.interpreter.model_cache import LoadedModel, ModelCache

if TYPE_CHECKING:
    from motiflens.attribution import Attribution
    from services.common.budget import MemoryBudget
    from services.common.config import DiscoveryLimits
    from services.common.store import ArtifactStore
from services.interpreter.requests import (
    attribution_bytes,
    check_range,
    check_work,
    describe_call,
    holding,
    onehot_bytes,
    pass_rows,
    scan_bytes,
    size_parameters,
)

#: Sequences attributed per DiscoverMotifs chunk (one progress event each).
DISCOVERY_CHUNK = 64
#: Most sequences one ScoreTrust call explains (it runs six attributions, ISM among them).
MAX_TRUST_SEQUENCES = 2000
DEFAULT_SHUFFLES = 5
MAX_SHUFFLES = 50

Cost = Callable[[int], int]


class ReportCalls:
    """DiscoverMotifs and ScoreTrust (mixed into InterpreterServicer)."""

    if TYPE_CHECKING:  # what InterpreterServicer provides
        store: ArtifactStore
        models: ModelCache
        budget: MemoryBudget
        max_evaluations: int
        discovery_limits: DiscoveryLimits
        _attribute: Callable[..., Attribution]
        _attribution_options: Callable[..., tuple[str, dict]]
        _budgeted: Callable[..., Any]
        _sequences: Callable[..., np.ndarray]
        _settings: Callable[..., pb.AttributionSettings]

    def DiscoverMotifs(self, request, context) -> Iterator:  # noqa: N802 (gRPC method name)
        """TF-MoDISco patterns of the sequences' hypothetical maps, Tomtom-matched and stored."""
        started = time.monotonic()
        stored = discovery.stored_attributions(self.store, request)
        if stored is None:
            loaded = self.models.get(request.model_id)
            method, options = self._attribution_options(discovery.attribute_request(request), loaded)
        else:  # the artifact's own model and settings
            loaded = self.models.get(stored.provenance["model_id"])
            method, options = stored.provenance["method"], dict(stored.provenance["options"])
        chosen = discovery.plan(request, self.store, loaded.input_length)
        settings = chosen.settings
        stop = caller_gone(context)

        def progress(stage: str, done: int = 0, total: int = 0) -> pb.DiscoverMotifsEvent:
            elapsed = time.monotonic() - started
            return pb.DiscoverMotifsEvent(
                progress=pb.DiscoveryProgress(stage=stage, done=done, total=total, elapsed_seconds=elapsed)
            )

        def admit(n: int) -> None:
            check_work(method, options, n, "DiscoverMotifs", self.max_evaluations)
            discovery.check_fits(n, loaded.input_length, settings, self.discovery_limits)

        def cost(n: int) -> int:  # the sequences, their hypothetical maps, one chunk's attribution
            chunk = min(n, DISCOVERY_CHUNK)
            return 2 * onehot_bytes(n, loaded.input_length) + attribution_bytes(
                loaded, method, options, chunk
            )

        what = f"DiscoverMotifs {method}{size_parameters(options)}"
        with contextlib.ExitStack() as held:
            if stored is not None:
                X, hypothetical = held.enter_context(
                    self._stored_maps(request, stored, loaded, settings, what)
                )
                yield progress("attributing", len(X), len(X))
            else:
                X = held.enter_context(self._chosen_sequences(request, loaded, what, cost, admit))
                hypothetical = np.empty(X.shape, dtype=np.float32)
                for start in range(0, len(X), DISCOVERY_CHUNK):
                    part = self._attribute(
                        loaded, X[start : start + DISCOVERY_CHUNK], method, options, start, stop
                    )
                    hypothetical[start : start + len(part.scores)] = part.hypothetical
                    yield progress("attributing", start + len(part.scores), len(X))
            runs = discovery.run_discovery(X, hypothetical, settings, self.discovery_limits, stop)
            while True:
                try:
                    next(runs)
                except StopIteration as finished:
                    patterns = finished.value
                    break
                yield progress("discovering")
            num_sequences = len(X)
        yield progress("matching")
        provenance = {
            "model_id": loaded.model_id,
            "attribution": {"method": method, **options},
            "sequences": discovery.describe_sequences(request),
        }
        result = discovery.finish(
            self.store,
            patterns,
            chosen,
            attribution=self._settings(method, options),
            provenance=provenance,
            num_sequences=num_sequences,
        )
        yield pb.DiscoverMotifsEvent(result=result)

    @contextmanager
    def _stored_maps(self, request, manifest, loaded: LoadedModel, settings, what: str) -> Iterator:
        """(one-hot, hypothetical) of a stored attributions artifact, (n, L, 4) each, budget held.

        With ``positives_only`` only the rows whose label of the artifact's target is 1.
        """
        n, length = map_shape(manifest)
        keep = discovery.stored_rows(self.store, manifest, request.positives_only)
        discovery.check_fits(n if keep is None else int(keep.sum()), length, settings, self.discovery_limits)
        # The two maps as read (channels first) and as returned, then the rows kept.
        with self.budget.reserve(6 * onehot_bytes(n, length), describe_call(what, n, loaded)):
            yield discovery.read_stored_maps(self.store, manifest, keep)

    def GetMotifs(self, request, context):  # noqa: N802 (gRPC method name)
        """A stored DiscoverMotifs result (of a call or of a trainer job)."""
        return discovery.read_result(self.store, request.motifs_id)

    @contextmanager
    def _chosen_sequences(self, request, loaded: LoadedModel, what: str, cost: Cost, admit) -> Iterator:
        """The sequences of a request with ``positives_only`` (only positives when asked), budget held."""
        if not request.positives_only:
            with self._budgeted(request.sequences, loaded, what, cost, admit) as X:
                yield X
            return
        if request.sequences.WhichOneof("source") != "dataset_split":
            raise invalid("positives_only", "needs sequences.dataset_split (a stored split has labels)")
        ref = request.sequences.dataset_split
        X = self._sequences(request.sequences, loaded)
        dataset, _ = load_dataset(self.store, ref.dataset_id)
        y = dataset.split(split_name(ref.split)).y[ref.offset : ref.offset + len(X)]
        X = X[y[:, request.target] > 0.5]
        if len(X) == 0:
            raise FailedPreconditionError(
                f"positives_only: no row of {ref.dataset_id} in the window has label {request.target} = 1",
                field="positives_only",
            )
        admit(len(X))
        with self.budget.reserve(cost(len(X)), describe_call(what, len(X), loaded)):
            yield X

    def ScoreTrust(self, request, context):  # noqa: N802 (gRPC method name)
        """Ground-truth-free trust scores (and the paper's ground-truth ones for a synthetic split)."""
        loaded = self.models.get(request.model_id)
        # Target, output, references and seed are checked where Attribute checks them.
        _, deepshap_options = self._attribution_options(
            pb.AttributeRequest(
                method=pb.ATTRIBUTION_METHOD_DEEPSHAP,
                target=request.target,
                output=request.output,
                num_references=request.num_references,
                seed=request.seed,
            ),
            loaded,
        )
        output, num_references = deepshap_options["output"], deepshap_options["num_references"]
        shuffles = (
            check_range(request.num_shuffles, "num_shuffles", 1, MAX_SHUFFLES, zero="5") or DEFAULT_SHUFFLES
        )
        database_name, database = discovery.database_of(request.database, request.database_meme, self.store)
        if loaded.scanner is None:
            database_name, database = "", None  # no scannable first convolution: no filter match
        stop = caller_gone(context)
        options = {"num_references": num_references, "target": int(request.target), "output": output}

        def admit(n: int) -> None:
            if n > MAX_TRUST_SEQUENCES:
                raise invalid(
                    "sequences", f"{n} sequences; at most {MAX_TRUST_SEQUENCES} per ScoreTrust call"
                )
            # DeepSHAP runs three times (two reference sets and the reverse complement).
            check_work(
                "deepshap", {"num_references": 3 * num_references}, n, "ScoreTrust", self.max_evaluations
            )

        def cost(n: int) -> int:
            # Six attributions of three (n, L, 4) maps each, the filter scans, one pass's work.
            return (
                19 * onehot_bytes(n, loaded.input_length)
                + 3 * scan_bytes(loaded, n)
                + max(attribution_bytes(loaded, m, options, n) for m in ("ism", "deepshap"))
            )

        what = f"ScoreTrust{size_parameters(options)}"
        with self._chosen_sequences(request, loaded, what, cost, admit) as X:
            with holding(loaded.lock, stop, "ScoreTrust"):
                scores = score_trust(
                    loaded.model,
                    X,
                    database=database,
                    target=options["target"],
                    output=output,
                    num_references=num_references,
                    seed=int(request.seed),
                    num_shuffles=shuffles,
                    batch_size=pass_rows(loaded),
                    should_stop=stop,
                )
            ground_truth = self._trust_ground_truth(request, loaded, X, options, stop)
        summary = {**scores.summary(), "database": database_name, "model_id": loaded.model_id}
        summary["ground_truth"] = {name: values for name, values in ground_truth.items()}
        response = pb.ScoreTrustResponse(
            num_sequences=scores.num_sequences,
            has_filter_match=scores.filter_match is not None,
            filter_match=scores.filter_match or 0.0,
            filter_match_chance=scores.filter_match_chance or 0.0,
            filter_match_excess=scores.filter_match_excess or 0.0,
            method_agreement=scores.method_agreement,
            mean_method_agreement=scores.mean_method_agreement,
            reference_stability=scores.reference_stability,
            reverse_complement_stability=scores.reverse_complement_stability,
            off_simplex_fraction=scores.off_simplex_fraction,
            json=json.dumps(summary, sort_keys=True),
            database=database_name,
        )
        for name, values in ground_truth.items():
            response.ground_truth.add(method=METHOD_BY_NAME[name], auroc=values["auroc"], aupr=values["aupr"])
        return response

    def _trust_ground_truth(self, request, loaded: LoadedModel, X: np.ndarray, options: dict, stop) -> dict:
        """Method -> {"auroc", "aupr"} against a synthetic split's ground truth; {} for other sequences."""
        if request.sequences.WhichOneof("source") != "dataset_split":
            return {}
        ref = request.sequences.dataset_split
        dataset, _ = load_dataset(self.store, ref.dataset_id)
        split = dataset.split(split_name(ref.split))
        if split.model is None:
            return {}
        stop_at = len(split) if ref.limit == 0 else min(len(split), ref.offset + ref.limit)
        rows = np.arange(ref.offset, stop_at)
        if request.positives_only:
            rows = rows[split.y[rows, request.target] > 0.5]
        truth = split.model[rows]
        scores = {}
        for method, extra in (
            ("saliency", {}),
            ("ism", {}),
            ("deepshap", {"num_references": options["num_references"]}),
        ):
            common = {"target": options["target"], "output": options["output"], **extra}
            maps = self._attribute(loaded, X, method, common, 0, stop)
            # As ScoreInterpretability scores them: the method's own scores, ISM by its L2 norm.
            values = np.linalg.norm(maps.scores, axis=-1) if method == "ism" else maps.scores
            summary = interpretability_scores(values, X, truth, should_stop=stop).summary()
            scores[method] = {"auroc": float(summary["auroc"]), "aupr": float(summary["aupr"])}
        return scores
