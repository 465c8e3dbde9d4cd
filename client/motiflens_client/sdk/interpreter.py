"""InterpreterService calls: predictions, filter motifs, attribution, scans, localization, scores."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

from motiflens_client import _convert
from motiflens_client._tensors import (
    reassemble,
    sequences_to_proto,
    split_ref,
    tensor_to_array,
)
from motiflens_client.errors import Internal, InvalidArgument, MotiflensClientError
from motiflens_client.sdk._calls import (
    _METHODS,
    _REFERENCES,
    ClientBase,
    _choice,
    _output_choice,
)
from motiflens_client.sdk.progress import Progress, open_bar
from motiflens_client.types import (
    AttributionMaps,
    DatasetSplit,
    Filters,
    Interpretability,
    LocalizeResult,
    MotifDiscovery,
    TrustReport,
    VariantScores,
)
from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import FORM_BY_NAME, split_name

#: Sequences per streamed chunk when a call leaves ``chunk_size`` at 0 (the interpreter's default).
DEFAULT_CHUNK_SIZE = 64


class InterpreterCalls(ClientBase):
    """The InterpreterService methods of :class:`~motiflens_client.sdk.Client`."""

    def predict(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        output: str = "auto",
    ) -> np.ndarray:
        """Model outputs for sequences.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
            DNA strings (A, C, G, T, N; one length), one-hot ``X`` or stored sequences.
        output : str, default "auto"
            "probability" (sigmoid) or "logit"; "auto": the probability when the model
            has one (every zoo model), else the logit (an imported model with a linear output).

        Returns
        -------
        np.ndarray, shape (N, T), float32

        Raises
        ------
        InvalidArgument
            Bad bases or lengths (the message names ``sequences...[i]``), a wrong shape.
        NotFound
            Unknown model.
        """
        request = pb.PredictRequest(
            model_id=model_id,
            sequences=sequences_to_proto(sequences),
            output=_output_choice(output),
        )
        response = self._unary(self._interpreter, "Predict", request)
        return tensor_to_array(response.predictions, field="predictions")

    def filters(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        threshold: float = 0.0,
        window: int = 0,
        logos: bool = False,
    ) -> Filters:
        """First-layer filters as PWMs, by aligning the sites that activate them.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
            Sequences to scan (the paper used the test split).
        threshold : float, default 0.0 (0.5)
            Fraction of each filter's maximum a site must exceed.
        window : int, default 0 (the filter width)
            Site window in nt.
        logos : bool, default False
            Also render a PNG logo per filter (``FilterMotif.logo_png``).

        Returns
        -------
        Filters
            F filters, PWMs of shape (window, 4), and their MEME text.
        """
        request = pb.FilterMotifsRequest(
            model_id=model_id,
            sequences=sequences_to_proto(sequences),
            threshold=threshold,
            window=window,
            include_logos=logos,
        )
        return _convert.filters(self._unary(self._interpreter, "FilterMotifs", request))

    def attribute(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        method: str = "saliency",
        target: int = 0,
        output: str = "auto",
        reference: str = "shuffle",
        num_references: int = 0,
        num_steps: int = 0,
        seed: int = 0,
        times_input: bool = False,
        form: str = "scores",
        gradient_correction: bool = False,
        chunk_size: int = 0,
        timeout: float | None = None,
        progress: Progress = None,
    ) -> np.ndarray:
        """Attribution maps, streamed in chunks and reassembled by offset.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
        method : str, default "saliency"
            "saliency", "ism", "integrated_gradients" or "deepshap".
        target : int, default 0
            Output unit.
        output : str, default "auto"
            "logit" or "probability"; "auto": the logit when the model has a linear
            pre-activation (every zoo model), else its output (an imported softmax model).
        reference : str, default "shuffle"
            References of integrated gradients and DeepSHAP: "shuffle" or "dinucleotide".
        num_references : int, default 0 (10)
        num_steps : int, default 0 (20)
            Integration steps.
        seed : int, default 0
        times_input : bool, default False
            Multiply saliency by the input.
        form : str, default "scores"
            "scores" (the method's own definition), "hypothetical" (what each base would
            contribute at each position) or "projected" (hypothetical × one-hot).
        gradient_correction : bool, default False
            Subtract the per-position mean over bases from the gradients first
            (saliency, integrated gradients, DeepSHAP).
        chunk_size : int, default 0 (64)
            Sequences per streamed chunk; never changes the result.
        timeout : float, optional
            Seconds for the whole stream (default: the client's timeout).
        progress : None, bool or callable
            A bar of sequences attributed of N on stderr, advancing as chunks arrive.
            None (default): when stderr is a terminal or in a notebook and the call
            streams more than one chunk; True: always; False: never; or a tqdm-compatible
            factory (:mod:`motiflens_client.sdk.progress`).

        Returns
        -------
        X_attr : np.ndarray, shape (N, L, 4), float32
        """
        request = attribute_request(
            model_id, sequences, method, target, output, reference, num_references, num_steps, seed
        )
        request.times_input = times_input
        request.form = _choice(FORM_BY_NAME, form, "form")
        request.gradient_correction = gradient_correction
        request.chunk_size = chunk_size
        chunks = {
            chunk.offset: tensor_to_array(chunk.scores, field="scores")
            for chunk in self._tracked_stream(
                "Attribute",
                request,
                rows=lambda chunk: _rows(chunk.scores),
                desc=f"attribute {method}",
                progress=progress,
                timeout=timeout,
            )
        }
        return reassemble(chunks, field="scores")

    def attribution_maps(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        method: str = "deepshap",
        target: int = 0,
        output: str = "auto",
        reference: str = "shuffle",
        num_references: int = 0,
        num_steps: int = 0,
        seed: int = 0,
        times_input: bool = False,
        form: str = "projected",
        gradient_correction: bool = False,
        chunk_size: int = 0,
        timeout: float | None = None,
        progress: Progress = None,
    ) -> AttributionMaps:
        """A map and its hypothetical form in one stream, as TF-MoDISco and tangermeme take them.

        Parameters are those of :meth:`attribute` (``progress`` included); ``method``
        defaults to "deepshap" and ``form`` to "projected".

        Returns
        -------
        AttributionMaps
            ``scores`` (in ``form``) and ``hypothetical``, each (N, L, 4) float32, and the
            settings; ``modisco_arrays(one_hot)`` gives modisco-lite's (N, 4, L) inputs.
        """
        request = attribute_request(
            model_id, sequences, method, target, output, reference, num_references, num_steps, seed
        )
        request.times_input = times_input
        request.form = _choice(FORM_BY_NAME, form, "form")
        request.include_hypothetical = True
        request.gradient_correction = gradient_correction
        request.chunk_size = chunk_size
        scores: dict[int, np.ndarray] = {}
        hypothetical: dict[int, np.ndarray] = {}
        settings = None
        for chunk in self._tracked_stream(
            "Attribute",
            request,
            rows=lambda chunk: _rows(chunk.scores),
            desc=f"attribute {method}",
            progress=progress,
            timeout=timeout,
        ):
            scores[chunk.offset] = tensor_to_array(chunk.scores, field="scores")
            hypothetical[chunk.offset] = tensor_to_array(chunk.hypothetical, field="hypothetical")
            settings = chunk.settings
        return AttributionMaps(
            scores=reassemble(scores, field="scores"),
            hypothetical=reassemble(hypothetical, field="hypothetical"),
            form=form,
            settings=_convert.attribution_settings(settings),
        )

    def discover_motifs(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit | None = None,
        *,
        attributions_id: str = "",
        positives_only: bool = False,
        method: str = "deepshap",
        target: int = 0,
        output: str = "auto",
        reference: str = "shuffle",
        num_references: int = 0,
        num_steps: int = 0,
        seed: int = 0,
        gradient_correction: bool = False,
        max_seqlets: int = 0,
        window: int = 0,
        sliding_window_size: int = 0,
        flank_size: int = 0,
        trim_to_window_size: int = 0,
        target_seqlet_fdr: float = 0.0,
        n_leiden_runs: int = 0,
        database: str = "",
        database_meme: str = "",
        evalue_threshold: float = 0.0,
        logos: bool = False,
        name: str = "",
        progress: Callable[[str, int, int, float], None] | None = None,
        timeout: float | None = None,
    ) -> MotifDiscovery:
        """TF-MoDISco motifs of a model's attribution maps, matched with Tomtom and stored.

        The interpreter attributes the sequences (hypothetical maps), runs TF-MoDISco
        (modisco-lite) on them, matches each pattern's trimmed PWM against a JASPAR
        release or a MEME text, and stores the result as a "motifs" artifact.

        Parameters
        ----------
        model_id : str
            "" with ``attributions_id`` (the artifact's model is used).
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
            What to attribute; TF-MoDISco needs a few hundred sequences with signal.
        attributions_id : str, default ""
            Instead of ``sequences``: the maps of a stored attribution job
            (:meth:`attribute_split`); its method and settings are used, so the
            attribution parameters below must keep their defaults.
        positives_only : bool, default False
            Keep only the rows of a DatasetSplit (or of the artifact's split) whose label
            ``target`` is 1.
        method, target, output, reference, num_references, num_steps, seed, gradient_correction
            The attribution, as for :meth:`attribute` (``method`` defaults to "deepshap").
        max_seqlets, window, sliding_window_size, flank_size, trim_to_window_size
            TF-MoDISco settings, with ``target_seqlet_fdr`` and ``n_leiden_runs``; 0 means
            modisco-lite's command-line default (2000, min(400, L), 20, 5, 30, 0.05, 2).
        database : str, default "" (JASPAR2016)
            JASPAR release to match against (CORE vertebrates), or the id of a database
            stored with :meth:`upload_database` ("db-...") ...
        database_meme : str, default ""
            ... or the text of a MEME file (at most 4 MiB), which then replaces it.
        evalue_threshold : float, default 0.0 (0.1)
        logos : bool, default False
            Also return PNG logos (CWM and PWM) of each pattern.
        name : str
            Recorded in the stored artifact.
        progress : callable, optional
            Called with (stage, done, total, elapsed seconds) for each progress event:
            "attributing" (sequences done of total), "discovering", "matching".
        timeout : float, optional
            Seconds for the whole call (default: the client's timeout).

        Returns
        -------
        MotifDiscovery

        Raises
        ------
        InvalidArgument
            A bad attribution or TF-MoDISco setting, database name or MEME text.
        FailedPrecondition
            No pattern found (too few seqlets), or ``positives_only`` kept no row.
        ResourceExhausted
            More sequences than the interpreter's memory or TF-MoDISco limits allow.
        """
        request = discovery_request(
            model_id,
            sequences,
            attributions_id=attributions_id,
            positives_only=positives_only,
            method=method,
            target=target,
            output=output,
            reference=reference,
            num_references=num_references,
            num_steps=num_steps,
            seed=seed,
            gradient_correction=gradient_correction,
            max_seqlets=max_seqlets,
            window=window,
            sliding_window_size=sliding_window_size,
            flank_size=flank_size,
            trim_to_window_size=trim_to_window_size,
            target_seqlet_fdr=target_seqlet_fdr,
            n_leiden_runs=n_leiden_runs,
            database=database,
            database_meme=database_meme,
            evalue_threshold=evalue_threshold,
            logos=logos,
            name=name,
        )
        result = None
        for event in self._stream(
            self._interpreter, "DiscoverMotifs", request, timeout=self.timeout if timeout is None else timeout
        ):
            if event.WhichOneof("event") == "result":
                result = event.result
            elif progress is not None:
                step = event.progress
                progress(step.stage, step.done, step.total, step.elapsed_seconds)
        if result is None:
            raise Internal("DiscoverMotifs: the stream ended without a result")
        return _convert.motif_discovery(result)

    def score_variants(
        self,
        model_id: str,
        vcf: str | os.PathLike | None = None,
        *,
        genome_upload_id: str,
        vcf_upload_id: str = "",
        output: str = "auto",
        both_strands: bool = False,
        maps: str = "none",
        target: int = 0,
        flank: int = 0,
        batch_size: int = 0,
        progress: Callable[[int], None] | None = None,
        timeout: float | None = None,
    ) -> VariantScores:
        """Effects of a VCF's variants on the model, every ALT allele in input order.

        Parameters
        ----------
        model_id : str
        vcf : path, optional
            A VCF file (plain or bgzip, at most 16 MiB; larger: :meth:`upload` it and
            pass ``vcf_upload_id``).
        genome_upload_id : str
            The reference genome FASTA (plain or bgzip) sent with :meth:`upload`.
        vcf_upload_id : str, default ""
        output : str, default "auto"
            "logit" or "probability" ("auto": the logit when the model has one).
        both_strands : bool, default False
            Average each prediction with that of the reverse-complemented window.
        maps : {"none", "ism", "saliency"}, default "none"
            Attribution around each variant at both alleles (output unit ``target``).
        flank : int, default 0 (20)
            Positions each side of the variant the maps cover.
        batch_size : int, default 0 (256)
            Alleles per streamed message.
        progress : callable, optional
            Called with the number of alleles received so far after each message.

        Returns
        -------
        VariantScores
            ``variants`` (VariantScore each: predictions, effect or why skipped) and
            ``summary``; ``to_tsv`` and ``annotate_vcf`` write them out.

        Raises
        ------
        InvalidArgument
            A malformed VCF or genome, a bad setting.
        NotFound
            Unknown model or upload.
        """
        if (vcf is None) == (not vcf_upload_id):
            raise InvalidArgument("vcf: give a VCF file or vcf_upload_id (one of them)")
        if maps not in _VARIANT_MAPS:
            raise InvalidArgument(f"maps: expected one of {', '.join(_VARIANT_MAPS)}, got {maps!r}")
        request = pb.ScoreVariantsRequest(
            model_id=model_id,
            genome_upload_id=genome_upload_id,
            output=_output_choice(output),
            both_strands=both_strands,
            maps=_VARIANT_MAPS[maps],
            target=target,
            flank=flank,
            batch_size=batch_size,
        )
        if vcf is not None:
            request.vcf_content = Path(vcf).expanduser().read_bytes()
        else:
            request.vcf_upload_id = vcf_upload_id
        received = 0

        def counted(events):
            nonlocal received
            for event in events:
                if event.WhichOneof("event") == "batch":
                    received += len(event.batch.variants)
                    if progress is not None:
                        progress(received)
                yield event

        return _convert.variant_scores(
            counted(
                self._stream(
                    self._interpreter,
                    "ScoreVariants",
                    request,
                    timeout=self.timeout if timeout is None else timeout,
                )
            )
        )

    def get_motifs(self, motifs_id: str, *, timeout: float | None = None) -> MotifDiscovery:
        """A stored motif discovery result (``MotifDiscovery.motifs_id``, or a job's ``motifs_id``).

        Raises
        ------
        NotFound, InvalidArgument
            Unknown or malformed id.
        """
        response = self._unary(
            self._interpreter, "GetMotifs", pb.GetMotifsRequest(motifs_id=motifs_id), timeout=timeout
        )
        return _convert.motif_discovery(response)

    def trust_report(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        positives_only: bool = False,
        target: int = 0,
        output: str = "auto",
        num_references: int = 0,
        seed: int = 0,
        database: str = "",
        database_meme: str = "",
        num_shuffles: int = 0,
        timeout: float | None = None,
    ) -> TrustReport:
        """Can this model's explanations be trusted? Scores that need no ground truth.

        For any trained or imported model: first-layer filters matched against a motif
        database beside the chance level of column-shuffled filters; agreement of
        saliency, ISM and DeepSHAP; DeepSHAP's stability across reference sets and
        strands; the off-simplex share of the gradient. For a split of a synthetic data
        set, also the paper's interpretability AUROC/AUPR of each method.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
            At most 2,000 sequences, ideally ones the model scores high.
        positives_only : bool, default False
            Keep only the rows of a DatasetSplit whose label ``target`` is 1.
        target : int, default 0
        output : str, default "auto"
        num_references : int, default 0 (10)
            DeepSHAP references.
        seed : int, default 0
        database : str, default "" (JASPAR2016)
            A JASPAR release, or an uploaded database's id ("db-...").
        database_meme : str, default ""
            A MEME text to match the filters against instead.
        num_shuffles : int, default 0 (5)
            Column shuffles of the filters for the chance level.
        timeout : float, optional

        Returns
        -------
        TrustReport
        """
        request = pb.ScoreTrustRequest(
            model_id=model_id,
            sequences=sequences_to_proto(sequences),
            positives_only=positives_only,
            target=target,
            output=_output_choice(output),
            num_references=num_references,
            seed=seed,
            database=database,
            database_meme=database_meme,
            num_shuffles=num_shuffles,
        )
        response = self._unary(self._interpreter, "ScoreTrust", request, timeout=timeout)
        return _convert.trust_report(response, model_id=model_id)

    def scan_filters(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        chunk_size: int = 0,
        timeout: float | None = None,
        progress: Progress = None,
    ) -> np.ndarray:
        """Post-activation first-layer scans, streamed in chunks and reassembled.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
        chunk_size : int, default 0 (64)
        timeout : float, optional
            Seconds for the whole stream (default: the client's timeout).
        progress : None, bool or callable
            A bar of sequences scanned of N, as for :meth:`attribute`.

        Returns
        -------
        np.ndarray, shape (N, L, F), float32
        """
        request = pb.ScanFiltersRequest(
            model_id=model_id, sequences=sequences_to_proto(sequences), chunk_size=chunk_size
        )
        chunks = {
            chunk.offset: tensor_to_array(chunk.scans, field="scans")
            for chunk in self._tracked_stream(
                "ScanFilters",
                request,
                rows=lambda chunk: _rows(chunk.scans),
                desc="scan filters",
                progress=progress,
                timeout=timeout,
            )
        }
        return reassemble(chunks, field="scans")

    def localize(
        self, model_id: str, dataset: DatasetSplit | str, *, padding: int = 0, pwm_baseline: bool = False
    ) -> LocalizeResult:
        """Motif localization AUROC of the first-layer scans against a synthetic ground truth.

        Parameters
        ----------
        model_id : str
        dataset : DatasetSplit or str
            Stored sequences of a synthetic data set; a data set id means its test split.
        padding : int, default 0 (10)
            Padding of motif regions in nt.
        pwm_baseline : bool, default False
            Also score the ground-truth PWM scan baseline.

        Returns
        -------
        LocalizeResult

        Raises
        ------
        FailedPrecondition
            The data set has no ground truth.
        """
        request = pb.LocalizeRequest(
            model_id=model_id,
            sequences=split_ref(dataset),
            padding=padding,
            include_pwm_baseline=pwm_baseline,
        )
        return _convert.localize_result(self._unary(self._interpreter, "Localize", request))

    def interpretability(
        self,
        model_id: str,
        dataset: DatasetSplit | str,
        *,
        method: str = "saliency",
        target: int = 0,
        output: str = "auto",
        reference: str = "shuffle",
        num_references: int = 0,
        num_steps: int = 0,
        seed: int = 0,
        positives_only: bool = True,
        timeout: float | None = None,
    ) -> Interpretability:
        """Interpretability AUROC/AUPR of an attribution method against a synthetic ground truth.

        Parameters
        ----------
        model_id : str
        dataset : DatasetSplit or str
            Stored sequences of a synthetic data set; a data set id means its test split.
        method, target, output, reference, num_references, num_steps, seed
            As for :meth:`attribute`.
        positives_only : bool, default True
            Score only sequences whose label ``target`` is positive (the paper's choice).
        timeout : float, optional
            Seconds (default: the client's timeout).

        Returns
        -------
        Interpretability
            Per-sequence arrays of shape (n,), n the sequences scored.

        Raises
        ------
        FailedPrecondition
            The data set has no ground truth.
        InvalidArgument
            No sequence selected.
        """
        request = pb.ScoreInterpretabilityRequest(
            model_id=model_id,
            sequences=split_ref(dataset),
            method=_choice(_METHODS, method, "method"),
            target=target,
            output=_output_choice(output),
            reference=_choice(_REFERENCES, reference, "reference"),
            num_references=num_references,
            num_steps=num_steps,
            seed=seed,
            positives_only=positives_only,
        )
        response = self._unary(self._interpreter, "ScoreInterpretability", request, timeout=timeout)
        return _convert.interpretability(response, method=method)

    def _tracked_stream(
        self,
        method: str,
        request: Any,
        *,
        rows: Callable[[Any], int],
        desc: str,
        progress: Progress,
        timeout: float | None,
    ) -> Iterator[Any]:
        """The chunks of a streamed interpreter call, a bar advancing by ``rows(chunk)`` as each arrives.

        A stream restarted after UNAVAILABLE repeats chunks; only a new offset moves the
        bar. The bar closes when the stream ends, fails or is abandoned.
        """
        bar = open_bar(
            progress,
            total=lambda: self._sequence_count(request.sequences),
            desc=desc,
            unit="seq",
            per_step=request.chunk_size or DEFAULT_CHUNK_SIZE,
        )
        seen: set[int] = set()
        with closing(bar):
            for chunk in self._stream(
                self._interpreter, method, request, timeout=self.timeout if timeout is None else timeout
            ):
                if chunk.offset not in seen:
                    seen.add(chunk.offset)
                    bar.update(rows(chunk))
                yield chunk

    def _sequence_count(self, sequences: pb.Sequences) -> int | None:
        """N, the sequences a request sends or names (a stored split: one GetDataset call).

        None when it cannot be told (the trainer did not answer): the bar then counts
        without a total rather than fail the call.
        """
        source = sequences.WhichOneof("source")
        if source == "strings":
            return len(sequences.strings.sequences)
        if source == "one_hot":
            return int(sequences.one_hot.shape[0]) if sequences.one_hot.shape else None
        if source != "dataset_split":
            return None
        ref = sequences.dataset_split
        try:
            response = self._unary(
                self._trainer, "GetDataset", pb.GetDatasetRequest(dataset_id=ref.dataset_id)
            )
            size = int(getattr(response.dataset, f"num_{split_name(ref.split)}"))
        except (MotiflensClientError, ValueError):  # the call itself reports what is wrong
            return None
        left = max(size - int(ref.offset), 0)
        return min(left, int(ref.limit)) if ref.limit else left


def _rows(tensor: pb.Tensor) -> int:
    """Rows (the first axis) of a streamed tensor."""
    return int(tensor.shape[0]) if tensor.shape else 0


#: ScoreVariants' ``maps`` names -> VariantMaps values.
_VARIANT_MAPS = {
    "none": pb.VARIANT_MAPS_UNSPECIFIED,
    "ism": pb.VARIANT_MAPS_ISM,
    "saliency": pb.VARIANT_MAPS_SALIENCY,
}


def attribute_request(
    model_id: str,
    sequences: Sequence[str] | np.ndarray | DatasetSplit | None,
    method: str,
    target: int,
    output: str,
    reference: str,
    num_references: int,
    num_steps: int,
    seed: int,
) -> pb.AttributeRequest:
    """The AttributeRequest of the SDK's attribution calls (names checked, as sent to the server).

    ``sequences`` None leaves them unset (an attribution job over an uploaded FASTA).
    """
    return pb.AttributeRequest(
        model_id=model_id,
        sequences=None if sequences is None else sequences_to_proto(sequences),
        method=_choice(_METHODS, method, "method"),
        target=target,
        output=_output_choice(output),
        reference=_choice(_REFERENCES, reference, "reference"),
        num_references=num_references,
        num_steps=num_steps,
        seed=seed,
    )


def discovery_request(
    model_id: str,
    sequences: Sequence[str] | np.ndarray | DatasetSplit | None,
    *,
    attributions_id: str,
    positives_only: bool,
    method: str,
    target: int,
    output: str,
    reference: str,
    num_references: int,
    num_steps: int,
    seed: int,
    gradient_correction: bool,
    max_seqlets: int,
    window: int,
    sliding_window_size: int,
    flank_size: int,
    trim_to_window_size: int,
    target_seqlet_fdr: float,
    n_leiden_runs: int,
    database: str,
    database_meme: str,
    evalue_threshold: float,
    logos: bool,
    name: str,
) -> pb.DiscoverMotifsRequest:
    """The DiscoverMotifsRequest of ``Client.discover_motifs`` and ``Client.discover_motifs_job``."""
    attribution: dict = {}
    if attributions_id:
        if sequences is not None:
            raise InvalidArgument("sequences: give sequences or attributions_id, not both")
        chosen = (method, target, output, reference, num_references, num_steps, seed, gradient_correction)
        if chosen != ("deepshap", 0, "auto", "shuffle", 0, 0, 0, False):
            raise InvalidArgument(
                "attributions_id: the stored maps decide the attribution; leave method, target, output, "
                "reference, num_references, num_steps, seed and gradient_correction at their defaults"
            )
    else:
        if sequences is None:
            raise InvalidArgument("sequences: required without attributions_id")
        attribution = {
            "sequences": sequences_to_proto(sequences),
            "method": _choice(_METHODS, method, "method"),
            "target": target,
            "output": _output_choice(output),
            "reference": _choice(_REFERENCES, reference, "reference"),
            "num_references": num_references,
            "num_steps": num_steps,
            "seed": seed,
            "gradient_correction": gradient_correction,
        }
    return pb.DiscoverMotifsRequest(
        model_id=model_id,
        attributions_id=attributions_id,
        positives_only=positives_only,
        **attribution,
        settings=pb.DiscoverySettings(
            max_seqlets=max_seqlets,
            window=window,
            sliding_window_size=sliding_window_size,
            flank_size=flank_size,
            trim_to_window_size=trim_to_window_size,
            target_seqlet_fdr=target_seqlet_fdr,
            n_leiden_runs=n_leiden_runs,
        ),
        database=database,
        database_meme=database_meme,
        evalue_threshold=evalue_threshold,
        include_logos=logos,
        name=name,
    )
