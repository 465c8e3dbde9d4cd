"""ImportModel and ExportModel: model files in and out of the store, built in a limited child.

A client's ``.keras`` file is loaded only in a child process
(``python -m services.trainer.model_files``) whose address space is capped
(:class:`services.common.config.ModelFileSettings`) and whose run time is bounded: a
model whose config declares huge layers, or a Keras bug on a corrupt file, ends that
child, never the trainer. The child runs :func:`motiflens.model_import.import_keras_file`
and saves the normalised model; the parent stores it (one ``put_artifact``: nothing is
stored unless the whole import succeeded). A SavedModel is written by the same kind of
child (tracing a graph in the long-running server would keep its memory).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from motiflens_client.wire import pb

from motiflens.errors import InvalidInputError, NotFoundError, ResourceExhaustedError
from motiflens.models import MODEL_FILE
from services.common.config import ModelFileSettings
from services.common.datasets import scratch_directory
from services.common.store import ArtifactStore, Manifest, check_id
from services.trainer.jobs.records import MODEL_KIND

#: What the child writes: the result, or the refusal.
RESULT_FILE, ERROR_FILE = "result.json", "error.json"
#: Bytes per ExportChunk.
EXPORT_CHUNK_BYTES = 1024 * 1024
SAVED_MODEL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_VERSION = 2**31 - 1

_ERRORS = {"InvalidInputError": InvalidInputError, "ResourceExhaustedError": ResourceExhaustedError}


def import_model(
    store: ArtifactStore,
    source: Path,
    *,
    name: str,
    settings: ModelFileSettings,
    max_bytes: int,
) -> Manifest:
    """Check, load, normalise and store the ``.keras`` file ``source``; returns the model's manifest.

    Raises
    ------
    InvalidInputError
        The file or the model breaks the contract (:mod:`motiflens.model_import`).
    ResourceExhaustedError
        Over the archive, parameter, memory or time limits.
    """
    with scratch_directory() as tmp:
        out = tmp / "model"
        out.mkdir()
        _run_child(["import", str(source), str(out), str(max_bytes)], out, settings, "loading the model")
        info = json.loads((out / RESULT_FILE).read_text())
        metadata = {
            "provenance": "imported",
            "name": name,
            "model_config": {
                "architecture": "imported",
                "activation": info["scan_activation"],
                "input_length": info["input_length"],
                "num_outputs": info["num_outputs"],
            },
            "input_length": info["input_length"],
            "num_outputs": info["num_outputs"],
            "output_activation": info["output_activation"],
            "first_conv_layer": info["first_conv"],
            "scan_layer": info["scan_layer"],
            "parameters": info["parameters"],
            "source_sha256": _sha256(source),
        }
        return store.put_artifact(
            MODEL_KIND, {MODEL_FILE: out / MODEL_FILE}, metadata=metadata, provenance={"imported": True}
        )


@contextlib.contextmanager
def exported_file(
    store: ArtifactStore,
    model_id: str,
    *,
    saved_model: bool,
    folder_name: str,
    version: int,
    settings: ModelFileSettings,
) -> Iterator[tuple[Path, str]]:
    """The file to stream for ExportModel: (local path, file name); removed after the block.

    Raises
    ------
    InvalidInputError
        Malformed id, folder name or version.
    NotFoundError
        No such model.
    """
    check_id(model_id, field_name="model_id", prefix="model")
    name = folder_name or model_id
    if saved_model and not SAVED_MODEL_NAME.fullmatch(name):
        raise InvalidInputError(
            f"name: expected 1-64 characters of A-Z a-z 0-9 _ . -, got {name[:80]!r}", field="name"
        )
    if not 0 <= version <= MAX_VERSION:
        raise InvalidInputError(f"version: expected 1..{MAX_VERSION} (0: 1), got {version}", field="version")
    manifest = store.get_manifest(model_id, kind=MODEL_KIND)
    output_activation = str(manifest.metadata.get("output_activation", "sigmoid"))
    with scratch_directory() as tmp:
        model_dir = tmp / "model"
        store.fetch_artifact(model_id, model_dir)
        if not (model_dir / MODEL_FILE).is_file():
            raise NotFoundError(f"model_id: model {model_id} has no {MODEL_FILE}")
        if not saved_model:
            yield model_dir / MODEL_FILE, MODEL_FILE
            return
        out = tmp / "export"
        out.mkdir()
        _run_child(
            ["export", str(model_dir), str(out), name, str(version or 1), output_activation],
            out,
            settings,
            "writing the SavedModel",
        )
        archive = tmp / f"{name}.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(out / name, arcname=name)
        yield archive, archive.name


def export_chunks(path: Path, file_name: str, fmt: Any) -> Iterator[pb.ExportChunk]:
    """ExportChunk messages of ``path``: header (size, sha256, ``fmt`` an ExportFormat), then bytes."""
    yield pb.ExportChunk(
        header=pb.ExportHeader(
            file_name=file_name, size=path.stat().st_size, sha256=_sha256(path), format=fmt
        )
    )
    with path.open("rb") as handle:
        while data := handle.read(EXPORT_CHUNK_BYTES):
            yield pb.ExportChunk(data=data)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(EXPORT_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _run_child(arguments: list[str], out: Path, settings: ModelFileSettings, what: str) -> None:
    """Run this module as a child with the memory limit; raise what it refused with."""
    command = [sys.executable, "-m", "services.trainer.model_files", str(settings.memory_bytes), *arguments]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    try:
        completed = subprocess.run(
            command,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=settings.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ResourceExhaustedError(
            f"{what} took longer than {settings.timeout_seconds} s (MOTIFLENS_IMPORT_TIMEOUT_SECONDS)"
        ) from None
    error = out / ERROR_FILE
    if error.is_file():
        refusal = json.loads(error.read_text())
        raise _ERRORS.get(refusal["kind"], InvalidInputError)(refusal["message"])
    if completed.returncode != 0 or not (out / RESULT_FILE).is_file():
        tail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise ResourceExhaustedError(
            f"{what} failed within {settings.memory_bytes >> 20} MiB (MOTIFLENS_IMPORT_MEMORY_MB): "
            f"exit status {completed.returncode}; {tail[0][:200]}"
        )


# --------------------------------------------------------------------------- the child


def _child_import(source: str, out: str, max_bytes: str) -> dict:
    from motiflens.model_import import import_keras_file
    from motiflens.models import first_layer_model

    imported = import_keras_file(source, max_bytes=int(max_bytes))
    imported.model.save(Path(out, MODEL_FILE))
    activation = ""
    if imported.scan_layer:
        layer = first_layer_model(imported.model).outputs[0]._keras_history.operation
        function = getattr(layer, "activation", None)
        activation = str(getattr(function, "__name__", "") or "")
    return {
        "input_length": imported.input_length,
        "num_outputs": imported.num_outputs,
        "output_activation": imported.output_activation,
        "first_conv": imported.first_conv,
        "scan_layer": imported.scan_layer,
        "scan_activation": activation,
        "parameters": imported.parameters,
    }


def _child_export(model_dir: str, out: str, name: str, version: str, output_activation: str) -> dict:
    """Write the SavedModel; ``output_activation`` as the manifest records it ("linear": no probability)."""
    import keras
    import tensorflow as tf

    from motiflens.models import load_model, logits_model

    model = load_model(model_dir)
    length = int(model.input_shape[1])
    try:
        logits = logits_model(model)
    except InvalidInputError:
        logits = None
    has_probability = output_activation != "linear"
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(sequence):
        outputs = {}
        if has_probability:
            outputs["probabilities"] = model(sequence, training=False)
        if logits is not None:
            outputs["logits"] = logits(sequence, training=False)
        return outputs

    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=[tf.TensorSpec((None, length, 4), tf.float32, name="sequence")],
    )
    archive.write_out(str(Path(out, name, version)), verbose=False)
    return {"outputs": sorted(["logits"] * (logits is not None) + ["probabilities"] * has_probability)}


def _child(argv: list[str]) -> int:
    memory, command, *arguments = argv
    limit = int(memory)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = Path(arguments[1])
    try:
        result = _child_import(*arguments) if command == "import" else _child_export(*arguments)
    except (InvalidInputError, ResourceExhaustedError) as exc:
        (out / ERROR_FILE).write_text(json.dumps({"kind": type(exc).__name__, "message": str(exc)}))
        return 1
    except MemoryError:
        (out / ERROR_FILE).write_text(
            json.dumps(
                {"kind": "ResourceExhaustedError", "message": f"the model needs more than {limit >> 20} MiB"}
            )
        )
        return 1
    (out / RESULT_FILE).write_text(json.dumps(result))
    return 0


def model_fields(metadata: Mapping) -> dict:
    """ModelInfo's provenance fields from a model manifest's metadata (trained models: defaults)."""
    return {
        "provenance": str(metadata.get("provenance", "trained")),
        "output_activation": str(metadata.get("output_activation", "sigmoid")),
        "first_conv_layer": str(metadata.get("first_conv_layer", "conv1")),
    }


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
