"""Moved to :mod:`services.common.store.s3`; this name keeps old imports working."""

from services.common.store.s3 import S3Store

__all__ = ["S3Store"]
