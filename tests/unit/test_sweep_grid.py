"""Sweep grids, their summaries, settings and the Kubernetes Job a sweep becomes (no cluster)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
from kustomize_render import build, config_maps_and_secrets

from motiflens.errors import InvalidInputError, ResourceExhaustedError
from services.common.config import ConfigError, SweepSettings
from services.trainer import kube
from services.trainer.sweeps import SweepRequest, expand_grid, summarise

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.33"
SWEEP_ID = "sweep-" + "ab" * 16


def grid(**overrides) -> list[dict]:
    fields = {
        "dataset_id": "ds-" + "0" * 32,
        "architectures": ["cnn_2", "cnn_deep"],
        "activations": [("exponential", {}), ("relu", {}), ("scaled_exponential", {"scale": 2.0})],
        "seeds": [0, 1],
        "training": {"epochs": 3},
        "name": "paper",
    }
    fields.update(overrides)
    return expand_grid(SweepRequest(**fields), input_length=200, num_outputs=12, max_configs=1000)


# --------------------------------------------------------------------------- the grid


def test_grid_order_names_and_resolved_configs():
    configs = grid()
    assert len(configs) == 2 * 3 * 2
    labels = [
        (
            c["model_config"]["architecture"],
            c["model_config"]["activation"],
            c["model_config"]["activation_params"],
            c["model_config"]["seed"],
        )
        for c in configs
    ]
    # architecture, then activation, then seed innermost
    assert labels[:4] == [
        ("cnn_2", "exponential", {}, 0),
        ("cnn_2", "exponential", {}, 1),
        ("cnn_2", "relu", {}, 0),
        ("cnn_2", "relu", {}, 1),
    ]
    assert labels[-1] == ("cnn_deep", "scaled_exponential", {"scale": 2.0}, 1)
    assert configs[-1]["name"] == "paper/cnn_deep/scaled_exponential(scale=2)/glorot_uniform/seed1"
    for config in configs:
        model, train = config["model_config"], config["train_config"]
        assert (model["input_length"], model["num_outputs"]) == (200, 12)
        assert train["epochs"] == 3 and train["batch_size"] == 100  # 0 = paper default
        assert train["seed"] == model["seed"]  # training seeded like the model, as in Train
    assert len({c["name"] for c in configs}) == len(configs)


def test_grid_defaults_and_initializer_axis():
    configs = grid(seeds=[], architectures=["cnn_deep"], activations=[("relu", {})])
    assert [c["model_config"]["seed"] for c in configs] == [0]
    assert configs[0]["model_config"]["initializer"] == "glorot_uniform"
    configs = grid(initializers=["he_normal", "random_normal"], base_model={"initializer_std": 0.5})
    assert len(configs) == 2 * 3 * 2 * 2
    assert {c["model_config"]["initializer"] for c in configs} == {"he_normal", "random_normal"}
    assert {c["model_config"]["initializer_std"] for c in configs} == {0.5}
    assert {c["model_config"]["first_layer_l2"] for c in configs} == {None}  # unset: each activation's own


def test_grid_shares_first_layer_l2():
    configs = grid(base_model={"first_layer_l2": 0.2})
    assert {c["model_config"]["first_layer_l2"] for c in configs} == {0.2}


@pytest.mark.parametrize(
    "overrides,expected",
    [
        ({"architectures": []}, "architectures: expected at least one"),
        ({"activations": []}, "activations: expected at least one"),
        ({"architectures": ["cnn_2", "cnn_2"]}, "architectures: each value once; repeated: 'cnn_2'"),
        ({"seeds": [1, 1]}, "seeds: each value once"),
        ({"seeds": [-1]}, "seeds[0]: expected a non-negative integer"),
        ({"activations": [("softmaxx", {})]}, "activations[0]: activation: unknown name 'softmaxx'"),
        ({"activations": [("relu", {"scale": 2.0})]}, "takes no parameter scale"),
        ({"activations": [("", {})]}, "activations[0].name: empty"),
        ({"architectures": ["cnn_9"]}, "model.architecture"),
        ({"initializers": ["zeros"]}, "model.initializer: unknown name 'zeros'"),
        ({"base_model": {"seed": 3}}, "base_model.seed: must be unset in a sweep; give it in seeds"),
        ({"base_model": {"architecture": "cnn_2"}}, "base_model.architecture: must be unset"),
        ({"training": {"epochs": -1}}, "training."),
        ({"base_model": {"first_layer_l2": -0.5}}, "model.first_layer_l2: expected a finite number >= 0"),
    ],
)
def test_grid_rejects_bad_requests(overrides, expected):
    with pytest.raises(InvalidInputError, match=None) as error:
        grid(**overrides)
    assert expected in str(error.value)


def test_grid_too_large_is_resource_exhausted():
    with pytest.raises(ResourceExhaustedError, match="= 12 configurations; the limit is 11"):
        expand_grid(
            SweepRequest(
                "ds-" + "0" * 32, ["cnn_2", "cnn_deep"], [("relu", {}), ("exponential", {})], [0, 1, 2]
            ),
            input_length=200,
            num_outputs=12,
            max_configs=11,
        )


def test_grid_too_short_sequences_for_an_architecture():
    with pytest.raises(InvalidInputError, match="model."):
        expand_grid(
            SweepRequest("ds-" + "0" * 32, ["cnn_deep"], [("relu", {})]),
            input_length=8,
            num_outputs=1,
            max_configs=10,
        )


# --------------------------------------------------------------------------- summaries


@pytest.mark.parametrize(
    "states,expected",
    [
        (["PENDING", "PENDING"], "PENDING"),
        (["PENDING", "RUNNING"], "RUNNING"),
        (["SUCCEEDED", "PENDING"], "RUNNING"),
        (["SUCCEEDED", "SUCCEEDED"], "SUCCEEDED"),
        (["SUCCEEDED", "FAILED", "CANCELLED"], "FAILED"),
        (["SUCCEEDED", "CANCELLED"], "CANCELLED"),
    ],
)
def test_summary_state(states, expected):
    jobs = [{"state": s, "finished_at": f"2026-01-0{i + 1}T00:00:00Z"} for i, s in enumerate(states)]
    summary = summarise(jobs)
    assert summary["state"] == expected
    assert sum(summary["counts"].values()) == len(states)
    assert summary["counts"]["SUCCEEDED"] == states.count("SUCCEEDED")
    finished = expected in ("SUCCEEDED", "FAILED", "CANCELLED")
    assert summary["finished_at"] == (f"2026-01-0{len(states)}T00:00:00Z" if finished else "")


# --------------------------------------------------------------------------- settings


def test_sweep_settings_from_env():
    assert SweepSettings.from_env({}).executor == "local"
    settings = SweepSettings.from_env(
        {
            "MOTIFLENS_SWEEP_EXECUTOR": "Kubernetes",
            "MOTIFLENS_SWEEP_IMAGE": "motiflens/trainer:0.1.0",
            "MOTIFLENS_SWEEP_PARALLELISM": "8",
            "MOTIFLENS_SWEEP_MAX_CONFIGS": "600",
        }
    )
    assert (settings.executor, settings.image, settings.parallelism, settings.max_configs) == (
        "kubernetes",
        "motiflens/trainer:0.1.0",
        8,
        600,
    )
    with pytest.raises(ConfigError, match="MOTIFLENS_SWEEP_EXECUTOR: expected one of local, kubernetes"):
        SweepSettings.from_env({"MOTIFLENS_SWEEP_EXECUTOR": "slurm"})
    with pytest.raises(ConfigError, match="MOTIFLENS_SWEEP_IMAGE: required"):
        SweepSettings.from_env({"MOTIFLENS_SWEEP_EXECUTOR": "kubernetes"})
    with pytest.raises(ConfigError, match="MOTIFLENS_SWEEP_PARALLELISM"):
        SweepSettings.from_env({"MOTIFLENS_SWEEP_PARALLELISM": "0"})


def test_deployed_configmap_configures_kubernetes_sweeps():
    (config,) = [d for d in build("base") if d["kind"] == "ConfigMap"]
    settings = SweepSettings.from_env(config["data"])
    assert settings.executor == "kubernetes"
    assert settings.image == "motiflens/trainer:0.1.0"
    assert settings.gpu_image == "motiflens/trainer-gpu:0.1.0"
    assert settings.max_configs >= 510  # the paper's Task 1 sweep in one go


# --------------------------------------------------------------------------- the Job


def manifest(**overrides) -> dict:
    fields = {
        "completions": 12,
        "parallelism": 4,
        "namespace": "motiflens",
        "image": "motiflens/trainer:0.1.0",
    }
    fields.update(overrides)
    return kube.sweep_job_manifest(SWEEP_ID, **fields)


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_job_validates_against_the_kubernetes_schema(gpu):
    kubernetes_validate.validate(manifest(gpu=gpu), K8S_VERSION, strict=True)


def test_job_is_indexed_one_pod_per_configuration():
    job = manifest()
    spec = job["spec"]
    assert job["metadata"] == {
        "name": SWEEP_ID,
        "namespace": "motiflens",
        "labels": {
            "app.kubernetes.io/name": "sweep-worker",
            "app.kubernetes.io/part-of": "motiflens",
            "app.kubernetes.io/component": "sweep",
            "motiflens.io/sweep-id": SWEEP_ID,
        },
    }
    assert spec["completionMode"] == "Indexed"
    assert (spec["completions"], spec["parallelism"]) == (12, 4)
    assert manifest(completions=3, parallelism=10)["spec"]["parallelism"] == 3
    assert spec["backoffLimitPerIndex"] == kube.BACKOFF_LIMIT_PER_INDEX
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailIndex" and rules[0]["onExitCodes"]["values"] == [2]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # required by podFailurePolicy
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "services.trainer.worker", "--sweep-id", SWEEP_ID]
    assert "nodeSelector" not in pod and "nvidia.com/gpu" not in container["resources"]["limits"]


def test_job_pods_are_hardened_and_reach_minio():
    job = manifest()
    tpl = job["spec"]["template"]
    pod = tpl["spec"]
    (container,) = pod["containers"]
    assert pod["automountServiceAccountToken"] is False  # pods never call the API server
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/var/cache/numba"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert not container["image"].endswith(":latest")
    assert tpl["metadata"]["labels"]["motiflens.io/minio-client"] == "true"


def test_job_env_references_exist_in_deploy():
    docs = build("dev")  # the base plus the Secrets an operator creates (generated there)
    config_maps, secrets = config_maps_and_secrets(docs)
    (container,) = manifest()["spec"]["template"]["spec"]["containers"]
    for source in container["envFrom"]:
        assert source["configMapRef"]["name"] in config_maps
    for item in container["env"]:
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["key"] in secrets[ref["name"]], ref
    # The same S3 credentials as the trainer Deployment.
    trainer = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "trainer")
    trainer_env = {e["name"]: e for e in trainer["spec"]["template"]["spec"]["containers"][0]["env"]}
    for item in container["env"]:
        assert trainer_env[item["name"]] == item


def test_gpu_job_requests_a_gpu_on_gpu_nodes():
    job = manifest(gpu=True, image="motiflens/trainer-gpu:0.1.0")
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["containers"][0]["image"] == "motiflens/trainer-gpu:0.1.0"


@pytest.mark.parametrize(
    "text,expected",
    [("", set()), ("3", {3}), ("1,3-5", {1, 3, 4, 5}), ("0-1, 7", {0, 1, 7})],
)
def test_failed_indexes(text, expected):
    assert kube.failed_indexes({"failedIndexes": text}) == expected


def test_status_words_and_finished_condition():
    status = {
        "active": 0,
        "succeeded": 10,
        "failed": 3,
        "failedIndexes": "4",
        "conditions": [{"type": "Failed", "status": "True", "reason": "FailedIndexes"}],
    }
    assert kube.finished_condition(status) == "Failed"
    assert kube.describe_status(status) == "active 0, succeeded 10, failed 3, failed indexes 4 (Failed)"
    assert kube.finished_condition({"conditions": [{"type": "Complete", "status": "False"}]}) == ""
    assert kube.describe_status({"active": 2}) == "active 2, succeeded 0, failed 0"
    assert kube.describe_status(None) == "the Kubernetes Job no longer exists"
