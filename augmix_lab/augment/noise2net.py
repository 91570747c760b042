"""Noise2Net (DeepAugment without pretrained networks; Hendrycks et al., "The Many Faces of Robustness", ICCV 2021).

Follows hendrycks/imagenet-r ``DeepAugment/train_noise2net.py`` (commit c5cd2df): a freshly initialised 4-block
Res2Net-style network (``Res2Net``/``Bottle2neck``: 1×1 conv to hidden·scale channels, BN, ReLU; ``scale - 1``
hierarchical K×K convs with dilation D, K ∈ {1, 3}, D ∈ {1, 2, 3}, each + BN + ReLU; 1×1 conv back to 3 channels,
BN; each block added back as ``x + ε·block(x)``) perturbs the normalized images of part of each batch
(``bx[:batch_size // 2]``, no gradients), every image with its own weights (grouped convolutions with one group per
image, PyTorch's default ``reset_parameters`` init) and ε ~ U(max_eps / 2, max_eps).

A batch transform: it perturbs every view of the chosen images the same way (composes as ``augmix+noise2net``).
Batching differs by design: the official code draws each conv's K and D once per epoch (when the network is built)
and ε once per batch; here K and D are drawn once per batch (same law per image) and ε per image. The 3·4 draws
of K and D are read on the host once per batch (a sync on CUDA).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from augmix_lab.augment import sampling
from augmix_lab.augment.base import AUGMENTATIONS, Method, MethodParams

KERNEL_SIZES = (1, 3)  # Bottle2neck: K = random.choice([1, 3])
DILATIONS = (1, 2, 3)  # Bottle2neck: D = random.choice([1, 2, 3])
BN_EPS = 1e-5  # nn.BatchNorm2d default; train mode on a (1, images·C, H, W) batch = per image and channel


class Noise2NetParams(MethodParams):
    """Noise2Net's options (``method_params.noise2net``); defaults are train_noise2net.py's."""

    max_epsilon: float = Field(0.75, gt=0, description="> 0: ε ~ U(max_epsilon / 2, max_epsilon)")  # --noisenet-max-eps
    fraction: float = Field(0.5, gt=0, le=1, description="a number in (0, 1]: share of each batch perturbed")
    hidden_planes: int = Field(16, ge=1, description="an integer >= 1")  # Res2Net(hidden_planes=16)
    scale: int = Field(4, ge=2, description="an integer >= 2: channel groups per block")  # Bottle2neck(scale=4)
    blocks: int = Field(4, ge=1, description="an integer >= 1")  # Res2Net: block1..block4


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> Tensor:
    """``nn.Conv2d.reset_parameters``: kaiming_uniform(a=√5) weights and the bias both ~ U(±1/√fan_in)."""
    bound = 1 / math.sqrt(fan_in)
    return torch.rand(shape, generator=generator, device=generator.device).mul_(2 * bound).sub_(bound)


def sample_network(n: int, p: Noise2NetParams, generator: torch.Generator, channels: int = 3) -> dict:
    """Weights for ``n`` independent networks (grouped-conv layout, image-major), ε per image, K and D per conv."""
    hidden, scale = p.hidden_planes, p.scale
    shapes = torch.randint(
        0, len(KERNEL_SIZES) * len(DILATIONS), (p.blocks, scale - 1), generator=generator, device=generator.device
    ).tolist()  # the host read of K and D (one per batch)
    blocks = []
    for b in range(p.blocks):
        convs = []
        for i in range(scale - 1):
            k, d = KERNEL_SIZES[shapes[b][i] // len(DILATIONS)], DILATIONS[shapes[b][i] % len(DILATIONS)]
            fan_in = hidden * k * k
            convs.append(
                {
                    "k": k,
                    "d": d,
                    "weight": _uniform((n * hidden, hidden, k, k), fan_in, generator),
                    "bias": _uniform((n * hidden,), fan_in, generator),
                }
            )
        blocks.append(
            {
                "conv1": _uniform((n * hidden * scale, channels, 1, 1), channels, generator),
                "convs": convs,
                "conv3": _uniform((n * channels, hidden * scale, 1, 1), hidden * scale, generator),
            }
        )
    epsilon = sampling.uniform((n,), p.max_epsilon / 2, p.max_epsilon, generator).float()  # random.uniform(max/2, max)
    return {"blocks": blocks, "epsilon": epsilon, "hidden": hidden, "scale": scale}


def _bn(x: Tensor) -> Tensor:
    """A fresh train-mode BatchNorm2d (weight 1, bias 0) on the official (1, n·C, H, W) batch: every (image,
    channel) normalised over its own pixels with the biased variance."""
    n, c, h, w = x.shape
    return F.batch_norm(x.reshape(1, n * c, h, w), None, None, training=True, eps=BN_EPS).view(n, c, h, w)


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None = None, dilation: int = 1) -> Tensor:
    """Each image's own conv: ``F.conv2d`` with one group per image on the official (1, n·C, H, W) layout and
    'same' padding; a 1×1 kernel as one batched matmul (the same sums, several times faster on CPU)."""
    n, in_ch, h, w = x.shape
    out_ch, _, k, _ = weight.shape
    if k == 1:
        y = torch.bmm(weight.view(n, out_ch // n, in_ch), x.reshape(n, in_ch, h * w))
        if bias is not None:
            y = y + bias.view(n, out_ch // n, 1)
        return y.view(n, out_ch // n, h, w)
    y = F.conv2d(
        x.reshape(1, n * in_ch, h, w), weight, bias, padding=int((k - 1) / 2 * dilation), dilation=dilation, groups=n
    )
    return y.view(n, out_ch // n, h, w)


def bottle2neck(x: Tensor, block: dict, hidden: int, scale: int) -> Tensor:
    """``Bottle2neck.forward`` per image on (n, C, H, W): conv1 + BN + ReLU into ``scale`` groups of ``hidden``
    channels; sp_0 = conv_0(g_0), sp_i = conv_i(sp_{i-1} + g_i) (+ BN + ReLU); conv3(cat(sp…, g_last)) + BN.
    (The official regrouping "hack" between (image, scale, hidden) and (scale, image, hidden) channel orders is
    only how it lays images out for grouped convs; per image the channels are the same.)"""
    n, _, h, w = x.shape
    groups = F.relu(_bn(_conv(x, block["conv1"]))).view(n, scale, hidden, h, w)
    pieces = []
    sp = groups[:, 0]
    for i, conv in enumerate(block["convs"]):
        sp = groups[:, 0] if i == 0 else sp + groups[:, i]
        sp = F.relu(_bn(_conv(sp, conv["weight"], conv["bias"], conv["d"])))
        pieces.append(sp)
    return _bn(_conv(torch.cat([*pieces, groups[:, scale - 1]], 1), block["conv3"]))


def noise2net(images: Tensor, net: dict) -> Tensor:
    """``Res2Net.forward_original``: x = x + ε·block(x) per block, on float (n, C, H, W) normalized images."""
    eps = net["epsilon"].to(images.device).view(-1, 1, 1, 1)
    x = images
    for block in net["blocks"]:
        x = bottle2neck(x, block, net["hidden"], net["scale"]) * eps + x
    return x


@AUGMENTATIONS.register("noise2net")
class Noise2NetMethod(Method):
    """Noise2Net with its ``Noise2NetParams``: a batch transform on the first ``fraction`` of each (shuffled) batch."""

    Params = Noise2NetParams
    leaves_pixel_range = True  # train_noise2net.py adds eps·block(x) to normalized images and never clamps

    def transform(
        self, views: list[Tensor], targets: Tensor, generator: torch.Generator
    ) -> tuple[list[Tensor], Tensor]:
        n = views[0].shape[0]
        count = int(n * self.options.fraction)  # type: ignore[attr-defined]  # options: Noise2NetParams (Params)  # train_noise2net.py: int(batch_size / 2)
        if count == 0:
            return views, targets
        net = sample_network(count, self.options, generator, views[0].shape[1])  # type: ignore[arg-type]
        out = []
        for v in views:
            with torch.no_grad():
                perturbed = noise2net(v[:count].float(), net)
            out.append(torch.cat([perturbed.to(v.dtype), v[count:]]))
        return out, targets
