"""InterpreterService and TF Serving's PredictionService over a real loopback server."""

import io
import tempfile
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from helpers import make_settings, rpc_error, running_server
from motiflens_client.api import interpreter_pb2_grpc, pb
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from motiflens.attribution import attribute
from motiflens.filters import filter_scans
from motiflens.models import build_model
from motiflens.motifs import read_meme
from motiflens.sequences import decode
from motiflens.training import TrainConfig, train, write_run
from services.common.convert import array_to_tensor, tensor_to_array
from services.common.store import open_store
from services.interpreter.app import SERVICE_NAMES, build_register
from services.interpreter.model_cache import ModelCache
from services.trainer.datasets import create_synthetic, load_dataset

METHOD = pb.AttributionMethod.Value
OUTPUT = pb.OutputKind.Value
CODE = grpc.StatusCode


def store_model(store, model, dataset_id, result=None):
    """Put a model artifact in the trainer's layout (what a finished job writes)."""
    with tempfile.TemporaryDirectory() as tmp:
        if result is None:
            result = train(model, load_dataset(store, dataset_id)[0], TrainConfig(epochs=1, seed=0))
        write_run(result, tmp)
        objects = {path.name: path for path in Path(tmp).iterdir()}
        manifest = store.put_artifact(
            "model",
            objects,
            id_prefix="model",
            metadata={"dataset_id": dataset_id, "input_length": 200, "num_outputs": model.output_shape[1]},
        )
    return manifest.artifact_id


def stack(store):
    return running_server(
        build_register(store, None, cache_capacity=2),
        service_name=SERVICE_NAMES,
        settings=make_settings("interpreter", max_workers=4),
        store=store,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    store = open_store(f"file://{tmp_path_factory.mktemp('store')}")
    info = create_synthetic(store, "task3", num_sequences=600, seed=2)
    model = build_model(architecture="cnn_local", input_length=200, num_outputs=1, activation="exponential")
    dataset, task = load_dataset(store, info.dataset_id)
    result = train(model, dataset, TrainConfig(epochs=2, seed=0))
    model_id = store_model(store, model, info.dataset_id, result)
    with stack(store) as running:
        yield {
            "store": store,
            "dataset_id": info.dataset_id,
            "dataset": dataset,
            "task": task,
            "model": result.model,
            "model_id": model_id,
            "stub": interpreter_pb2_grpc.InterpreterServiceStub(running.channel()),
            "serving": prediction_service_pb2_grpc.PredictionServiceStub(running.channel()),
        }


TEST_SPLIT = pb.Split.Value("SPLIT_TEST")


def split_ref(world, limit=0, split=TEST_SPLIT):
    return pb.Sequences(
        dataset_split=pb.DatasetSplitRef(dataset_id=world["dataset_id"], split=split, limit=limit)
    )


def test_predict_matches_the_model_for_every_input_form(world):
    X = world["dataset"].test.X[:7]
    expected = world["model"].predict(X, verbose=0)
    stub = world["stub"]
    for sequences in (
        pb.Sequences(one_hot=array_to_tensor(X)),
        pb.Sequences(strings=pb.SequenceList(sequences=decode(X))),
        split_ref(world, limit=7),
    ):
        reply = stub.Predict(pb.PredictRequest(model_id=world["model_id"], sequences=sequences))
        np.testing.assert_allclose(
            tensor_to_array(reply.predictions, field="p"), expected, rtol=1e-5, atol=1e-6
        )
    logits = stub.Predict(
        pb.PredictRequest(
            model_id=world["model_id"], sequences=split_ref(world, 7), output=OUTPUT("OUTPUT_KIND_LOGIT")
        )
    )
    np.testing.assert_allclose(
        1 / (1 + np.exp(-tensor_to_array(logits.predictions, field="p"))), expected, rtol=1e-4, atol=1e-6
    )


def test_filter_motifs_meme_and_logos(world):
    reply = world["stub"].FilterMotifs(
        pb.FilterMotifsRequest(model_id=world["model_id"], sequences=split_ref(world), include_logos=True)
    )
    assert len(reply.filters) == 24  # cnn_local's first layer
    motifs = read_meme(io.StringIO(reply.meme))
    assert [m.motif_id for m in motifs] == [f"filter{i}" for i in range(24)]
    first = reply.filters[0]
    pwm = tensor_to_array(first.motif.pwm, field="pwm")
    assert pwm.shape == (19, 4) and np.allclose(pwm.sum(1), 1.0)
    np.testing.assert_allclose(motifs[0].pwm, pwm, atol=1e-5)
    assert first.logo_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert sum(f.num_sites for f in reply.filters) > 0


@pytest.mark.parametrize("method", ["saliency", "deepshap", "ism"])
def test_attribute_streams_chunks_equal_to_one_core_call(world, method):
    X = world["dataset"].test.X[:7]
    names = {
        "saliency": "ATTRIBUTION_METHOD_SALIENCY",
        "deepshap": "ATTRIBUTION_METHOD_DEEPSHAP",
        "ism": "ATTRIBUTION_METHOD_ISM",
    }
    request = pb.AttributeRequest(
        model_id=world["model_id"],
        sequences=pb.Sequences(one_hot=array_to_tensor(X)),
        method=METHOD(names[method]),
        chunk_size=3,
        num_references=4,
        seed=5,
    )
    chunks = list(world["stub"].Attribute(request))
    assert [c.offset for c in chunks] == [0, 3, 6]
    scores = np.concatenate([tensor_to_array(c.scores, field="scores") for c in chunks])
    options = {"num_references": 4, "seed": 5} if method == "deepshap" else {}
    expected = attribute(world["model"], X, method, **options).scores
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)
    settings = chunks[0].settings
    assert settings.method == METHOD(names[method]) and settings.output == OUTPUT("OUTPUT_KIND_LOGIT")
    if method == "deepshap":
        assert settings.num_references == 4 and settings.seed == 5


def test_saliency_chunks_are_cut_from_full_passes(world):
    """Saliency is attributed a full pass (256 rows) at a time and streamed in the asked
    chunks: 300 sequences in chunks of 64 arrive as five messages whose rows are the
    one-call scores, whatever pass they were computed in."""
    X = world["dataset"].train.X[:300]
    assert len(X) == 300
    request = pb.AttributeRequest(
        model_id=world["model_id"],
        sequences=pb.Sequences(one_hot=array_to_tensor(X)),
        method=METHOD("ATTRIBUTION_METHOD_SALIENCY"),
        chunk_size=64,
    )
    chunks = list(world["stub"].Attribute(request))
    assert [c.offset for c in chunks] == [0, 64, 128, 192, 256]
    sizes = [tensor_to_array(c.scores, field="scores").shape[0] for c in chunks]
    assert sizes == [64, 64, 64, 64, 44]
    scores = np.concatenate([tensor_to_array(c.scores, field="scores") for c in chunks])
    np.testing.assert_allclose(scores, attribute(world["model"], X, "saliency").scores, rtol=1e-4, atol=1e-5)


FORM = pb.ScoreForm.Value


@pytest.mark.parametrize(
    ("method", "form"),
    [
        ("ATTRIBUTION_METHOD_DEEPSHAP", "SCORE_FORM_PROJECTED"),
        ("ATTRIBUTION_METHOD_INTEGRATED_GRADIENTS", "SCORE_FORM_HYPOTHETICAL"),
        ("ATTRIBUTION_METHOD_SALIENCY", "SCORE_FORM_PROJECTED"),
        ("ATTRIBUTION_METHOD_ISM", "SCORE_FORM_HYPOTHETICAL"),
    ],
)
def test_attribute_returns_the_requested_form_and_the_hypothetical_map(world, method, form):
    X = world["dataset"].test.X[:5]
    gradient = method != "ATTRIBUTION_METHOD_ISM"
    request = pb.AttributeRequest(
        model_id=world["model_id"],
        sequences=pb.Sequences(one_hot=array_to_tensor(X)),
        method=METHOD(method),
        form=FORM(form),
        include_hypothetical=True,
        gradient_correction=gradient,
        chunk_size=2,
        num_references=3,
        num_steps=5,
        seed=4,
    )
    chunks = list(world["stub"].Attribute(request))
    scores = np.concatenate([tensor_to_array(c.scores, field="scores") for c in chunks])
    hypothetical = np.concatenate([tensor_to_array(c.hypothetical, field="hypothetical") for c in chunks])
    name = pb.AttributionMethod.Name(METHOD(method)).removeprefix("ATTRIBUTION_METHOD_").lower()
    options = {"num_references": 3, "seed": 4} if name in ("deepshap", "integrated_gradients") else {}
    if name == "integrated_gradients":
        options["num_steps"] = 5
    if gradient:
        options["gradient_correction"] = True
    expected = attribute(world["model"], X, name, **options)
    np.testing.assert_allclose(hypothetical, expected.hypothetical, rtol=1e-4, atol=1e-5)
    wanted = expected.projected if form == "SCORE_FORM_PROJECTED" else expected.hypothetical
    np.testing.assert_allclose(scores, wanted, rtol=1e-4, atol=1e-5)
    settings = chunks[-1].settings
    assert settings.form == FORM(form) and settings.include_hypothetical
    assert settings.gradient_correction == gradient
    if name == "saliency":  # the correction removed the off-simplex part exactly
        np.testing.assert_allclose(hypothetical.sum(-1), 0, atol=1e-5)


def test_attribute_form_options_are_checked(world):
    X = world["dataset"].test.X[:2]
    base = {"model_id": world["model_id"], "sequences": pb.Sequences(one_hot=array_to_tensor(X))}
    cases = [
        ({"method": METHOD("ATTRIBUTION_METHOD_ISM"), "gradient_correction": True}, "gradient_correction"),
        (
            {"method": METHOD("ATTRIBUTION_METHOD_SALIENCY"), "times_input": True, "form": 2},
            "times_input",
        ),
        ({"method": METHOD("ATTRIBUTION_METHOD_SALIENCY"), "form": 9}, "form"),
    ]
    for fields, field in cases:
        error = rpc_error(world["stub"].Attribute, pb.AttributeRequest(**base, **fields))
        assert error.code() == CODE.INVALID_ARGUMENT and error.details().startswith(field), error.details()


def test_score_trust_with_ground_truth_agrees_with_score_interpretability(world):
    ref = pb.Sequences(
        dataset_split=pb.DatasetSplitRef(dataset_id=world["dataset_id"], split=TEST_SPLIT, limit=40)
    )
    reply = world["stub"].ScoreTrust(
        pb.ScoreTrustRequest(model_id=world["model_id"], sequences=ref, num_references=3, num_shuffles=2),
        timeout=600,
    )
    assert reply.num_sequences == 40 and reply.has_filter_match and reply.database == "JASPAR2016"
    assert 0 <= reply.filter_match <= 1 and 0 <= reply.filter_match_chance <= 1
    assert set(reply.method_agreement) == {"saliency~ism", "saliency~deepshap", "ism~deepshap"}
    truth = {pb.AttributionMethod.Name(score.method): score for score in reply.ground_truth}
    assert set(truth) == {"ATTRIBUTION_METHOD_" + m for m in ("SALIENCY", "ISM", "DEEPSHAP")}
    # The same numbers ScoreInterpretability gives for the same rows.
    single = world["stub"].ScoreInterpretability(
        pb.ScoreInterpretabilityRequest(
            model_id=world["model_id"],
            sequences=pb.DatasetSplitRef(dataset_id=world["dataset_id"], split=TEST_SPLIT, limit=40),
            method=METHOD("ATTRIBUTION_METHOD_SALIENCY"),
        )
    )
    assert truth["ATTRIBUTION_METHOD_SALIENCY"].auroc == pytest.approx(single.auroc, abs=1e-9)
    assert truth["ATTRIBUTION_METHOD_SALIENCY"].aupr == pytest.approx(single.aupr, abs=1e-9)
    too_many = pb.Sequences(one_hot=array_to_tensor(np.zeros((2001, 200, 4), np.float32)))
    error = rpc_error(
        world["stub"].ScoreTrust, pb.ScoreTrustRequest(model_id=world["model_id"], sequences=too_many)
    )
    assert error.code() == CODE.INVALID_ARGUMENT and "2000" in error.details()


def test_scan_filters_streams_scans(world):
    X = world["dataset"].test.X[:5]
    chunks = list(
        world["stub"].ScanFilters(
            pb.ScanFiltersRequest(
                model_id=world["model_id"], sequences=pb.Sequences(one_hot=array_to_tensor(X)), chunk_size=2
            )
        )
    )
    scans = np.concatenate([tensor_to_array(c.scans, field="scans") for c in chunks])
    np.testing.assert_allclose(scans, filter_scans(world["model"], X), rtol=1e-5, atol=1e-5)


def test_localize_and_interpretability_against_ground_truth(world):
    ref = pb.DatasetSplitRef(dataset_id=world["dataset_id"], split=pb.Split.Value("SPLIT_TEST"))
    reply = world["stub"].Localize(
        pb.LocalizeRequest(model_id=world["model_id"], sequences=ref, include_pwm_baseline=True)
    )
    assert reply.filters.num_sequences > 100 and 0 <= reply.filters.auroc <= 1
    assert reply.pwm_baseline.auroc > 0.85  # ground-truth PWMs footprint their motifs
    score = world["stub"].ScoreInterpretability(
        pb.ScoreInterpretabilityRequest(
            model_id=world["model_id"],
            sequences=ref,
            method=METHOD("ATTRIBUTION_METHOD_SALIENCY"),
            positives_only=True,
        )
    )
    positives = int((world["dataset"].test.y[:, 0] > 0.5).sum())
    assert score.num_sequences == positives
    per_sequence = tensor_to_array(score.per_sequence_auroc, field="auroc")
    assert per_sequence.shape == (positives,)
    assert score.auroc == pytest.approx(np.nanmean(per_sequence))


def test_tf_serving_predict_and_metadata(world):
    X = world["dataset"].test.X[:4]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = world["model_id"]
    request.inputs["sequence"].CopyFrom(tf.make_tensor_proto(X))
    reply = world["serving"].Predict(request)
    np.testing.assert_allclose(
        tf.make_ndarray(reply.outputs["probabilities"]),
        world["model"].predict(X, verbose=0),
        rtol=1e-4,
        atol=1e-6,
    )
    assert set(reply.outputs) == {"probabilities", "logits"}
    strings = predict_pb2.PredictRequest()
    strings.model_spec.name = world["model_id"]
    strings.inputs["dna"].CopyFrom(tf.make_tensor_proto([s.encode() for s in decode(X)]))
    strings.output_filter.append("logits")
    assert set(world["serving"].Predict(strings).outputs) == {"logits"}
    metadata = world["serving"].GetModelMetadata(
        get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec={"name": world["model_id"]}, metadata_field=["signature_def"]
        )
    )
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    assert [d.size for d in signature.inputs["sequence"].tensor_shape.dim] == [-1, 200, 4]
    assert [d.size for d in signature.outputs["probabilities"].tensor_shape.dim] == [-1, 1]
    unknown = predict_pb2.PredictRequest()
    unknown.model_spec.name = "model-" + "0" * 32
    unknown.inputs["sequence"].CopyFrom(tf.make_tensor_proto(X))
    assert rpc_error(world["serving"].Predict, unknown).code() == CODE.NOT_FOUND
    wrong = predict_pb2.PredictRequest()
    wrong.model_spec.name = world["model_id"]
    wrong.inputs["x"].CopyFrom(tf.make_tensor_proto(X))
    error = rpc_error(world["serving"].Predict, wrong)
    assert error.code() == CODE.INVALID_ARGUMENT and "'sequence'" in error.details()


def test_bad_requests_get_clear_status_codes(world):
    stub, model_id = world["stub"], world["model_id"]

    def predict(sequences, model=model_id):
        return rpc_error(stub.Predict, pb.PredictRequest(model_id=model, sequences=sequences))

    error = predict(pb.Sequences(strings=pb.SequenceList(sequences=["A" * 200, "ACGX" + "A" * 196])))
    assert error.code() == CODE.INVALID_ARGUMENT and "sequences.strings.sequences[1]" in error.details()
    assert "'X'" in error.details()
    error = predict(pb.Sequences(strings=pb.SequenceList(sequences=["ACGT" * 10])))
    assert error.code() == CODE.INVALID_ARGUMENT and "200 nt, got 40" in error.details()
    error = predict(pb.Sequences(strings=pb.SequenceList(sequences=[])))
    assert error.code() == CODE.INVALID_ARGUMENT
    error = predict(pb.Sequences())
    assert error.code() == CODE.INVALID_ARGUMENT and "expected one of" in error.details()
    assert predict(split_ref(world), model="model-" + "f" * 32).code() == CODE.NOT_FOUND
    error = predict(split_ref(world), model="../../etc/passwd")
    assert error.code() == CODE.INVALID_ARGUMENT and "not a valid id" in error.details()
    missing = pb.Sequences(dataset_split=pb.DatasetSplitRef(dataset_id="ds-" + "0" * 32))
    assert predict(missing).code() == CODE.NOT_FOUND
    error = rpc_error(stub.Attribute, pb.AttributeRequest(model_id=model_id, sequences=split_ref(world, 2)))
    assert error.code() == CODE.INVALID_ARGUMENT and "method" in error.details()
    error = rpc_error(
        stub.Attribute,
        pb.AttributeRequest(
            model_id=model_id,
            sequences=split_ref(world, 2),
            method=METHOD("ATTRIBUTION_METHOD_ISM"),
            target=3,
        ),
    )
    assert error.code() == CODE.INVALID_ARGUMENT and "has 1 outputs" in error.details()
    error = rpc_error(
        stub.FilterMotifs,
        pb.FilterMotifsRequest(model_id=model_id, sequences=split_ref(world), threshold=2.0),
    )
    assert error.code() == CODE.INVALID_ARGUMENT and "threshold" in error.details()


def test_model_cache_is_bounded_lru(world):
    store = world["store"]
    cache = ModelCache(store, capacity=1)
    second = store_model(
        store,
        build_model(architecture="cnn_local", input_length=200, num_outputs=1, seed=3),
        world["dataset_id"],
    )
    first = cache.get(world["model_id"])
    assert cache.get(world["model_id"]) is first
    cache.get(second)
    assert cache.cached_ids() == [second] and len(cache) == 1


def test_main_flow_over_both_store_backends(store_url):
    store = open_store(store_url)
    info = create_synthetic(store, "task3", num_sequences=200, seed=1)
    model = build_model(architecture="cnn_local", input_length=200, num_outputs=1, activation="exponential")
    model_id = store_model(store, model, info.dataset_id)
    with stack(store) as running:
        stub = interpreter_pb2_grpc.InterpreterServiceStub(running.channel())
        ref = pb.Sequences(dataset_split=pb.DatasetSplitRef(dataset_id=info.dataset_id, limit=5))
        chunks = list(
            stub.Attribute(
                pb.AttributeRequest(
                    model_id=model_id, sequences=ref, method=METHOD("ATTRIBUTION_METHOD_SALIENCY")
                )
            )
        )
        assert tensor_to_array(chunks[0].scores, field="s").shape == (5, 200, 4)


def test_attribute_through_server_reflection_without_generated_stubs(world, tmp_path):
    """What grpcurl or a tool in another language does: discover the API, build the request."""
    from google.protobuf import descriptor_pool, message_factory
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with stack(world["store"]) as running:
        channel = running.channel()
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {"motiflens.v1.InterpreterService", "tensorflow.serving.PredictionService"} <= services
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName("motiflens.v1.InterpreterService")
        method = service.methods_by_name["Attribute"]
        request_class = message_factory.GetMessageClass(method.input_type)
        reply_class = message_factory.GetMessageClass(method.output_type)
        request = request_class()
        request.model_id = world["model_id"]
        request.sequences.strings.sequences.extend(decode(world["dataset"].test.X[:2]))
        request.method = (
            method.input_type.fields_by_name["method"]
            .enum_type.values_by_name["ATTRIBUTION_METHOD_SALIENCY"]
            .number
        )
        call = channel.unary_stream(
            f"/{service.full_name}/{method.name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=reply_class.FromString,
        )
        chunks = list(call(request, timeout=60))
    assert len(chunks) == 1
    scores = np.frombuffer(chunks[0].scores.data, dtype="<f4").reshape(tuple(chunks[0].scores.shape))
    expected = attribute(world["model"], world["dataset"].test.X[:2], "saliency").scores
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-6)
