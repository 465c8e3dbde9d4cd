"""Moved to :mod:`services.common.store.file`; this name keeps old imports working."""

from services.common.store.file import FileStore

__all__ = ["FileStore"]
