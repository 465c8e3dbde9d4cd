"""Checks of deploy/ as rendered by ``kubectl kustomize`` (base, overlays, component) and of docker/.

No API server can be run on this project's machines (none of its package registries ships a
kube-apiserver; deploy/README.md says so), so the manifests are checked here: rendered by the real
kustomize, validated against the Kubernetes 1.33 schemas, and their meaning tested — which objects
each overlay changes, where images and Secrets come from, which network flows the policies let
through (evaluated by the rules of the NetworkPolicy API below).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kustomize_render import BUILDS, DEPLOY, ROOT, apply_f_documents, build, kubectl, render

from services.common.server import LIVENESS_SERVICE
from services.trainer import kube

DOCKER = ROOT / "docker"
K8S_VERSION = "1.33"
SERVICES = {"trainer": 50051, "interpreter": 50052, "motifmatch": 50053}
METRICS = {"trainer": 9101, "interpreter": 9102, "motifmatch": 9103}
POD_KINDS = {"Deployment", "StatefulSet", "Job"}
MINIO_CLIENT_LABEL = ("motiflens.io/minio-client", "true")
IMAGES = ("motiflens/trainer", "motiflens/trainer-gpu", "motiflens/interpreter", "motiflens/motifmatch")
MINIO_IMAGE = "motiflens/minio"
#: The ConfigMap keys holding image references (deploy/base/kustomize/image-fields.yaml).
IMAGE_KEYS = ("MOTIFLENS_SWEEP_IMAGE", "MOTIFLENS_SWEEP_GPU_IMAGE")
#: CRDs that kubernetes_validate has no schema for (checked by their own tests here).
CUSTOM_KINDS = {"PodMonitor"}


def _named(docs) -> list[tuple[str, dict]]:
    return [(f"{d['kind']}/{d['metadata']['name']}", d) for d in docs]


ALL = [(f"{b}:{n}", d) for b in BUILDS for n, d in _named(build(b))]


def _by_kind(docs, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod_templates(docs) -> list[tuple[str, dict]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"])
        for d in docs
        if d["kind"] in POD_KINDS
    ]


def _containers(docs) -> list[tuple[str, dict, dict]]:
    return [
        (f"{name}/{c['name']}", c, tpl["spec"])
        for name, tpl in _pod_templates(docs)
        for c in tpl["spec"].get("initContainers", []) + tpl["spec"]["containers"]
    ]


def _service_deployments(docs) -> dict[str, dict]:
    return {n: d for n, d in _by_kind(docs, "Deployment").items() if n in SERVICES}


# --- layout and rendering ------------------------------------------------------------------------


def test_kubectl_renders_every_build():
    assert Path(kubectl()).is_file()
    for name in BUILDS:
        kinds = {d["kind"] for d in build(name)}
        assert {"Namespace", "ConfigMap", "Deployment", "Service", "NetworkPolicy"} <= kinds, name
    assert render(DEPLOY / "base")[0]["kind"] == "Namespace"  # kustomize orders it first


@pytest.mark.parametrize("folder", ["deploy/base", "deploy"])
def test_plain_apply_of_the_base_sends_what_kustomize_renders(folder):
    """`kubectl apply -f deploy/base/` reads the same objects as `-k`: the Kustomization file has no
    .yaml suffix and the transformer configuration lives in a subfolder, so `-f` skips both. And
    `kubectl apply -f deploy/` keeps working as before the overlays: deploy/*.yaml are links to
    the base's files (a kustomization cannot contain its own overlays, so the base has a folder)."""
    if folder == "deploy":
        links = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
        assert [p.name for p in links] == sorted(p.name for p in (DEPLOY / "base").glob("*.yaml"))
        for link in links:
            assert link.is_symlink() and link.resolve() == (DEPLOY / "base" / link.name).resolve(), link
    plain = apply_f_documents(ROOT / folder)
    files = [name for name, _ in plain]
    assert files[0] == "00-namespace.yaml" and plain[0][1]["kind"] == "Namespace"
    assert (DEPLOY / "base" / "Kustomization").is_file()
    assert not any((DEPLOY / "base" / f).exists() for f in ("kustomization.yaml", "kustomization.yml"))
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, (d for _, d in plain))) == sorted(map(key, build("base")))
    rendered = {key(d): d for d in build("base")}
    for _, doc in plain:
        assert rendered[key(doc)] == doc, key(doc)  # tags in the files = the Kustomization's tags
    # RBAC before the Deployment that names the account.
    assert files.index("12-trainer-rbac.yaml") < files.index("30-trainer.yaml")


@pytest.mark.parametrize("name,doc", ALL, ids=[n for n, _ in ALL])
def test_validates_against_schema(name, doc):
    if doc["kind"] in CUSTOM_KINDS:
        return
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name,doc", ALL, ids=[n for n, _ in ALL])
def test_namespaced(name, doc):
    if doc["kind"] != "Namespace":
        assert doc["metadata"]["namespace"] == "motiflens", name


def test_overlays_change_only_what_they_are_for():
    base = {(d["kind"], d["metadata"]["name"]): d for d in build("base")}
    for overlay, expected in {
        "gpu": {("Deployment", "trainer")},
        "dev": {
            ("Deployment", "trainer"),
            ("Deployment", "interpreter"),
            ("StatefulSet", "minio"),
            ("HorizontalPodAutoscaler", "interpreter"),
        },
        "monitoring": set(),
    }.items():
        docs = {(d["kind"], d["metadata"]["name"]): d for d in build(overlay)}
        added = set(docs) - set(base)
        assert set(base) <= set(docs), overlay
        changed = {k for k in base if docs[k] != base[k]}
        assert changed == expected, (overlay, changed)
        assert (
            added
            == {
                "gpu": set(),
                "dev": {("Secret", "motiflens-api-token"), ("Secret", "minio-credentials")},
                "monitoring": {("PodMonitor", "motiflens-services")},
            }[overlay]
        )


# --- pods ------------------------------------------------------------------------------------------

CONTAINERS = [(f"{b}:{n}", c, p) for b in BUILDS for n, c, p in _containers(build(b))]


@pytest.mark.parametrize("name,container,pod", CONTAINERS, ids=[n for n, _, _ in CONTAINERS])
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
    assert "/tmp" in {m["mountPath"] for m in container.get("volumeMounts", [])}, name
    if ":Deployment/trainer/" in name:
        # The one pod with an API identity: it creates the Kubernetes Jobs of sweeps.
        assert pod["serviceAccountName"] == "motiflens-trainer", name
        assert pod["automountServiceAccountToken"] is True, name
    else:
        assert pod["automountServiceAccountToken"] is False, name
        assert "serviceAccountName" not in pod, name


@pytest.mark.parametrize("build_name", ["base", "gpu", "dev"])
def test_service_pods(build_name):
    docs = build(build_name)
    config = _by_kind(docs, "ConfigMap")["motiflens-config"]["data"]
    grace = float(config["MOTIFLENS_GRACE_SECONDS"])
    assert config["MOTIFLENS_STORE"].startswith("s3://motiflens/")
    assert "endpoint=minio.motiflens.svc.cluster.local:9000" in config["MOTIFLENS_STORE"]
    deployments = _service_deployments(docs)
    assert set(deployments) == set(SERVICES)
    for svc, deployment in deployments.items():
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
        assert config["NUMBA_CACHE_DIR"] in {m["mountPath"] for m in container["volumeMounts"]}
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert env["MOTIFLENS_TOKEN"]["name"] == "motiflens-api-token"
        assert {"MOTIFLENS_S3_ACCESS_KEY", "MOTIFLENS_S3_SECRET_KEY"} <= set(env)
        assert tpl["metadata"]["labels"][MINIO_CLIENT_LABEL[0]] == MINIO_CLIENT_LABEL[1]
        assert tpl["metadata"]["labels"]["app.kubernetes.io/component"] == "service"


def test_trainer_rbac_allows_only_jobs_and_pods_in_its_namespace():
    docs = build("base")
    assert not _by_kind(docs, "ClusterRole") and not _by_kind(docs, "ClusterRoleBinding")
    (account,) = _by_kind(docs, "ServiceAccount").values()
    (role,) = _by_kind(docs, "Role").values()
    (binding,) = _by_kind(docs, "RoleBinding").values()
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


def test_gpu_overlay_gives_the_gpu_trainer():
    base = _service_deployments(build("base"))["trainer"]
    gpu_docs = build("gpu")
    gpu = _service_deployments(gpu_docs)["trainer"]
    assert gpu["metadata"]["name"] == base["metadata"]["name"]
    assert gpu["spec"]["selector"] == base["spec"]["selector"]
    spec = gpu["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    # The GPU trainer runs the image GPU sweeps run, resolved with its tag.
    config = _by_kind(gpu_docs, "ConfigMap")["motiflens-config"]["data"]
    assert container["image"] == config["MOTIFLENS_SWEEP_GPU_IMAGE"]
    assert re.fullmatch(r"motiflens/trainer-gpu:[\w.-]+", container["image"])
    # Everything but image, resources and placement is the base's container.
    strip = lambda c: {k: v for k, v in c.items() if k not in ("image", "resources")}  # noqa: E731
    assert strip(container) == strip(base["spec"]["template"]["spec"]["containers"][0])


# --- Secrets ---------------------------------------------------------------------------------------


def _secret_references(tpl: dict) -> set[tuple[str, str | None]]:
    """(Secret name, key or None for a whole-Secret envFrom) used by a pod template."""
    refs: set[tuple[str, str | None]] = set()
    for c in tpl["spec"].get("initContainers", []) + tpl["spec"]["containers"]:
        refs |= {(e["secretRef"]["name"], None) for e in c.get("envFrom", []) if "secretRef" in e}
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs.add((ref["name"], ref["key"]))
    refs |= {(v["secret"]["secretName"], None) for v in tpl["spec"].get("volumes", []) if "secret" in v}
    return refs


def _worker_job_templates() -> list[dict]:
    """Pod templates of the Jobs the trainer creates at run time (sweeps; attribution/variant shards)."""
    sweep = kube.sweep_job_manifest(
        "sweep-" + "0" * 32,
        completions=2,
        parallelism=2,
        namespace="motiflens",
        image="motiflens/trainer:0.1.0",
    )
    return [sweep["spec"]["template"]]


def _documented_secrets() -> dict[str, set[str]]:
    """Secrets (and keys) that deploy/README.md's `kubectl create secret generic` commands make."""
    text = (DEPLOY / "README.md").read_text().replace("\\\n", " ")
    made: dict[str, set[str]] = {}
    for command in re.findall(r"kubectl -n motiflens create secret generic [^\n]*", text):
        name = command.split("generic", 1)[1].split()[0]
        made[name] = set(re.findall(r"--from-literal=([A-Za-z_][\w.-]*)=", command))
    return made


def test_no_secret_in_what_an_operator_re_applies():
    """A re-apply of the base or of the gpu/monitoring overlays never writes a Secret, so it
    cannot reset a rotated one; the Secrets the pods need are created once by README commands."""
    for name in ("base", "gpu", "monitoring"):
        assert not _by_kind(build(name), "Secret"), name
    documented = _documented_secrets()
    needed: dict[str, set[str]] = {}
    templates = [t for _, t in _pod_templates(build("gpu"))] + [t for _, t in _pod_templates(build("base"))]
    for tpl in templates + _worker_job_templates():
        for secret, key in _secret_references(tpl):
            needed.setdefault(secret, set()).update({key} if key else set())
    assert set(needed) == {"motiflens-api-token", "minio-credentials"}
    for secret, keys in needed.items():
        assert secret in documented, f"deploy/README.md does not create Secret {secret}"
        assert keys <= documented[secret], (secret, keys - documented[secret])
    # MinIO reads its root user from the whole Secret (envFrom): both keys must be documented.
    assert {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"} <= documented["minio-credentials"]


def test_dev_overlay_generates_every_secret_key_the_pods_read():
    docs = build("dev")
    secrets = _by_kind(docs, "Secret")
    for tpl in [t for _, t in _pod_templates(docs)] + _worker_job_templates():
        for secret, key in _secret_references(tpl):
            assert secret in secrets, secret  # fixed names: the trainer's Jobs refer to them
            if key:
                assert key in secrets[secret]["data"], (secret, key)


# --- images ----------------------------------------------------------------------------------------


def _image_references(docs) -> list[tuple[str, str]]:
    """(where, image) for every container image and every image-valued ConfigMap key."""
    refs = [(name, c["image"]) for name, c, _ in _containers(docs)]
    for name, cm in _by_kind(docs, "ConfigMap").items():
        refs += [(f"ConfigMap/{name}/{k}", v) for k, v in cm.get("data", {}).items() if k in IMAGE_KEYS]
    return refs


def test_one_place_for_image_names(tmp_path):
    """An `images:` override in an overlay of any build rewrites every reference to that image,
    the sweep and worker images of the ConfigMap included."""
    kustomization = yaml.safe_load((DEPLOY / "base" / "Kustomization").read_text())
    tags = {entry["name"]: entry["newTag"] for entry in kustomization["images"]}
    assert set(tags) == {*IMAGES, MINIO_IMAGE}
    for build_name in ("base", "gpu", "dev"):
        refs = _image_references(build(build_name))
        assert {where.split("/")[-1] for where, _ in refs} >= set(IMAGE_KEYS)
        for where, image in refs:
            name, _, tag = image.rpartition(":")
            assert tags.get(name) == tag, (build_name, where, image)
        overlay = tmp_path / build_name
        overlay.mkdir()
        relative = os.path.relpath(BUILDS[build_name], overlay)
        overlay.joinpath("kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "resources": [relative],
                    "images": [
                        {"name": n, "newName": f"registry.lab.example/{n.split('/')[1]}", "newTag": "9.9.9"}
                        for n in tags
                    ],
                }
            )
        )
        for where, image in _image_references(render(overlay)):
            assert re.fullmatch(r"registry\.lab\.example/[\w-]+:9\.9\.9", image), (build_name, where, image)


def test_minio_is_the_current_release_built_from_source():
    """MinIO's community edition is source-only since its 2025-10-15 security release (the last
    public minio/minio image is older): docker/minio.Dockerfile builds the release the manifests run."""
    tag = yaml.safe_load((DEPLOY / "base" / "Kustomization").read_text())["images"][-1]
    assert tag["name"] == MINIO_IMAGE
    release = tag["newTag"]
    assert re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", release)
    assert release >= "RELEASE.2025-10-15T17-29-55Z"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^MINIO_RELEASE := {re.escape(release)}$", makefile, re.M)
    dockerfile = (DOCKER / "minio.Dockerfile").read_text()
    assert f"ARG MINIO_RELEASE={release}" in dockerfile
    (minio,) = [c for n, c, _ in _containers(build("base")) if n.startswith("StatefulSet/minio/")]
    assert minio["image"] == f"{MINIO_IMAGE}:{release}"
    assert not any(
        image.startswith(("minio/", "quay.io/minio/")) for _, image in _image_references(build("base"))
    )


# --- Services, disruption budgets, autoscaling -----------------------------------------------------


def test_services_select_pods_and_the_scaled_ones_are_headless():
    docs = build("base")
    templates = [tpl["metadata"]["labels"] for _, tpl in _pod_templates(docs)]
    services = _by_kind(docs, "Service")
    assert set(services) == set(SERVICES) | {"minio"}
    for name, svc in services.items():
        assert any(svc["spec"]["selector"].items() <= labels.items() for labels in templates), name
        if name in SERVICES:
            ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
            assert ports == {"grpc": SERVICES[name], "metrics": METRICS[name]}
    # Headless where there are replicas to spread over: DNS gives every pod's address and the
    # SDK's round_robin policy uses them all (a ClusterIP pins a client's connection to one pod).
    assert services["interpreter"]["spec"]["clusterIP"] == "None"
    assert services["motifmatch"]["spec"]["clusterIP"] == "None"
    assert "clusterIP" not in services["trainer"]["spec"]  # one replica


def test_disruption_budgets_mean_something():
    docs = build("base")
    deployments = _service_deployments(docs)
    pdbs = _by_kind(docs, "PodDisruptionBudget")
    hpas = _by_kind(docs, "HorizontalPodAutoscaler")
    # The trainer runs one replica: a budget would block every drain or protect nothing, so it
    # has none (its jobs resume from their checkpoints after a move; 30-trainer.yaml says why).
    assert deployments["trainer"]["spec"]["replicas"] == 1
    assert "trainer" not in pdbs
    assert "PodDisruptionBudget" in (DEPLOY / "base" / "30-trainer.yaml").read_text()
    assert set(pdbs) == {"interpreter", "motifmatch"}
    for name, pdb in pdbs.items():
        assert pdb["spec"]["selector"] == deployments[name]["spec"]["selector"]
        least = hpas[name]["spec"]["minReplicas"] if name in hpas else deployments[name]["spec"]["replicas"]
        # A disruption may take pods down only while another stays: minAvailable < least replicas.
        assert 1 <= pdb["spec"]["minAvailable"] < least, name
    (hpa,) = hpas.values()
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "interpreter",
    }
    # The HPA owns the interpreter's count: a re-apply must not reset it.
    assert "replicas" not in deployments["interpreter"]["spec"]


# --- NetworkPolicies -------------------------------------------------------------------------------
#
# A small evaluator of the NetworkPolicy API's rules (networking.k8s.io/v1): a pod selected by no
# policy of a direction is open in that direction; a selected pod admits a connection when any
# rule of any selecting policy matches it; a rule's empty `from`/`to` or `ports` matches all;
# a podSelector alone means pods of the policy's namespace, a namespaceSelector alone all pods of
# the namespaces it selects, both together the selected pods in the selected namespaces; named
# ports are the destination pod's container port names. A flow passes when egress at the source
# and ingress at the destination both allow it.


class Endpoint:
    """A pod (namespace, labels, named container ports) or an address outside the pod network."""

    def __init__(self, name, namespace=None, labels=None, ports=None):
        self.name, self.namespace = name, namespace
        self.labels = labels or {}
        self.ports = ports or {}  # name -> (port, protocol)

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


NAMESPACE_LABELS = {
    ns: {"kubernetes.io/metadata.name": ns} for ns in ("motiflens", "kube-system", "monitoring", "default")
}


def _selects(selector: dict, labels: dict) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict, endpoint: Endpoint, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        return not endpoint.is_pod  # every external address used here lies in the rules' blocks
    if not endpoint.is_pod:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], NAMESPACE_LABELS[endpoint.namespace]):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector", {}), endpoint.labels)


def _port_matches(rule_ports: list | None, destination: Endpoint, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for rule_port in rule_ports:
        if rule_port.get("protocol", "TCP") != protocol:
            continue
        wanted = rule_port.get("port")
        if wanted is None or wanted == port:
            return True
        if isinstance(wanted, str) and destination.ports.get(wanted) == (port, protocol):
            return True
    return False


def _allowed(policies, pod: Endpoint, direction: str, peer: Endpoint, destination: Endpoint, port, protocol):
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    if not selecting:
        return True
    field, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(field, []):
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(p, peer, policy["metadata"]["namespace"]) for p in peers):
                continue
            if _port_matches(rule.get("ports"), destination, port, protocol):
                return True
    return False


def flow_allowed(policies, source: Endpoint, destination: Endpoint, port, protocol="TCP") -> bool:
    if isinstance(port, str):
        port, protocol = destination.ports[port]
    egress = not source.is_pod or _allowed(
        policies, source, "Egress", destination, destination, port, protocol
    )
    ingress = not destination.is_pod or _allowed(
        policies, destination, "Ingress", source, destination, port, protocol
    )
    return egress and ingress


def _pod(name: str, tpl: dict) -> Endpoint:
    ports = {
        p["name"]: (p["containerPort"], p.get("protocol", "TCP"))
        for c in tpl["spec"]["containers"]
        for p in c.get("ports", [])
        if "name" in p
    }
    return Endpoint(name, "motiflens", tpl["metadata"]["labels"], ports)


def _endpoints() -> dict[str, Endpoint]:
    docs = build("base")
    pods = {n.split("/")[1]: _pod(n.split("/")[1], t) for n, t in _pod_templates(docs)}
    pods["sweep-worker"] = _pod("sweep-worker", _worker_job_templates()[0])
    pods.update(
        {
            "client": Endpoint("client"),  # a lab tool outside the cluster
            "apiserver": Endpoint("apiserver"),  # the Kubernetes API endpoint
            "kube-dns": Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP")}),
            "prometheus": Endpoint("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
            "other-pod": Endpoint("other-pod", "default", {"app": "web"}),
            # A pod of another namespace that copies the MinIO client label: still not a client.
            "impostor": Endpoint("impostor", "default", dict([MINIO_CLIENT_LABEL])),
        }
    )
    return pods


MINIO_CLIENTS = ("trainer", "interpreter", "motifmatch", "minio-create-bucket", "sweep-worker")
MUST_PASS = [
    *[(src, svc, "grpc") for src in ("client", "other-pod") for svc in SERVICES],
    *[("prometheus", svc, "metrics") for svc in SERVICES],
    *[(src, "minio", 9000) for src in MINIO_CLIENTS],
    ("trainer", "apiserver", 443),
    ("trainer", "apiserver", 6443),
    *[(src, "kube-dns", "dns") for src in (*MINIO_CLIENTS, "minio")],
]
MUST_NOT_PASS = [
    ("client", "minio", 9000),
    ("client", "minio", 9001),
    ("trainer", "minio", 9001),
    ("impostor", "minio", 9000),
    ("other-pod", "minio", 9000),
    ("other-pod", "trainer", "metrics"),
    ("client", "interpreter", "metrics"),
    ("interpreter", "apiserver", 443),
    ("sweep-worker", "apiserver", 443),
    ("minio-create-bucket", "apiserver", 443),
    ("interpreter", "trainer", "grpc"),
    ("trainer", "interpreter", "grpc"),
    ("sweep-worker", "trainer", "grpc"),
    ("minio", "client", 443),
    ("interpreter", "client", 443),
    ("trainer", "minio", 22),
]


@pytest.mark.parametrize("build_name", ["base", "gpu", "dev"])
def test_network_policies_allow_exactly_the_needed_flows(build_name):
    policies = list(_by_kind(build(build_name), "NetworkPolicy").values())
    assert "default-deny" in {p["metadata"]["name"] for p in policies}
    pods = _endpoints()
    # Every motiflens pod is selected in both directions (default deny), so nothing is open by omission.
    for name, pod in pods.items():
        if pod.namespace == "motiflens":
            for direction in ("Ingress", "Egress"):
                assert any(
                    direction in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], pod.labels)
                    for p in policies
                ), (name, direction)
    for source, destination, port in MUST_PASS:
        assert flow_allowed(policies, pods[source], pods[destination], port), (source, destination, port)
    for source, destination, port in MUST_NOT_PASS:
        assert not flow_allowed(policies, pods[source], pods[destination], port), (source, destination, port)


def test_network_policy_evaluator_is_not_vacuous():
    """Without the policies every flow passes; without default-deny the forbidden ones pass too."""
    pods = _endpoints()
    policies = list(_by_kind(build("base"), "NetworkPolicy").values())
    assert all(flow_allowed([], pods[s], pods[d], p) for s, d, p in MUST_NOT_PASS)
    permissive = [
        p
        for p in policies
        if p["metadata"]["name"]
        not in ("default-deny", "dns-egress", "minio-client-egress", "trainer-apiserver-egress")
    ]
    assert flow_allowed(permissive, pods["interpreter"], pods["apiserver"], 443)


# --- Prometheus operator component -----------------------------------------------------------------


def test_pod_monitor_scrapes_every_service_on_its_metrics_port():
    docs = build("monitoring")
    (monitor,) = _by_kind(docs, "PodMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    selected = [
        name
        for name, tpl in _pod_templates(docs)
        if _selects(monitor["spec"]["selector"], tpl["metadata"]["labels"])
    ]
    assert sorted(selected) == sorted(f"Deployment/{svc}" for svc in SERVICES)
    for name, tpl in _pod_templates(docs):
        if name in selected:
            ports = {p["name"] for c in tpl["spec"]["containers"] for p in c["ports"]}
            assert endpoint["port"] in ports, name
    # Its Prometheus (namespace monitoring) is admitted to that port by the base's policies.
    policies = list(_by_kind(docs, "NetworkPolicy").values())
    pods = _endpoints()
    assert all(flow_allowed(policies, pods["prometheus"], pods[svc], endpoint["port"]) for svc in SERVICES)


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
    "image,build_name",
    [(svc, "base") for svc in SERVICES] + [("trainer-gpu", "gpu")],
    ids=[*SERVICES, "trainer-gpu"],
)
def test_dockerfile_entrypoint_matches_manifest(image, build_name):
    docs = build(build_name)
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
    assert "-f docker/minio.Dockerfile --build-arg MINIO_RELEASE=$(MINIO_RELEASE)" in makefile


def test_minio_dockerfile_runs_as_the_manifests_user():
    final = _final_stage(DOCKER / "minio.Dockerfile")
    (user,) = [args for ins, args in final if ins == "USER"]
    (minio,) = [tpl for name, tpl in _pod_templates(build("base")) if name == "StatefulSet/minio"]
    assert int(user.split(":")[0]) == minio["spec"]["securityContext"]["runAsUser"]
    (container,) = minio["spec"]["containers"]
    entrypoint = [_exec_form(a) for ins, a in final if ins == "ENTRYPOINT"][-1]
    assert container["command"] == entrypoint
