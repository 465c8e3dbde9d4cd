"""DiscoverMotifs' second half: TF-MoDISco in a child process, Tomtom, the stored "motifs" artifact.

The interpreter attributes the sequences itself (:meth:`InterpreterServicer.DiscoverMotifs`);
this module takes the one-hot (N, L, 4) and hypothetical (N, L, 4) arrays from there.

TF-MoDISco runs in a child process (``python -m services.common.discovery_child``,
which imports neither TensorFlow nor gRPC)
because modisco-lite forks (numba kernels compile in forked children; negative patterns
are found in one), which a multi-threaded gRPC server must not do, and because the
child's address space can be limited (``MOTIFLENS_DISCOVERY_MEMORY_MB``). The parent
polls it, yielding a progress event every few seconds, kills it when the caller goes
away or ``MOTIFLENS_DISCOVERY_TIMEOUT_SECONDS`` passes, and reads its patterns back
from the work folder. Tomtom runs in the parent (numpy only). The artifact is written
with :meth:`ArtifactStore.put_artifact` (objects first, manifest last), so a failed call
leaves no half-written result.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from motiflens_client.wire import pb

from motiflens.discovery import (
    DiscoverySettings,
    Pattern,
    discovery_bytes,
    match_patterns,
)
from motiflens.errors import (
    AlreadyExistsError,
    CancelledError,
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    ResourceExhaustedError,
)
from motiflens.filters import attribution_logo, pwm_logo
from motiflens.motifs import DEFAULT_RELEASE, Motif, MotifDatabase, motif_database, read_meme, write_meme
from motiflens.tomtom import TomtomHit
from services.common.attributions import fetched_maps, get_attributions, map_shape
from services.common.config import DiscoveryLimits
from services.common.convert import array_to_tensor, motif_to_proto, tomtom_hit_to_proto
from services.common.discovery_child import (
    ERROR_FILE,
    INPUT_FILE,
    RESULT_FILE,
    SETTINGS_FILE,
    read_patterns,
)
from services.common.errors import invalid
from services.common.motif_databases import is_uploaded_id, read_uploaded_database
from services.common.store import ArtifactStore, Manifest, check_id

#: Seconds between progress events while TF-MoDISco runs.
HEARTBEAT_SECONDS = 5.0
#: Kind (and id prefix) of a stored DiscoverMotifs result.
MOTIFS_KIND = "motifs"
#: Largest MEME text a request may carry as its database.
MAX_DATABASE_MEME = 4 * 1024 * 1024
MAX_NAME = 200
_ERRORS = {cls.__name__: cls for cls in (InvalidInputError, FailedPreconditionError, ResourceExhaustedError)}


def settings_from_proto(message: pb.DiscoverySettings) -> DiscoverySettings:
    """The request's TF-MoDISco settings, 0 meaning modisco-lite's default (checked later)."""
    defaults = DiscoverySettings()
    values = {
        name: getattr(message, name) or getattr(defaults, name)
        for name in (
            "max_seqlets",
            "sliding_window_size",
            "flank_size",
            "trim_to_window_size",
            "target_seqlet_fdr",
            "n_leiden_runs",
        )
    }
    return DiscoverySettings(window=message.window or None, **values)


def attribute_request(request: pb.DiscoverMotifsRequest) -> pb.AttributeRequest:
    """The attribution part of a DiscoverMotifs request (unset method: DeepSHAP), for the same checks."""
    return pb.AttributeRequest(
        model_id=request.model_id,
        method=request.method or pb.ATTRIBUTION_METHOD_DEEPSHAP,
        target=request.target,
        output=request.output,
        reference=request.reference,
        num_references=request.num_references,
        num_steps=request.num_steps,
        seed=request.seed,
        gradient_correction=request.gradient_correction,
    )


#: Request fields a stored attributions artifact decides (they must stay unset with ``attributions_id``).
STORED_FIELDS = (
    "method",
    "target",
    "output",
    "reference",
    "num_references",
    "num_steps",
    "seed",
    "gradient_correction",
)


def stored_attributions(store: ArtifactStore, request: pb.DiscoverMotifsRequest) -> Manifest | None:
    """The attributions artifact a request names (None without ``attributions_id``), checked.

    Raises
    ------
    InvalidInputError
        Sequences or an attribution field set beside it (the artifact decides them), or
        a model_id other than the artifact's model; a malformed id.
    NotFoundError
        No such artifact.
    """
    if not request.attributions_id:
        return None
    manifest = get_attributions(store, request.attributions_id)
    if request.HasField("sequences"):
        raise invalid("sequences", "leave unset with attributions_id: the artifact holds the sequences")
    for name in STORED_FIELDS:
        if getattr(request, name):
            raise invalid(
                name, f"leave unset with attributions_id: artifact {manifest.artifact_id} decides it"
            )
    model_id = manifest.provenance["model_id"]
    if request.model_id and request.model_id != model_id:
        raise invalid(
            "model_id", f"artifact {manifest.artifact_id} holds maps of {model_id}, not {request.model_id}"
        )
    return manifest


def checked_settings(message: pb.DiscoverySettings, length: int) -> DiscoverySettings:
    """:func:`settings_from_proto` validated for sequences of ``length`` nt; fields named ``settings.*``."""
    try:
        return settings_from_proto(message).checked(length)
    except InvalidInputError as error:
        raise InvalidInputError(f"settings.{error}", field=f"settings.{error.field}") from None


def describe_sequences(request: pb.DiscoverMotifsRequest) -> dict:
    """Provenance of the sequences: the stored split's window, or how many were sent inline."""
    if request.attributions_id:
        return {"attributions_id": request.attributions_id, "positives_only": request.positives_only}
    source = request.sequences.WhichOneof("source")
    if source == "dataset_split":
        ref = request.sequences.dataset_split
        return {
            "dataset_id": ref.dataset_id,
            "split": pb.Split.Name(ref.split),
            "offset": ref.offset,
            "limit": ref.limit,
            "positives_only": request.positives_only,
        }
    return {"inline": source or ""}


def database_of(name: str, meme: str, store: ArtifactStore) -> tuple[str, MotifDatabase | list[Motif]]:
    """(name, motifs) of the database a request names: a JASPAR release, an uploaded id, or its MEME text.

    The MEME text, when given, replaces ``name``. An uploaded database (``db-...``,
    MotifMatchService.UploadDatabase) is read from ``store``; the name returned is its id.
    """
    if is_uploaded_id(name) and not meme:
        return name, read_uploaded_database(store, name, field="database")
    if meme:
        if len(meme.encode()) > MAX_DATABASE_MEME:
            raise InvalidInputError(
                f"database_meme: {len(meme.encode())} bytes; at most {MAX_DATABASE_MEME}",
                field="database_meme",
            )
        try:
            motifs = read_meme(io.StringIO(meme))
        except InvalidInputError as error:
            raise InvalidInputError(f"database_meme: {error}", field="database_meme") from None
        if not motifs:
            raise InvalidInputError("database_meme: no motif in the text", field="database_meme")
        return "request MEME text", motifs
    release = name or DEFAULT_RELEASE
    if not release.upper().startswith("JASPAR"):
        raise InvalidInputError(
            f"database: expected a JASPAR release name (e.g. {DEFAULT_RELEASE}), an uploaded database "
            f"id (db-...) or database_meme, "
            f"got {name!r}",
            field="database",
        )
    try:
        return release, motif_database(release)
    except Exception as error:  # NotFoundError / InvalidInputError name the known releases
        raise InvalidInputError(f"database: {error}", field="database") from None


def check_fits(num_sequences: int, length: int, settings: DiscoverySettings, limits: DiscoveryLimits) -> None:
    """RESOURCE_EXHAUSTED before any work when TF-MoDISco's estimate exceeds the child's memory."""
    need = discovery_bytes(num_sequences, length, settings)
    if need > limits.memory_bytes:
        raise ResourceExhaustedError(
            f"DiscoverMotifs on {num_sequences} sequences of {length} nt needs about {need >> 20} MiB, "
            f"more than the {limits.memory_bytes >> 20} MiB of MOTIFLENS_DISCOVERY_MEMORY_MB; "
            "use fewer sequences (offset/limit), a smaller window or fewer max_seqlets"
        )


def run_discovery(
    one_hot: np.ndarray,
    hypothetical: np.ndarray,
    settings: DiscoverySettings,
    limits: DiscoveryLimits,
    should_stop: Callable[[], bool],
) -> Generator[None, None, list[Pattern]]:
    """TF-MoDISco in a child process: a yield every :data:`HEARTBEAT_SECONDS`, then the patterns.

    Use as ``patterns = yield from run_discovery(...)`` in a response stream, turning each
    yield into a progress event.

    Raises
    ------
    CancelledError
        ``should_stop()`` became true (the child is killed).
    ResourceExhaustedError
        The child ran out of memory or time.
    FailedPreconditionError, InvalidInputError
        What :func:`motiflens.discovery.discover_motifs` raised in the child.
    """
    with tempfile.TemporaryDirectory(prefix="motiflens-discovery-") as work:
        folder = Path(work)
        np.savez(folder / INPUT_FILE, one_hot=one_hot, hypothetical=hypothetical)
        (folder / SETTINGS_FILE).write_text(json.dumps(asdict(settings)))
        command = [
            sys.executable,
            "-m",
            "services.common.discovery_child",
            str(limits.memory_bytes),
            work,
        ]
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
        child = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + limits.timeout_seconds
        try:
            while True:
                try:
                    child.wait(timeout=HEARTBEAT_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if should_stop():
                    raise CancelledError("DiscoverMotifs: the caller went away; TF-MoDISco stopped")
                if time.monotonic() > deadline:
                    raise ResourceExhaustedError(
                        f"TF-MoDISco took longer than {limits.timeout_seconds} s "
                        "(MOTIFLENS_DISCOVERY_TIMEOUT_SECONDS)"
                    )
                yield
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
        error = folder / ERROR_FILE
        if error.is_file():
            refusal = json.loads(error.read_text())
            raise _ERRORS.get(refusal["kind"], InvalidInputError)(refusal["message"])
        if child.returncode != 0 or not (folder / RESULT_FILE).is_file():
            tail = stderr.strip().splitlines()[-1:] or [""]
            raise ResourceExhaustedError(
                f"TF-MoDISco failed within {limits.memory_bytes >> 20} MiB (MOTIFLENS_DISCOVERY_MEMORY_MB): "
                f"exit status {child.returncode}; {tail[0][:200]}"
            )
        return read_patterns(folder / RESULT_FILE)


def result_message(
    patterns: Sequence[Pattern],
    matches: Mapping[str, list[TomtomHit]],
    *,
    include_logos: bool,
) -> tuple[list[pb.DiscoveredPattern], str]:
    """The patterns as messages, and their trimmed PWMs as MEME text."""
    messages = []
    for pattern in patterns:
        start, end = pattern.trim_span()
        message = pb.DiscoveredPattern(
            name=pattern.name,
            sign=pattern.sign,
            pwm=array_to_tensor(pattern.pwm),
            cwm=array_to_tensor(pattern.cwm),
            hypothetical_cwm=array_to_tensor(pattern.hypothetical_cwm),
            num_seqlets=pattern.num_seqlets,
            trim_start=start,
            trim_end=end,
        )
        message.motif.CopyFrom(motif_to_proto(pattern.motif()))
        for seqlet in pattern.seqlets:
            message.seqlets.add(
                sequence=seqlet.sequence,
                start=seqlet.start,
                end=seqlet.end,
                reverse_complement=seqlet.reverse_complement,
            )
        for hit in matches.get(pattern.name, []):
            message.matches.append(tomtom_hit_to_proto(hit))
        if include_logos:
            title = pattern.name
            message.cwm_logo_png = _png(attribution_logo, pattern.cwm[start:end], title)
            message.pwm_logo_png = _png(pwm_logo, pattern.pwm[start:end], title)
        messages.append(message)
    text = io.StringIO()
    write_meme([pattern.motif() for pattern in patterns], text)
    return messages, text.getvalue()


def _png(render: Callable, matrix: np.ndarray, title: str) -> bytes:
    """``render(matrix (W, 4), buffer, title=...)`` as PNG bytes."""
    buffer = io.BytesIO()
    render(matrix, buffer, title=title)
    return buffer.getvalue()


def store_result(
    store: ArtifactStore,
    result: pb.DiscoverMotifsResult,
    *,
    provenance: Mapping,
    name: str,
    artifact_id: str | None = None,
) -> str:
    """Write the "motifs" artifact (result.pb, motifs.meme, patterns.json); its id.

    With ``artifact_id`` an artifact of that id stored before (an interrupted job's) is
    kept and its id returned.
    """
    summary = [
        {
            "name": p.name,
            "sign": p.sign,
            "num_seqlets": p.num_seqlets,
            "trim": [p.trim_start, p.trim_end],
            "matches": [
                {"target_id": h.target_id, "target_name": h.target_name, "e_value": h.e_value}
                for h in p.matches
            ],
        }
        for p in result.patterns
    ]
    try:
        manifest = store.put_artifact(
            MOTIFS_KIND,
            {
                "result.pb": result.SerializeToString(),
                "motifs.meme": result.meme.encode(),
                "patterns.json": json.dumps(summary, indent=1).encode(),
            },
            provenance=provenance,
            metadata={"name": name, "num_patterns": len(result.patterns), "database": result.database},
            id_prefix=MOTIFS_KIND,
            artifact_id=artifact_id,
        )
    except AlreadyExistsError:
        return str(artifact_id)
    return manifest.artifact_id


def check_name(name: str) -> str:
    """The artifact name, at most :data:`MAX_NAME` characters (INVALID_ARGUMENT otherwise)."""
    if len(name) > MAX_NAME:
        raise InvalidInputError(f"name: {len(name)} characters; at most {MAX_NAME}", field="name")
    return name


#: Tomtom E-value threshold when a request leaves it 0.
DEFAULT_EVALUE = 0.1


@dataclass(frozen=True)
class DiscoveryPlan:
    """A DiscoverMotifs request checked, everything but the maps: what to run and match against."""

    settings: DiscoverySettings
    database_name: str
    database: MotifDatabase | list[Motif]
    evalue_threshold: float
    name: str
    include_logos: bool


def plan(request: pb.DiscoverMotifsRequest, store: ArtifactStore, input_length: int) -> DiscoveryPlan:
    """Check a request's TF-MoDISco settings, database, E-value threshold and name.

    Raises
    ------
    InvalidInputError
        Naming the field (``settings.*``, ``database``, ``database_meme``,
        ``evalue_threshold``, ``name``).
    NotFoundError
        An unknown uploaded database.
    """
    settings = checked_settings(request.settings, input_length)
    database_name, database = database_of(request.database, request.database_meme, store)
    threshold = request.evalue_threshold
    if not math.isfinite(threshold):
        raise invalid("evalue_threshold", f"expected a finite number, got {threshold}")
    threshold = threshold or DEFAULT_EVALUE
    if threshold <= 0:
        raise invalid("evalue_threshold", f"expected > 0 (0 = {DEFAULT_EVALUE}), got {threshold}")
    return DiscoveryPlan(
        settings=settings,
        database_name=database_name,
        database=database,
        evalue_threshold=threshold,
        name=check_name(request.name),
        include_logos=bool(request.include_logos),
    )


def stored_rows(store: ArtifactStore, manifest: Manifest, positives_only: bool) -> np.ndarray | None:
    """Which rows of a stored attributions artifact to search: None for all, else a boolean mask (N,).

    Raises
    ------
    FailedPreconditionError
        ``positives_only`` for maps of an uploaded FASTA (no labels), or no row labelled 1.
    """
    if not positives_only:
        return None
    origin = manifest.provenance
    if not origin.get("dataset_id"):
        raise FailedPreconditionError(
            f"positives_only: {manifest.artifact_id} holds maps of an uploaded FASTA, which has no labels",
            field="positives_only",
        )
    from services.common.datasets import load_dataset

    n, _ = map_shape(manifest)
    dataset, _ = load_dataset(store, origin["dataset_id"])
    labels = dataset.split(origin["split"]).y[origin["offset"] : origin["offset"] + n]
    keep = labels[:, origin["options"]["target"]] > 0.5
    if not keep.any():
        raise FailedPreconditionError(
            f"positives_only: no row of {manifest.artifact_id} has label {origin['options']['target']} = 1",
            field="positives_only",
        )
    return keep


def read_stored_maps(
    store: ArtifactStore, manifest: Manifest, keep: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(one-hot, hypothetical), (n, L, 4) float32 each, of the artifact's rows ``keep`` selects."""
    from motiflens.attribution.files import read_map_rows

    n, _ = map_shape(manifest)
    with fetched_maps(store, manifest) as folder:
        one_hot, hypothetical = read_map_rows(folder, manifest.metadata["format"], 0, n)
    if keep is not None:
        one_hot, hypothetical = one_hot[keep], hypothetical[keep]
    return one_hot, hypothetical


def finish(
    store: ArtifactStore,
    patterns: Sequence[Pattern],
    chosen: DiscoveryPlan,
    *,
    attribution: pb.AttributionSettings,
    provenance: Mapping,
    num_sequences: int,
    artifact_id: str | None = None,
) -> pb.DiscoverMotifsResult:
    """Match the patterns with Tomtom, build the result and store it as a "motifs" artifact.

    ``provenance`` (model, attribution, sequences) is completed with the discovery
    settings, the database and the threshold. ``artifact_id`` fixes the artifact's id
    (a job's, so that a re-run finds it); default a new one.
    """
    matches = match_patterns(patterns, chosen.database, evalue_threshold=chosen.evalue_threshold)
    messages, meme = result_message(patterns, matches, include_logos=chosen.include_logos)
    result = pb.DiscoverMotifsResult(
        patterns=messages,
        meme=meme,
        attribution=attribution,
        num_sequences=num_sequences,
        database=chosen.database_name,
    )
    full = {
        **provenance,
        "discovery": asdict(chosen.settings),
        "num_sequences": num_sequences,
        "database": chosen.database_name,
        "evalue_threshold": chosen.evalue_threshold,
    }
    result.motifs_id = store_result(store, result, provenance=full, name=chosen.name, artifact_id=artifact_id)
    return result


def read_result(store: ArtifactStore, motifs_id: str) -> pb.DiscoverMotifsResult:
    """A stored DiscoverMotifs result.

    Raises
    ------
    InvalidInputError, NotFoundError
        Malformed or unknown id.
    """
    check_id(motifs_id, field_name="motifs_id", prefix=MOTIFS_KIND)
    try:
        store.get_manifest(motifs_id, kind=MOTIFS_KIND)
    except NotFoundError:
        raise NotFoundError(f"motifs_id: no motifs artifact {motifs_id!r}") from None
    result = pb.DiscoverMotifsResult()
    result.ParseFromString(store.read_object(motifs_id, "result.pb"))
    result.motifs_id = motifs_id
    return result
