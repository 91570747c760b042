"""Each method and training hook owns its ``Params``; old files' ``augmix:`` / ``adversarial:`` blocks go through the
one v1 translation (config.py) and train exactly like the new spelling."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from augmix_lab.augment import AUGMENTATIONS, MethodParams
from augmix_lab.augment.views import AugMixParams, RandomAutoAugmentStarParams
from augmix_lab.config import V1Adversarial, V1AugMix, TrialConfig, load_trial_config, v1_path
from augmix_lab.errors import UserError
from augmix_lab.models import create_model
from augmix_lab.study import expand_study, read_study
from augmix_lab.training import TRAINING_HOOKS, MethodSpec, build_train_step
from augmix_lab.training.adversarial import AdversarialParams
from augmix_lab.training.step import augmentation_options as step_options
from augmix_lab.training.step import weight_decay

ALL_METHODS = AUGMENTATIONS.names() + TRAINING_HOOKS.names()


@pytest.mark.parametrize("name", ALL_METHODS)
def test_every_method_and_hook_follows_the_params_contract(name: str) -> None:
    owner = MethodSpec.parse(name).owner(name)
    assert issubclass(owner.Params, MethodParams)
    assert owner.parse_params(name, None) == owner.Params()  # the defaults are valid
    assert all(f.description for f in owner.Params.model_fields.values()), "each option says what is allowed"
    assert owner.weight_decay is None or 0 < owner.weight_decay < 1
    with pytest.raises(UserError, match=rf"^method_params\.{name}: unknown key\(s\) bogus; allowed: "):
        MethodSpec.parse(name).parse_params({name: {"bogus": 1}})


def test_v1_models_keep_the_params_defaults() -> None:
    """The frozen v1 blocks and the Params that own the knobs now agree (else a key would not match its training)."""
    for v1, params in ((V1AugMix, AugMixParams), (V1Adversarial, AdversarialParams)):
        for field, info in v1.model_fields.items():
            assert params.model_fields[field].default == info.default, (v1.__name__, field)
    assert RandomAutoAugmentStarParams().severity == V1AugMix().severity


@pytest.mark.parametrize(("old", "new"), [
    ({"method": "augmix", "augmix": {"width": 1, "severity": 1}},
     {"method": "augmix", "method_params": {"augmix": {"width": 1, "severity": 1}}}),
    ({"method": "augmix", "augmix": {"all_ops": True}, "method_params": {"augmix": {"ops": ["rotate"]}}},
     {"method": "augmix", "method_params": {"augmix": {"all_ops": True, "ops": ["rotate"]}}}),
    ({"method": "adversarial", "adversarial": {"iterations": 3}},
     {"method": "adversarial", "method_params": {"adversarial": {"iterations": 3}}}),
    ({"method": "augmix+mixup", "augmix": {"alpha": 0.5}, "method_params": {"mixup": {"alpha": 0.2}}},
     {"method": "augmix+mixup", "method_params": {"augmix": {"alpha": 0.5}, "mixup": {"alpha": 0.2}}}),
])
def test_old_blocks_and_method_params_are_the_same_trial(old: dict[str, Any], new: dict[str, Any]) -> None:
    a, b = TrialConfig.model_validate(old), TrialConfig.model_validate(new)
    assert a.legacy is not None and b.legacy is None
    assert a.fingerprint("v") == b.fingerprint("v") and a.training_dict() == b.training_dict()
    spec = MethodSpec.parse(a.method)
    assert spec.parse_params(a.method_options()) == spec.parse_params(b.method_options())


def test_the_translation_hands_each_part_what_it_used_to_read() -> None:
    raa = TrialConfig(method="random_autoaugment_star", augmix={"severity": 1, "width": 5})
    assert raa.method_options() == {"random_autoaugment_star": {"severity": 1}}  # only the field it read
    own = TrialConfig(method="random_autoaugment_star", augmix={"severity": 1},
                      method_params={"random_autoaugment_star": {"severity": 5}})
    assert own.method_options()["random_autoaugment_star"]["severity"] == 5  # its own options win, as before
    std = TrialConfig(method="standard", augmix={"severity": 1})
    assert std.method_options() == {}  # standard never read the block ...
    assert std.v1_dict()["augmix"]["severity"] == 1  # ... but it was always part of the key
    assert std.fingerprint("v") != TrialConfig(method="standard").fingerprint("v")


def test_translated_configs_survive_a_dump_and_the_train_command_s_flags(tmp_path: Path) -> None:
    cfg = TrialConfig(method="augmix", augmix={"width": 2}, adversarial={"iterations": 2})
    again = TrialConfig.model_validate(cfg.model_dump(mode="json"))  # what Ray ships and checkpoints store
    assert again == cfg and again.fingerprint("v") == cfg.fingerprint("v")
    switched = TrialConfig.model_validate({**cfg.model_dump(), "method": "adversarial"})  # `train --method`
    assert switched.method_options() == {"adversarial": {"epsilon": 8 / 255, "step_size": 2 / 255, "iterations": 2}}
    path = tmp_path / "trial.yaml"
    path.write_text("method: augmix\naugmix: {width: 2}\nadversarial: {iterations: 2}\n")
    assert load_trial_config(path).fingerprint("v") == cfg.fingerprint("v")


def test_bad_knobs_are_named_in_either_spelling(tmp_path: Path) -> None:
    path = tmp_path / "trial.yaml"
    path.write_text("method: augmix\naugmix: {width: 0}\n")
    with pytest.raises(UserError, match=r"field 'augmix\.width'"):
        load_trial_config(path)
    with pytest.raises(UserError, match=r"^method_params\.augmix\.width: got 0; allowed: an integer >= 1"):
        MethodSpec.parse("augmix").parse_params({"augmix": {"width": 0}})
    with pytest.raises(UserError, match=r"^method_params\.augmx: .*Did you mean 'augmix'"):
        MethodSpec.parse("standard").parse_params({"augmx": {}})
    assert set(MethodSpec.parse("augmix").parse_params({"mixup": {}})) == {"augmix", "mixup"}  # validated, unused


STUDY = """\
name: t
base:
  dataset: {name: shapes, options: {n_train: 64, n_test: 32}}
  model: small_cnn
  epochs: 1
  method_params: {augmix: {width: 2}}
variants:
  - {name: standard, method: standard}
  - {name: augmix, method: augmix, method_params: {augmix: {severity: 0}}}
"""


def test_a_study_names_file_line_and_field_of_a_bad_option_before_anything_runs(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    with pytest.raises(UserError, match=rf"^{path}:9: method_params\.augmix\.severity: got 0; allowed: an integer"):
        expand_study(read_study(path))
    path.write_text(STUDY.replace("{augmix: {severity: 0}}", "{augmx: {}}"))
    with pytest.raises(UserError, match=rf"^{path}:9: .*'augmx'.*Did you mean 'augmix'"):
        expand_study(read_study(path))
    path.write_text(STUDY.replace("{augmix: {severity: 0}}", "{mixup: {alpha: -1.0}}"))
    with pytest.raises(UserError, match=rf"^{path}:9: method_params\.mixup\.alpha: got -1\.0"):
        expand_study(read_study(path))  # options of a method this variant does not use are still validated


def test_a_study_s_shared_options_reach_only_the_variants_whose_method_uses_them(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    text = STUDY.replace("{augmix: {severity: 0}}", "{augmix: {severity: 1}}")
    path.write_text(text)
    trials = {t.variant: t for t in expand_study(read_study(path))}
    assert trials["augmix"].config.method_options() == {"augmix": {"width": 2, "severity": 1}}
    standard = trials["standard"].config
    assert standard.method_options() == {"augmix": {"width": 2}}  # carried, validated, not used by `standard` ...
    assert step_options(standard) == {}
    old = TrialConfig.model_validate({**standard.model_dump(), "method_params": {}, "augmix": {"width": 2}})
    assert standard.fingerprint("v") == old.fingerprint("v")  # ... and in its key, as an old `augmix:` block was


def test_exclude_rows_match_either_spelling(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent("""\
        name: t
        base: {dataset: {name: shapes, options: {n_train: 64, n_test: 32}}, model: small_cnn, epochs: 1, method: augmix}
        grid: {method_params.augmix.width: [1, 2, 3]}
        exclude: [{augmix.width: 2}, {method_params.augmix.width: 3}]
        """))
    trials = expand_study(read_study(path))
    assert [t.config.method_options()["augmix"]["width"] for t in trials] == [1]
    assert v1_path("method_params.augmix.width") == "augmix.width" and v1_path("method_params.mixup.alpha") == \
        "method_params.mixup.alpha"


def _three_steps(cfg: TrialConfig) -> tuple[list[float], list[torch.Tensor], float]:
    torch.manual_seed(0)
    model = create_model("small_cnn", 10).to(memory_format=torch.channels_last)
    step = build_train_step(cfg, model, num_classes=10, mean=(0.5,) * 3, std=(0.5,) * 3, kind="cifar",
                            image_size=32, device=torch.device("cpu"))
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (8,), generator=g)
    losses = [float(step(images, labels).loss) for _ in range(3)]
    return losses, [p.detach().clone() for p in model.parameters()], step.optimizer.param_groups[0]["weight_decay"]


@pytest.mark.parametrize(("old", "new"), [
    ({"method": "augmix", "augmix": {"width": 1, "severity": 1}, "jsd": {"arity": 3}},
     {"method": "augmix", "method_params": {"augmix": {"width": 1, "severity": 1}}, "jsd": {"arity": 3}}),
    ({"method": "random_autoaugment_star", "augmix": {"severity": 1}},
     {"method": "random_autoaugment_star", "method_params": {"random_autoaugment_star": {"severity": 1}}}),
    ({"method": "adversarial", "adversarial": {"iterations": 1}},
     {"method": "adversarial", "method_params": {"adversarial": {"iterations": 1}}}),
    ({"method": "mixup"}, {"method": "mixup", "train": {"batch_size": 8, "threads": 1, "weight_decay": 1e-4}}),
])
def test_both_spellings_train_bit_identically(old: dict[str, Any], new: dict[str, Any]) -> None:
    base = {"model": "small_cnn", "seed": 3, "device": "cpu", "train": {"batch_size": 8, "threads": 1}}
    a = _three_steps(TrialConfig.model_validate({**base, **old}))
    b = _three_steps(TrialConfig.model_validate({**base, **new}))
    assert a[0] == b[0] and a[2] == b[2] == weight_decay(TrialConfig.model_validate({**base, **old}))
    assert all(torch.equal(x, y) for x, y in zip(a[1], b[1]))
