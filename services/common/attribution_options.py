"""AttributeRequest → (method, options): the one reader of an attribution request's settings.

The interpreter's Attribute, ScoreInterpretability, DiscoverMotifs and ScoreTrust, and
the trainer's AttributeSplit jobs all validate the same fields the same way here:
the method, the output (logit or probability, as the model has them), the target
unit, references, steps, seed, times_input and gradient correction. What a model
offers is a :class:`ModelOutputs`, known from its manifest alone, so a job is checked
in the RPC thread before anything is queued; the worker checks again against the
loaded model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from motiflens_client.wire import pb
from motiflens_client.wire.vocabulary import (
    FORM_BY_NAME,
    GRADIENT_METHODS,
    METHOD_BY_NAME,
    OUTPUT_BY_NAME,
    REFERENCE_BY_NAME,
)

from motiflens.errors import InvalidInputError
from services.common.errors import invalid

#: What an unset OutputKind and ReferenceKind mean (the proto's documented defaults).
DEFAULT_OUTPUT = "logit"
DEFAULT_REFERENCE = "shuffle"
MAX_NUM_STEPS = 1000
DEFAULT_NUM_STEPS = 20
MAX_NUM_REFERENCES = 1000
DEFAULT_NUM_REFERENCES = 10


@dataclass(frozen=True)
class ModelOutputs:
    """What a stored model can be asked for: its outputs and their units.

    Attributes
    ----------
    model_id : str
    num_outputs : int
        T, output units (targets 0 .. T-1).
    output_activation : str
        As the model's manifest records it: "sigmoid" (zoo models; logits and
        probabilities), "linear" (the output is a logit; no probability) or another
        final activation (only its output, no logit).
    """

    model_id: str
    num_outputs: int
    output_activation: str = "sigmoid"

    @classmethod
    def from_metadata(cls, model_id: str, metadata: Mapping) -> ModelOutputs:
        """From a model artifact's manifest metadata (``num_outputs``, ``output_activation``)."""
        return cls(
            model_id=model_id,
            num_outputs=int(metadata.get("num_outputs", 0)),
            output_activation=str(metadata.get("output_activation", "sigmoid")),
        )

    @property
    def has_logit(self) -> bool:
        """Whether a linear pre-activation exists (see :mod:`motiflens.model_import`)."""
        return self.output_activation in ("sigmoid", "linear")

    @property
    def has_probability(self) -> bool:
        """Whether the output is a probability (anything but a linear output)."""
        return self.output_activation != "linear"

    def output_kinds(self) -> tuple[str, ...]:
        """The outputs this model has: "logit" and/or "probability" (zoo models: both)."""
        return ("logit",) * self.has_logit + ("probability",) * self.has_probability

    def output_kind(self, requested: str | None, *, default: str) -> str:
        """The output ("logit" or "probability") a call uses: ``requested``, else what the model has.

        ``default`` is used when nothing was requested and the model has both.

        Raises
        ------
        InvalidInputError
            (field ``output``) the model has no such output.
        """
        if requested is None:
            if self.has_logit and self.has_probability:
                return default
            return "logit" if self.has_logit else "probability"
        if requested == "logit" and not self.has_logit:
            raise InvalidInputError(
                f"output: model {self.model_id} ends in {self.output_activation} with no linear "
                "pre-activation, so it has no logit; use OUTPUT_KIND_PROBABILITY (its output)",
                field="output",
            )
        if requested == "probability" and not self.has_probability:
            raise InvalidInputError(
                f"output: model {self.model_id} has a linear output (a logit-like score), not a "
                "probability; use OUTPUT_KIND_LOGIT",
                field="output",
            )
        return requested


def check_range(value: int, field: str, low: int, high: int, *, zero: str | None = None) -> int:
    """``value`` if ``low <= value <= high``, or 0 when ``zero`` (what 0 means) is given.

    Raises
    ------
    InvalidInputError
        ``"num_steps: expected 1 to 1000 (0 = 20), got 2147483647"``.
    """
    if zero is not None and value == 0:
        return 0
    if not low <= value <= high:
        unset = f" (0 = {zero})" if zero is not None else ""
        raise InvalidInputError(f"{field}: expected {low} to {high}{unset}, got {value}", field=field)
    return int(value)


def enum_name(table: Mapping[str, int], value: int, field: str, *, unset: str | None = None) -> str:
    """The vocabulary name of enum ``value`` (``unset`` for 0 when given); INVALID_ARGUMENT otherwise."""
    if value == 0 and unset is not None:
        return unset
    for name, code in table.items():
        if code == value:
            return name
    raise invalid(field, f"unknown value {value}")


def attribution_options(request, outputs: ModelOutputs) -> tuple[str, dict]:
    """The method name and the keyword options of :func:`motiflens.attribution.attribute`.

    Parameters
    ----------
    request : AttributeRequest, ScoreInterpretabilityRequest or another message with
        the same fields (``method``, ``target``, ``output``, ``reference``,
        ``num_references``, ``num_steps``, ``seed``; optionally ``times_input`` and
        ``gradient_correction``).
    outputs : ModelOutputs

    Raises
    ------
    InvalidInputError
        Naming the field: an unknown method, output or reference; a target outside
        0 .. T-1; references or steps out of range; a negative seed; gradient
        correction for a method without gradients.
    """
    if request.method not in METHOD_BY_NAME.values():
        accepted = ", ".join(pb.AttributionMethod.Name(m) for m in METHOD_BY_NAME.values())
        raise invalid("method", f"expected one of {accepted}; got {request.method}")
    output = outputs.output_kind(
        None if request.output == 0 else enum_name(OUTPUT_BY_NAME, request.output, "output"),
        default=DEFAULT_OUTPUT,
    )
    reference = enum_name(REFERENCE_BY_NAME, request.reference, "reference", unset=DEFAULT_REFERENCE)
    if not 0 <= request.target < outputs.num_outputs:
        raise InvalidInputError(
            f"target: model {outputs.model_id} has {outputs.num_outputs} outputs "
            f"(0..{outputs.num_outputs - 1}), got {request.target}",
            field="target",
        )
    # Checked whatever the method, so that a bad value never passes unnoticed.
    num_references = check_range(
        request.num_references, "num_references", 1, MAX_NUM_REFERENCES, zero=str(DEFAULT_NUM_REFERENCES)
    )
    num_steps = check_range(request.num_steps, "num_steps", 1, MAX_NUM_STEPS, zero=str(DEFAULT_NUM_STEPS))
    if request.seed < 0:
        raise InvalidInputError(f"seed: expected >= 0, got {request.seed}", field="seed")
    method = enum_name(METHOD_BY_NAME, request.method, "method")
    options: dict = {"target": int(request.target), "output": output}
    if method in ("integrated_gradients", "deepshap"):
        options.update(
            num_references=num_references or DEFAULT_NUM_REFERENCES,
            reference=reference,
            seed=int(request.seed),
        )
    if method == "integrated_gradients":
        options["num_steps"] = num_steps or DEFAULT_NUM_STEPS
    if method == "saliency" and "times_input" in request.DESCRIPTOR.fields_by_name:
        # Only Attribute has it: interpretability scores take Σ_j S_ij X_ij anyway.
        options["times_input"] = bool(request.times_input)
    if "gradient_correction" in request.DESCRIPTOR.fields_by_name and request.gradient_correction:
        if method not in GRADIENT_METHODS:
            raise invalid(
                "gradient_correction",
                f"applies to the gradient methods ({', '.join(GRADIENT_METHODS)}); got method {method}",
            )
        options["gradient_correction"] = True
    return method, options


def score_form(request) -> tuple[str, bool]:
    """Which map an AttributeRequest's ``scores`` carries, and whether chunks carry the hypothetical too."""
    form = enum_name(FORM_BY_NAME, request.form, "form", unset="scores")
    if request.times_input and form != "scores":
        raise invalid(
            "times_input",
            f"applies to the method's own scores (form unset), not to form {form}: "
            "projected saliency already is gradient x input",
        )
    return form, bool(request.include_hypothetical)


def attribution_settings(method: str, options: Mapping) -> pb.AttributionSettings:
    """The AttributionSettings message saying what ``(method, options)`` computed."""
    settings = pb.AttributionSettings(
        method=METHOD_BY_NAME[method],  # type: ignore[arg-type]  # an AttributionMethod value
        target=options["target"],
        output=OUTPUT_BY_NAME[options["output"]],  # type: ignore[arg-type]  # an OutputKind value
    )
    if "reference" in options:
        settings.reference = REFERENCE_BY_NAME[options["reference"]]  # type: ignore[assignment]  # a ReferenceKind
        settings.num_references = options["num_references"]
        settings.seed = options["seed"]
    settings.num_steps = options.get("num_steps", 0)
    settings.times_input = options.get("times_input", False)
    settings.gradient_correction = options.get("gradient_correction", False)
    return settings
