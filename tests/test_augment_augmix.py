"""Batched AugMix and every registered method, on real `shapes` images: agreement with the per-image PIL oracle
(paper Algorithm 1 / google-research/augmix), per-image independence, seeds, the sampled weights, what each knob
does to the output, JSD views, and bad knobs rejected with the allowed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from augmix_lab.augment import AUGMENTATIONS, PAPER_OPS, AugmentAndMix, MethodParams, create_augmentation, normalize
from augmix_lab.augment import ops as ops_module
from augmix_lab.augment.reference import augment_and_mix_params
from augmix_lab.errors import UserError

POINTWISE_OPS = ("autocontrast", "equalize", "posterize", "solarize")  # no resampling: bit-exact vs PIL
ENHANCE_OPS = ("color", "contrast", "brightness", "sharpness")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """uint8 (32, 3, 32, 32) test images of the generated shapes dataset."""
    from augmix_lab.data import load_dataset

    return load_dataset("shapes", n_train=1, n_test=32).test_images[:32].contiguous()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def oracle(images: torch.Tensor, aug: AugmentAndMix, params) -> torch.Tensor:  # noqa: ANN001
    """The PIL reference applied image by image with the very draws the batched path used."""
    out = []
    for i, x in enumerate(images):
        pil = Image.fromarray(x.permute(1, 2, 0).numpy())
        out.append(augment_and_mix_params(pil, aug.op_names, params, i, aug.mean, aug.std))
    return torch.stack(out)


# every engine of augment/ops.py (the registry: a new engine meets the oracle without a new test); "auto" picks one
ENGINES = tuple(e for e in ops_module.ENGINES if e != "auto")


def engine_aug(engine: str, **knobs) -> AugmentAndMix:  # noqa: ANN003
    """AugMix on ``engine``, checked to be the engine that runs here (no silent fallback to another one)."""
    aug = AugmentAndMix(engine=engine, **knobs)
    assert ops_module.resolve_engine(engine, torch.device("cpu"), 32, aug.op_names) == engine
    return aug


@pytest.mark.parametrize("engine", ENGINES)
def test_pointwise_chains_equal_the_pil_oracle(images: torch.Tensor, engine: str) -> None:
    aug = engine_aug(engine, ops=POINTWISE_OPS + ENHANCE_OPS)
    params = aug.make_params(len(images), gen(0))
    diff = (aug.apply(images, params) - oracle(images, aug, params)).abs()
    # identical uint8 chains; the mix differs only by float32 summation order (one matmul vs a running sum)
    assert float(diff.max()) < 1e-5


@pytest.mark.parametrize("engine", ENGINES)
def test_paper_op_chains_match_the_pil_oracle_within_the_stated_bound(images: torch.Tensor, engine: str) -> None:
    """Resampling ops may land one uint8 level away from PIL (float32 vs double coordinates); later ops in a chain
    (equalize, autocontrast) can widen such a pixel. Pinned: almost every output value equal, small mean gap. The
    compiled engine resamples in PIL's double arithmetic: equal up to the mix's float32 summation order."""
    aug = engine_aug(engine, width=3, depth=-1, severity=3)
    params = aug.make_params(len(images), gen(1))
    ours, ref = aug.apply(images, params), oracle(images, aug, params)
    diff = (ours - ref).abs()
    if engine == "compiled":
        assert float(diff.max()) < 1e-5
    level = 1 / (255 * 0.5)  # one uint8 step in the normalized (std 0.5) space
    assert float((diff < 1e-5).float().mean()) >= 0.99  # measured 0.9965-0.999 over four seeds
    assert float(diff.mean()) <= 0.01 * level  # measured <= 0.0015 levels
    assert float(diff.max()) <= 64 * level  # measured <= 25: a level shift stretched by equalize, times w·m <= 1


def test_two_identical_images_get_independent_draws_and_outputs(images: torch.Tensor) -> None:
    aug = AugmentAndMix()
    pair = images[:1].repeat(2, 1, 1, 1)
    params = aug.make_params(2, gen(2))
    assert not torch.equal(params.weights[0], params.weights[1]) and params.mix[0] != params.mix[1]
    out = aug.apply(pair, params)
    assert not torch.equal(out[0], out[1])


def test_a_seed_reproduces_a_batch_and_another_seed_does_not(images: torch.Tensor) -> None:
    aug = AugmentAndMix()
    assert torch.equal(aug(images, gen(7)), aug(images, gen(7)))
    assert not torch.equal(aug(images, gen(7)), aug(images, gen(8)))


def test_mixing_weights_are_dirichlet_and_beta(images: torch.Tensor) -> None:
    n = 20_000
    for k, alpha in ((3, 1.0), (5, 0.5)):
        p = AugmentAndMix(width=k, alpha=alpha).make_params(n, gen(3))
        assert p.weights.shape == (n, k) and bool((p.weights >= 0).all())
        assert torch.allclose(p.weights.sum(1), torch.ones(n), atol=1e-6)
        assert bool(((p.mix >= 0) & (p.mix <= 1)).all())
        assert abs(float(p.weights.mean()) - 1 / k) < 0.01  # E[w_i] = 1/k
        assert abs(float(p.mix.mean()) - 0.5) < 0.01  # E[m] = 1/2 for Beta(α, α)
        expected_var = (1 / k) * (1 - 1 / k) / (k * alpha + 1)  # Dirichlet marginal variance
        assert abs(float(p.weights[:, 0].var()) - expected_var) < 0.1 * expected_var
        assert abs(float(p.mix.var()) - 1 / (4 * (2 * alpha + 1))) < 0.005  # Beta(α, α) variance


def test_depth_width_and_severity_shape_the_draws() -> None:
    n = 4000
    random_depth = AugmentAndMix(depth=-1).make_params(n, gen(4)).depths
    assert set(random_depth.unique().tolist()) == {1, 2, 3}  # reference: np.random.randint(1, 4)
    assert (AugmentAndMix(depth=2).make_params(n, gen(4)).depths == 2).all()
    assert AugmentAndMix(width=5).make_params(n, gen(4)).ops.shape[:2] == (n, 5)
    levels = AugmentAndMix(severity=6).make_params(n, gen(4)).levels
    assert float(levels.min()) >= 0.1 and float(levels.max()) < 6  # sample_level: U(0.1, severity)
    assert float(levels.max()) > 5.9


def _distance_to_clean(images: torch.Tensor, aug: AugmentAndMix, seed: int = 5) -> float:
    return float((aug(images, gen(seed)) - normalize(images, aug.mean, aug.std)).abs().mean())


def test_each_knob_changes_the_output_distribution(images: torch.Tensor) -> None:
    base = _distance_to_clean(images, AugmentAndMix(severity=3))
    assert _distance_to_clean(images, AugmentAndMix(severity=10)) > 1.2 * base  # stronger ops
    assert _distance_to_clean(images, AugmentAndMix(severity=1)) < base
    assert _distance_to_clean(images, AugmentAndMix(depth=3)) > _distance_to_clean(images, AugmentAndMix(depth=1))
    # width: a mix of more chains averages them out, so it sits closer to its mean than one chain does
    one = torch.stack([AugmentAndMix(width=1)(images, gen(s)) for s in range(6)])
    many = torch.stack([AugmentAndMix(width=5)(images, gen(s)) for s in range(6)])
    assert float(many.std(0).mean()) < float(one.std(0).mean())
    # alpha: small α makes m ~ Beta(α, α) extreme (often ≈ 0 = clean image), large α keeps it near 1/2
    small, large = AugmentAndMix(alpha=0.1), AugmentAndMix(alpha=10.0)
    assert float(small.make_params(2000, gen(6)).mix.var()) > 5 * float(large.make_params(2000, gen(6)).mix.var())
    assert _distance_to_clean(images, small) != pytest.approx(_distance_to_clean(images, large), rel=0.05)


def test_all_ops_adds_the_four_corruption_overlapping_ops() -> None:
    assert AugmentAndMix().op_names == PAPER_OPS and len(PAPER_OPS) == 9
    assert AugmentAndMix(all_ops=True).op_names == PAPER_OPS + ENHANCE_OPS


@pytest.mark.parametrize("arity", [1, 2, 3, 4])
def test_jsd_arity_n_gives_the_clean_view_and_n_minus_1_independent_views(images: torch.Tensor, arity: int) -> None:
    aug = create_augmentation("augmix", jsd_arity=arity)
    labels = torch.arange(len(images)) % 10
    out = aug(images, labels, gen(9))
    assert len(out.views) == arity == aug.num_views
    assert all(v.shape == (len(images), 3, 32, 32) and v.dtype == torch.float32 for v in out.views)
    assert torch.equal(out.targets, labels)
    if arity > 1:  # views[0] is the crop/flipped image, only normalized
        levels = (out.views[0] * 0.5 + 0.5) * 255
        assert torch.allclose(levels, levels.round(), atol=1e-3)
        for a in range(1, arity):
            for b in range(a + 1, arity):
                assert not torch.equal(out.views[a], out.views[b])


@pytest.mark.parametrize("method", AUGMENTATIONS.names())
def test_every_registered_method_runs_on_shapes_and_keeps_shape_dtype_range(images: torch.Tensor, method: str) -> None:
    aug = create_augmentation(method, jsd_arity=1)
    labels = torch.arange(len(images)) % 10
    out = aug(images, labels, gen(10))
    (view,) = out.views
    assert view.shape == (len(images), 3, 32, 32) and view.dtype == torch.float32
    assert bool(torch.isfinite(view).all())
    if not getattr(AUGMENTATIONS.get(method), "leaves_pixel_range", False):  # Noise2Net: unclamped by design
        assert float(view.min()) >= -1 - 1e-5 and float(view.max()) <= 1 + 1e-5  # mean = std = 0.5: pixels in [0, 1]
    if method in ("mixup", "cutmix"):
        assert out.targets.shape == (len(images), 10)
        assert torch.allclose(out.targets.sum(1), torch.ones(len(images)))
    else:
        assert torch.equal(out.targets, labels)
    if method != "none":
        assert not torch.equal(view, normalize(images, (0.5,) * 3, (0.5,) * 3)), "the method changes the batch"


@pytest.mark.parametrize("method", AUGMENTATIONS.names())
def test_every_registered_method_validates_its_own_params(method: str) -> None:
    params_model = AUGMENTATIONS.get(method).Params
    assert issubclass(params_model, MethodParams)
    params_model()  # the defaults are valid
    assert all(f.description for f in params_model.model_fields.values()), "each option says what is allowed"
    with pytest.raises(UserError, match=rf"^method_params\.{method}: unknown key\(s\) bogus; allowed: "):
        create_augmentation(method, params={method: {"bogus": 1}})


def test_composition_feeds_jsd_and_mixes_targets(images: torch.Tensor) -> None:
    aug = create_augmentation("augmix+mixup", jsd_arity=3)
    out = aug(images, torch.arange(len(images)) % 10, gen(11))
    assert len(out.views) == 3 and out.targets.shape == (len(images), 10)


def test_batched_augmix_runs_on_the_images_device_without_changing_results_by_chunk(images: torch.Tensor) -> None:
    aug = AugmentAndMix()
    params = aug.make_params(len(images), gen(12))
    whole = aug.apply(images, params)
    halves = torch.cat([aug.apply(images[:13], params.select(slice(0, 13))),
                        aug.apply(images[13:], params.select(slice(13, None)))])
    assert torch.equal(whole, halves)


@pytest.mark.parametrize(
    ("build", "allowed"),
    [
        (lambda: AugmentAndMix(width=0), ">= 1"),
        (lambda: AugmentAndMix(alpha=0.0), "> 0"),
        (lambda: AugmentAndMix(severity=11), "1..10"),
        (lambda: AugmentAndMix(depth=0), "-1"),
        (lambda: AugmentAndMix(ops=["rotate", "blur"]), "allowed: autocontrast"),
        (lambda: create_augmentation("augmix", jsd_arity=5), "1..4"),
        (lambda: create_augmentation("augmx"), "Allowed:"),
        (lambda: create_augmentation("mixup", jsd_arity=3), "view-producing method: augmix"),
        (lambda: create_augmentation("augmix", params={"augmix": {"width": 0}}), "augmix.width: got 0; allowed: an integer >= 1"),
        (lambda: create_augmentation("augmix", params={"augmix": {"depth": 0}}), "-1 (random chain depth"),
        (lambda: create_augmentation("cutout", params={"cutout": {"size": 0}}), "allowed: an integer >= 1"),
    ],
)
def test_bad_knobs_are_rejected_with_what_is_allowed(build, allowed: str) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=allowed.replace(".", r"\.").replace("(", r"\(")):
        build()


def test_reference_uses_numpy_draws_the_way_cifar_py_does() -> None:
    from augmix_lab.augment.reference import sample_reference_params

    p = sample_reference_params(np.random.default_rng(0), len(PAPER_OPS))
    assert p["weights"].dtype == np.float32 and abs(float(p["weights"].sum()) - 1) < 1e-6
    depths = (p["ops"] >= 0).sum(1)
    assert ((depths >= 1) & (depths <= 3)).all()
