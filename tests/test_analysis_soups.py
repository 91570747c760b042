"""Model soups: uniform mean, greedy Algorithm 1 on a toy with a known answer, BN re-estimation, refused members."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from augmix_lab.analysis import SoupMember, check_compatible, greedy_soup, recompute_batchnorm, uniform_soup
from augmix_lab.augment import normalize
from augmix_lab.errors import UserError


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 2 * 2, 3))


def _scalar_member(name: str, w: float, init: str = "base") -> SoupMember:
    return SoupMember(name, {"w": torch.tensor([w], dtype=torch.float32)}, init=init, arch="toy")


def _acc(sd) -> float:  # toy held-out accuracy: best at w = 0
    return max(0.0, 1.0 - abs(float(sd["w"][0])))


def test_uniform_soup_is_the_mean_of_float_weights_and_keeps_integer_buffers():
    sds = []
    for s in range(3):
        net = _net(s)
        net[1].num_batches_tracked.fill_(10 + s)
        sds.append(net.state_dict())
    soup = uniform_soup(sds)
    for k, v in soup.items():
        if v.is_floating_point():
            assert torch.allclose(v, torch.stack([sd[k] for sd in sds]).mean(0), atol=1e-7), k
            assert v.dtype == sds[0][k].dtype
    assert int(soup["1.num_batches_tracked"]) == 10  # counters are copied from member 0, never averaged
    assert not any(torch.equal(soup["0.weight"], sd["0.weight"]) for sd in sds)


def test_greedy_soup_follows_algorithm_1_on_a_known_toy():
    members = [_scalar_member("A", 0.2), _scalar_member("B", -0.3), _scalar_member("C", 5.0),
               _scalar_member("D", -0.1)]
    soup, chosen, history = greedy_soup(members, _acc)
    # sorted D(0.9) A(0.8) B(0.7) C(0); D+A -> w=0.05 (0.95, kept); +B -> -0.067 (0.933 < 0.95); +C -> 1.7 (0)
    assert chosen == ["D", "A"]
    assert float(soup["w"][0]) == pytest.approx(0.05)
    assert [h["name"] for h in history] == ["D", "A", "B", "C"]
    assert [h["accepted"] for h in history] == [True, True, False, False]
    assert history[1]["soup_accuracy"] == pytest.approx(0.95)
    assert _acc(soup) >= max(_acc(m.state_dict) for m in members)


def test_greedy_soup_ties_follow_the_paper_unless_strict():
    members = [_scalar_member("X", 0.1), _scalar_member("Y", 0.1)]
    assert greedy_soup(members, _acc)[1] == ["X", "Y"]  # Algorithm 1: >= (accuracy does not drop)
    assert greedy_soup(members, _acc, strict=True)[1] == ["X"]  # released main.py: strict >


def test_greedy_soup_uses_given_member_accuracies():
    calls = []

    def fn(sd):
        calls.append(float(sd["w"][0]))
        return _acc(sd)

    members = [_scalar_member("A", 0.2), _scalar_member("D", -0.1)]
    _, chosen, _ = greedy_soup(members, fn, member_accuracies={"A": 0.8, "D": 0.9})
    assert chosen == ["D", "A"] and calls == [pytest.approx(0.05)]  # only the candidate soup was scored


def test_incompatible_members_are_refused():
    with pytest.raises(UserError, match="different inits"):
        check_compatible([_scalar_member("a", 0.0, init="scratch-1"), _scalar_member("b", 0.0, init="scratch-2")])
    with pytest.raises(UserError, match="different inits"):
        greedy_soup([_scalar_member("a", 0.0, init="s1"), _scalar_member("b", 0.0, init="s2")], _acc)
    a, b = _net(0).state_dict(), _net(1).state_dict()
    with pytest.raises(UserError, match="different architectures"):
        check_compatible([SoupMember("a", a, "base", "resnet"), SoupMember("b", b, "base", "wrn")])
    b["0.weight"] = torch.zeros(5, 3, 1, 1)
    with pytest.raises(UserError, match="share one architecture"):
        check_compatible([SoupMember("a", a, "base"), SoupMember("b", b, "base")])
    with pytest.raises(UserError, match="no members"):
        check_compatible([])


@pytest.mark.parametrize("batch_size", [4, 64])
def test_recompute_batchnorm_matches_the_data_statistics(batch_size):
    net = _net(0).eval()
    bn = net[1]
    bn.running_mean.fill_(100.0)
    bn.running_var.fill_(100.0)
    bn.momentum = 0.3
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (10, 3, 2, 2), dtype=torch.uint8, generator=g)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    recompute_batchnorm(net, images, lambda b: normalize(b, mean, std), batch_size=batch_size)
    x = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        feats = net[0](x).transpose(0, 1).reshape(4, -1)
    # per-size weights make the mean exact with a short last batch (4, 4, 2); one batch gives the exact unbiased var
    assert torch.allclose(bn.running_mean, feats.mean(1), atol=1e-5)
    if batch_size >= len(images):
        assert torch.allclose(bn.running_var, feats.var(1, unbiased=True), atol=1e-5)
    assert not net.training and bn.momentum == 0.3


def test_recompute_batchnorm_refuses_an_empty_image_set():
    with pytest.raises(UserError, match="no training images"):
        recompute_batchnorm(_net(0), torch.zeros(0, 3, 2, 2, dtype=torch.uint8), lambda b: b.float())
