"""Uploaded motif databases (``motif_database`` artifacts, ids ``db-<32 hex>``): the read side.

MotifMatchService.UploadDatabase writes them; motifmatch's Compare/MatchFilters and the
interpreter's DiscoverMotifs and ScoreTrust read them through :func:`read_uploaded_database`,
so an id a lab got from one service names the same motifs in the others.
"""

from __future__ import annotations

import io

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.motifs import Motif, MotifDatabase, read_meme
from services.common.store import ArtifactStore, check_id

DATABASE_KIND = "motif_database"
DATABASE_ID_PREFIX = "db"
MEME_OBJECT = "motifs.meme"


def is_uploaded_id(name: str) -> bool:
    """Whether ``name`` has the form of an uploaded database's id ("db-...")."""
    return name.startswith(DATABASE_ID_PREFIX + "-")


def parse_meme(text: str, *, field: str) -> list[Motif]:
    """Motifs of a MEME text; errors read ``"<field>: line 12: ..."``."""
    if not text.strip():
        raise InvalidInputError(f"{field}: expected a MEME motif file, got empty text", field=field)
    stream = io.StringIO(text)
    stream.name = field  # read_meme names its input by the stream's name
    return read_meme(stream)


def read_uploaded_database(store: ArtifactStore, database_id: str, *, field: str) -> MotifDatabase:
    """The motifs of an uploaded database, named as it was uploaded.

    Raises
    ------
    InvalidInputError
        Malformed id (naming ``field``).
    NotFoundError
        No such database.
    """
    check_id(database_id, field_name=field, prefix=DATABASE_ID_PREFIX)
    try:
        manifest = store.get_manifest(database_id, kind=DATABASE_KIND)
    except NotFoundError:
        raise NotFoundError(f"{field}: unknown database {database_id!r}") from None
    text = store.read_object(database_id, MEME_OBJECT).decode("utf-8")
    motifs = parse_meme(text, field=f"stored database {database_id}")
    return MotifDatabase(str(manifest.metadata.get("name", database_id)), tuple(motifs))
