"""Response messages -> the SDK's result types (:mod:`motiflens_client.types`)."""

from __future__ import annotations

import numpy as np

from motiflens_client._tensors import tensor_to_array
from motiflens_client.errors import Internal
from motiflens_client.types import (
    AttributionJobInfo,
    AttributionProgress,
    CompareResult,
    DatabaseInfo,
    DatasetInfo,
    DiscoveredPattern,
    EpochEvent,
    FilterMotif,
    Filters,
    Interpretability,
    JobInfo,
    Localization,
    LocalizeResult,
    MatchResult,
    Metrics,
    ModelInfo,
    MotifDiscovery,
    MotifsJobInfo,
    SweepInfo,
    TomtomHit,
    TrustReport,
    UploadInfo,
    VariantScore,
    VariantScores,
    VariantsJobInfo,
    WindowCounts,
)
from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import (
    ATTRIBUTION_FORMAT_BY_NAME,
    DISTANCE_NAMES,
    FORM_BY_NAME,
    METHOD_BY_NAME,
    OUTPUT_BY_NAME,
    REFERENCE_BY_NAME,
    split_name,
    state_name,
)

#: AttributionMethod enum value -> SDK name (the inverse of ``wire.vocabulary.METHOD_BY_NAME``).
METHOD_NAMES = {value: name for name, value in METHOD_BY_NAME.items()}


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def dataset_info(message: pb.DatasetInfo) -> DatasetInfo:
    """DatasetInfo from its message."""
    return DatasetInfo(
        dataset_id=message.dataset_id,
        name=message.name,
        kind=message.kind,
        num_train=message.num_train,
        num_valid=message.num_valid,
        num_test=message.num_test,
        sequence_length=message.sequence_length,
        num_targets=message.num_targets,
        label_names=tuple(message.label_names),
        has_ground_truth=message.has_ground_truth,
        created_at=message.created_at,
        seed=message.seed,
        labels=dict(message.labels),
    )


def upload_info(message: pb.UploadInfo) -> UploadInfo:
    """UploadInfo from its message."""
    return UploadInfo(
        upload_id=message.upload_id,
        name=message.name,
        size=message.size,
        sha256=message.sha256,
        created_at=message.created_at,
    )


def window_counts(message: pb.WindowCounts) -> WindowCounts:
    """WindowCounts from its message."""
    return WindowCounts(
        requested=message.requested,
        kept=message.kept,
        off_chromosome_end=message.off_chromosome_end,
        too_many_n=message.too_many_n,
        negatives_requested=message.negatives_requested,
        negatives_made=message.negatives_made,
        negatives=message.negatives,
        split=message.split,
    )


def metrics(message: pb.ClassificationMetrics) -> Metrics:
    """Metrics from a ClassificationMetrics message."""
    return Metrics(
        auroc=message.auroc,
        aupr=message.aupr,
        auroc_std=message.auroc_std,
        aupr_std=message.aupr_std,
        auroc_per_class=tuple(message.auroc_per_class),
        aupr_per_class=tuple(message.aupr_per_class),
        loss=message.loss,
    )


def epoch_event(message: pb.EpochMetrics) -> EpochEvent:
    """EpochEvent from an EpochMetrics message."""
    return EpochEvent(
        epoch=message.epoch,
        loss=message.loss,
        val_loss=message.val_loss,
        val_auroc=message.val_auroc,
        val_aupr=message.val_aupr,
        learning_rate=message.learning_rate,
        improved=message.improved,
        seconds=message.seconds,
    )


def job_info(message: pb.Job) -> JobInfo:
    """JobInfo from a Job message."""
    return JobInfo(
        job_id=message.job_id,
        state=state_name(message.state),
        name=message.name,
        dataset_id=message.dataset_id,
        architecture=message.model.architecture,
        activation=message.model.activation,
        activation_params=dict(message.model.activation_params),
        seed=message.model.seed,
        epochs_done=message.epochs_done,
        model_id=message.model_id,
        test_metrics=metrics(message.test_metrics) if message.HasField("test_metrics") else None,
        error=message.error,
        created_at=message.created_at,
        started_at=message.started_at,
        finished_at=message.finished_at,
        initializer=message.model.initializer,
        sweep_id=message.sweep_id,
        sweep_index=message.sweep_index,
        first_layer_l2=_first_layer_l2(message.model),
        resumes=message.resumes,
        resumed_from_epoch=message.resumed_from_epoch,
    )


def _job_common(message: pb.Job) -> dict:
    """The fields every job kind's info has: id, state, name, error, times, resumes."""
    return {
        "job_id": message.job_id,
        "state": state_name(message.state),
        "name": message.name,
        "error": message.error,
        "created_at": message.created_at,
        "started_at": message.started_at,
        "finished_at": message.finished_at,
        "resumes": message.resumes,
    }


def attribution_job_info(message: pb.Job) -> AttributionJobInfo:
    """AttributionJobInfo from a Job message of kind "attribution"."""
    job = message.attribution
    return AttributionJobInfo(
        dataset_id=message.dataset_id,
        model_id=job.model_id,
        split=split_name(job.split),
        offset=job.offset,
        num_sequences=job.num_sequences,
        settings=attribution_settings(job.settings),
        shard_size=job.shard_size,
        shards=job.shards,
        shards_done=job.shards_done,
        sequences_done=job.sequences_done,
        file_format=next((k for k, v in ATTRIBUTION_FORMAT_BY_NAME.items() if v == job.format), "npz"),
        attributions_id=job.attributions_id,
        executor=job.executor,
        **_job_common(message),
    )


def motifs_job_info(message: pb.Job) -> MotifsJobInfo:
    """MotifsJobInfo from a Job message of kind "motifs"."""
    job = message.motifs
    return MotifsJobInfo(
        attributions_id=job.attributions_id,
        motifs_id=job.motifs_id,
        num_sequences=job.num_sequences,
        num_patterns=job.num_patterns,
        database=job.database,
        **_job_common(message),
    )


def variants_job_info(message: pb.Job) -> VariantsJobInfo:
    """VariantsJobInfo from a Job message of kind "variants"."""
    job = message.variants
    return VariantsJobInfo(
        model_id=job.model_id,
        vcf_upload_id=job.vcf_upload_id,
        genome_upload_id=job.genome_upload_id,
        alleles=job.alleles,
        shards=job.shards,
        shards_done=job.shards_done,
        variants_id=job.variants_id,
        executor=job.executor,
        **_job_common(message),
    )


def variant_scores(events) -> VariantScores:
    """VariantScores from a stream of ScoreVariantsEvent (batches, then the summary)."""
    rows: list = []
    summary = None
    for event in events:
        if event.WhichOneof("event") == "batch":
            rows.extend(variant_score(item) for item in event.batch.variants)
        else:
            summary = event.summary
    if summary is None:
        raise Internal("the stream of variant scores ended without its summary")
    return VariantScores(variants=rows, summary=variant_summary(summary))


def variant_score(message: pb.VariantScore) -> VariantScore:
    """VariantScore from its message."""
    return VariantScore(
        record=message.record,
        allele=message.allele,
        chrom=message.chrom,
        pos=message.pos,
        id=message.id,
        ref=message.ref,
        alt=message.alt,
        skipped=message.skipped,
        ref_prediction=np.asarray(message.ref_prediction, np.float32),
        alt_prediction=np.asarray(message.alt_prediction, np.float32),
        effect=np.asarray(message.effect, np.float32),
        ref_map=tensor_to_array(message.ref_map, field="ref_map") if message.HasField("ref_map") else None,
        alt_map=tensor_to_array(message.alt_map, field="alt_map") if message.HasField("alt_map") else None,
        probability_effect=np.asarray(message.probability_effect, np.float32),
    )


def variant_summary(message: pb.VariantSummary) -> dict:
    """The ScoreVariants summary as a dict."""
    return {
        "records": message.records,
        "alleles": message.alleles,
        "scored": message.scored,
        "skipped": message.skipped,
        "skipped_by_reason": dict(message.skipped_by_reason),
        "renamed_contigs": message.renamed_contigs,
        "padded": message.padded,
        "output": OUTPUT_NAMES_BY_VALUE.get(message.output, ""),
        "both_strands": message.both_strands,
        "map_start": message.map_start,
        "input_length": message.input_length,
    }


#: OutputKind value -> name.
OUTPUT_NAMES_BY_VALUE = {value: name for name, value in OUTPUT_BY_NAME.items()}


def attribution_progress(message: pb.AttributionProgress) -> AttributionProgress:
    """AttributionProgress from its message."""
    return AttributionProgress(
        shards_done=message.shards_done,
        shards=message.shards,
        sequences_done=message.sequences_done,
        num_sequences=message.num_sequences,
    )


def sweep_info(message: pb.Sweep) -> SweepInfo:
    """SweepInfo from a Sweep message."""
    return SweepInfo(
        sweep_id=message.sweep_id,
        name=message.name,
        dataset_id=message.dataset_id,
        state=state_name(message.state),
        executor=message.executor,
        job_ids=tuple(message.job_ids),
        pending=message.pending,
        running=message.running,
        succeeded=message.succeeded,
        failed=message.failed,
        cancelled=message.cancelled,
        kubernetes_job=message.kubernetes_job,
        kubernetes_status=message.kubernetes_status,
        parallelism=message.parallelism,
        gpu=message.gpu,
        created_at=message.created_at,
        finished_at=message.finished_at,
        error=message.error,
    )


def _first_layer_l2(model: pb.ModelSpec) -> float | None:
    return model.first_layer_l2 if model.HasField("first_layer_l2") else None


def model_info(message: pb.ModelInfo) -> ModelInfo:
    """ModelInfo from its message."""
    return ModelInfo(
        model_id=message.model_id,
        job_id=message.job_id,
        dataset_id=message.dataset_id,
        name=message.name,
        architecture=message.model.architecture,
        activation=message.model.activation,
        activation_params=dict(message.model.activation_params),
        seed=message.model.seed,
        test_metrics=metrics(message.test_metrics) if message.HasField("test_metrics") else None,
        input_length=message.input_length,
        num_outputs=message.num_outputs,
        created_at=message.created_at,
        first_layer_l2=_first_layer_l2(message.model),
        labels=dict(message.labels),
        provenance=message.provenance or "trained",
        output_activation=message.output_activation or "sigmoid",
        first_conv_layer=message.first_conv_layer,
    )


def filters(message: pb.FilterMotifsResponse) -> Filters:
    """Filters from a FilterMotifs response (PWMs as read-only float64 (W, 4) arrays)."""
    return Filters(
        filters=tuple(
            FilterMotif(
                index=item.index,
                motif_id=item.motif.id,
                pwm=_readonly(
                    tensor_to_array(item.motif.pwm, field=f"filters[{i}].motif.pwm").astype(np.float64)
                ),
                num_sites=item.num_sites,
                max_activation=item.max_activation,
                logo_png=bytes(item.logo_png) or None,
            )
            for i, item in enumerate(message.filters)
        ),
        meme=message.meme,
    )


def tomtom_hit(message: pb.TomtomHit) -> TomtomHit:
    """TomtomHit from its message."""
    return TomtomHit(
        query_id=message.query_id,
        target_id=message.target_id,
        target_name=message.target_name,
        offset=message.offset,
        p_value=message.p_value,
        e_value=message.e_value,
        q_value=message.q_value,
        overlap=message.overlap,
        query_consensus=message.query_consensus,
        target_consensus=message.target_consensus,
        orientation=message.orientation,
    )


def compare_result(message: pb.CompareResponse) -> CompareResult:
    """CompareResult from a Compare response."""
    return CompareResult(
        hits=tuple(tomtom_hit(hit) for hit in message.hits),
        tsv=message.tsv,
        num_targets=message.num_targets,
        distance=DISTANCE_NAMES.get(message.distance, "ed"),
    )


def match_result(message: pb.MatchFiltersResponse) -> MatchResult:
    """MatchResult from a MatchFilters response."""
    return MatchResult(
        match_fraction=message.match_fraction if message.HasField("match_fraction") else None,
        match_any_fraction=message.match_any_fraction,
        covered_tfs=tuple(message.covered_tfs),
        matches={match.filter_index: tuple(match.tfs) for match in message.matches},
        hits=tuple(tomtom_hit(hit) for hit in message.hits),
        distance=DISTANCE_NAMES.get(message.distance, "ed"),
        ground_truth=message.ground_truth,
    )


def localization(message: pb.LocalizationScore) -> Localization:
    """Localization from a LocalizationScore message."""
    return Localization(
        auroc=message.auroc,
        auroc_std=message.auroc_std,
        pooled_auroc=message.pooled_auroc,
        num_sequences=message.num_sequences,
    )


def localize_result(message: pb.LocalizeResponse) -> LocalizeResult:
    """LocalizeResult from a Localize response."""
    return LocalizeResult(
        filters=localization(message.filters),
        pwm_baseline=localization(message.pwm_baseline) if message.HasField("pwm_baseline") else None,
    )


def interpretability(message: pb.ScoreInterpretabilityResponse, *, method: str) -> Interpretability:
    """Interpretability from a ScoreInterpretability response (``method``: the one requested)."""
    return Interpretability(
        auroc=message.auroc,
        auroc_std=message.auroc_std,
        aupr=message.aupr,
        aupr_std=message.aupr_std,
        num_sequences=message.num_sequences,
        per_sequence_auroc=_readonly(
            tensor_to_array(message.per_sequence_auroc, field="per_sequence_auroc").astype(np.float64)
        ),
        per_sequence_aupr=_readonly(
            tensor_to_array(message.per_sequence_aupr, field="per_sequence_aupr").astype(np.float64)
        ),
        method=METHOD_NAMES.get(message.settings.method, method),
    )


def database_info(message: pb.DatabaseInfo) -> DatabaseInfo:
    """DatabaseInfo from its message."""
    return DatabaseInfo(
        database_id=message.database_id,
        name=message.name,
        num_motifs=message.num_motifs,
        source=message.source,
        collection=message.collection,
        tax_group=message.tax_group,
    )


def attribution_settings(message: pb.AttributionSettings | None) -> dict:
    """The server's record of an Attribute call as plain names and numbers."""
    if message is None:
        return {}
    return {
        "method": METHOD_NAMES.get(message.method, ""),
        "target": message.target,
        "output": _inverse(OUTPUT_BY_NAME).get(message.output, "logit"),
        "reference": _inverse(REFERENCE_BY_NAME).get(message.reference),
        "num_references": message.num_references or None,
        "num_steps": message.num_steps or None,
        "seed": message.seed,
        "times_input": message.times_input,
        "form": _inverse(FORM_BY_NAME).get(message.form, "scores"),
        "gradient_correction": message.gradient_correction,
    }


def _inverse(table: dict[str, int]) -> dict[int, str]:
    return {value: name for name, value in table.items()}


def discovered_pattern(message: pb.DiscoveredPattern) -> DiscoveredPattern:
    """DiscoveredPattern from its message."""
    seqlets = np.array(
        [(s.sequence, s.start, s.end, int(s.reverse_complement)) for s in message.seqlets], dtype=np.int64
    ).reshape(-1, 4)
    return DiscoveredPattern(
        name=message.name,
        sign=message.sign,
        pwm=_readonly(tensor_to_array(message.pwm, field="pwm")),
        cwm=_readonly(tensor_to_array(message.cwm, field="cwm")),
        hypothetical_cwm=_readonly(tensor_to_array(message.hypothetical_cwm, field="hypothetical_cwm")),
        num_seqlets=message.num_seqlets,
        seqlets=_readonly(seqlets),
        trim=(message.trim_start, message.trim_end),
        motif_pwm=_readonly(tensor_to_array(message.motif.pwm, field="motif.pwm")),
        matches=tuple(tomtom_hit(hit) for hit in message.matches),
        cwm_logo_png=message.cwm_logo_png,
        pwm_logo_png=message.pwm_logo_png,
    )


def motif_discovery(message: pb.DiscoverMotifsResult) -> MotifDiscovery:
    """MotifDiscovery from the final event of a DiscoverMotifs stream."""
    return MotifDiscovery(
        motifs_id=message.motifs_id,
        patterns=tuple(discovered_pattern(pattern) for pattern in message.patterns),
        meme=message.meme,
        database=message.database,
        num_sequences=message.num_sequences,
        attribution=attribution_settings(message.attribution),
    )


def trust_report(message: pb.ScoreTrustResponse, *, model_id: str) -> TrustReport:
    """TrustReport from a ScoreTrust response."""
    matched = message.has_filter_match
    return TrustReport(
        model_id=model_id,
        num_sequences=message.num_sequences,
        filter_match=message.filter_match if matched else None,
        filter_match_chance=message.filter_match_chance if matched else None,
        filter_match_excess=message.filter_match_excess if matched else None,
        method_agreement=dict(message.method_agreement),
        mean_method_agreement=message.mean_method_agreement,
        reference_stability=message.reference_stability,
        reverse_complement_stability=message.reverse_complement_stability,
        off_simplex_fraction=message.off_simplex_fraction,
        ground_truth={
            METHOD_NAMES.get(score.method, ""): {"auroc": score.auroc, "aupr": score.aupr}
            for score in message.ground_truth
        },
        database=message.database,
        json=message.json,
    )
