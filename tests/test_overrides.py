"""`--set KEY=VALUE` on `run` / `plan`: dotted study keys, YAML values, errors naming the override, part of the hash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from augmix_lab.cli.main import main
from augmix_lab.errors import UserError
from augmix_lab.study import expand_study, read_study
from augmix_lab.orchestration.runner import override_tags
from augmix_lab.study.overrides import Override
from augmix_lab.tracking.tags import TRACKING_TAGS

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "studies" / "quickstart.yaml"
ABLATION = ROOT / "studies" / "ablation.yaml"


def _rows(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if re.search(r"\b[0-9a-f]{16}\b", ln)]


def test_plan_with_set_seeds_lists_variants_times_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    study = read_study(QUICKSTART)
    assert main(["plan", str(QUICKSTART), "--set", "seeds=3", "--no-estimate"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == len(study.spec.variants) * 3  # variants x 3 seeds (quickstart: 3 x 3 = 9)


def test_bad_override_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(QUICKSTART), "--set", "base.epochs=-1", "--no-estimate"]) == 2
    err = capsys.readouterr().err
    assert f"{QUICKSTART} (--set base.epochs=-1): field 'epochs'" in err and "(got -1)" in err


@pytest.mark.parametrize("args, expect", [
    (["seeds=0"], "(--set seeds=0): field 'seeds'"),
    (["resources.gpus_per_trial=-1"], "(--set resources.gpus_per_trial=-1): field 'resources.gpus_per_trial'"),
    (["foo=1"], "(--set foo=1): unknown key 'foo'"),
    (["base.augmix.width=0"], "(--set base.augmix.width=0): field 'augmix.width'"),
    (["foo"], "--set foo: expected KEY=VALUE"),
    (["variants.9.method=mixup"], "variants index 9 out of range"),
    (["variants.nope.method=mixup"], "no variants entry named 'nope'"),
    (["seeds.x=1"], "'seeds' is 1, not a mapping"),
])
def test_override_errors_name_the_override(args: list[str], expect: str) -> None:
    with pytest.raises(UserError, match=re.escape(expect)):
        expand_study(read_study(ABLATION, args))


def test_values_are_yaml_and_keys_reach_every_section() -> None:
    study = read_study(ABLATION, ["grid.augmix.width=[1,3]", "variants.augmix.jsd.weight=6", "variants.0.model=allconv",
                                  "resources.gpus_per_trial=0.5", "base.epochs=2", "base.dataset.options={}"])
    assert study.spec.grid == {"dataset.name": ["cifar10", "cifar100"], "augmix.width": [1, 3]}
    assert study.spec.resources.gpus_per_trial == 0.5
    trials = expand_study(study)
    assert len(trials) == 6 * 2 * 2
    assert {t.config.epochs for t in trials} == {2}
    assert all(t.config.jsd.weight == 6 for t in trials if t.variant == "augmix")
    assert {t.config.model for t in trials if t.variant == "standard"} == {"allconv"}
    assert Override.parse("a.b= [1, 2]").value == [1, 2] and Override.parse("a=").value is None


def test_dotted_keys_in_the_file_are_overridden_in_place(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nbase: {augmix.width: 2, dataset: shapes, epochs: 1}\n")
    cfg = expand_study(read_study(f, ["base.augmix.width=1", "base.dataset.options.n_train=64"]))[0].config
    assert cfg.v1_dict()["augmix"]["width"] == 1 and cfg.dataset.name == "shapes" and cfg.dataset.options == {"n_train": 64}


def test_overrides_change_the_hash_and_are_tagged() -> None:
    plain, same = read_study(QUICKSTART), read_study(QUICKSTART, [])
    over = read_study(QUICKSTART, ["seeds=3"])
    assert plain.hash == same.hash != over.hash != read_study(QUICKSTART, ["seeds=4"]).hash
    assert override_tags(plain) == {} and override_tags(over) == {TRACKING_TAGS.overrides: '["seeds=3"]'}
