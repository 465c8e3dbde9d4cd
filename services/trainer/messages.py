"""Trainer records and manifests as proto messages (the read side of TrainerService).

Every function takes what the trainer stores (a DatasetInfo, a job record, a sweep summary,
a model manifest) and returns the message the API sends; nothing here reads the store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from motiflens_client.wire import pb

from motiflens.models import ModelConfig
from services.common.datasets import DatasetInfo
from services.common.store import Manifest
from services.trainer import attribution_jobs, model_files, motifs_jobs, variants_jobs
from services.trainer.jobs import JobState


def state_name(state: str) -> str:
    """The wire enum name of a record's state (protobuf takes enum fields by name)."""
    return f"JOB_STATE_{JobState(state).value}"


def dataset_to_proto(info: DatasetInfo, artifact_labels: Mapping[str, str] | None = None) -> pb.DatasetInfo:
    """DatasetInfo message from the core description (and its labels)."""
    return pb.DatasetInfo(
        labels=dict(artifact_labels or {}),
        dataset_id=info.dataset_id,
        name=info.name,
        kind=info.kind,
        num_train=info.num_train,
        num_valid=info.num_valid,
        num_test=info.num_test,
        sequence_length=info.sequence_length,
        num_targets=info.num_targets,
        label_names=info.label_names,
        has_ground_truth=info.has_ground_truth,
        created_at=info.created_at,
        seed=info.seed,
    )


def model_spec_to_proto(config: Mapping) -> pb.ModelSpec:
    """ModelSpec message from a ModelConfig dict (resolved values, not the request's zeros)."""
    return pb.ModelSpec(
        architecture=config["architecture"],
        activation=config["activation"],
        activation_params={str(k): float(v) for k, v in config.get("activation_params", {}).items()},
        initializer=config["initializer"],
        initializer_std=config.get("initializer_std") or 0.0,
        width_multiplier=config.get("width_multiplier", 1),
        seed=config.get("seed", 0),
        first_layer_l2=ModelConfig.from_dict(config).effective_first_layer_l2,
    )


def training_spec_to_proto(config: Mapping) -> pb.TrainingSpec:
    """TrainingSpec message from a TrainConfig dict (patience -1 = no early stopping)."""
    patience = config.get("early_stopping_patience")
    return pb.TrainingSpec(
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        learning_rate=config["learning_rate"],
        patience=-1 if patience is None else patience,
        lr_patience=config["lr_patience"],
        lr_decay_factor=config["lr_decay_factor"],
    )


def metrics_to_proto(metrics: Mapping | None) -> pb.ClassificationMetrics | None:
    """ClassificationMetrics message from ``classification_metrics`` output plus ``loss``."""
    if not metrics:
        return None
    return pb.ClassificationMetrics(
        auroc=metrics.get("auroc", math.nan),
        aupr=metrics.get("aupr", math.nan),
        auroc_std=metrics.get("auroc_std", math.nan),
        aupr_std=metrics.get("aupr_std", math.nan),
        auroc_per_class=metrics.get("auroc_per_class", []),
        aupr_per_class=metrics.get("aupr_per_class", []),
        loss=metrics.get("loss", math.nan),
    )


def epoch_to_proto(event: Mapping) -> pb.EpochMetrics:
    """EpochMetrics message from an EpochEvent dict."""
    return pb.EpochMetrics(
        epoch=event["epoch"],
        loss=event["loss"],
        val_loss=event["val_loss"],
        val_auroc=event["val_auroc"],
        val_aupr=event["val_aupr"],
        learning_rate=event["learning_rate"],
        improved=event["improved"],
        seconds=event["seconds"],
    )


def job_to_proto(record: Mapping, progress: tuple[int, int] | None = None) -> pb.Job:
    """Job message from a job record (any kind: training, attribution, motifs, variants).

    ``progress`` is an attribution or variants job's (shards done, sequences done) as the
    store shows it now (:meth:`services.trainer.jobs.JobManager.attribution_progress`,
    ``variants_progress``); default the record's own counts.
    """
    common = {
        "job_id": record["job_id"],
        "state": state_name(record["state"]),
        "dataset_id": record.get("dataset_id", ""),
        "error": record.get("error", ""),
        "created_at": record.get("created_at", ""),
        "started_at": record.get("started_at", ""),
        "finished_at": record.get("finished_at", ""),
        "name": record.get("name", ""),
        "resumes": int(record.get("resumes") or 0),
    }
    if attribution_jobs.is_attribution(record):
        spec = record["attribution"]
        done = progress or (int(spec.get("shards_done", 0)), int(spec.get("sequences_done", 0)))
        return pb.Job(
            **common, kind=attribution_jobs.KIND, attribution=attribution_jobs.job_message(record, *done)
        )
    if variants_jobs.is_variants(record):
        shards = None if progress is None else progress[0]
        return pb.Job(**common, kind=variants_jobs.KIND, variants=variants_jobs.job_message(record, shards))
    if motifs_jobs.is_motifs(record):
        return pb.Job(**common, kind=motifs_jobs.KIND, motifs=motifs_jobs.job_message(record))
    return pb.Job(
        **common,
        kind="training",
        model=model_spec_to_proto(record["model_config"]),
        training=training_spec_to_proto(record["train_config"]),
        epochs_done=record.get("epochs_done", 0),
        model_id=record.get("model_id", ""),
        test_metrics=metrics_to_proto(record.get("test_metrics")),
        sweep_id=record.get("sweep_id", ""),
        sweep_index=record.get("sweep_index", 0),
        resumed_from_epoch=int(record.get("resumed_from_epoch") or 0),
    )


def sweep_to_proto(summary: Mapping) -> pb.Sweep:
    """Sweep message from a sweep summary (:meth:`services.trainer.sweeps.SweepManager.get`)."""
    counts = summary["counts"]
    return pb.Sweep(
        sweep_id=summary["sweep_id"],
        name=summary.get("name", ""),
        dataset_id=summary["dataset_id"],
        state=state_name(summary["state"]),
        executor=summary["executor"],
        job_ids=summary["job_ids"],
        pending=counts["PENDING"],
        running=counts["RUNNING"],
        succeeded=counts["SUCCEEDED"],
        failed=counts["FAILED"],
        cancelled=counts["CANCELLED"],
        kubernetes_job=summary.get("kubernetes_job", ""),
        parallelism=summary.get("parallelism", 0),
        gpu=summary.get("gpu", False),
        created_at=summary.get("created_at", ""),
        finished_at=summary.get("finished_at", ""),
        kubernetes_status=summary.get("kubernetes_status", ""),
        error=summary.get("error", ""),
    )


def model_info_to_proto(manifest: Manifest, artifact_labels: Mapping[str, str] | None = None) -> pb.ModelInfo:
    """ModelInfo message from a model artifact's manifest (and its labels)."""
    meta = manifest.metadata
    imported = meta.get("provenance") == "imported"
    config = meta["model_config"]
    spec = (
        pb.ModelSpec(architecture=config["architecture"], activation=config.get("activation", ""))
        if imported
        else model_spec_to_proto(config)
    )
    return pb.ModelInfo(
        **model_files.model_fields(meta),
        labels=dict(artifact_labels or {}),
        model_id=manifest.artifact_id,
        job_id=meta.get("job_id", ""),
        dataset_id=meta.get("dataset_id", ""),
        name=meta.get("name", ""),
        model=spec,
        test_metrics=metrics_to_proto(meta.get("test_metrics")),
        input_length=meta.get("input_length", 0),
        num_outputs=meta.get("num_outputs", 0),
        created_at=manifest.created_at,
    )
