"""Int8 Linear layers for CPU decoding whose output for a row never depends on other rows.

torch's `quantize_dynamic` scales activations per tensor: in a batch the row with the largest
activation sets the scale for all, so a conversation's reply would change with whoever else is in
the batch (down to the language it answers in), and a prompt's first token, whose activations
are huge in Qwen, would coarsen every other position.

We keep torch's fast fbgemm kernel (`quantized::linear_dynamic`, int8 with VNNI) but feed it
rows divided by their own absolute maximum, plus one constant row [1, -1, 0, ...]: the tensor
range is then exactly [-1, 1] whatever the batch, so every row is quantized with the same
fixed grid relative to its own scale (per-token quantization), the integer product is exact,
and multiplying the row scale back gives a result that is identical alone or in any batch.
Weights are quantized per output channel.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


class Int8Linear(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0).double()
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            # torch marks its quantized tensors deprecated in favour of torchao, which is not
            # installed here; the fbgemm kernels themselves are current.
            warnings.simplefilter("ignore")
            quantized = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(quantized, None)
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        range_row = torch.zeros(1, linear.in_features)
        range_row[0, 0], range_row[0, 1 % linear.in_features] = 1.0, -1.0
        self.register_buffer("range_row", range_row, persistent=False)
        bias = linear.bias.detach().float().clone() if linear.bias is not None else None
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).float()
        row_scale = rows.abs().amax(dim=1, keepdim=True).clamp(min=1e-12)
        normed = torch.cat([rows / row_scale, self.range_row])
        out = torch.ops.quantized.linear_dynamic(normed, self._packed, True)[:-1] * row_scale
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)


def quantize_linear_int8(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear in place (the lm_head included) and return the model."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, Int8Linear(child))
        else:
            quantize_linear_int8(child)
    return model
