"""TrialConfig: strict validation, effective defaults, and a fingerprint that ignores evaluation-only settings."""

from __future__ import annotations

import pytest

from augmix_lab.config import TrialConfig, load_trial_config
from augmix_lab.errors import UserError


def test_fingerprint_ignores_evaluation_and_placement_but_not_training() -> None:
    base = TrialConfig(method="augmix")
    same = TrialConfig(method="augmix", device="cpu", eval={"batch_size": 17, "corruptions": {"severities": [5]}})
    assert base.fingerprint("v1") == same.fingerprint("v1")
    assert base.fingerprint("v1") != TrialConfig(method="augmix", seed=1).fingerprint("v1")
    assert base.fingerprint("v1") != TrialConfig(method="augmix", method_params={"augmix": {"width": 4}}).fingerprint("v1")
    assert base.fingerprint("v1") != base.fingerprint("v2")  # data version is part of the identity


def test_dataset_may_be_given_by_name_and_weight_decay_follows_the_paper() -> None:
    from augmix_lab.training.step import weight_decay

    cfg = TrialConfig(dataset="cifar10", method="mixup")
    assert cfg.dataset.name == "cifar10"
    assert weight_decay(cfg) == pytest.approx(1e-4)  # declared by the mixup method (paper Sec. 4.1)
    assert weight_decay(TrialConfig(method="augmix+mixup")) == pytest.approx(1e-4)
    assert weight_decay(TrialConfig(method="augmix")) == pytest.approx(5e-4)
    assert weight_decay(TrialConfig(method="mixup", train={"weight_decay": 0.0})) == 0.0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("epochs: -1\n", "field 'epochs'"),
        ("augmix: {widht: 3}\n", "field 'augmix.widht'"),
        ("jsd: {arity: 5}\n", "field 'jsd.arity'"),
        ("augmix: {depth: 0}\n", "field 'augmix.depth'"),
        ("epochs: [1\n", "YAML syntax error"),
        ("- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_bad_trial_files_name_the_file_and_field(tmp_path, text: str, fragment: str) -> None:
    path = tmp_path / "trial.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as exc:
        load_trial_config(path)
    assert str(path) in str(exc.value) and fragment in str(exc.value)


def test_missing_trial_file(tmp_path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_trial_config(tmp_path / "absent.yaml")
