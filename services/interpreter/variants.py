"""ScoreVariants: a VCF's variant effects on a model, against an uploaded reference genome.

The VCF comes inline (at most :data:`MAX_VCF_BYTES`) or as an upload; the genome is
an upload (plain or bgzip FASTA), fetched once and kept open for the next calls
(:class:`GenomeCache`, the last :data:`GENOMES_KEPT`), because copying and indexing a
genome costs far more than scoring. Variants are read whole (at most
:data:`MAX_VARIANTS` alleles), then scored :data:`batch_size` alleles at a time: each
batch's windows, predictions and maps are the only arrays held (reserved from the
memory budget first), and go out as one message, scored and skipped alleles together
in input order. The rules of :mod:`motiflens.variants` apply.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import OUTPUT_BY_NAME

from motiflens.errors import InvalidInputError
from motiflens.genome import Genome
from motiflens.variants import (
    allele_maps,
    variant_effects,
    variant_windows,
)
from services.common.attribution_options import check_range, enum_name
from services.common.datasets import scratch_directory
from services.common.errors import invalid
from services.common.server import caller_gone
from services.common.uploads import fetch_upload
from services.common.variant_messages import SummaryCounter, batch_message
from services.common.vcf_child import read_vcf_isolated
from services.interpreter.requests import describe_call, holding, onehot_bytes, pass_bytes, pass_rows

if TYPE_CHECKING:
    from services.common.budget import MemoryBudget
    from services.common.store import ArtifactStore
    from services.interpreter.model_cache import ModelCache

MAX_VCF_BYTES = 16 * 1024 * 1024
MAX_VARIANTS = 200_000
DEFAULT_FLANK = 20
MAX_FLANK = 200
DEFAULT_BATCH = 256
MAX_BATCH = 4096
GENOMES_KEPT = 1
MAPS = {"none": pb.VARIANT_MAPS_UNSPECIFIED, "ism": pb.VARIANT_MAPS_ISM, "saliency": pb.VARIANT_MAPS_SALIENCY}


class GenomeCache:
    """Uploaded genomes fetched to local disk and opened; the last ``capacity`` unused ones kept (LRU).

    :meth:`use` holds a genome for one call: a genome in use is never closed, so the cache
    may hold more than ``capacity`` while calls on several genomes run at once.
    """

    def __init__(self, capacity: int = GENOMES_KEPT):
        self.capacity = capacity
        self._lock = threading.Lock()
        self._open: OrderedDict[str, tuple[Genome, Path]] = OrderedDict()
        self._users: Counter[str] = Counter()

    @contextlib.contextmanager
    def use(
        self, store: ArtifactStore, upload_id: str, *, field: str = "genome_upload_id"
    ) -> Iterator[Genome]:
        """The opened genome of ``upload_id`` for the block (fetched and indexed the first time)."""
        genome = self._get(store, upload_id, field)
        try:
            yield genome
        finally:
            with self._lock:
                self._users[upload_id] -= 1
                self._evict()

    def _get(self, store: ArtifactStore, upload_id: str, field: str) -> Genome:
        with self._lock:
            if upload_id in self._open:
                self._open.move_to_end(upload_id)
                self._users[upload_id] += 1
                return self._open[upload_id][0]
        folder = Path(tempfile.mkdtemp(prefix="motiflens-genome-"))
        try:
            with fetch_upload(store, upload_id, field) as (path, name):
                local = folder / name
                shutil.move(str(path), local)
            genome = Genome.open(local, index_dir=folder, field=field)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._users[upload_id] += 1
            if upload_id in self._open:  # another call opened it meanwhile: keep one copy
                genome.close()
                shutil.rmtree(folder, ignore_errors=True)
                return self._open[upload_id][0]
            self._open[upload_id] = (genome, folder)
            self._evict()
        return genome

    def _evict(self) -> None:
        """Close the least recently used genomes no call holds, down to ``capacity`` (lock held)."""
        for upload_id in list(self._open):
            if len(self._open) <= self.capacity:
                return
            if self._users[upload_id] <= 0:
                genome, folder = self._open.pop(upload_id)
                genome.close()
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Close every genome and remove its local copy (the server is stopping)."""
        with self._lock:
            while self._open:
                _, (genome, folder) = self._open.popitem()
                genome.close()
                shutil.rmtree(folder, ignore_errors=True)


class VariantCalls:
    """ScoreVariants (mixed into InterpreterServicer)."""

    if TYPE_CHECKING:  # what InterpreterServicer provides
        store: ArtifactStore
        models: ModelCache
        budget: MemoryBudget
        genomes: GenomeCache

    def ScoreVariants(self, request, context) -> Iterator:  # noqa: N802 (gRPC method name)
        """Scored and skipped alleles in input order, one batch per message, then the summary."""
        loaded = self.models.get(request.model_id)
        output = loaded.output_kind(
            None if request.output == 0 else enum_name(OUTPUT_BY_NAME, request.output, "output"),
            default="logit",
        )
        maps = enum_name(MAPS, request.maps, "maps")
        if maps != "none" and not 0 <= request.target < loaded.num_outputs:
            raise invalid(
                "target",
                f"model {loaded.model_id} has outputs 0..{loaded.num_outputs - 1}, got {request.target}",
            )
        flank = check_range(request.flank, "flank", 1, MAX_FLANK, zero=str(DEFAULT_FLANK)) or DEFAULT_FLANK
        batch = (
            check_range(request.batch_size, "batch_size", 1, MAX_BATCH, zero=str(DEFAULT_BATCH))
            or DEFAULT_BATCH
        )
        if not request.genome_upload_id:
            raise invalid(
                "genome_upload_id", "required: the reference genome FASTA, sent with TrainerService.Upload"
            )
        stop = caller_gone(context)
        length = loaded.input_length
        with contextlib.ExitStack() as held:
            variants = read_vcf_isolated(
                held.enter_context(self._vcf_file(request)), max_records=MAX_VARIANTS
            )
            genome = held.enter_context(self.genomes.use(self.store, request.genome_upload_id))
            counter = SummaryCounter()
            # Windows (ref, alt, both strands), predictions and the maps of one batch.
            cost = 6 * onehot_bytes(batch, length) + pass_bytes(loaded, pass_rows(loaded), gradients=True)
            map_start = 0
            for start in range(0, len(variants), batch):
                part = variants[start : start + batch]
                with self.budget.reserve(cost, describe_call("ScoreVariants", len(part), loaded)):
                    windows = variant_windows(genome, part, length)
                    with holding(loaded.lock, stop, "ScoreVariants"):
                        effects = variant_effects(
                            lambda X: loaded.predict(X, output, stop),
                            windows,
                            output=output,
                            both_strands=request.both_strands,
                            sigmoid=loaded.output_activation == "sigmoid",
                        )
                        ref_maps = alt_maps = None
                        if maps != "none":
                            ref_maps, alt_maps, map_start = allele_maps(
                                loaded.model,
                                windows,
                                method=maps,
                                flank=flank,
                                target=request.target,
                                output=output,
                            )
                counter.add(windows)
                yield pb.ScoreVariantsEvent(batch=batch_message(windows, effects, ref_maps, alt_maps))
        summary = counter.message(
            records=len({v.record for v in variants}),
            alleles=len(variants),
            output=output,
            both_strands=request.both_strands,
            map_start=map_start if maps != "none" else 0,
            input_length=length,
        )
        yield pb.ScoreVariantsEvent(summary=summary)

    @contextlib.contextmanager
    def _vcf_file(self, request) -> Iterator[Path]:
        """The request's VCF as a local file (inline bytes written to scratch, or the upload fetched)."""
        which = request.WhichOneof("vcf")
        if which is None:
            raise invalid("vcf", "required: vcf_content (the file's bytes) or vcf_upload_id")
        if which == "vcf_upload_id":
            with fetch_upload(self.store, request.vcf_upload_id, "vcf_upload_id") as (path, _):
                yield path
            return
        if len(request.vcf_content) > MAX_VCF_BYTES:
            raise InvalidInputError(
                f"vcf_content: {len(request.vcf_content)} bytes, at most {MAX_VCF_BYTES}; send a larger "
                "file with TrainerService.Upload and give vcf_upload_id",
                field="vcf_content",
            )
        with scratch_directory() as tmp:
            path = Path(tmp) / "input.vcf"
            path.write_bytes(request.vcf_content)
            yield path
