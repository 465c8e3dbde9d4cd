"""Static checks of deploy/ (Kubernetes manifests) and docker/ (Dockerfiles); no cluster, no Docker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.common.server import LIVENESS_SERVICE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKER = ROOT / "docker"
K8S_VERSION = "1.33"
SERVICES = {"trainer": 50051, "interpreter": 50052, "motifmatch": 50053}
METRICS = {"trainer": 9101, "interpreter": 9102, "motifmatch": 9103}
POD_KINDS = {"Deployment", "StatefulSet", "Job"}
MINIO_CLIENT_LABEL = ("motiflens.io/minio-client", "true")


def _load(paths: list[Path]) -> list[tuple[str, dict]]:
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((f"{path.relative_to(ROOT)}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return docs


BASE_FILES = sorted(DEPLOY.glob("*.yaml"))
GPU_FILES = sorted((DEPLOY / "gpu").glob("*.yaml"))
BASE = _load(BASE_FILES)
GPU = _load(GPU_FILES)
ALL = BASE + GPU


def _pod_specs(docs: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    return [(name, doc["spec"]["template"]) for name, doc in docs if doc["kind"] in POD_KINDS]


def _containers(docs: list[tuple[str, dict]]) -> list[tuple[str, dict, dict]]:
    return [
        (f"{name}/{c['name']}", c, tpl["spec"])
        for name, tpl in _pod_specs(docs)
        for c in tpl["spec"].get("initContainers", []) + tpl["spec"]["containers"]
    ]


def _service_deployments(docs: list[tuple[str, dict]]) -> dict[str, dict]:
    return {
        doc["metadata"]["name"]: doc
        for _, doc in docs
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in SERVICES
    }


def test_layout():
    assert BASE_FILES[0].name == "00-namespace.yaml"
    assert BASE[0][1]["kind"] == "Namespace"
    assert not (DEPLOY / "kustomization.yaml").exists()
    kinds = {doc["kind"] for _, doc in BASE}
    expected = {"Namespace", "Secret", "ConfigMap", "StatefulSet", "Service", "Job", "Deployment"}
    assert expected | {"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    assert set(_service_deployments(BASE)) == set(SERVICES)
    assert set(_service_deployments(GPU)) == {"trainer"}


@pytest.mark.parametrize("name,doc", ALL, ids=[n for n, _ in ALL])
def test_validates_against_schema(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name,doc", ALL, ids=[n for n, _ in ALL])
def test_namespaced(name, doc):
    if doc["kind"] != "Namespace":
        assert doc["metadata"]["namespace"] == "motiflens", name


@pytest.mark.parametrize("name,container,pod", _containers(ALL), ids=[n for n, _, _ in _containers(ALL)])
def test_container_hardening(name, container, pod):
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]), name
    assert {"cpu", "memory"} <= set(resources["limits"]), name
    image = container["image"]
    assert "@sha256:" in image or re.fullmatch(r"[\w./-]+:[\w.-]+", image), image
    assert not image.endswith(":latest"), image
    pod_sc, sc = pod["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] > 0, name
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", name
    assert sc["runAsNonRoot"] is True and sc.get("runAsUser", pod_sc["runAsUser"]) > 0, name
    assert sc["readOnlyRootFilesystem"] is True, name
    assert sc["allowPrivilegeEscalation"] is False, name
    assert sc["capabilities"]["drop"] == ["ALL"], name
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    assert "/tmp" in mounts, name
    if name.split(":")[1].startswith("Deployment/trainer/"):
        # The one pod with an API identity: it creates the Kubernetes Jobs of sweeps.
        assert pod["serviceAccountName"] == "motiflens-trainer", name
        assert pod["automountServiceAccountToken"] is True, name
    else:
        assert pod["automountServiceAccountToken"] is False, name
        assert "serviceAccountName" not in pod, name


@pytest.mark.parametrize("docs", [BASE, GPU], ids=["base", "gpu"])
def test_service_pods(docs):
    config = next(doc for _, doc in BASE if doc["kind"] == "ConfigMap")["data"]
    grace = float(config["MOTIFLENS_GRACE_SECONDS"])
    assert config["MOTIFLENS_STORE"].startswith("s3://motiflens/")
    assert "endpoint=minio.motiflens.svc.cluster.local:9000" in config["MOTIFLENS_STORE"]
    for svc, deployment in _service_deployments(docs).items():
        tpl = deployment["spec"]["template"]
        (container,) = tpl["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"services.{svc}"]
        assert int(config[f"MOTIFLENS_{svc.upper()}_PORT"]) == SERVICES[svc]
        assert int(config[f"MOTIFLENS_{svc.upper()}_METRICS_PORT"]) == METRICS[svc]
        for probe in ("readinessProbe", "startupProbe"):
            assert container[probe]["grpc"] == {"port": SERVICES[svc]}, (svc, probe)
        # Liveness asks the "liveness" health name, which a store outage leaves SERVING
        # (readiness takes the pod out of the Service; nothing restarts it).
        assert container["livenessProbe"]["grpc"] == {"port": SERVICES[svc], "service": LIVENESS_SERVICE}
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"grpc": SERVICES[svc], "metrics": METRICS[svc]}
        assert tpl["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
        assert tpl["metadata"]["annotations"]["prometheus.io/port"] == str(METRICS[svc])
        assert tpl["spec"]["terminationGracePeriodSeconds"] > grace
        numba = config["NUMBA_CACHE_DIR"]
        assert numba in {m["mountPath"] for m in container["volumeMounts"]}
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert env["MOTIFLENS_TOKEN"]["name"] == "motiflens-api-token"
        assert {"MOTIFLENS_S3_ACCESS_KEY", "MOTIFLENS_S3_SECRET_KEY"} <= set(env)
        assert tpl["metadata"]["labels"][MINIO_CLIENT_LABEL[0]] == MINIO_CLIENT_LABEL[1]


def test_trainer_rbac_allows_only_jobs_and_pods_in_its_namespace():
    by_kind = {}
    for _, doc in BASE:
        by_kind.setdefault(doc["kind"], []).append(doc)
    assert "ClusterRole" not in by_kind and "ClusterRoleBinding" not in by_kind
    (account,) = by_kind["ServiceAccount"]
    (role,) = by_kind["Role"]
    (binding,) = by_kind["RoleBinding"]
    assert account["metadata"]["name"] == "motiflens-trainer"
    assert account["automountServiceAccountToken"] is False  # only the trainer pod opts in
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert set(granted) == {("batch", "jobs"), ("batch", "jobs/status"), ("", "pods"), ("", "pods/log")}
    assert granted["batch", "jobs"] >= {"create", "get"}
    assert granted["", "pods"] <= {"get", "list", "watch"}  # read-only on pods
    assert all("*" not in verbs for verbs in granted.values())
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "motiflens-trainer", "namespace": "motiflens"}
    ]
    # Applied before the Deployment that names the account.
    names = [path.name for path in BASE_FILES]
    assert names.index("12-trainer-rbac.yaml") < names.index("30-trainer.yaml")


def test_gpu_trainer_replaces_base():
    base, gpu = _service_deployments(BASE)["trainer"], _service_deployments(GPU)["trainer"]
    assert gpu["metadata"]["name"] == base["metadata"]["name"]
    assert gpu["spec"]["selector"] == base["spec"]["selector"]
    spec = gpu["spec"]["template"]["spec"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    assert spec["containers"][0]["image"].startswith("motiflens/trainer-gpu:")


def _referenced_secrets(tpl: dict) -> set[str]:
    names = set()
    for c in tpl["spec"]["containers"]:
        names |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
        names |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in c.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    names |= {v["secret"]["secretName"] for v in tpl["spec"].get("volumes", []) if "secret" in v}
    return names


def test_every_secret_is_used_and_every_reference_exists():
    secrets = {doc["metadata"]["name"]: doc for _, doc in BASE if doc["kind"] == "Secret"}
    used = set().union(*(_referenced_secrets(tpl) for _, tpl in _pod_specs(ALL)))
    assert set(secrets) == used
    for name, doc in secrets.items():
        for _, tpl in _pod_specs(ALL):
            for c in tpl["spec"]["containers"]:
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref and ref["name"] == name:
                        assert ref["key"] in doc["stringData"], (name, ref["key"])


def test_every_service_selects_a_pod_template():
    templates = [tpl["metadata"]["labels"] for _, tpl in _pod_specs(ALL)]
    services = [doc for _, doc in BASE if doc["kind"] == "Service"]
    assert {s["metadata"]["name"] for s in services} == set(SERVICES) | {"minio"}
    for svc in services:
        selector = svc["spec"]["selector"].items()
        assert any(selector <= labels.items() for labels in templates), svc["metadata"]["name"]
        if svc["metadata"]["name"] in SERVICES:
            ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
            name = svc["metadata"]["name"]
            assert ports == {"grpc": SERVICES[name], "metrics": METRICS[name]}


def test_pdbs_and_hpa_target_existing_workloads():
    deployments = _service_deployments(BASE)
    pdbs = {doc["metadata"]["name"]: doc for _, doc in BASE if doc["kind"] == "PodDisruptionBudget"}
    assert set(pdbs) == set(SERVICES)
    for name, pdb in pdbs.items():
        assert pdb["spec"]["selector"] == deployments[name]["spec"]["selector"]
    (hpa,) = [doc for _, doc in BASE if doc["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "interpreter",
    }


def test_minio_ingress_only_from_motiflens_clients():
    minio = next(doc for _, doc in BASE if doc["kind"] == "StatefulSet")
    minio_labels = minio["spec"]["template"]["metadata"]["labels"]
    policies = [doc for _, doc in BASE if doc["kind"] == "NetworkPolicy"]
    selecting = [
        p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= minio_labels.items()
    ]
    assert selecting
    for policy in selecting:
        assert "Ingress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"]["ingress"]:
            assert rule["ports"] == [{"protocol": "TCP", "port": 9000}]
            for peer in rule["from"]:
                assert set(peer) == {"podSelector"}, peer
                assert peer["podSelector"] == {"matchLabels": dict([MINIO_CLIENT_LABEL])}
    # The label is carried by exactly the three services and the bucket Job.
    clients = {
        doc["metadata"]["name"]
        for _, doc in ALL
        if doc["kind"] in POD_KINDS
        and doc["spec"]["template"]["metadata"]["labels"].get(MINIO_CLIENT_LABEL[0]) == MINIO_CLIENT_LABEL[1]
    }
    assert clients == set(SERVICES) | {"minio-create-bucket"}


# --- Dockerfiles -------------------------------------------------------------------------------

DOCKERFILES = {
    "trainer": "trainer.Dockerfile",
    "interpreter": "interpreter.Dockerfile",
    "motifmatch": "motifmatch.Dockerfile",
    "trainer-gpu": "trainer-gpu.Dockerfile",
}


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, args = line.partition(" ")
            out.append((instruction.upper(), args.strip()))
    return out


def _final_stage(path: Path) -> list[tuple[str, str]]:
    instructions = _instructions(path)
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"shell form not allowed: {args}"
    return value


@pytest.mark.parametrize("image", DOCKERFILES)
def test_dockerfile(image):
    path = DOCKER / DOCKERFILES[image]
    instructions = _instructions(path)
    froms = [args.split()[0] for ins, args in instructions if ins == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    for ref in froms:
        assert "@sha256:" in ref or re.fullmatch(r"[\w./-]+:[\w.-]+", ref), ref
        assert ":latest" not in ref, ref
    assert all(ins != "HEALTHCHECK" for ins, _ in instructions)
    final = _final_stage(path)
    users = [args for ins, args in final if ins == "USER"]
    assert users, "final stage needs a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, users[-1]
    env = " ".join(args for ins, args in final if ins == "ENV")
    assert "NUMBA_CACHE_DIR=" in env
    install = " ".join(args for ins, args in instructions if ins == "RUN" and "pip install" in args)
    assert "-c constraints.txt" in install and " . ./client" in install


@pytest.mark.parametrize(
    "image,docs", [(svc, BASE) for svc in SERVICES] + [("trainer-gpu", GPU)], ids=[*SERVICES, "trainer-gpu"]
)
def test_dockerfile_entrypoint_matches_manifest(image, docs):
    final = _final_stage(DOCKER / DOCKERFILES[image])
    entrypoint = [_exec_form(a) for ins, a in final if ins == "ENTRYPOINT"][-1:]
    cmd = [_exec_form(a) for ins, a in final if ins == "CMD"][-1:]
    argv = (entrypoint[0] if entrypoint else []) + (cmd[0] if cmd else [])
    deployment = _service_deployments(docs)[image.removesuffix("-gpu")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert argv == container.get("command", []) + container.get("args", [])
    tag = container["image"].rsplit(":", 1)
    assert tag[0] == f"motiflens/{image}"


def test_dockerignore_keeps_the_context_small():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines and "*" in lines
    assert {"!client/", "!motiflens/", "!services/", "!constraints.txt"} <= set(lines)


def test_makefile_images_target():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^images: .*## ", makefile, re.M)
    assert "docker build -f docker/$$svc.Dockerfile -t motiflens/$$svc:$(VERSION) ." in makefile
