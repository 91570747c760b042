"""Model registry: exact parameter counts of every architecture, forward shapes, reference init and quirks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from augmix_lab.errors import UserError
from augmix_lab.models import MODELS, create_model
from augmix_lab.models.allconv import SigmoidGELU

# Exact counts of our builds; the published figures they round to are in the comments.
PARAMS = {
    ("small_cnn", 10): 98_970,
    ("allconv", 10): 1_409_674,  # AllConvNet ~1.4M
    ("densenet_bc_100_12", 10): 769_162,  # DenseNet-BC (k=12, d=100) 0.8M (Huang et al. 2017, Table 2)
    ("densenet_40_12", 10): 1_059_298,  # DenseNet (k=12, d=40) 1.0M (Huang et al. 2017, Table 2)
    ("wrn40_2", 10): 2_243_546,  # WRN-40-2 2.2M (Zagoruyko & Komodakis 2016)
    ("resnext29_32x4d", 10): 6_807_882,  # ResNeXt-29 32x4d 6.8M (RobustBench Hendrycks2020AugMix_ResNeXt)
    ("resnet18_cifar", 10): 11_173_962,  # CIFAR ResNet-18 11.2M
    ("resnet50", 1000): 25_557_032,  # torchvision ResNet-50 25.6M
}


def test_every_registered_model_has_a_pinned_count() -> None:
    assert sorted({name for name, _ in PARAMS}) == MODELS.names()


@pytest.mark.parametrize(("name", "num_classes"), sorted(PARAMS))
def test_parameter_count(name: str, num_classes: int) -> None:
    with torch.device("meta"):  # no memory, no init cost
        model = create_model(name, num_classes)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[(name, num_classes)]


def input_size(name: str) -> int:
    """The side of a small test input for a registered model, from its registry ``input`` note."""
    return 64 if MODELS.meta(name).get("input") == "224 px" else 32  # ImageNet nets: a small ImageNet-style input


@pytest.mark.parametrize("name", MODELS.names())  # every registered model, timm style
def test_every_registered_model_maps_a_batch_of_one_to_logits(name: str) -> None:
    assert "input" in MODELS.meta(name), "register the model with its input size note"
    torch.manual_seed(0)
    model = create_model(name, num_classes=7).eval()
    size = input_size(name)
    with torch.no_grad():
        out = model(torch.randn(1, 3, size, size))  # batch of one: no squeeze() pitfalls
    assert out.shape == (1, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS.names())
def test_every_registered_model_takes_the_dubin_norm(name: str) -> None:
    """AugMax's DuBIN (models/dubin.py): every BatchNorm2d becomes a dual BN, some with instance norm (IBN-a)."""
    from augmix_lab.models.dubin import DualBatchNorm2d, DuBIN

    model = create_model(name, num_classes=7, norm="dubin")
    modules = list(model.modules())
    duals = [m for m in modules if isinstance(m, DualBatchNorm2d)]
    assert any(isinstance(m, DuBIN) for m in modules) and duals
    inside = {id(b) for d in duals for b in (d.main, d.aux)}
    assert all(id(m) in inside for m in modules if type(m) is torch.nn.BatchNorm2d)


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS.names())
def test_every_dubin_model_trains_with_routed_rows(name: str) -> None:
    from augmix_lab.models.dubin import routed

    torch.manual_seed(0)
    model = create_model(name, num_classes=7, norm="dubin").train()
    size = input_size(name)
    with routed(model, (2, 4)):  # AugMax's rows on the auxiliary BN
        out = model(torch.randn(6, 3, size, size))
    assert out.shape == (6, 7) and torch.isfinite(out).all()


def test_resnet50_accepts_a_small_imagenet_style_input() -> None:
    model = create_model("resnet50", num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)


def test_unknown_model_is_a_user_error_with_a_suggestion() -> None:
    with pytest.raises(UserError, match=r"unknown model 'wrn40-2'.*'wrn40_2'"):
        create_model("wrn40-2", 10)
    with pytest.raises(UserError, match="num_classes"):
        create_model("small_cnn", 0)


def test_reference_init_he_normal_on_fan_out_and_unit_batchnorm() -> None:
    torch.manual_seed(0)
    model = create_model("wrn40_2", 10)
    conv = model.block3[0].conv2  # 128->128 3x3: fan_out = 9*128
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2.0 / (9 * 128)), rel=0.05)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert torch.all(model.fc.bias == 0)


def test_allconv_uses_the_sigmoid_gelu_approximation_and_dropout() -> None:
    x = torch.linspace(-4, 4, 101)
    assert torch.allclose(SigmoidGELU()(x), torch.sigmoid(1.702 * x) * x)
    assert not torch.allclose(SigmoidGELU()(x), nn.GELU()(x))  # not the exact erf form
    model = create_model("allconv", 10)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.5, 0.5]


def test_densenet_variants_differ_as_documented() -> None:
    with torch.device("meta"):
        bc = create_model("densenet_bc_100_12", 10)
        plain = create_model("densenet_40_12", 10)
    # BC: 16 bottleneck layers per block (1x1 to 48 ch, then 3x3), compression 0.5 at transitions.
    assert len(bc.dense1) == 16 and bc.dense1[0].conv1.out_channels == 48
    assert bc.trans1.conv1.out_channels == bc.trans1.conv1.in_channels // 2
    assert len(plain.dense1) == 12 and plain.trans1.conv1.out_channels == plain.trans1.conv1.in_channels
