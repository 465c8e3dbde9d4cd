"""Plain result types of the client SDK: frozen dataclasses, numpy arrays where noted.

Nothing here talks to a server; :mod:`motiflens_client.sdk` builds these from the
responses. Classes holding numpy arrays (:class:`FilterMotif`, :class:`Interpretability`)
compare by identity (``eq=False``) and hold read-only arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from motiflens_client.errors import InvalidArgument
from motiflens_client.wire.vocabulary import JOB_STATES, SPLIT_NAMES, TERMINAL_STATES

__all__ = [
    "SPLITS",
    "JOB_STATES",
    "TERMINAL_STATES",
    "DatasetSplit",
    "DatasetInfo",
    "SplitRows",
    "AttributionMaps",
    "DiscoveredPattern",
    "MotifDiscovery",
    "TrustReport",
    "Metrics",
    "EpochEvent",
    "JobInfo",
    "ModelInfo",
    "FilterMotif",
    "Filters",
    "TomtomHit",
    "CompareResult",
    "MatchResult",
    "Localization",
    "LocalizeResult",
    "Interpretability",
    "DatabaseInfo",
]

#: Split names accepted by :class:`DatasetSplit`; job states and the terminal ones are
#: :data:`JOB_STATES` and :data:`TERMINAL_STATES` (homes: ``motiflens_client.wire.vocabulary``).
SPLITS = SPLIT_NAMES


@dataclass(frozen=True)
class DatasetSplit:
    """Stored sequences: rows ``[offset, offset + limit)`` of one split of a data set.

    Usable wherever the SDK accepts sequences; nothing is downloaded, the server reads them.

    Parameters
    ----------
    dataset_id : str
        E.g. ``"ds-1f3a..."``.
    split : str, default "test"
        "train", "valid" or "test".
    offset : int, default 0
        First row.
    limit : int, default 0
        Number of rows; 0 = every row from ``offset`` on.

    Raises
    ------
    InvalidArgument
        Unknown split, or a negative offset or limit.
    """

    dataset_id: str
    split: str = "test"
    offset: int = 0
    limit: int = 0

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise InvalidArgument(f"split: expected one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.offset < 0:
            raise InvalidArgument(f"offset: expected >= 0, got {self.offset}")
        if self.limit < 0:
            raise InvalidArgument(f"limit: expected >= 0 (0 = all rows from offset), got {self.limit}")


@dataclass(frozen=True)
class DatasetInfo:
    """A stored data set.

    Attributes
    ----------
    dataset_id : str
    name : str
    kind : str
        "task1", "task3", "hdf5", "fasta" or "intervals".
    num_train, num_valid, num_test : int
        Sequences per split.
    sequence_length : int
        L, nt.
    num_targets : int
        T, labels per sequence.
    label_names : tuple of str
        Length T (empty when unknown).
    has_ground_truth : bool
        True for synthetic tasks (localization and interpretability need it).
    created_at : str
        RFC 3339 UTC.
    seed : int
    labels : mapping of str to str
        Its key=value labels (``Client.set_labels``).
    """

    dataset_id: str
    name: str
    kind: str
    num_train: int
    num_valid: int
    num_test: int
    sequence_length: int
    num_targets: int
    label_names: tuple[str, ...]
    has_ground_truth: bool
    created_at: str
    seed: int
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadInfo:
    """A file stored by ``Client.upload`` (a genome FASTA, a BED file, ...).

    Attributes
    ----------
    upload_id : str
    name : str
        The file's name as uploaded.
    size : int
        Bytes.
    sha256 : str
    created_at : str
        RFC 3339 UTC.
    """

    upload_id: str
    name: str
    size: int
    sha256: str
    created_at: str


@dataclass(frozen=True)
class WindowCounts:
    """What a genome-intervals import did with its windows.

    Attributes
    ----------
    requested, kept : int
        Peak intervals read (all files) and distinct windows kept.
    off_chromosome_end, too_many_n : int
        Peak windows dropped: running off a chromosome end; more N than allowed.
    negatives_requested, negatives_made : int
        Negative windows asked for and made.
    negatives : str
        "background", "gc_matched", "shuffled" or "none".
    split : str
        "chromosomes" (hold-out) or "random".
    """

    requested: int
    kept: int
    off_chromosome_end: int
    too_many_n: int
    negatives_requested: int
    negatives_made: int
    negatives: str
    split: str


@dataclass(frozen=True)
class IntervalsDataset:
    """The result of ``Client.import_intervals``: the stored data set and its window counts."""

    dataset: DatasetInfo
    windows: WindowCounts


@dataclass(frozen=True, eq=False)
class SplitRows:
    """Rows ``[offset, offset + N)`` of one split of a stored data set (``Client.read_split``).

    Attributes
    ----------
    dataset_id : str
    split : str
        "train", "valid" or "test".
    offset : int
        Index in the split of the first row.
    one_hot : np.ndarray, shape (N, L, 4), float32
        Channels A, C, G, T (all zero at N); read-only.
    labels : np.ndarray, shape (N, T), float32
        Read-only.
    ground_truth : np.ndarray or None, shape (N, L, 4), float32
        Ground-truth base probabilities of a synthetic task when asked for; read-only.
    names : tuple of str
        The rows' record names (e.g. FASTA ids) when the data set stores them; else empty.
    """

    dataset_id: str
    split: str
    offset: int
    one_hot: np.ndarray
    labels: np.ndarray
    ground_truth: np.ndarray | None = None
    names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.one_hot.shape[0])


@dataclass(frozen=True, eq=False)
class AttributionMaps:
    """Attribution maps of N sequences with their hypothetical form (``Client.attribution_maps``).

    What TF-MoDISco and tangermeme take: ``hypothetical[n, p, b]`` is what base b would
    contribute at position p of sequence n; with the default ``form`` "projected",
    ``scores`` is hypothetical × one-hot (the contribution of the bases present).

    Attributes
    ----------
    scores : np.ndarray, shape (N, L, 4), float32
        The map named by ``form``.
    hypothetical : np.ndarray, shape (N, L, 4), float32
    form : str
        "projected", "hypothetical" or "scores" (the method's own definition).
    settings : dict
        The server's record of the call: method, target, output, reference,
        num_references, num_steps, seed, times_input, form, gradient_correction.
    """

    scores: np.ndarray
    hypothetical: np.ndarray
    form: str
    settings: dict

    def modisco_arrays(self, one_hot: np.ndarray) -> dict[str, np.ndarray]:
        """modisco-lite's inputs: ``{"ohe": one-hot, "shap": hypothetical}``, each (N, 4, L) float32.

        Save each as its own NPZ (``np.savez(path, arr_0=array)``) for ``modisco motifs
        -s ohe.npz -a shap.npz``.
        """
        one_hot = np.asarray(one_hot, dtype=np.float32)
        if one_hot.shape != self.hypothetical.shape:
            raise ValueError(f"one_hot: expected shape {self.hypothetical.shape}, got {one_hot.shape}")
        return {
            "ohe": np.ascontiguousarray(one_hot.transpose(0, 2, 1)),
            "shap": np.ascontiguousarray(self.hypothetical.transpose(0, 2, 1)),
        }


@dataclass(frozen=True)
class AttributionProgress:
    """One finished shard of an attribution job (``AttributionJob.events``)."""

    shards_done: int
    shards: int
    sequences_done: int
    num_sequences: int


@dataclass(frozen=True)
class AttributionJobInfo:
    """An attribution job (``Client.attribute_split``).

    Attributes
    ----------
    job_id, state, name, dataset_id : str
        ``state`` as for JobInfo.
    model_id : str
    split : str
    offset, num_sequences : int
        The rows attributed.
    settings : dict
        method, target, output, reference, num_references, num_steps, seed,
        gradient_correction as the server resolved them.
    shard_size, shards, shards_done, sequences_done : int
    file_format : str
        "npz" (ohe.npz + shap.npz) or "hdf5" (attributions.h5).
    attributions_id : str
        The stored artifact (set when SUCCEEDED); ``Client.read_attributions`` reads it.
    executor : str
        "local" or "kubernetes".
    error, created_at, started_at, finished_at : str
    resumes : int
        How often it was interrupted and resumed (stored shards are kept).
    """

    job_id: str
    state: str
    name: str
    dataset_id: str
    model_id: str
    split: str
    offset: int
    num_sequences: int
    settings: dict
    shard_size: int
    shards: int
    shards_done: int
    sequences_done: int
    file_format: str
    attributions_id: str
    executor: str
    error: str
    created_at: str
    started_at: str
    finished_at: str
    resumes: int


@dataclass(frozen=True)
class MotifsJobInfo:
    """A TF-MoDISco job (``Client.discover_motifs_job``).

    Attributes
    ----------
    job_id, state, name : str
    attributions_id : str
        The maps searched.
    motifs_id : str
        The stored result (set when SUCCEEDED): ``Client.get_motifs(motifs_id)``.
    num_sequences, num_patterns : int
    database : str
    error, created_at, started_at, finished_at : str
    resumes : int
        How often it was interrupted and run again.
    """

    job_id: str
    state: str
    name: str
    attributions_id: str
    motifs_id: str
    num_sequences: int
    num_patterns: int
    database: str
    error: str
    created_at: str
    started_at: str
    finished_at: str
    resumes: int


@dataclass(frozen=True)
class VariantsJobInfo:
    """A variant scoring job (``Client.score_variants_job``).

    Attributes
    ----------
    job_id, state, name, model_id, vcf_upload_id, genome_upload_id : str
    alleles, shards, shards_done : int
    variants_id : str
        The stored scores (set when SUCCEEDED): ``Client.read_variant_scores(variants_id)``.
    executor, error, created_at, started_at, finished_at : str
    resumes : int
    """

    job_id: str
    state: str
    name: str
    model_id: str
    vcf_upload_id: str
    genome_upload_id: str
    alleles: int
    shards: int
    shards_done: int
    variants_id: str
    executor: str
    error: str
    created_at: str
    started_at: str
    finished_at: str
    resumes: int


@dataclass(frozen=True)
class StoredAttributions:
    """Rows of a stored attributions artifact (``Client.read_attributions``).

    Attributes
    ----------
    one_hot : np.ndarray, shape (N, L, 4), float32
    hypothetical : np.ndarray, shape (N, L, 4), float32
        What each base would contribute at each position.
    offset : int
        Index of the first row in the artifact.
    provenance : dict
        model_id, dataset_id, split, offset, num_sequences, method, options, job_id.
    """

    one_hot: np.ndarray
    hypothetical: np.ndarray
    offset: int
    provenance: dict

    @property
    def projected(self) -> np.ndarray:
        """Hypothetical × one-hot, (N, L, 4): the contribution of the bases present."""
        return self.hypothetical * self.one_hot

    def modisco_arrays(self) -> dict[str, np.ndarray]:
        """modisco-lite's inputs: ``{"ohe": ..., "shap": ...}``, each (N, 4, L) float32."""
        return {
            "ohe": np.ascontiguousarray(self.one_hot.transpose(0, 2, 1)),
            "shap": np.ascontiguousarray(self.hypothetical.transpose(0, 2, 1)),
        }


@dataclass(frozen=True)
class Metrics:
    """Classification metrics of a model on the test split.

    Attributes
    ----------
    auroc, aupr : float
        Means over the outputs whose labels have both classes.
    auroc_std, aupr_std : float
        Standard deviations of the per-output values.
    auroc_per_class, aupr_per_class : tuple of float
        Length T (NaN where undefined).
    loss : float
        Mean binary cross-entropy.
    """

    auroc: float
    aupr: float
    auroc_std: float
    aupr_std: float
    auroc_per_class: tuple[float, ...]
    aupr_per_class: tuple[float, ...]
    loss: float


@dataclass(frozen=True)
class EpochEvent:
    """One finished training epoch.

    Attributes
    ----------
    epoch : int
        1-based.
    loss, val_loss : float
        Training and validation binary cross-entropy.
    val_auroc, val_aupr : float
        Validation metrics.
    learning_rate : float
        Used during the epoch.
    improved : bool
        The monitored validation metric improved (these weights are the best so far).
    seconds : float
        Wall time of the epoch.
    """

    epoch: int
    loss: float
    val_loss: float
    val_auroc: float
    val_aupr: float
    learning_rate: float
    improved: bool
    seconds: float


@dataclass(frozen=True)
class JobInfo:
    """A training job.

    Attributes
    ----------
    job_id : str
    state : str
        "PENDING", "RUNNING", "SUCCEEDED", "FAILED" or "CANCELLED".
    name : str
    dataset_id : str
    architecture, activation : str
        Resolved values (server defaults filled in).
    activation_params : dict of str to float
    seed : int
    epochs_done : int
    model_id : str
        Set when SUCCEEDED, else "".
    test_metrics : Metrics or None
        Set when SUCCEEDED.
    error : str
        Why it failed or was cancelled, else "".
    created_at, started_at, finished_at : str
        RFC 3339 UTC; "" until reached.
    initializer : str
        Resolved initializer name.
    sweep_id : str
        The sweep the job belongs to ("" for a job started by ``train``).
    sweep_index : int
        Its index in the sweep's grid (the Kubernetes completion index in a cluster).
    first_layer_l2 : float or None
        L2 strength on the first-layer kernel as resolved by the trainer (None from a
        server that does not report it).
    resumes : int
        How often the job was interrupted (trainer restart, worker death, store
        outage) and resumed from its last checkpoint.
    resumed_from_epoch : int
        The checkpoint epoch its latest run started from (0: from scratch).
    """

    job_id: str
    state: str
    name: str
    dataset_id: str
    architecture: str
    activation: str
    activation_params: dict[str, float]
    seed: int
    epochs_done: int
    model_id: str
    test_metrics: Metrics | None
    error: str
    created_at: str
    started_at: str
    finished_at: str
    initializer: str = ""
    sweep_id: str = ""
    sweep_index: int = 0
    first_layer_l2: float | None = None
    resumes: int = 0
    resumed_from_epoch: int = 0

    @property
    def done(self) -> bool:
        """Whether the job is in a terminal state (SUCCEEDED, FAILED or CANCELLED)."""
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class SweepInfo:
    """A sweep: a grid of training jobs run by the trainer's processes or a Kubernetes Job.

    Attributes
    ----------
    sweep_id, name, dataset_id : str
    state : str
        PENDING (no job started), RUNNING (any unfinished), then SUCCEEDED (all
        succeeded), FAILED (any failed) or CANCELLED.
    executor : str
        "local" (the trainer's worker processes) or "kubernetes" (an Indexed Job).
    job_ids : tuple of str
        One per configuration, in grid order (architecture, activation, initializer, seed).
    pending, running, succeeded, failed, cancelled : int
        Jobs by state.
    kubernetes_job : str
        "namespace/name" of the Job ("" for the local executor).
    kubernetes_status : str
        The Job's status in words, as of this call ("" for the local executor and in listings).
    parallelism : int
        Configurations trained at once.
    gpu : bool
    created_at, finished_at : str
        RFC 3339 UTC; finished_at "" until every job has finished.
    error : str
        Why the sweep could not be launched, else "".
    """

    sweep_id: str
    name: str
    dataset_id: str
    state: str
    executor: str
    job_ids: tuple[str, ...]
    pending: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    kubernetes_job: str
    kubernetes_status: str
    parallelism: int
    gpu: bool
    created_at: str
    finished_at: str
    error: str

    @property
    def total(self) -> int:
        """Number of configurations."""
        return len(self.job_ids)

    @property
    def done(self) -> bool:
        """Whether every job of the sweep has finished."""
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class ModelInfo:
    """A trained model.

    Attributes
    ----------
    model_id, job_id, dataset_id, name : str
    architecture, activation : str
    activation_params : dict of str to float
    seed : int
    test_metrics : Metrics or None
    input_length : int
        L the model takes, nt.
    num_outputs : int
        T.
    created_at : str
        RFC 3339 UTC.
    first_layer_l2 : float or None
    labels : mapping of str to str
        Its key=value labels (``train(labels=...)``, ``Client.set_labels``).
    provenance : str
        "trained" (by the suite) or "imported" (``Client.import_model``).
    output_activation : str
        "sigmoid" (logits and probabilities), "linear" (the output is the logit) or
        another final activation (no logit: attribution and Predict use the output).
    first_conv_layer : str
        The first-layer Conv1D that filters and scans use ("" when there is none).
    """

    model_id: str
    job_id: str
    dataset_id: str
    name: str
    architecture: str
    activation: str
    activation_params: dict[str, float]
    seed: int
    test_metrics: Metrics | None
    input_length: int
    num_outputs: int
    created_at: str
    first_layer_l2: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    provenance: str = "trained"
    output_activation: str = "sigmoid"
    first_conv_layer: str = "conv1"


@dataclass(frozen=True, eq=False)
class FilterMotif:
    """One first-layer filter as a motif (activation-aligned sites).

    Attributes
    ----------
    index : int
        Filter index, 0-based.
    motif_id : str
        ``"filter<index>"``.
    pwm : np.ndarray, shape (W, 4), float64
        Position probability matrix, columns A, C, G, T; read-only. Uniform when
        ``num_sites`` is 0.
    num_sites : int
        Aligned sites above the threshold.
    max_activation : float
        The filter's maximum activation over the scanned sequences.
    logo_png : bytes or None
        PNG logo (information content) when requested, else None.
    """

    index: int
    motif_id: str
    pwm: np.ndarray
    num_sites: int
    max_activation: float
    logo_png: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Filters:
    """The first-layer filters of a model.

    Attributes
    ----------
    filters : tuple of FilterMotif
        In filter order, length F.
    meme : str
        All filters in MEME minimal format (version 4), the input of ``Client.tomtom``
        and ``Client.match_filters``.
    """

    filters: tuple[FilterMotif, ...]
    meme: str = field(repr=False)


@dataclass(frozen=True)
class TomtomHit:
    """One Tomtom match (a row of MEME Tomtom's TSV, plus the target's name).

    Attributes
    ----------
    query_id, target_id : str
    target_name : str
        The target's alternate name, the word after its id on the ``MOTIF`` line: for
        JASPAR the TF (``MA0139.1`` -> ``"CTCF"``); "" when the database gives none.
        MEME's TSV has no such column; ``motiflens tomtom --table`` prints it.
    offset : int
        Optimal offset of the query relative to the target.
    p_value, e_value, q_value : float
    overlap : int
        Aligned columns.
    query_consensus, target_consensus : str
    orientation : str
        "+" or "-".
    """

    query_id: str
    target_id: str
    target_name: str
    offset: int
    p_value: float
    e_value: float
    q_value: float
    overlap: int
    query_consensus: str
    target_consensus: str
    orientation: str


@dataclass(frozen=True, eq=False)
class DiscoveredPattern:
    """One TF-MoDISco pattern (``Client.discover_motifs``).

    Attributes
    ----------
    name : str
        "pos_patterns.pattern_0", ... (modisco-lite's names).
    sign : str
        "positive" or "negative".
    pwm, cwm, hypothetical_cwm : np.ndarray, shape (W, 4), float64
        Base frequencies of the seqlets, mean projected and mean hypothetical contributions.
    num_seqlets : int
    seqlets : np.ndarray, shape (S, 4), int64
        Rows (sequence index, start, end, reverse complement 0/1), in the sequences'
        coordinates; the index counts the sequences attributed (after ``positives_only``).
    trim : tuple of int
        [start, end) of the span matched with Tomtom (Σ|CWM| >= 0.3 × max).
    motif_pwm : np.ndarray, shape (end - start, 4), float64
        The trimmed PWM as matched.
    matches : tuple of TomtomHit
        Significant hits, best first.
    cwm_logo_png, pwm_logo_png : bytes
        PNG logos when asked for, else b"".
    """

    name: str
    sign: str
    pwm: np.ndarray
    cwm: np.ndarray
    hypothetical_cwm: np.ndarray
    num_seqlets: int
    seqlets: np.ndarray
    trim: tuple[int, int]
    motif_pwm: np.ndarray
    matches: tuple[TomtomHit, ...]
    cwm_logo_png: bytes = b""
    pwm_logo_png: bytes = b""

    @property
    def best_match(self) -> TomtomHit | None:
        """The most significant hit, or None."""
        return self.matches[0] if self.matches else None


@dataclass(frozen=True)
class MotifDiscovery:
    """The result of ``Client.discover_motifs``, also stored as the "motifs" artifact ``motifs_id``.

    Attributes
    ----------
    motifs_id : str
    patterns : tuple of DiscoveredPattern
        Positive patterns first, most seqlets first within a sign.
    meme : str
        The trimmed pattern PWMs in MEME minimal format.
    database : str
        What the patterns were matched against.
    num_sequences : int
        Sequences attributed and searched.
    attribution : dict
        The attribution settings used (as ``AttributionMaps.settings``).
    """

    motifs_id: str
    patterns: tuple[DiscoveredPattern, ...]
    meme: str
    database: str
    num_sequences: int
    attribution: dict


@dataclass(frozen=True)
class TrustReport:
    """Whether a model's explanations can be trusted (``Client.trust_report``; see ``motiflens.trust``).

    Attributes
    ----------
    model_id : str
    num_sequences : int
    filter_match, filter_match_chance, filter_match_excess : float or None
        Fraction of first-layer filters with a Tomtom hit (E <= 0.1), the same for
        column-shuffled filters (chance), and the difference; None for a model without
        a scannable first convolution.
    method_agreement : dict of str to float
        "saliency~ism", "saliency~deepshap", "ism~deepshap": mean per-sequence Spearman
        correlation of per-position contributions.
    mean_method_agreement : float
    reference_stability : float
        DeepSHAP with two independent reference sets, mean Spearman.
    reverse_complement_stability : float
        DeepSHAP of x and of its reverse complement mapped back, mean Spearman.
    off_simplex_fraction : float
        Share of the saliency gradient's squared norm off the one-hot simplex (noise).
    ground_truth : dict of str to dict
        Method -> {"auroc", "aupr"} (the paper's interpretability) for a synthetic split.
    database : str
    json : str
        The whole report as one JSON object.
    """

    model_id: str
    num_sequences: int
    filter_match: float | None
    filter_match_chance: float | None
    filter_match_excess: float | None
    method_agreement: dict
    mean_method_agreement: float
    reference_stability: float
    reverse_complement_stability: float
    off_simplex_fraction: float
    ground_truth: dict
    database: str
    json: str


@dataclass(frozen=True)
class CompareResult:
    """Tomtom of queries against one database.

    Attributes
    ----------
    hits : tuple of TomtomHit
        Significant matches; each carries the target's name (``target_name``, e.g. the TF).
    tsv : str
        The hits as MEME Tomtom's TSV (MEME's ten columns exactly, so no target names).
    num_targets : int
        Motifs in the database searched.
    distance : str
        MEME's ``-dist`` the hits were computed with: "ed" (Euclidean) or "pearson".
    """

    hits: tuple[TomtomHit, ...]
    tsv: str = field(repr=False)
    num_targets: int
    distance: str = "ed"


@dataclass(frozen=True)
class MatchResult:
    """Match fractions of first-layer filters (the paper's Fig. 2 statistics).

    Attributes
    ----------
    match_fraction : float or None
        Fraction of filters matching a ground-truth motif, in [0, 1]; None when the
        request named no ground truth.
    match_any_fraction : float
        Fraction of filters matching any database motif, in [0, 1].
    covered_tfs : tuple of str
        Ground-truth TFs matched by at least one filter.
    matches : dict of int to tuple of str
        Filter index -> ground-truth TFs it matches (only filters with a match).
    hits : tuple of TomtomHit
        The underlying Tomtom hits.
    distance : str
        MEME's ``-dist`` the hits were computed with: "ed" (Euclidean) or "pearson".
    ground_truth : str
        The ground truth of ``match_fraction``: "task1", "request" or "" (none).
    """

    match_fraction: float | None
    match_any_fraction: float
    covered_tfs: tuple[str, ...]
    matches: dict[int, tuple[str, ...]]
    hits: tuple[TomtomHit, ...]
    distance: str = "ed"
    ground_truth: str = ""


@dataclass(frozen=True)
class Localization:
    """Motif localization AUROC summary.

    Attributes
    ----------
    auroc, auroc_std : float
        Mean and standard deviation over sequences of the per-sequence AUROC.
    pooled_auroc : float
        AUROC over all regions of all sequences.
    num_sequences : int
    """

    auroc: float
    auroc_std: float
    pooled_auroc: float
    num_sequences: int


@dataclass(frozen=True)
class LocalizeResult:
    """Localization of a model's first-layer scans, with the optional PWM-scan baseline.

    Attributes
    ----------
    filters : Localization
    pwm_baseline : Localization or None
        Set when requested (ground-truth PWM log-odds scans).
    """

    filters: Localization
    pwm_baseline: Localization | None


@dataclass(frozen=True, eq=False)
class Interpretability:
    """Interpretability of an attribution method against a synthetic ground truth.

    Attributes
    ----------
    auroc, auroc_std, aupr, aupr_std : float
        Mean and standard deviation over the scored sequences.
    num_sequences : int
        n, the sequences scored.
    per_sequence_auroc, per_sequence_aupr : np.ndarray, shape (n,), float64
        NaN where undefined; read-only.
    method : str
        "saliency", "ism", "integrated_gradients" or "deepshap".
    """

    auroc: float
    auroc_std: float
    aupr: float
    aupr_std: float
    num_sequences: int
    per_sequence_auroc: np.ndarray
    per_sequence_aupr: np.ndarray
    method: str


@dataclass(frozen=True)
class DatabaseInfo:
    """A motif database the MotifMatch service searches.

    Attributes
    ----------
    database_id : str
        "JASPAR2016" ... or ``"db-..."`` for uploads.
    name : str
    num_motifs : int
    source : str
        "jaspar" or "upload".
    collection, tax_group : str
        JASPAR collection and taxon group ("" for uploads).
    """

    database_id: str
    name: str
    num_motifs: int
    source: str
    collection: str
    tax_group: str


@dataclass(frozen=True)
class VariantScore:
    """One ALT allele of a VCF record, scored or skipped (``Client.score_variants``).

    Attributes
    ----------
    record : int
        Record index in the VCF (0-based, input order).
    allele : int
        ALT index in the record (1-based).
    chrom, id, ref, alt : str
    pos : int
        1-based position, as in the VCF.
    skipped : str
        Why it was not scored ("" when it was).
    ref_prediction, alt_prediction, effect : np.ndarray, shape (T,), float32
        The output at REF and ALT, and alt − ref (empty when skipped).
    ref_map, alt_map : np.ndarray or None, shape (2 * flank + 1, 4)
        ISM or saliency around the variant at both alleles (when asked).
    probability_effect : np.ndarray, shape (T,) or (0,), float32
        alt − ref on the probability when the logit of a sigmoid model was scored.
    """

    record: int
    allele: int
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    skipped: str
    ref_prediction: np.ndarray
    alt_prediction: np.ndarray
    effect: np.ndarray
    ref_map: np.ndarray | None = None
    alt_map: np.ndarray | None = None
    probability_effect: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


#: INFO fields :meth:`VariantScores.annotate_vcf` adds (Number=A: one value per ALT allele).
VARIANT_INFO = (
    ("MLENS_EFFECT", "A", "Float", "motiflens: alt - ref of the model's {output} (output unit {unit})"),
    ("MLENS_PEFFECT", "A", "Float", "motiflens: alt - ref of the model's probability (output unit {unit})"),
    ("MLENS_ALT", "A", "Float", "motiflens: the model's {output} at ALT (output unit {unit})"),
    ("MLENS_REF", "1", "Float", "motiflens: the model's {output} at REF (output unit {unit})"),
    ("MLENS_SKIPPED", "A", "String", "motiflens: why an ALT allele was not scored ('.': scored)"),
)


@dataclass(frozen=True)
class VariantScores:
    """Every ALT allele of a VCF in input order, and the summary (``Client.score_variants``).

    Attributes
    ----------
    variants : list of VariantScore
    summary : dict
        records, alleles, scored, skipped, skipped_by_reason, renamed_contigs, padded,
        output, both_strands, map_start, input_length.
    """

    variants: list
    summary: dict

    def to_tsv(self, path, *, unit: int = 0) -> None:
        """One row per allele: record, position, alleles, predictions and effect of ``unit``, skipped."""
        columns = [
            "record",
            "chrom",
            "pos",
            "id",
            "ref",
            "alt",
            "ref_prediction",
            "alt_prediction",
            "effect",
            "probability_effect",
            "skipped",
        ]
        lines = ["\t".join(columns)]
        for v in self.variants:
            values = [v.ref_prediction, v.alt_prediction, v.effect, v.probability_effect]
            numbers = ["" if v.skipped or len(a) <= unit else f"{float(a[unit]):.6g}" for a in values]
            lines.append(
                "\t".join([str(v.record), v.chrom, str(v.pos), v.id, v.ref, v.alt, *numbers, v.skipped])
            )
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    def annotate_vcf(self, source, path, *, unit: int = 0) -> None:
        """Write ``source`` (the VCF scored; plain or bgzip) to ``path`` (plain text) with INFO fields added.

        The fields are :data:`VARIANT_INFO`; every record keeps its line and order.
        """
        import gzip

        by_record: dict[int, list] = {}
        for v in self.variants:
            by_record.setdefault(v.record, []).append(v)
        output = self.summary.get("output", "")
        with open(source, "rb") as probe:
            gzipped = probe.read(2) == b"\x1f\x8b"
        reader = gzip.open(source, "rt", encoding="utf-8") if gzipped else open(source, encoding="utf-8")
        record = 0
        with reader, open(path, "w", encoding="utf-8") as out:
            for line in reader:
                if line.startswith("##"):
                    out.write(line)
                    continue
                if line.startswith("#"):
                    for key, number, kind, text in VARIANT_INFO:
                        description = text.format(output=output, unit=unit)
                        out.write(
                            f'##INFO=<ID={key},Number={number},Type={kind},Description="{description}">\n'
                        )
                    out.write(line)
                    continue
                if not line.strip():
                    continue
                fields = line.rstrip("\n").split("\t")
                alleles = sorted(by_record.get(record, []), key=lambda v: v.allele)
                record += 1
                if len(fields) < 8 or not alleles:
                    out.write(line if line.endswith("\n") else line + "\n")
                    continue
                scored = [v for v in alleles if not v.skipped]

                extra = [
                    "MLENS_EFFECT=" + _per_allele(alleles, "effect", unit),
                    "MLENS_PEFFECT=" + _per_allele(alleles, "probability_effect", unit),
                    "MLENS_ALT=" + _per_allele(alleles, "alt_prediction", unit),
                ]
                if scored:
                    extra.append(f"MLENS_REF={float(scored[0].ref_prediction[unit]):.6g}")
                reasons = ",".join(_info_text(v.skipped) if v.skipped else "." for v in alleles)
                extra.append(f"MLENS_SKIPPED={reasons}")
                fields[7] = ";".join(extra) if fields[7] in ("", ".") else fields[7] + ";" + ";".join(extra)
                out.write("\t".join(fields) + "\n")


def _per_allele(alleles: list, name: str, unit: int) -> str:
    """One INFO value per ALT allele: ``getattr(allele, name)[unit]``, or "." for a skipped one."""
    values = []
    for v in alleles:
        array = getattr(v, name)
        values.append("." if v.skipped or len(array) <= unit else f"{float(array[unit]):.6g}")
    return ",".join(values)


def _info_text(text: str) -> str:
    """``text`` as an INFO string value (no spaces, commas, semicolons or equals signs)."""
    return "".join("_" if ch in " ,;=\t" else ch for ch in text)
