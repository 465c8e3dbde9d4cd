"""Floating-point work of the zoo's models: per sequence, per pass, per attribution method.

The benches divide these counts by measured seconds to say how close a method runs
to the machine's matrix-multiply rate. The convention is the usual one:

- Only Conv1D and Dense layers count (their multiply-adds, 2 FLOPs each); batch
  norm, activations, pooling and the optimiser add work linear in the activations,
  small beside the convolutions, and are left out (so a fraction of the GEMM rate
  computed from these counts is a slight underestimate of the work done).
- A backward pass costs twice the forward one for layers whose kernel gradient is
  needed (gradient of the input and of the kernel, each one GEMM of the forward's
  size), once for attribution gradients, which need the input gradient only.

So training costs 3 x forward FLOPs per sequence and a gradient with respect to
the input (saliency, one integrated-gradients path point, one DeepSHAP row) 2 x.
Fast ISM's count comes from its window plan
(:func:`motiflens.attribution.ism.ism_flops`), since it recomputes only part of
each layer.
"""

from __future__ import annotations

import keras


def layer_flops(layer: keras.layers.Layer, positions: int) -> int:
    """FLOPs (2 per multiply-add) of ``layer`` computing ``positions`` output positions of one sequence.

    Pass ``positions=1`` for a Dense layer on a flat (N, D) input. Conv1D kernels have
    shape (k, C_in / groups, C_out); Dense kernels (D_in, D_out), applied at every
    position of a (N, L, D) input. Any other layer: 0.
    """
    if isinstance(layer, keras.layers.Conv1D):
        width, channels_in, channels_out = layer.kernel.shape
        return 2 * positions * int(width) * int(channels_in) * int(channels_out)
    if isinstance(layer, keras.layers.Dense):
        units_in, units_out = layer.kernel.shape
        return 2 * positions * int(units_in) * int(units_out)
    return 0


def _output_positions(layer: keras.layers.Layer) -> int:
    shape = layer.output.shape
    return int(shape[1]) if len(shape) == 3 else 1


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one forward pass of one sequence: every Conv1D and Dense layer at its output length."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise ValueError(f"forward_flops: nested model {layer.name!r}; count its layers separately")
        total += layer_flops(layer, _output_positions(layer))
    return total


def training_flops(model: keras.Model) -> int:
    """FLOPs of one training step per sequence: forward + backward (input and kernel gradients), 3x."""
    return 3 * forward_flops(model)


def gradient_flops(model: keras.Model) -> int:
    """FLOPs of one forward pass and one input gradient per row, 2 x forward."""
    return 2 * forward_flops(model)


def attribution_flops(
    model: keras.Model, method: str, *, num_references: int = 10, num_steps: int = 20
) -> int:
    """FLOPs per sequence of an attribution method as motiflens.attribution runs it.

    ``saliency``: one gradient row; ``integrated_gradients``: references x steps
    gradient rows; ``deepshap``: two gradient rows (input and reference) per
    reference; ``ism_naive``: 3L + 1 forward passes (every single-base substitution
    of a one-hot sequence and the wild type); ``ism``: the fast ISM window plan.

    Raises
    ------
    ValueError
        An unknown method, or a model whose input is not (N, L, 4).
    """
    if method == "saliency":
        return gradient_flops(model)
    if method == "integrated_gradients":
        return num_references * num_steps * gradient_flops(model)
    if method == "deepshap":
        return 2 * num_references * gradient_flops(model)
    if method in ("ism", "ism_naive"):
        length = model.input_shape[1]
        if length is None:
            raise ValueError("attribution_flops: ISM's count needs a model with a fixed input length")
        if method == "ism_naive":
            return (3 * int(length) + 1) * forward_flops(model)
        from motiflens.attribution.ism import ism_flops  # the window plan lives with fast ISM

        return ism_flops(model)
    raise ValueError(
        f"attribution_flops: unknown method {method!r}; expected saliency, integrated_gradients, "
        "deepshap, ism or ism_naive"
    )
