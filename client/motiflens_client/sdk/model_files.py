"""A lab's own models in and out (TrainerService ImportModel, ExportModel).

These are the calls of :class:`~motiflens_client.sdk.Client` that move model files.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

from motiflens_client import _convert
from motiflens_client.errors import InvalidArgument, Unavailable
from motiflens_client.sdk.genome import UPLOAD_SECONDS_PER_MIB, GenomeCalls
from motiflens_client.sdk.progress import Progress, wants_bar
from motiflens_client.types import ModelInfo
from motiflens_client.wire import pb

#: Files up to this size go inline in the ImportModel request; larger ones are uploaded first.
INLINE_IMPORT_BYTES = 32 * 1024 * 1024
#: Seconds an import or a SavedModel export may take on top of the client's timeout
#: (the server loads the model in a fresh child process).
MODEL_FILE_SECONDS = 600.0
EXPORT_FORMATS = {
    "keras": pb.ExportFormat.Value("EXPORT_FORMAT_KERAS"),
    "saved_model": pb.ExportFormat.Value("EXPORT_FORMAT_SAVED_MODEL"),
}


class ModelFileCalls(GenomeCalls):
    """ImportModel and ExportModel."""

    def import_model(
        self,
        path: str | os.PathLike,
        *,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        progress: Progress = None,
    ) -> ModelInfo:
        """Import a Keras 3 ``.keras`` model built outside the suite; returns the stored model.

        The server refuses a file that would run code when loaded (a ``Lambda`` layer, a
        custom class), an input other than one-hot ``(None, L, 4)``, an output other than
        ``(None, T)`` per head, and anything over its limits; the error names what is wrong.
        The model's ``output_activation`` says which outputs interpretation can use
        ("sigmoid": logits and probabilities; "linear": logits; others: the output only)
        and ``first_conv_layer`` the layer its filters come from.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.keras`` file (``model.save("name.keras")``). Up to
            :data:`INLINE_IMPORT_BYTES` it is sent in the request; larger, it is uploaded
            first and the upload is deleted afterwards.
        name : str, default ""
            Its name (default: the file's stem).
        labels : mapping of str to str, optional
        progress : None, bool or callable
            A bar of bytes uploaded, as for :meth:`upload`, for a file over
            :data:`INLINE_IMPORT_BYTES` (a smaller one goes in one message: no bar).

        Raises
        ------
        OSError
            The file cannot be read.
        InvalidArgument, ResourceExhausted
            Refused by the server; also ``progress`` of another type.
        """
        wants_bar(progress, steps=None, tty=False, notebook=False)  # a bad kind is refused, whatever the size
        path = Path(path).expanduser()
        size = path.stat().st_size
        request = pb.ImportModelRequest(name=name or path.stem[:200], labels=dict(labels or {}))
        timeout = self.timeout + MODEL_FILE_SECONDS + UPLOAD_SECONDS_PER_MIB * size / 2**20
        if size <= INLINE_IMPORT_BYTES:
            request.keras_file = path.read_bytes()
            response = self._unary(self._trainer, "ImportModel", request, timeout=timeout)
            return _convert.model_info(response.model)
        upload = self.upload(path, name="model.keras", progress=progress)
        try:
            request.upload_id = upload.upload_id
            response = self._unary(self._trainer, "ImportModel", request, timeout=timeout)
        finally:
            self.delete_upload(upload.upload_id)
        return _convert.model_info(response.model)

    def download_model(
        self,
        model_id: str,
        path: str | os.PathLike,
        *,
        format: str = "keras",  # noqa: A002 - the natural name of the option
        name: str = "",
        version: int = 1,
    ) -> Path:
        """Export a stored model to ``path``; returns the path written.

        Parameters
        ----------
        model_id : str
        path : str or os.PathLike
            ``format="keras"``: the file to write (``model.keras``). ``"saved_model"``:
            the folder that receives ``NAME/VERSION/saved_model.pb`` and ``variables/``
            (a TF Serving model base path); the returned path is ``path/NAME/VERSION``.
        format : {"keras", "saved_model"}, default "keras"
        name : str, default ""
            SavedModel folder name (default the model id).
        version : int, default 1
            SavedModel version folder.

        Raises
        ------
        InvalidArgument
            Unknown format, bad name or version.
        Unavailable
            The bytes received do not match the header (a broken stream); try again.
        NotFound
            No such model.
        """
        if format not in EXPORT_FORMATS:
            raise InvalidArgument(f"format: expected one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
        request = pb.ExportModelRequest(
            model_id=model_id, format=EXPORT_FORMATS[format], name=name, version=version
        )
        target = Path(path).expanduser()
        target_parent = target.parent if format == "keras" else target
        target_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=target_parent, prefix=".motiflens-export-", delete=False
        ) as handle:
            partial = Path(handle.name)
        try:
            header = self._receive_export(request, partial)
            if format == "keras":
                partial.replace(target)
                return target
            with tarfile.open(partial) as archive:
                archive.extractall(target, filter="data")
            return target / header.file_name.removesuffix(".tar") / str(version or 1)
        finally:
            partial.unlink(missing_ok=True)

    def _receive_export(self, request: pb.ExportModelRequest, partial: Path) -> pb.ExportHeader:
        # A restarted stream starts again from the header: write from the start each time.
        header = None
        digest = hashlib.sha256()
        written = 0
        with partial.open("wb") as out:
            for chunk in self._stream(
                self._trainer, "ExportModel", request, timeout=self.timeout + MODEL_FILE_SECONDS
            ):
                if chunk.WhichOneof("part") == "header":
                    header, digest, written = chunk.header, hashlib.sha256(), 0
                    out.seek(0)
                    out.truncate()
                    continue
                out.write(chunk.data)
                digest.update(chunk.data)
                written += len(chunk.data)
        if header is None or written != header.size or digest.hexdigest() != header.sha256:
            raise Unavailable(
                f"ExportModel: received {written} bytes that do not match the header "
                f"({'none' if header is None else f'{header.size} bytes, sha256 {header.sha256[:12]}...'})"
            )
        return header
