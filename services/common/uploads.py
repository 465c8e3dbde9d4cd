"""The read side of uploads (``upload`` artifacts: files sent with TrainerService.Upload).

The trainer writes them (:mod:`services.trainer.uploads`); data-set imports, attribution
jobs and the interpreter's ScoreVariants read them back through :func:`fetch_upload`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from motiflens.errors import InvalidInputError
from services.common.datasets import scratch_directory
from services.common.store import ArtifactStore, check_id

UPLOAD_KIND = "upload"
#: The stored object of an upload artifact.
CONTENT_OBJECT = "content"


@contextmanager
def fetch_upload(store: ArtifactStore, upload_id: str, field: str) -> Iterator[tuple[Path, str]]:
    """Copy an upload into a scratch folder for the block: yields (local path, its file name).

    The local file is named after the upload (``genome.fa.gz``), so readers that go by
    the file ending see the right one; the folder is removed afterwards.

    Raises
    ------
    InvalidInputError
        Malformed id (naming ``field``).
    NotFoundError
        No such upload.
    """
    try:
        check_id(upload_id)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{field}: {exc}", field=field) from None
    manifest = store.get_manifest(upload_id, kind=UPLOAD_KIND)
    name = str(manifest.metadata.get("name") or CONTENT_OBJECT)
    with scratch_directory() as tmp:
        store.fetch_artifact(upload_id, tmp)
        local = tmp / name
        (tmp / CONTENT_OBJECT).rename(local)
        yield local, name
