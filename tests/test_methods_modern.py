"""PRIME, PixMix, AugMax (+ DuBIN) and Noise2Net pinned to their official code: sampled parameters follow the official
distributions (the official formulas written out here, simulated with numpy and compared by two-sample KS tests on
fixed seeds), and fixed-parameter transforms equal direct ports of the official functions on a few images.

Ports (written from reading the official repositories; module docstrings cite files and commits):
amodas/PRIME-augmentations utils/{diffeomorphism,color_jitter,rand_filter}.py, andyzoujm/pixmix cifar.py +
pixmix_utils.py, VITA-Group/AugMax utils/attacks.py + augmax_modules/augmax.py + models/cifar10/resnet_DuBIN.py,
hendrycks/imagenet-r DeepAugment/train_noise2net.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import stats

from augmix_lab.augment import create_augmentation
from augmix_lab.augment import prime as P
from augmix_lab.augment.functional import denormalize_uint8, normalize
from augmix_lab.augment.noise2net import Noise2NetParams, noise2net, sample_network
from augmix_lab.augment.pixmix import get_ab, mix_add, mix_multiply, pixmix_mix, sample_draws
from augmix_lab.errors import UserError
from augmix_lab.models import create_model
from augmix_lab.models.dubin import DualBatchNorm2d, DuBIN, routed
from augmix_lab.training.augmax import AugMaxParams, augmax_attack, augmax_mix

KS_P = 1e-3  # fixed seeds: a law that differs is rejected far below this, an equal one passes far above


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same_law(ours: np.ndarray, official: np.ndarray) -> None:
    assert stats.ks_2samp(ours, official).pvalue > KS_P


# ------------------------------------------------------------------------------------------------------ PRIME laws


def test_prime_diffeo_cut_and_temperature_follow_the_official_laws() -> None:
    n, size, spec = 8000, 32, P.DiffeoSpec()
    ours = P.sample_diffeo(n, size, spec, rng(1))
    r = np.random.default_rng(1)
    # Diffeo._sample_params: cutmax = randint(cutmin + 1, cutmax + 1); forward: cut = int(Beta(.5, .5)·(cutmax + 1 -
    # cutmin) + cutmin) with sT = rT = scut = rcut = 1 -> Beta(1 - 1/2, 1/2)
    top = r.integers(spec.cut_min + 1, spec.cut_max + 1, n)
    cut = (r.beta(0.5, 0.5, n) * (top + 1 - spec.cut_min) + spec.cut_min).astype(int)
    # temperature_range(n, cut): c = cut + 1e-6, T1 = 1/(π n² ln c), T2 = 4/(π³ c² ln c); T2 = max(T1, α·T2)
    c = cut + 1e-6
    t1, t2 = 1 / (math.pi * size**2 * np.log(c)), 4 / (math.pi**3 * c**2 * np.log(c))
    temperature = r.beta(0.5, 0.5, n) * (np.maximum(t1, spec.alpha * t2) - t1) + t1
    same_law(ours["cut"].numpy(), cut)
    same_law(ours["temperature"].numpy(), temperature)
    assert int(ours["cut"].min()) >= spec.cut_min and int(ours["cut"].max()) <= spec.cut_max


def test_prime_color_and_filter_strengths_follow_the_official_laws() -> None:
    n = 20000
    color = P.sample_color(n, 3, P.ColorSpec(), rng(2), frequencies=100)
    # RandomSmoothColor._sample_params: cut = randint(1, 101); T = U(0, 0.01); coefficients N(0, T) for k <= cut
    cut = color["cut"].numpy()
    same_law(cut, np.random.default_rng(2).integers(1, 101, n))
    k = np.arange(1, 101)
    assert np.all(color["coeff"].numpy()[k[None, None, :] > cut[:, None, None].repeat(3, 1)] == 0)
    per_row_var = (color["coeff"] ** 2).sum((1, 2)).numpy() / (3 * cut)
    assert abs(per_row_var.mean() - 0.005) < 2e-4  # E[T] = 0.01 / 2
    band = P.sample_color(n, 3, P.ColorSpec(cut=500, temperature=0.05, bandwidth=20), rng(3))
    low, freqs, cut5 = band["band_start"].numpy(), band["frequencies"].numpy(), band["cut"].numpy()
    same_law(low / cut5, np.random.default_rng(3).random(n))  # min_k = randint(1, cut + 1): uniform on 1..cut
    assert np.all((freqs > cut5[:, None]) <= (band["coeff"].numpy()[:, 0] == 0))  # k < min(min_k + 20, cut + 1)
    kernels = P.sample_filter(n, P.FilterSpec(), rng(4))["kernels"].numpy()
    # RandomFilter: σ = U(0, 4); kernel = σ·randn(3, 3) + δ at [ceil(3/2), ceil(3/2)] = [2, 2]
    r = np.random.default_rng(4)
    sigma = r.uniform(0, 4, n)
    same_law(kernels[:, 0, 0], sigma * r.standard_normal(n))
    same_law(kernels[:, 2, 2] - 1, sigma * r.standard_normal(n))


def test_prime_chains_draw_depth_and_primitive_uniformly() -> None:
    ops = P.PRIMEAugment().chain_ops(30000, rng(5)).numpy()
    depth = (ops >= 0).sum(1)
    counts = np.bincount(depth, minlength=4)[1:]  # prime.py depth_combos = tril(ones(3, 3)): depth U{1, 2, 3}
    assert stats.chisquare(counts).pvalue > KS_P
    assert stats.chisquare(np.bincount(ops[ops >= 0], minlength=3)).pvalue > KS_P  # trans_idx: U{0, 1, 2}
    assert np.all(ops[:, 0] >= 0) and np.all(np.diff((ops >= 0).astype(int), axis=1) <= 0)  # a prefix of steps


# ------------------------------------------------------------------------------------------------ PRIME transforms


def official_scalar_field(n: int, c: torch.Tensor) -> torch.Tensor:
    """diffeomorphism.py ``scalar_field(n, m)`` with its c = randn(m, m) given (then · e)."""
    m = c.shape[0]
    x = torch.linspace(0, 1, n)
    k = torch.arange(1, m + 1, dtype=torch.float32)
    i, j = torch.meshgrid(k, k, indexing="ij")
    r = (i.pow(2) + j.pow(2)).sqrt()
    e = (r < m + 0.5) / r
    s = torch.sin(math.pi * x[:, None] * k[None, :])
    return torch.einsum("ij,xi,yj->yx", c * e, s, s)


def official_remap(a: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    n, m = a.shape[-2:]
    y, x = torch.meshgrid(torch.arange(n, dtype=dx.dtype), torch.arange(m, dtype=dx.dtype), indexing="ij")
    xn = (x - dx).clamp(0, m - 1)
    yn = (y - dy).clamp(0, n - 1)
    xf, yf, xc, yc = xn.floor().long(), yn.floor().long(), xn.ceil().long(), yn.ceil().long()
    xv, yv = xn - xf, yn - yf
    return ((1 - yv) * (1 - xv) * a[..., yf, xf] + (1 - yv) * xv * a[..., yf, xc] + yv * (1 - xv) * a[..., yc, xf]
            + yv * xv * a[..., yc, xc])


def official_deform(image: torch.Tensor, temperature: torch.Tensor, cu: torch.Tensor, cv: torch.Tensor) -> torch.Tensor:
    n = image.shape[-1]
    dx = temperature**0.5 * official_scalar_field(n, cu) * n
    dy = temperature**0.5 * official_scalar_field(n, cv) * n
    return official_remap(image, dx, dy)


def test_prime_diffeomorphism_equals_the_official_deform() -> None:
    g = rng(6)
    images = torch.rand((3, 3, 32, 32), generator=g)
    cut = torch.tensor([2, 7, 19])
    temperature = torch.tensor([0.02, 0.005, 0.001])
    coeff = torch.randn((2, 3, 20, 20), generator=g)
    dx, dy = P.diffeo_displacements(32, cut, temperature, coeff[0], coeff[1])
    ours = P.remap(images, dx, dy)
    for r in range(3):
        c = int(cut[r])
        expected = official_deform(images[r], temperature[r], coeff[0, r, :c, :c], coeff[1, r, :c, :c])
        torch.testing.assert_close(ours[r], expected, atol=2e-5, rtol=0)
    assert not torch.allclose(ours, images)


@pytest.mark.parametrize("recurrence", [True, False])
def test_prime_colour_equals_the_official_random_smooth_color(recurrence: bool) -> None:
    g = rng(7)
    images = torch.rand((3, 3, 16, 16), generator=g)
    images[0, 0, 0, :4] = torch.tensor([0.0, 1.0, 1e-4, 1 - 1e-4])  # where a plain recurrence loses accuracy
    cut, temperature = torch.tensor([100, 37, 3]), [0.01, 0.004, 0.009]
    raw = torch.randn((3, 3, 100), generator=g)
    k = torch.arange(1, 101)
    coeff = raw * (k <= cut[:, None])[:, None, :] * torch.sqrt(torch.tensor(temperature))[:, None, None]
    ours = P.smooth_color(images, {"cut": cut, "coeff": coeff, "frequencies": k.float().expand(3, 100)}, recurrence)
    for r in range(3):  # color_jitter.py random_smooth_color(img, cut, T), one image per call
        c = int(cut[r])
        colors = images[r : r + 1].reshape(1, 3, -1)
        coefficient = raw[r : r + 1, :, :c] * torch.sqrt(torch.tensor(temperature[r]))
        freqs = torch.sin(colors[..., None] * torch.arange(1, c + 1)[None, None, None, :] * math.pi)
        expected = (torch.einsum("bcf,bcnf->bcn", coefficient, freqs) + colors).clamp(0, 1).view(3, 16, 16)
        torch.testing.assert_close(ours[r], expected, atol=5e-5, rtol=0)


def test_prime_filter_equals_the_official_random_filter() -> None:
    g = rng(8)
    images = torch.rand((4, 3, 12, 12), generator=g)
    params = P.sample_filter(4, P.FilterSpec(), g)
    ours = P.random_filter(images, params)
    for r in range(4):  # rand_filter.py forward on one image: conv2d(c b h w, kernel, padding="same", groups=b)
        img = images[r : r + 1].permute(1, 0, 2, 3)
        out = F.conv2d(img, params["kernels"][r].view(1, 1, 3, 3), padding="same", groups=1)
        out[out.isnan()] = 1.0
        torch.testing.assert_close(ours[r], out.permute(1, 0, 2, 3)[0].clamp(0, 1))


def test_prime_views_are_normalized_mixtures_on_both_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    from augmix_lab.augment import ops

    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=rng(9))
    small = {"prime": {"diffeo_cut_max": 12, "color_cut": 12}}  # the masked engine sizes its draws by these
    for engine in ("sorted", "masked"):
        monkeypatch.setattr(ops, "ENGINE", engine)
        aug = create_augmentation("prime", params=small, jsd_arity=3)
        out = aug(images, torch.zeros(3, dtype=torch.long), rng(10))
        assert len(out.views) == 3 and all(v.shape == (3, 3, 32, 32) for v in out.views)
        assert all(bool(torch.isfinite(v).all()) and float(v.abs().max()) <= 1.0 + 1e-5 for v in out.views)
        assert not torch.equal(out.views[1], out.views[2])


# ------------------------------------------------------------------------------------------------------------ PixMix


def official_get_ab(beta: float, r: np.random.Generator) -> tuple[float, float]:
    """pixmix_utils.py get_ab."""
    if r.random() < 0.5:
        return np.float32(r.beta(beta, 1)), np.float32(r.beta(1, beta))
    return 1 + np.float32(r.beta(1, beta)), -np.float32(r.beta(1, beta))


def test_pixmix_draws_follow_the_official_laws() -> None:
    n, k, beta = 20000, 4, 3.0
    a, b = get_ab((n,), beta, rng(11))
    r = np.random.default_rng(11)
    official = np.array([official_get_ab(beta, r) for _ in range(n)])
    same_law(a.numpy(), official[:, 0])
    same_law(b.numpy(), official[:, 1])
    same_law((a + b).numpy(), official.sum(axis=1))  # the joint law: a and b are drawn independently in each branch
    same_law((a * b).numpy(), official.prod(axis=1))
    d = sample_draws(n, k, beta, rng(12))
    assert stats.chisquare(np.bincount(d["rounds"].numpy(), minlength=k + 1)).pvalue > KS_P  # randint(k + 1)
    for name in ("start_augmented", "use_copy", "multiply"):  # np.random.random() < 0.5, np.random.choice of two
        assert abs(float(d[name].float().mean()) - 0.5) < 0.02


def official_add(img1: torch.Tensor, img2: torch.Tensor, a: float, b: float) -> torch.Tensor:
    img1, img2 = img1 * 2 - 1, img2 * 2 - 1
    out = a * img1 + b * img2
    return (out + 1) / 2


def official_multiply(img1: torch.Tensor, img2: torch.Tensor, a: float, b: float) -> torch.Tensor:
    img1, img2 = img1 * 2, img2 * 2
    out = (img1**a) * (img2.clip(1e-37) ** b)
    return out / 2


def test_pixmix_mixing_equals_the_official_pixmix_loop() -> None:
    g = rng(13)
    n, k = 5, 4
    orig = torch.rand((n, 3, 8, 8), generator=g)
    copies = torch.rand((k + 1, n, 3, 8, 8), generator=g)
    picture = torch.rand((n, 3, 8, 8), generator=g)
    d = sample_draws(n, k, 3.0, g)
    d["rounds"] = torch.tensor([0, 1, 2, 4, 3])
    ours = pixmix_mix(orig, copies, picture, **d)
    for i in range(n):  # cifar.py pixmix(orig, mixing_pic) with its draws replayed
        mixed = copies[0, i] if d["start_augmented"][i] else orig[i]
        for j in range(int(d["rounds"][i])):
            partner = copies[j + 1, i] if d["use_copy"][i, j] else picture[i]
            op = official_multiply if d["multiply"][i, j] else official_add
            mixed = torch.clip(op(mixed, partner, float(d["a"][i, j]), float(d["b"][i, j])), 0, 1)
        torch.testing.assert_close(ours[i], mixed)
    assert mix_add is not None and mix_multiply is not None


def test_pixmix_trains_on_a_folder_and_names_a_bad_one(tmp_path) -> None:
    from PIL import Image

    folder = tmp_path / "mixing"
    folder.mkdir()
    for i in range(3):
        pixels = np.random.default_rng(i).integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    aug = create_augmentation("pixmix", params={"pixmix": {"mixing_set": str(folder)}})
    assert aug.parts[0].pictures.shape == (3, 3, 36, 36)  # Resize(36): the shorter side, then a square
    out = aug(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=rng(1)), torch.zeros(4), rng(2))
    assert out.views[0].shape == (4, 3, 32, 32)
    (tmp_path / "empty").mkdir()
    for bad, message in (("relative/path", "absolute"), (str(tmp_path / "none"), "not a folder"),
                         (str(tmp_path / "empty"), "no image files")):
        with pytest.raises(UserError, match=rf"method_params\.pixmix\.mixing_set: .*{message}"):
            create_augmentation("pixmix", params={"pixmix": {"mixing_set": bad}})


def test_procedural_fractals_are_seeded_and_coloured() -> None:
    from augmix_lab.augment.fractals import fractal_images

    a, b, c = fractal_images(6, 36, 0), fractal_images(6, 36, 0), fractal_images(6, 36, 1)
    assert torch.equal(a, b) and not torch.equal(a, c) and a.dtype == torch.uint8
    assert a.shape == (6, 3, 36, 36) and int(a.float().std(dim=(1, 2, 3)).min()) > 5  # not flat pictures


# ----------------------------------------------------------------------------------------------------------- AugMax


def official_augmax_module(xs: list[torch.Tensor], m: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """augmax.py AugMaxModule.forward."""
    x_ori = xs[0]
    w = torch.nn.functional.softmax(q, dim=1)
    n = x_ori.size()[0]
    x_mix = torch.zeros_like(x_ori)
    for i, x_aug in enumerate(xs[1:]):
        x_mix += w[:, i].view((n, 1, 1, 1)).expand_as(x_aug) * x_aug
    m = m.view((n, 1, 1, 1)).expand_as(x_ori)
    return (1 - m) * x_ori + m * x_mix


def official_fat(model: nn.Module, xs: list[torch.Tensor], labels: torch.Tensor, m_adv: torch.Tensor,
                 q_adv: torch.Tensor, steps: int = 5, alpha: float = 0.1, tau: int = 1) -> torch.Tensor:
    """attacks.py FriendlyAugMaxAttack.attack (untargeted, not noisy), its m/q initial draws given."""
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    m_adv.requires_grad = True
    q_adv.requires_grad = True
    x_adv = official_augmax_module(xs, m_adv, q_adv)
    budget = torch.ones(len(labels)) * tau
    for _ in range(steps):
        logits_adv = model(x_adv)
        pred = logits_adv.max(1, keepdim=True)[1]
        incorrect_sample_idx = pred.squeeze() != labels
        havent_used_up_budget_idx = budget != 0
        budget[torch.logical_and(incorrect_sample_idx, havent_used_up_budget_idx)] -= 1
        attack_sample_idx = (budget > 0).detach().cpu().numpy()
        if np.sum(attack_sample_idx) == 0:
            break
        loss_adv = loss_fn(logits_adv, labels)
        grad_m_adv, grad_q_adv = torch.autograd.grad(loss_adv, [m_adv, q_adv], only_inputs=True)
        grad_m_adv.data[~attack_sample_idx].zero_()  # as written: indexing copies, so nothing is zeroed
        grad_q_adv.data[~attack_sample_idx].zero_()
        m_adv.data.add_(alpha * torch.sign(grad_m_adv.data))
        m_adv = torch.clamp(m_adv, 0, 1)
        q_adv.data.add_(alpha * torch.sign(grad_q_adv.data))
        x_adv = official_augmax_module(xs, m_adv, q_adv)
    return x_adv


def small_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10)).double().eval()


def test_augmax_attack_equals_the_official_fat_attack() -> None:
    g = rng(14)
    n, k = 6, 3
    clean = torch.randn((n, 3, 8, 8), generator=g, dtype=torch.float64)
    chains = torch.randn((k, n, 3, 8, 8), generator=g, dtype=torch.float64)
    labels = torch.randint(0, 10, (n,), generator=g)
    model = small_model(0)
    for p in model.parameters():
        p.requires_grad_(False)
    ours, m, q = augmax_attack(model, clean, chains, labels, steps=5, step_size=0.1, generator=rng(15))
    init = rng(15)
    m0 = torch.rand(n, generator=init).double()  # attacks.py: m_adv = torch.rand(N); q_adv = torch.rand((N, width))
    q0 = torch.rand((n, k), generator=init).double()
    expected = official_fat(model, [clean, *chains], labels, m0, q0)
    torch.testing.assert_close(ours, expected.detach())
    assert torch.allclose(augmax_mix(clean, chains, m, q), ours)


def test_augmax_mask_stopped_freezes_images_that_used_their_budget() -> None:
    g = rng(16)
    n, k = 8, 3
    clean = torch.randn((n, 3, 8, 8), generator=g, dtype=torch.float64)
    chains = torch.randn((k, n, 3, 8, 8), generator=g, dtype=torch.float64)
    model = small_model(1)
    labels = model(clean).argmax(1)
    labels[:4] = (labels[:4] + 1) % 10  # the first four are misclassified from the start: budget used at step 1
    _, m, _ = augmax_attack(model, clean, chains, labels, steps=3, step_size=0.1, mask_stopped=True, generator=rng(17))
    m0 = torch.rand(n, generator=rng(17))
    assert torch.allclose(m[:4], m0[:4].double())  # frozen at their initial weights
    _, m_code, _ = augmax_attack(model, clean, chains, labels, steps=3, step_size=0.1, generator=rng(17))
    assert not torch.allclose(m_code[:4], m0[:4].double())  # the official code keeps moving them


def test_dubin_routes_rows_and_matches_the_official_layers() -> None:
    g = rng(18)
    layer = DualBatchNorm2d(4).train()
    x = torch.randn((9, 4, 5, 5), generator=g)
    with routed(layer, (3, 6)):
        y = layer(x)
    main, aux = nn.BatchNorm2d(4).train(), nn.BatchNorm2d(4).train()
    expected_main = main(torch.cat([x[:3], x[6:]]))
    torch.testing.assert_close(y[3:6], aux(x[3:6]))
    torch.testing.assert_close(torch.cat([y[:3], y[6:]]), expected_main)
    torch.testing.assert_close(layer.aux.running_mean, aux.running_mean)
    assert layer.route == "M"  # restored
    dubin = DuBIN(6).train()  # resnet_DuBIN.py: IN(affine) on int(6·0.5) = 3 channels, dual BN on the other 3
    x = torch.randn((4, 6, 5, 5), generator=g)
    torch.testing.assert_close(dubin(x), torch.cat([nn.InstanceNorm2d(3, affine=True)(x[:, :3]),
                                                    nn.BatchNorm2d(3).train()(x[:, 3:])], 1))
    wrn = create_model("wrn40_2", 10, norm="dubin")  # wideresnet_DuBIN.py: block1 and block2 (6 blocks each) IBN-a
    assert sum(isinstance(m, DuBIN) for m in wrn.modules()) == 12
    assert all(_inside_dual(wrn, m) for m in wrn.modules() if type(m) is nn.BatchNorm2d)


def _inside_dual(model: nn.Module, bn: nn.Module) -> bool:
    return any(bn is d.main or bn is d.aux for d in model.modules() if isinstance(d, DualBatchNorm2d))


def test_augmax_step_adds_two_views_and_routes_the_augmax_rows() -> None:
    from augmix_lab.config import TrialConfig
    from augmix_lab.training import build_train_step

    cfg = TrialConfig(method="augmax", norm="dubin", jsd={"arity": 1}, device="cpu",
                      method_params={"augmax": {"steps": 1}})
    model = create_model("small_cnn", 10, norm="dubin")
    seen: list[object] = []
    layer = next(m for m in model.modules() if isinstance(m, DualBatchNorm2d))
    layer.register_forward_pre_hook(lambda mod, inp: seen.append((mod.route, mod.training, inp[0].shape[0])))
    step = build_train_step(cfg, model, num_classes=10, mean=(0.5,) * 3, std=(0.5,) * 3, kind="cifar",
                            image_size=32, device=torch.device("cpu"))
    assert step.jsd_weight == AugMaxParams().consistency_weight == 10.0  # --Lambda 10
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=rng(19))
    out = step(images, torch.randint(0, 10, (4,), generator=rng(20)))
    assert bool(torch.isfinite(out.loss)) and out.logits.shape == (4, 10)
    assert seen[0] == ("A", False, 4)  # the attack: auxiliary BN, eval mode
    assert seen[-1] == ((4, 8), True, 12)  # training forward over [clean, AugMax, AugMix]: rows 4..8 on the aux BN
    assert layer.route == "M" and model.training


def test_denormalize_recovers_the_pipeline_images_exactly() -> None:
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=rng(21))
    for mean, std in (((0.5,) * 3, (0.5,) * 3), ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        assert torch.equal(denormalize_uint8(normalize(images, mean, std), mean, std), images)


# -------------------------------------------------------------------------------------------------------- Noise2Net


class OfficialBottle2neck(nn.Module):
    """train_noise2net.py Bottle2neck (K, D given instead of random.choice)."""

    def __init__(self, inplanes: int, planes: int, kd: list[tuple[int, int]], hidden_planes: int = 16,
                 scale: int = 4, batch_size: int = 5) -> None:
        super().__init__()
        width = hidden_planes * batch_size
        self.conv1 = nn.Conv2d(inplanes * batch_size, width * scale, kernel_size=1, bias=False, groups=batch_size)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.nums = scale - 1
        self.convs = nn.ModuleList([nn.Conv2d(width, width, kernel_size=k, stride=1, padding=int(((k - 1) / 2) * d),
                                              dilation=d, bias=True, groups=batch_size) for k, d in kd])
        self.bns = nn.ModuleList([nn.BatchNorm2d(width) for _ in kd])
        self.conv3 = nn.Conv2d(width * scale, planes * batch_size, kernel_size=1, bias=False, groups=batch_size)
        self.bn3 = nn.BatchNorm2d(planes * batch_size)
        self.act = nn.ReLU(inplace=True)
        self.scale, self.width, self.hidden_planes, self.batch_size = scale, width, hidden_planes, batch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        out = self.act(self.bn1(self.conv1(x)))
        out = out.view(1, self.batch_size, self.scale, self.hidden_planes, h, w)
        out = torch.flatten(torch.transpose(out, 1, 2), start_dim=1, end_dim=3)
        spx = torch.split(out, self.width, 1)
        for i in range(self.nums):
            sp = spx[i] if i == 0 else sp + spx[i]
            sp = self.act(self.bns[i](self.convs[i](sp)))
            out = sp if i == 0 else torch.cat((out, sp), 1)
        out = torch.cat((out, spx[self.nums]), 1)
        out = out.view(1, self.scale, self.batch_size, self.hidden_planes, h, w)
        out = torch.flatten(torch.transpose(out, 1, 2), start_dim=1, end_dim=3)
        return self.bn3(self.conv3(out))


def test_noise2net_equals_the_official_res2net_with_the_same_weights() -> None:
    n, g = 3, rng(22)
    p = Noise2NetParams()
    net = sample_network(n, p, g)
    images = torch.randn((n, 3, 16, 16), generator=g)
    x = images.reshape(1, n * 3, 16, 16)
    eps = net["epsilon"].repeat_interleave(3).view(1, n * 3, 1, 1)
    for block in net["blocks"]:  # Res2Net.forward_original: x = block(x) * epsilon + x, per block
        official = OfficialBottle2neck(3, 3, [(c["k"], c["d"]) for c in block["convs"]], batch_size=n).train()
        with torch.no_grad():
            official.conv1.weight.copy_(block["conv1"])
            official.conv3.weight.copy_(block["conv3"])
            for conv, ours in zip(official.convs, block["convs"]):
                conv.weight.copy_(ours["weight"])
                conv.bias.copy_(ours["bias"])
            x = official(x) * eps + x
    torch.testing.assert_close(noise2net(images, net), x.view(n, 3, 16, 16), atol=1e-4, rtol=1e-4)


def test_noise2net_draws_follow_the_official_laws() -> None:
    p = Noise2NetParams()
    net = sample_network(400, p, rng(23))
    eps = net["epsilon"].numpy()
    same_law(eps, np.random.default_rng(23).uniform(0.375, 0.75, 400))  # random.uniform(max_eps / 2, max_eps)
    conv1 = net["blocks"][0]["conv1"].numpy().ravel()  # Conv2d.reset_parameters: U(±1/√fan_in), fan_in = 3
    same_law(conv1[:20000], np.random.default_rng(24).uniform(-1 / math.sqrt(3), 1 / math.sqrt(3), 20000))
    shapes = [(c["k"], c["d"]) for _ in range(60) for b in sample_network(1, p, rng(_))["blocks"] for c in b["convs"]]
    counts = np.array([shapes.count((k, d)) for k in (1, 3) for d in (1, 2, 3)])
    assert stats.chisquare(counts).pvalue > KS_P  # K = choice([1, 3]), D = choice([1, 2, 3])


def test_noise2net_perturbs_the_first_half_of_every_view_alike() -> None:
    aug = create_augmentation("augmix+noise2net", jsd_arity=3)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=rng(25))
    plain = create_augmentation("augmix", jsd_arity=3)(images, torch.zeros(8, dtype=torch.long), rng(26))
    out = aug(images, torch.zeros(8, dtype=torch.long), rng(26))
    for before, after in zip(plain.views, out.views):
        assert torch.equal(before[4:], after[4:]) and not torch.allclose(before[:4], after[:4])


# ----------------------------------------------------------------------------------------------------------- report


def test_the_methods_table_shows_cost_x_standard_and_each_paper_s_number(tmp_path) -> None:
    from test_report_tables import fixture_results

    from augmix_lab.report.cost import cost_ratio
    from augmix_lab.report.paper_numbers import METHOD_PAPER_NUMBERS, method_paper_number
    from augmix_lab.report.plots.cost import cost_plots
    from augmix_lab.report.tables import build_tables

    res = fixture_results()
    table = {t.name: t for t in build_tables(res)}["methods"]
    rows = {(r[0], r[2]): r for r in table.rows}
    cost = table.header.index("Cost (× standard)")
    augmix = next(c for c in res.conditions if (c.dataset, c.variant) == ("cifar10", "augmix"))
    # fixture device seconds: standard 300 + 5·s, augmix 900 + 8.5·s for seeds s = 0, 1, 2: ratios paired by seed
    expected = np.mean([(900 + 8.5 * s) / (300 + 5 * s) for s in range(3)])
    assert cost_ratio(res, augmix).mean == pytest.approx(expected)
    assert rows[("cifar10", "augmix")][cost].startswith(f"{expected:.2f}×")
    assert rows[("cifar10", "standard")][cost].startswith("1.00×")
    assert rows[("cifar10", "augmix")][-1].startswith("11.20 ")  # AugMix paper Table 1, WRN-40-2, CIFAR-10-C
    assert rows[("imagenet", "augmix")][-1].startswith("68.40 mCE")  # AugMix paper Table 2, ResNet-50
    assert any("Table 1" in n for n in table.notes)
    prime = method_paper_number("prime", True, "shapes", "small_cnn", "mean_corruption_error")
    assert prime is not None and (prime.value, prime.model, prime.dataset) == (11.0, "resnet18_cifar", "cifar10")
    assert method_paper_number("noise2net", False, "cifar10", "wrn40_2", "mean_corruption_error") is None
    assert {n.method for n in METHOD_PAPER_NUMBERS} == {"prime", "augmax", "pixmix"}
    plots = cost_plots(res, tmp_path)
    groups = sorted({(c.dataset, c.model) for c in res.conditions})  # one plot per (dataset, model) of the fixture
    assert [p.name for p in plots] == [f"cost_vs_corruption_error_{d}_{m}" for d, m in groups]
    assert "cost_vs_corruption_error_cifar10_wrn40_2" in [p.name for p in plots]
    assert (tmp_path / plots[0].files["png"]).stat().st_size > 1000
