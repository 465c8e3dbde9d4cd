"""deploy/ as Kubernetes would receive it: ``kubectl kustomize`` of the base and of each overlay.

Shared by the unit checks of the manifests (tests/unit/test_deploy.py) and the tests that run
code as the manifests configure it (tests/service/test_manifests_run.py, test_sweeps.py,
tests/unit/test_sweep_grid.py). kubectl (with its built-in kustomize) is part of this project's
machine image; without it these tests fail and say so rather than skip.
"""

from __future__ import annotations

import base64
import functools
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
#: Every kustomization an operator applies (deploy/README.md), by name.
BUILDS = {
    "base": DEPLOY / "base",
    "gpu": DEPLOY / "overlays" / "gpu",
    "dev": DEPLOY / "overlays" / "dev",
    "monitoring": DEPLOY / "overlays" / "monitoring",
}
#: The file kinds `kubectl apply -f DIR` reads from a folder (not recursively).
APPLY_F_SUFFIXES = (".yaml", ".yml", ".json")


def kubectl() -> str:
    """Path of kubectl; RuntimeError naming what is missing when it is not on PATH."""
    path = shutil.which("kubectl")
    if path is None:
        raise RuntimeError(
            "kubectl not found on PATH: the rendered-manifest checks run `kubectl kustomize` "
            "(kubectl >= 1.27 has kustomize built in; e.g. `apt-get install kubectl` from Kubernetes' "
            "or Google Cloud's Debian repository)"
        )
    return path


@functools.cache
def render(path: Path) -> tuple[dict, ...]:
    """The objects ``kubectl kustomize PATH`` prints, in its order."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def build(name: str) -> tuple[dict, ...]:
    """The rendered objects of one of :data:`BUILDS`."""
    return render(BUILDS[name])


def apply_f_documents(folder: Path) -> list[tuple[str, dict]]:
    """(file name, object) for what ``kubectl apply -f FOLDER`` would send, in file order."""
    docs = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in APPLY_F_SUFFIXES:
            docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def config_maps_and_secrets(docs: tuple[dict, ...]) -> tuple[dict[str, dict], dict[str, dict]]:
    """ConfigMap data and Secret values (``stringData`` or decoded ``data``) by name."""

    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    secrets = {}
    for d in docs:
        if d["kind"] == "Secret":
            values = dict(d.get("stringData", {}))
            values.update({k: base64.b64decode(v).decode() for k, v in d.get("data", {}).items()})
            secrets[d["metadata"]["name"]] = values
    return config_maps, secrets
