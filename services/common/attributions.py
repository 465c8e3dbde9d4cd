"""The read side of stored attribution maps (``attributions`` artifacts), shared by trainer and interpreter.

The trainer's attribution jobs write them (:mod:`services.trainer.attribution_jobs`);
ReadAttributions streams their rows and DiscoverMotifs runs TF-MoDISco on them. The
files are those of :mod:`motiflens.attribution.files` (modisco-lite's layout); the
manifest's metadata holds ``shape`` [N, 4, L], ``format`` and the provenance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from motiflens.errors import NotFoundError
from services.common.datasets import disk_errors, scratch_directory
from services.common.store import ArtifactStore, Manifest, check_id

ATTRIBUTIONS_KIND = "attributions"
ATTRIBUTIONS_PREFIX = "attr"


def get_attributions(
    store: ArtifactStore, artifact_id: str, *, field_name: str = "attributions_id"
) -> Manifest:
    """The manifest of a stored attributions artifact.

    Raises
    ------
    InvalidInputError
        Malformed id (naming ``field_name``).
    NotFoundError
        No such attributions artifact.
    """
    check_id(artifact_id, field_name=field_name, prefix=ATTRIBUTIONS_PREFIX)
    try:
        return store.get_manifest(artifact_id, kind=ATTRIBUTIONS_KIND)
    except NotFoundError:
        raise NotFoundError(f"{field_name}: no attributions artifact {artifact_id!r}") from None


def map_shape(manifest: Manifest) -> tuple[int, int]:
    """(N, L) of the artifact's maps."""
    n, _, length = (int(v) for v in manifest.metadata["shape"])
    return n, length


@contextmanager
def fetched_maps(
    store: ArtifactStore, manifest: Manifest, *, field_name: str = "attributions_id"
) -> Iterator[Path]:
    """The artifact's files in a scratch folder (streamed from the store; removed afterwards)."""
    with scratch_directory() as tmp:
        with disk_errors(field_name):
            store.fetch_artifact(manifest.artifact_id, Path(tmp))
        yield Path(tmp)
