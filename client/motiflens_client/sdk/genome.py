"""Uploads and genome-interval data sets (TrainerService Upload, ListUploads, CreateDataset).

These are the calls of :class:`~motiflens_client.sdk.Client` that send files.

Files of any size (a reference genome is gigabytes) go up as a stream of
:data:`UPLOAD_CHUNK_BYTES` chunks, hashed on the way; the server stores the upload
once, and data sets name it by id, so one genome serves many imports. A bar of bytes
sent (``progress``, :mod:`motiflens_client.sdk.progress`) follows the chunks.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path

from motiflens_client import _convert
from motiflens_client.errors import InvalidArgument
from motiflens_client.sdk._calls import ClientBase
from motiflens_client.sdk.progress import Progress, open_bar, wants_bar
from motiflens_client.types import IntervalsDataset, UploadInfo
from motiflens_client.wire import pb
from motiflens_client.wire.errors import WireError
from motiflens_client.wire.vocabulary import CENTRE_BY_NAME, NEGATIVES_BY_NAME, choice

#: Bytes per Upload message (the server accepts up to 4 MiB).
UPLOAD_CHUNK_BYTES = 1024 * 1024
#: Seconds an upload may take per MiB on top of the client's timeout (a slow link).
UPLOAD_SECONDS_PER_MIB = 2.0
_UPLOAD_ID = re.compile(r"upload-[0-9a-f]{32}")

#: A file to send: a path, an earlier upload, or (for BED files) the text itself.
FileInput = str | os.PathLike | UploadInfo


class GenomeCalls(ClientBase):
    """Upload, ListUploads and genome-interval imports."""

    def upload(self, path: str | os.PathLike, *, name: str = "", progress: Progress = None) -> UploadInfo:
        """Send a local file to the trainer's store in chunks; returns its upload record.

        Parameters
        ----------
        path : str or os.PathLike
            Any file (a genome FASTA, plain or bgzip; a BED file). Read twice: once to
            hash it, once to send it; memory stays at one chunk.
        name : str, default ""
            Its name on the server (default: the file's name). The ending tells readers
            the format (``.fa.gz`` is bgzip).
        progress : None, bool or callable
            A bar of bytes sent of the file's size on stderr (unit "B"), advancing as each
            :data:`UPLOAD_CHUNK_BYTES` chunk is handed to the stream. None (default): when
            stderr is a terminal or in a notebook and the file is more than one chunk;
            True: always; False: never; or a tqdm-compatible factory
            (:mod:`motiflens_client.sdk.progress`).

        Returns
        -------
        UploadInfo

        Raises
        ------
        OSError
            The file cannot be read.
        InvalidArgument, ResourceExhausted
            Refused by the server (empty file, over its upload limit, disk full); also
            ``progress`` of another type.
        """
        path = Path(path).expanduser()
        size = path.stat().st_size
        digest = _sha256(path)
        header = pb.UploadHeader(name=name or path.name, size=size, sha256=digest)
        bar = open_bar(
            progress,
            total=size,
            desc=f"upload {header.name}",
            unit="B",
            unit_scale=True,
            per_step=UPLOAD_CHUNK_BYTES,
        )

        def chunks() -> Iterator[pb.UploadChunk]:
            yield pb.UploadChunk(header=header)
            position = 0
            with open(path, "rb") as handle:
                while data := handle.read(UPLOAD_CHUNK_BYTES):
                    yield pb.UploadChunk(data=data)
                    # gRPC asks for the next message once this one is handed on. A retried
                    # stream sends the file again from its start: only bytes past the
                    # furthest attempt move the bar, so it never passes the file's size.
                    position += len(data)
                    if position > bar.n:
                        bar.update(position - bar.n)

        timeout = self.timeout + UPLOAD_SECONDS_PER_MIB * size / 2**20
        with closing(bar):
            response = self._client_stream(self._trainer, "Upload", chunks, timeout=timeout)
        return _convert.upload_info(response.upload)

    def list_uploads(self) -> list[UploadInfo]:
        """Stored uploads, newest first."""
        messages = self._all_pages(self._trainer, "ListUploads", pb.ListUploadsRequest(), "uploads")
        return [_convert.upload_info(message) for message in messages]

    def delete_upload(self, upload_id: str) -> None:
        """Delete an upload (data sets made from it keep their rows; NotFound when there is none)."""
        self._unary(self._trainer, "DeleteUpload", pb.DeleteRequest(id=upload_id))

    def import_intervals(
        self,
        genome: FileInput,
        peaks: Sequence[FileInput],
        *,
        window_length: int = 200,
        centre: str = "auto",
        negatives: str = "none",
        background: FileInput | None = None,
        negative_ratio: float = 1.0,
        max_n_fraction: float = 0.1,
        valid_chroms: Sequence[str] = (),
        test_chroms: Sequence[str] = (),
        seed: int = 0,
        reverse_complement: bool = False,
        task_names: Sequence[str] = (),
        name: str = "",
        progress: Progress = None,
    ) -> IntervalsDataset:
        """Build a data set from peaks in a reference genome (one task per peak file).

        Every peak becomes one window of ``window_length`` nt centred on its summit
        (narrowPeak) or midpoint; label ``t`` of a window is 1 when a peak of file ``t``
        covers its centre. Windows off a chromosome end or with too many N are dropped
        and counted in the result.

        Parameters
        ----------
        genome : path, UploadInfo or upload id
            The reference FASTA (plain or bgzip). A path is uploaded first; pass the
            returned ``UploadInfo`` (or ``client.upload(path)``'s) to reuse it.
        peaks : sequence of path, UploadInfo, upload id or BED text
            BED3+ or narrowPeak files, one task each (1 to 64).
        window_length : int, default 200
        centre : {"auto", "summit", "midpoint"}, default "auto"
            "auto": the summit where the file gives one, else the midpoint.
        negatives : {"none", "background", "gc_matched", "shuffled"}, default "none"
            "background": windows of ``background``; "gc_matched": random genome windows
            away from every peak, matched to the peaks' GC content; "shuffled":
            dinucleotide shuffles of the peak windows. "none" needs two or more peak files.
        background : path, UploadInfo, upload id or BED text, optional
            For ``negatives="background"``.
        negative_ratio : float, default 1.0
            Negatives per peak window ("gc_matched"; at most 10).
        max_n_fraction : float, default 0.1
            Largest fraction of N a kept window may hold.
        valid_chroms, test_chroms : sequence of str
            Chromosome hold-out (both or neither); neither: a seeded random 0.7/0.1/0.2 split.
        seed : int, default 0
            Seed of the negatives and of a random split.
        reverse_complement : bool, default False
            Augment the training split with reverse complements.
        task_names : sequence of str, optional
            One per peak file (default: the files' names).
        name : str, default ""
        progress : None, bool or callable
            A bar for each file this call uploads (the genome, peak files given as
            paths), as for :meth:`upload`.

        Returns
        -------
        IntervalsDataset
            ``dataset`` (kind "intervals"; record names ``chrom:start-end``) and ``windows``.

        Raises
        ------
        InvalidArgument
            A malformed BED (the message names the file and line), a contig missing from
            the genome, a window longer than a chromosome, a corrupt or plain-gzip genome,
            an unknown ``centre``/``negatives``, ``progress`` of another type.
        """
        wants_bar(progress, steps=None, tty=False, notebook=False)  # a bad kind is refused before any upload
        try:
            centre_value = choice(CENTRE_BY_NAME, centre, "centre")
            negatives_value = choice(NEGATIVES_BY_NAME, negatives, "negatives")
        except WireError as exc:
            raise InvalidArgument(str(exc)) from None
        if task_names and len(task_names) != len(peaks):
            raise InvalidArgument(
                f"task_names: {len(task_names)} names for {len(peaks)} peak files; give one per file or none"
            )
        spec = pb.GenomeIntervalsImport(
            genome_upload_id=self._upload_id(genome, "genome", progress),
            peaks=[
                self._bed_source(source, task_names[i] if task_names else "", f"peaks[{i}]", progress)
                for i, source in enumerate(peaks)
            ],
            negatives=negatives_value,  # type: ignore[arg-type]  # a Negatives value
            negative_ratio=negative_ratio,
            window_length=window_length,
            centre=centre_value,  # type: ignore[arg-type]  # a WindowCentre value
            max_n_fraction=max_n_fraction,
            valid_chroms=list(valid_chroms),
            test_chroms=list(test_chroms),
            seed=seed,
            reverse_complement=reverse_complement,
        )
        if background is not None:
            spec.background.CopyFrom(self._bed_source(background, "background", "background", progress))
        request = pb.CreateDatasetRequest(name=name, intervals=spec)
        response = self._unary(self._trainer, "CreateDataset", request)
        return IntervalsDataset(
            dataset=_convert.dataset_info(response.dataset), windows=_convert.window_counts(response.windows)
        )

    def _upload_id(self, source: FileInput, field: str, progress: Progress = None) -> str:
        """The upload id of a file input that must be a file (a genome): uploading a path first."""
        if isinstance(source, UploadInfo):
            return source.upload_id
        if isinstance(source, str) and _UPLOAD_ID.fullmatch(source):
            return source
        path = Path(source).expanduser()
        if not path.is_file():
            raise InvalidArgument(f"{field}: {str(source)[:200]!r} is neither a file nor an upload id")
        return self.upload(path, progress=progress).upload_id

    def _bed_source(
        self, source: FileInput, task_name: str, field: str, progress: Progress = None
    ) -> pb.BedSource:
        """A BedSource: an upload (UploadInfo, id or path of an existing file), else BED text."""
        if isinstance(source, UploadInfo) or (isinstance(source, str) and _UPLOAD_ID.fullmatch(source)):
            return pb.BedSource(name=task_name, upload_id=self._upload_id(source, field, progress))
        if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source):
            path = Path(source).expanduser()
            if path.is_file():
                return pb.BedSource(name=task_name, upload_id=self.upload(path, progress=progress).upload_id)
            if isinstance(source, os.PathLike) or "\t" not in source:
                raise InvalidArgument(f"{field}: no such file: {str(source)[:200]!r}")
        return pb.BedSource(name=task_name, text=str(source))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while data := handle.read(UPLOAD_CHUNK_BYTES):
            digest.update(data)
    return digest.hexdigest()
