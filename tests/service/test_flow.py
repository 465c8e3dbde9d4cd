"""The paper's pipeline across the three real services, over both store backends.

dataset → train (tiny) → watch → filter PWMs → Tomtom match fractions → attribution.
"""

import contextlib

import numpy as np
from helpers import make_settings, running_server
from motiflens_client.api import interpreter_pb2_grpc, motifmatch_pb2_grpc, pb, trainer_pb2_grpc

from services.common.config import JobSettings
from services.common.convert import tensor_to_array
from services.common.metrics import ServiceMetrics
from services.common.store import open_store
from services.interpreter.app import SERVICE_NAMES as INTERPRETER_NAMES
from services.interpreter.app import build_register
from services.motifmatch.servicer import SERVICE_NAME as MOTIFMATCH_NAME
from services.motifmatch.servicer import MotifMatchServicer, add_to_server
from services.trainer.jobs import JobManager
from services.trainer.servicer import SERVICE_NAME as TRAINER_NAME
from services.trainer.servicer import TrainerServicer


@contextlib.contextmanager
def suite(store_url):
    store = open_store(store_url)
    metrics = ServiceMetrics()
    jobs = JobManager(store_url, JobSettings(), store=store, metrics=metrics)
    motifmatch = MotifMatchServicer(store)
    try:
        with (
            running_server(
                TrainerServicer(store, jobs).register,
                service_name=TRAINER_NAME,
                settings=make_settings("trainer"),
                store=store,
                metrics=metrics,
            ) as trainer,
            running_server(
                build_register(store, None),
                service_name=INTERPRETER_NAMES,
                settings=make_settings("interpreter"),
                store=store,
            ) as interpreter,
            running_server(
                lambda s: add_to_server(motifmatch, s),
                service_name=MOTIFMATCH_NAME,
                settings=make_settings("motifmatch"),
                store=store,
            ) as matcher,
        ):
            yield (
                trainer_pb2_grpc.TrainerServiceStub(trainer.channel()),
                interpreter_pb2_grpc.InterpreterServiceStub(interpreter.channel()),
                motifmatch_pb2_grpc.MotifMatchServiceStub(matcher.channel()),
            )
    finally:
        jobs.close()


def test_dataset_train_filters_tomtom_attribution(store_url):
    with suite(store_url) as (trainer, interpreter, matcher):
        dataset = trainer.CreateDataset(
            pb.CreateDatasetRequest(
                synthetic=pb.SyntheticSpec(
                    task=pb.SyntheticTask.Value("SYNTHETIC_TASK_1"), num_sequences=800, seed=4
                )
            )
        ).dataset
        job = trainer.Train(
            pb.TrainRequest(
                dataset_id=dataset.dataset_id,
                model=pb.ModelSpec(architecture="cnn_local", activation="exponential", seed=2),
                training=pb.TrainingSpec(epochs=2),
            )
        )
        events = list(trainer.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=300))
        epochs = [e.epoch.epoch for e in events if e.WhichOneof("payload") == "epoch"]
        final = events[-1].final
        assert epochs == [1, 2]
        assert final.state == pb.JobState.Value("JOB_STATE_SUCCEEDED") and final.model_id
        assert 0.4 < final.test_metrics.auroc <= 1.0 and len(final.test_metrics.auroc_per_class) == 12

        test_split = pb.Sequences(dataset_split=pb.DatasetSplitRef(dataset_id=dataset.dataset_id))
        filters = interpreter.FilterMotifs(
            pb.FilterMotifsRequest(model_id=final.model_id, sequences=test_split)
        )
        assert len(filters.filters) == 24 and filters.meme.startswith("MEME version 4")

        match = matcher.MatchFilters(
            pb.MatchFiltersRequest(
                meme=filters.meme,
                num_filters=24,
                ground_truth_map=pb.GroundTruthMap.Value("GROUND_TRUTH_MAP_TASK1"),
            )
        )
        assert match.ground_truth == "task1" and match.HasField("match_fraction")
        matched = {m.filter_index for m in match.matches}
        assert match.match_fraction == len(matched) / 24
        assert 0.0 <= match.match_any_fraction <= 1.0
        assert {hit.query_id for hit in match.hits} <= {f"filter{i}" for i in range(24)}
        compare = matcher.Compare(pb.CompareRequest(meme=filters.meme, trim=True))
        assert compare.tsv.startswith("Query_ID\tTarget_ID\tOptimal_offset")

        chunks = list(
            interpreter.Attribute(
                pb.AttributeRequest(
                    model_id=final.model_id,
                    sequences=pb.Sequences(
                        dataset_split=pb.DatasetSplitRef(dataset_id=dataset.dataset_id, limit=6)
                    ),
                    method=pb.AttributionMethod.Value("ATTRIBUTION_METHOD_ISM"),
                    target=3,
                    chunk_size=4,
                )
            )
        )
        scores = np.concatenate([tensor_to_array(c.scores, field="scores") for c in chunks])
        assert scores.shape == (6, 200, 4) and np.isfinite(scores).all()
        models = trainer.ListModels(pb.ListModelsRequest(dataset_id=dataset.dataset_id)).models
        assert [m.model_id for m in models] == [final.model_id]
