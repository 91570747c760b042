"""Gaussian data augmentation as an augmix-lab plugin: one new method, `gaussian_da`, in one file.

Each image gets additive Gaussian noise in [0, 1] pixel space with its own standard deviation sigma ~ U(0, max_sigma)
(Rusak et al., ECCV 2020, "A simple way to make neural networks robust against diverse image corruptions": Gaussian
noise training with a per-image sigma). It is a view producer, so it can also feed AugMix's JSD loss.
"""

import torch
from pydantic import Field

from augmix_lab import api


class GaussianDAParams(api.MethodParams):
    max_sigma: float = Field(0.1, gt=0, le=1, description="a number in (0, 1]: the largest noise std, [0, 1] pixels")
    p: float = Field(0.5, ge=0, le=1, description="a number in [0, 1]: the chance an image gets noise at all")


@api.register_method("gaussian_da")
class GaussianDA(api.Method):
    """After the dataset's crop/flip: x + sigma * N(0, 1), sigma ~ U(0, max_sigma), with probability p per image."""

    Params = GaussianDAParams
    produces_views = True

    def view(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, device = images.shape[0], generator.device
        sigma = torch.rand(n, 1, 1, 1, generator=generator, device=device) * self.params["max_sigma"]
        keep = torch.rand(n, 1, 1, 1, generator=generator, device=device) < self.params["p"]
        noise = torch.randn(images.shape, generator=generator, device=device)
        x = images.to(device).float().div_(255) + torch.where(keep, sigma, 0.0) * noise
        return api.normalize(api.to_uint8(x.clamp_(0, 1)).to(images.device), self.ctx.mean, self.ctx.std)
