"""CNN-deep in PyTorch, layer for layer as motiflens.models builds it, for the peer benches.

Imported by torch_train.py and tangermeme_attribution.py (run in the peers' own virtual
environment: bench/peers/README.md), never by the project. The modules carry the Keras
layer names, so :func:`load_keras_weights` can copy a Keras model's weights by name.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn


class Exponential(nn.Module):
    """The exponential first-layer activation (motiflens.activations' "exponential")."""

    def forward(self, x):
        """exp(x), elementwise."""
        return torch.exp(x)


class ChannelsLastFlatten(nn.Module):
    """Flatten (N, C, L) in Keras' channels-last order (position-major), so Dense weights carry over."""

    def forward(self, x):
        """(N, C, L) -> (N, L * C)."""
        return x.permute(0, 2, 1).reshape(x.shape[0], -1)


def _block(name: str, channels_in: int, channels_out: int, width: int, dropout: float, act, pool: int = 0):
    # Keras' batch norm: epsilon 1e-3, moving averages with momentum 0.99 (torch's 0.01).
    layers = [
        (name, nn.Conv1d(channels_in, channels_out, width, padding="same", bias=False)),
        (f"{name}_bn", nn.BatchNorm1d(channels_out, eps=1e-3, momentum=0.01)),
        (f"{name}_act", act),
        (f"{name}_dropout", nn.Dropout(dropout)),
    ]
    return layers + ([(f"{name}_pool", nn.MaxPool1d(pool))] if pool else [])


def cnn_deep(length: int = 200, outputs: int = 12) -> nn.Sequential:
    """CNN-deep with an exponential first layer; input (N, 4, L), output the logits (N, outputs)."""
    flat = 128 * (length // 4 // 4 // 3)
    layers = [
        *_block("conv1", 4, 32, 19, 0.1, Exponential()),
        *_block("conv2", 32, 48, 9, 0.2, nn.ReLU(), pool=4),
        *_block("conv3", 48, 96, 6, 0.3, nn.ReLU(), pool=4),
        *_block("conv4", 96, 128, 4, 0.4, nn.ReLU(), pool=3),
        ("flatten", ChannelsLastFlatten()),
        ("dense1", nn.Linear(flat, 512, bias=False)),
        ("dense1_bn", nn.BatchNorm1d(512, eps=1e-3, momentum=0.01)),
        ("dense1_act", nn.ReLU()),
        ("dense1_dropout", nn.Dropout(0.5)),
        ("logits", nn.Linear(512, outputs)),
    ]
    return nn.Sequential(OrderedDict(layers))


def load_keras_weights(model: nn.Sequential, weights: dict[str, np.ndarray]) -> nn.Sequential:
    """Copy weights saved as ``{"<keras layer>/<index>": array}`` into the same-named modules.

    Conv1D kernels (k, C_in, C_out) become (C_out, C_in, k); Dense kernels (D_in, D_out)
    become (D_out, D_in); batch norm takes gamma, beta, moving mean and variance.
    """

    def tensor(key: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(weights[key]))

    for name, module in model.named_children():
        if isinstance(module, nn.Conv1d):
            module.weight.data = tensor(f"{name}/0").permute(2, 1, 0).contiguous()
        elif isinstance(module, nn.Linear):
            module.weight.data = tensor(f"{name}/0").T.contiguous()
            if module.bias is not None:
                module.bias.data = tensor(f"{name}/1")
        elif isinstance(module, nn.BatchNorm1d):
            module.weight.data, module.bias.data = tensor(f"{name}/0"), tensor(f"{name}/1")
            module.running_mean.data, module.running_var.data = tensor(f"{name}/2"), tensor(f"{name}/3")
    return model
