"""Trial keys are users' handles on finished trials: the keys of the shipped studies and of both config spellings are
pinned here, as computed before methods owned their options (issue 23). A changed key means a store no longer finds
its trials and retrains them: never update a pin to make this pass; find what changed the training identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from augmix_lab.config import TrialConfig
from augmix_lab.study import expand_study, read_study

ROOT = Path(__file__).resolve().parent.parent

# (study, variant, seed, axes) -> key, from `augmix-lab plan` of the studies before the v1 translation existed.
# quickstart, analysis and ablation have since moved to method_params; imagenet and sensitivity keep `augmix:` blocks.
STUDY_KEYS = {
    ("quickstart", "standard", 0, ()): "a33f66500ca4c81e",
    ("quickstart", "augmix", 1, ()): "eb5302ec0fdd50d3",
    ("quickstart", "augmix_no_jsd", 2, ()): "560f537bf75a9664",
    ("smoke", "augmix", 0, ()): "13b926086b16a30f",
    ("analysis", "standard", 0, ()): "91c441673cd490ad",
    ("analysis", "ft_augmix_w1", 0, ()): "fd4d4989cd27ed66",  # augmix: {width: 1} then; method_params now
    ("analysis", "ft_augmix_sev1", 0, ()): "4ea9d59b060d300e",
    ("analysis", "ft_mixup", 0, ()): "c5d2b30d630c47a7",
    ("ablation", "random_autoaugment_star", 0, (("dataset.name", "cifar10"),)): "4ac6de4007047289",
    ("ablation", "augmix", 0, (("dataset.name", "cifar10"),)): "4a98f357020b6c52",
    ("methods", "adversarial", 0, (("model", "wrn40_2"),)): "2ee3a96365399609",
    ("methods", "mixup", 0, (("model", "wrn40_2"),)): "239212404821b1e3",
    ("imagenet", "standard", 0, ()): "b108671abe9735fc",  # its `augmix: {severity: 1}` block is in the key
    ("imagenet", "random_autoaugment_star", 0, ()): "5a3705490340b215",  # ... and sets this method's severity
    ("imagenet", "augmix", 0, ()): "f4c985581d042059",
    ("sensitivity", "base", 0, (("sweep", "base"),)): "f842f2b1d1559cc9",
    ("sensitivity", "base", 0, (("augmix.width", 1), ("sweep", "augmix.width"))): "6cc6c9358e40d976",
    ("sensitivity", "base", 0, (("augmix.alpha", 2.0), ("sweep", "augmix.alpha"))): "7609d4c6c963cb17",
}


@pytest.fixture(scope="module")
def study_keys() -> dict[tuple[Any, ...], str]:
    out = {}
    for name in sorted({k[0] for k in STUDY_KEYS}):
        for t in expand_study(read_study(ROOT / "studies" / f"{name}.yaml")):
            out[(name, t.variant, t.seed, tuple(sorted(t.axes.items())))] = t.key
    return out


@pytest.mark.parametrize("point", list(STUDY_KEYS), ids=lambda p: f"{p[0]}-{p[1]}-s{p[2]}-{len(p[3])}")
def test_shipped_studies_keep_their_trial_keys(study_keys: dict[tuple[Any, ...], str], point: tuple[Any, ...]) -> None:
    assert study_keys.get(point) == STUDY_KEYS[point]


# TrialConfig -> fingerprint("v"), computed before the translation; the new spelling must name the same trial.
CONFIG_KEYS = [
    ({}, "57d0f2a5b8559a2c"),
    ({"method": "augmix", "augmix": {"width": 1}}, "128fff8ead4edb22"),
    ({"method": "augmix", "method_params": {"augmix": {"width": 1}}}, "128fff8ead4edb22"),
    ({"method": "augmix", "augmix": {"severity": 1, "alpha": 0.5}, "jsd": {"arity": 3}}, "f2cf34bfb835d85b"),
    ({"method": "augmix", "method_params": {"augmix": {"severity": 1, "alpha": 0.5}}, "jsd": {"arity": 3}},
     "f2cf34bfb835d85b"),
    ({"method": "standard", "augmix": {"severity": 1}}, "0c796fa6ace34d38"),
    ({"method": "random_autoaugment_star", "augmix": {"severity": 1}}, "94a2d12986d238d4"),
    ({"method": "random_autoaugment_star", "method_params": {"random_autoaugment_star": {"severity": 5}}},
     "d7442325dce4bfa2"),
    ({"method": "augmix", "augmix": {"all_ops": True}, "method_params": {"augmix": {"ops": ["rotate"]}}},
     "43cd2c041b053dff"),
    ({"method": "augmix", "method_params": {"augmix": {"all_ops": True, "ops": ["rotate"]}}}, "43cd2c041b053dff"),
    ({"method": "augmix", "method_params": {"augmix": {}}}, "e22d88f3197c78fb"),
    ({"method": "augmix+mixup", "augmix": {"width": 2}, "method_params": {"mixup": {"alpha": 0.5}}}, "4a3177283f009844"),
    ({"method": "mixup"}, "451044dbbd7f170f"),
    ({"method": "adversarial", "adversarial": {"iterations": 3}}, "d4ed02eff396c2fd"),
    ({"method": "adversarial", "method_params": {"adversarial": {"iterations": 3}}}, "d4ed02eff396c2fd"),
    ({"method": "standard", "adversarial": {"iterations": 3}}, "cd09ec02118cbf44"),
    ({"method": "cutout", "method_params": {"cutout": {"size": 8}}}, "6d27165b561669b9"),
]


@pytest.mark.parametrize(("config", "key"), CONFIG_KEYS)
def test_both_config_spellings_keep_the_keys(config: dict[str, Any], key: str) -> None:
    assert TrialConfig.model_validate(config).fingerprint("v") == key
