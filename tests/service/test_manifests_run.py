"""Manifests and code cannot drift apart: run each service exactly as its Deployment says.

For every service Deployment in deploy/ (rendered: the dev overlay, whose generated Secrets
stand in for the ones an operator creates), the container's command and environment
(ConfigMap and Secret values resolved as Kubernetes would) start a local process;
only what must change off-cluster is rewritten: the bind host (loopback), the ports
(free ones, the probe port moving with the gRPC port), the numba cache directory,
and the MinIO endpoint (the loopback S3 server; bucket, prefix and credentials come
from the manifests). The service must then report SERVING on its probe port.
"""

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from helpers import wait_for_serving
from kustomize_render import build, config_maps_and_secrets

from services.common.server import LIVENESS_SERVICE

ROOT = Path(__file__).resolve().parents[2]


def documents():
    """The rendered objects of deploy/overlays/dev: the base plus the Secrets a cluster would hold."""
    yield from build("dev")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resolved_env(container, config_maps, secrets) -> dict[str, str]:
    env = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            env[item["name"]] = secrets[ref["secretKeyRef"]["name"]][ref["secretKeyRef"]["key"]]
        else:
            env[item["name"]] = config_maps[ref["configMapKeyRef"]["name"]][ref["configMapKeyRef"]["key"]]
    return env


def service_deployments():
    docs = list(documents())
    config_maps, secrets = config_maps_and_secrets(tuple(docs))
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        yield doc["metadata"]["name"], container, resolved_env(container, config_maps, secrets)


SERVICE_NAMES = {
    "trainer": "motiflens.v1.TrainerService",
    "interpreter": "motiflens.v1.InterpreterService",
    "motifmatch": "motiflens.v1.MotifMatchService",
}


@pytest.mark.parametrize("name", ["trainer", "interpreter", "motifmatch"])
def test_service_starts_from_its_manifest(name, s3_server, tmp_path):
    deployments = {service: (container, env) for service, container, env in service_deployments()}
    container, env = deployments[name]
    service = name.upper()
    grpc_port = int(env[f"MOTIFLENS_{service}_PORT"])
    assert container["readinessProbe"]["grpc"]["port"] == grpc_port
    assert container["livenessProbe"]["grpc"]["port"] == grpc_port

    # The manifest's store URL, with only its endpoint moved to the loopback S3 server.
    store = urlsplit(env["MOTIFLENS_STORE"])
    assert store.scheme == "s3" and "endpoint=minio." in store.query
    s3_server.client().make_bucket(store.netloc)
    query = "&".join(
        f"endpoint={s3_server.endpoint}" if part.startswith("endpoint=") else part
        for part in store.query.split("&")
    )
    port = free_port()
    env.update(
        {
            "MOTIFLENS_STORE": f"s3://{store.netloc}{store.path}?{query}",
            "MOTIFLENS_HOST": "127.0.0.1",
            f"MOTIFLENS_{service}_PORT": str(port),
            f"MOTIFLENS_{service}_METRICS_PORT": str(free_port()),
        }
    )
    # The pod's NUMBA_CACHE_DIR (/var/cache/numba) is an emptyDir the image's baked Tomtom
    # kernels are copied into; here numba's default cache, which `make install` baked, plays
    # that part (a new empty folder would make motifmatch compile for a minute before SERVING).
    env.pop("NUMBA_CACHE_DIR", None)
    command = container["command"] + container.get("args", [])
    assert command[0] == "python"
    process = subprocess.Popen(
        [sys.executable, *command[1:]],
        env={**os.environ, **env, "HOME": str(tmp_path)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            wait_for_serving(channel, timeout=120)
            wait_for_serving(channel, LIVENESS_SERVICE, timeout=30)
            # Reflection describes every service it lists (grpcurl needs each one's
            # file and dependencies), in the process as deployed, not the test's.
            database = ProtoReflectionDescriptorDatabase(channel)
            pool = descriptor_pool.DescriptorPool(database)
            listed = list(database.get_services())
            assert SERVICE_NAMES[name] in listed
            for service_name in listed:
                service = pool.FindServiceByName(service_name)
                for method in service.methods:
                    assert message_factory.GetMessageClass(method.input_type)().DESCRIPTOR.full_name
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()[-2000:]


def bucket_job():
    """(container, env) of deploy/'s Job minio-create-bucket, env resolved from the dev overlay."""
    docs = tuple(documents())
    config_maps, secrets = config_maps_and_secrets(docs)
    (job,) = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "minio-create-bucket"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container, resolved_env(container, config_maps, secrets)


def run_job_command(container, env, store_url: str, tmp_path) -> subprocess.CompletedProcess:
    command = container["command"] + container.get("args", [])
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]],
        env={**os.environ, **env, "MOTIFLENS_STORE": store_url, "HOME": str(tmp_path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_bucket_job_creates_the_store_bucket_as_its_manifest_says(s3_server, tmp_path):
    container, env = bucket_job()
    assert container["image"].startswith("motiflens/trainer:")  # no MinIO client image needed
    store = urlsplit(env["MOTIFLENS_STORE"])
    # The manifest's store URL with a bucket of this test's own and the loopback endpoint.
    bucket = f"mlt-job-{uuid.uuid4().hex[:16]}"
    query = "&".join(
        f"endpoint={s3_server.endpoint}" if part.startswith("endpoint=") else part
        for part in store.query.split("&")
    )
    url = f"s3://{bucket}{store.path}?{query}"
    assert not s3_server.client().bucket_exists(bucket)
    first = run_job_command(container, env, url, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "bucket created" in first.stdout
    assert s3_server.client().bucket_exists(bucket)
    again = run_job_command(container, env, url, tmp_path)  # a Job retried, or re-applied
    assert again.returncode == 0, again.stderr
    assert "bucket already exists" in again.stdout


def test_bucket_job_gives_up_with_the_reason_when_minio_never_answers(tmp_path):
    container, env = bucket_job()
    url = f"s3://motiflens/artifacts?endpoint=127.0.0.1:{free_port()}&secure=false"
    command = dict(container, command=[*container["command"][:-1], "1"])  # --wait 1 instead of 300
    assert container["command"][-2] == "--wait"
    result = run_job_command(command, env, url, tmp_path)
    assert result.returncode == 1
    port = urlsplit(url).query.split("endpoint=")[1].split("&")[0]
    assert f"at {port} is unavailable" in result.stderr, result.stderr
