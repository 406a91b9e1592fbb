"""PyTorch ports of the musicnn and vgg auto-tagging networks (Pons & Serra, 2019).

The networks reproduce ``musicnn/models.py`` of the ``musicnn==0.1.0`` wheel
operation by operation, in inference mode (dropout off, batch normalisation
with its moving statistics). Inputs are patches of the original log-mel
spectrogram, ``(batch, 187 frames, 96 bands)``; outputs are the tensors the
original graph exposes, in TensorFlow's layouts, so they compare element by
element with the original:

musicnn
    ``timbral`` (B, T, 408), ``temporal`` (B, T, 153), ``cnn1``/``cnn2``/``cnn3``
    (B, T, 64), ``mean_pool``/``max_pool`` (B, 753), ``penultimate`` (B, 200),
    ``taggram`` (B, n_tags), with T = 187.
vgg
    ``pool1`` (B, 92, 48, 128), ``pool2`` (B, 46, 24, 128), ``pool3`` (B, 23, 12,
    128), ``pool4`` (B, 11, 6, 128), ``pool5`` (B, 2, 1, 128), ``taggram``
    (B, n_tags): (batch, time, frequency, channel).

Details that matter for exactness (each checked against the original in
``tests/test_musicnn_equivalence.py``):

- batch normalisation uses TensorFlow's epsilon 1e-3 and follows the ReLU
  (conv -> ReLU -> batch norm);
- TensorFlow's ``same`` padding of an even kernel ``k`` puts ``k // 2 - 1``
  zeros before and ``k // 2`` after (the extra zero at the end);
- the timbral and mid-end convolutions use explicit zero padding of 3 frames
  on both sides and ``valid`` convolution;
- the back-end flattens ``concat([max, mean], axis=2)`` of shape (B, 753, 2),
  so max- and mean-pooled values interleave: ``[max_0, mean_0, max_1, ...]``;
- vgg's dense layer reads ``pool5`` flattened in (time, frequency, channel) order.

Speed: every convolution here is followed by ReLU, batch normalisation and a
max pool. Per channel, ReLU and batch normalisation are monotone functions
(increasing, or decreasing where ``gamma < 0``), and a max of monotone
functions is the function of the max (or of the min), exactly, also in floating
point, because rounding is monotone. So each block pools the raw convolution
output first, with the filters of decreasing channels negated (the max of
``-z`` is minus the min of ``z``), and applies ReLU and batch normalisation to
the pooled values only. This gives the same numbers as the original's order
while touching a fraction of the memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MusicnnNet", "VggNet"]

BN_EPS = 1e-3


class _BatchNorm(nn.Module):
    """Inference-mode batch normalisation, ``(x - mean) / sqrt(var + eps) * gamma + beta``.

    Stored as one scale and one shift per channel; ``axis`` is the channel axis.
    """

    def __init__(self, tensors: dict, prefix: str, axis: int) -> None:
        super().__init__()
        gamma = torch.as_tensor(tensors[f"{prefix}/gamma"], dtype=torch.float32)
        beta = torch.as_tensor(tensors[f"{prefix}/beta"], dtype=torch.float32)
        mean = torch.as_tensor(tensors[f"{prefix}/moving_mean"], dtype=torch.float32)
        var = torch.as_tensor(tensors[f"{prefix}/moving_variance"], dtype=torch.float32)
        scale = gamma * torch.rsqrt(var + BN_EPS)
        self.axis = axis
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.register_buffer("beta", beta)

    def _shaped(self, values: torch.Tensor, ndim: int) -> torch.Tensor:
        shape = [1] * ndim
        shape[self.axis] = -1
        return values.reshape(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self._shaped(self.mean, x.ndim)
        scale = self._shaped(self.scale, x.ndim)
        beta = self._shaped(self.beta, x.ndim)
        return (x - mean) * scale + beta


def _conv2d(tensors: dict, prefix: str) -> nn.Conv2d:
    """A Conv2d with TensorFlow's kernel (kh, kw, in, out) moved to (out, in, kh, kw)."""
    kernel = torch.as_tensor(tensors[f"{prefix}/kernel"], dtype=torch.float32)
    bias = torch.as_tensor(tensors[f"{prefix}/bias"], dtype=torch.float32)
    kh, kw, c_in, c_out = kernel.shape
    conv = nn.Conv2d(c_in, c_out, (kh, kw), bias=True)
    with torch.no_grad():
        conv.weight.copy_(kernel.permute(3, 2, 0, 1))
        conv.bias.copy_(bias)
    return conv


def _linear(tensors: dict, prefix: str) -> nn.Linear:
    """A Linear layer with TensorFlow's kernel (in, out) transposed."""
    kernel = torch.as_tensor(tensors[f"{prefix}/kernel"], dtype=torch.float32)
    bias = torch.as_tensor(tensors[f"{prefix}/bias"], dtype=torch.float32)
    linear = nn.Linear(kernel.shape[0], kernel.shape[1])
    with torch.no_grad():
        linear.weight.copy_(kernel.T)
        linear.bias.copy_(bias)
    return linear


class _ConvReluBnPool(nn.Module):
    """``max_pool(batch_norm(relu(conv(x))))``, pooled first.

    Computed as ``batch_norm(relu(s * max_pool(s * conv(x))))``, where ``s`` is
    the sign of each channel's batch-norm scale (see the module notes).
    ``pool`` is ``(kernel, stride)`` of a 2-D max pool, or ``"frequency"`` for
    the max over the whole frequency axis (the output then drops that axis).
    """

    def __init__(self, conv: nn.Conv2d, bn: _BatchNorm, pool: str | tuple[tuple, tuple]) -> None:
        super().__init__()
        sign = torch.where(bn.scale < 0, -1.0, 1.0)
        with torch.no_grad():
            conv.weight.mul_(sign[:, None, None, None])
            conv.bias.mul_(sign)
        self.conv = conv
        self.bn = bn
        self.pool = pool
        self.register_buffer("sign", sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x)  # (B, C, T, F), decreasing channels negated
        if self.pool == "frequency":
            pooled = z.amax(dim=3) * self.sign[:, None]
        else:
            kernel, stride = self.pool
            pooled = F.max_pool2d(z, kernel_size=kernel, stride=stride)
            pooled = pooled * self.sign[:, None, None]
        return self.bn(F.relu(pooled))


def _same_time_padding(kernel: int) -> tuple[int, int]:
    """TensorFlow ``same`` padding of a stride-1 kernel: (before, after), extra zero after."""
    total = kernel - 1
    return total // 2, total - total // 2


class MusicnnNet(nn.Module):
    """The musicnn network: musically motivated front-end, dense mid-end, pooled back-end.

    Parameters
    ----------
    tensors : dict of str to ndarray
        The checkpoint's variables by TensorFlow name (``conv2d/kernel``,
        ``batch_normalization_3/gamma``, ...), as read by
        :class:`~frisson.encoders._tf_checkpoint.CheckpointReader`.

    Notes
    -----
    Variables are numbered in the order the original creates them:
    ``batch_normalization`` normalises the input; ``conv2d``/``conv2d_1`` with
    ``batch_normalization_1``/``_2`` are the timbral 7x38 and 7x67 filters;
    ``conv2d_2``..``_4`` with ``batch_normalization_3``..``_5`` the temporal
    128x1, 64x1, 32x1 filters; ``conv2d_5``..``_7`` with
    ``batch_normalization_6``..``_8`` the mid-end; ``batch_normalization_9``,
    ``dense``, ``batch_normalization_10`` and ``dense_1`` the back-end.

    """

    def __init__(self, tensors: dict) -> None:
        super().__init__()
        self.bn_input = _BatchNorm(tensors, "batch_normalization", axis=1)
        self.timbral = nn.ModuleList(
            [
                _ConvReluBnPool(
                    _conv2d(tensors, f"conv2d{suffix}"),
                    _BatchNorm(tensors, f"batch_normalization_{i}", axis=1),
                    "frequency",
                )
                for suffix, i in (("", 1), ("_1", 2))
            ]
        )
        self.temporal = nn.ModuleList(
            [
                _ConvReluBnPool(
                    _conv2d(tensors, f"conv2d_{i}"),
                    _BatchNorm(tensors, f"batch_normalization_{i + 1}", axis=1),
                    "frequency",
                )
                for i in (2, 3, 4)
            ]
        )
        # The mid-end's 2-D convolutions span all features: 1-D convolutions over time.
        self.midend = nn.ModuleList()
        for i in (5, 6, 7):
            conv2d = _conv2d(tensors, f"conv2d_{i}")  # (out, 1, 7, features)
            conv = nn.Conv1d(conv2d.weight.shape[3], conv2d.weight.shape[0], 7)
            with torch.no_grad():
                conv.weight.copy_(conv2d.weight[:, 0].permute(0, 2, 1))
                conv.bias.copy_(conv2d.bias)
            self.midend.append(conv)
        self.midend_bn = nn.ModuleList(
            [_BatchNorm(tensors, f"batch_normalization_{i}", axis=1) for i in (6, 7, 8)]
        )
        self.bn_flat = _BatchNorm(tensors, "batch_normalization_9", axis=1)
        self.dense = _linear(tensors, "dense")
        self.bn_dense = _BatchNorm(tensors, "batch_normalization_10", axis=1)
        self.output_layer = _linear(tensors, "dense_1")

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run patches ``(B, 187, 96)`` of log-mel frames; return every exposed tensor."""
        x = self.bn_input(patches.unsqueeze(1))  # (B, 1, T, F)
        padded = F.pad(x, (0, 0, 3, 3))
        front = [block(padded) for block in self.timbral]  # (B, C, T) each
        for block in self.temporal:
            before, after = _same_time_padding(block.conv.kernel_size[0])
            front.append(block(F.pad(x, (0, 0, before, after))))
        front_features = torch.cat(front, dim=1)  # (B, 561, T)
        cnn1 = self.midend_bn[0](F.relu(self.midend[0](F.pad(front_features, (3, 3)))))
        cnn2 = self.midend_bn[1](F.relu(self.midend[1](F.pad(cnn1, (3, 3))))) + cnn1
        cnn3 = self.midend_bn[2](F.relu(self.midend[2](F.pad(cnn2, (3, 3))))) + cnn2
        features = torch.cat([front_features, cnn1, cnn2, cnn3], dim=1)  # (B, 753, T)
        max_pool = features.amax(dim=2)
        mean_pool = features.mean(dim=2)
        flat = torch.stack([max_pool, mean_pool], dim=2).flatten(1)  # interleaved
        penultimate = self.bn_dense(F.relu(self.dense(self.bn_flat(flat))))
        logits = self.output_layer(penultimate)
        return {
            "timbral": torch.cat(front[:2], dim=1).transpose(1, 2),
            "temporal": torch.cat(front[2:], dim=1).transpose(1, 2),
            "cnn1": cnn1.transpose(1, 2),
            "cnn2": cnn2.transpose(1, 2),
            "cnn3": cnn3.transpose(1, 2),
            "mean_pool": mean_pool,
            "max_pool": max_pool,
            "penultimate": penultimate,
            "taggram": torch.sigmoid(logits),
        }


class VggNet(nn.Module):
    """The vgg-like baseline: five 3x3 convolution blocks with max pooling, one dense layer.

    Parameters
    ----------
    tensors : dict of str to ndarray
        The checkpoint's variables (``1CNN/kernel`` .. ``5CNN/kernel``,
        ``batch_normalization`` .. ``batch_normalization_5``, ``dense``).

    """

    #: (time, frequency) pool sizes and strides after each block, as in the original.
    POOLS = (
        ((4, 1), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((2, 2), (2, 2)),
        ((4, 4), (4, 4)),
    )

    def __init__(self, tensors: dict) -> None:
        super().__init__()
        self.bn_input = _BatchNorm(tensors, "batch_normalization", axis=1)
        self.blocks = nn.ModuleList(
            [
                _ConvReluBnPool(
                    _conv2d(tensors, f"{i}CNN"),
                    _BatchNorm(tensors, f"batch_normalization_{i}", axis=1),
                    pool,
                )
                for i, pool in enumerate(self.POOLS, start=1)
            ]
        )
        self.output_layer = _linear(tensors, "dense")

    def forward(self, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run patches ``(B, 187, 96)``; return ``pool1``..``pool5`` (B, T, F, C) and taggram."""
        x = self.bn_input(patches.unsqueeze(1))
        out: dict[str, torch.Tensor] = {}
        for k, block in enumerate(self.blocks, start=1):
            x = block(F.pad(x, (1, 1, 1, 1)))  # 3x3 'same' convolution, then pooled
            out[f"pool{k}"] = x.permute(0, 2, 3, 1)  # (B, T, F, C) as in TensorFlow
        logits = self.output_layer(out["pool5"].flatten(1))
        out["taggram"] = torch.sigmoid(logits)
        return out
