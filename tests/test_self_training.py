"""Self-training as study stages (issue 25): the labelled split and its label-free pool, teacher resolution and rounds,
the pseudo-label filter and store, the student's loss, FixMatch's mask, bad input at plan time, and a killed driver."""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from augmix_lab.cli.main import main
from augmix_lab.config import TeacherConfig, TrialConfig
from augmix_lab.data.labelled import UnlabelledPool, split_labelled, withheld_labels
from augmix_lab.errors import UserError
from augmix_lab.evaluation.registry import FIXMATCH_MASK_RATE, PSEUDO_LABEL_ACCURACY
from augmix_lab.study import expand_study, read_study
from augmix_lab.training.self_training import PseudoLabelSet, StudentLoss, build_set
from augmix_lab.data.trial import load_trial_split
from augmix_lab.training.trainer import Trainer

BASE = """
name: st
base:
  dataset: {name: shapes, options: {n_train: 200, n_test: 40}, labelled: {fraction: 0.2}}
  model: small_cnn
  epochs: 1
  train: {batch_size: 16, threads: 1}
  eval: {corruptions: {enabled: false}, calibration: false}
  device: cpu
"""
STUDENTS = """
variants:
  - {name: teacher, method: standard}
  - {name: student, method: augmix, jsd: {arity: 3}, teacher: {from_variant: teacher, ratio: 1, threshold: 0}}
"""


def write_study(tmp_path: Path, body: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(body))
    return path


def _cfg(**over: Any) -> TrialConfig:
    d: dict[str, Any] = {"dataset": {"name": "shapes", "options": {"n_train": 200, "n_test": 40},
                                     "labelled": {"fraction": 0.2}},
                         "model": "small_cnn", "epochs": 1, "train": {"batch_size": 16, "threads": 1},
                         "eval": {"corruptions": {"enabled": False}, "calibration": False}, "device": "cpu"}
    d.update(over)
    return TrialConfig.model_validate(d)


# ---------------------------------------------------------------------------------------------- the labelled split


def test_the_labelled_split_is_class_balanced_and_seeded_and_its_pool_carries_no_labels() -> None:
    full, labelled, pool = load_trial_split(_cfg(), None)
    counts = torch.bincount(labelled.train_labels, minlength=10)
    assert counts.tolist() == [4] * 10  # round(0.2 * 20) of each class
    assert len(pool) == 160 and {f.name for f in dataclasses.fields(UnlabelledPool)} == {"images", "positions",
                                                                                        "version"}
    assert torch.equal(withheld_labels(full, pool), full.train_labels[pool.positions])
    again = split_labelled(full, _cfg().dataset.labelled, 0)[1]
    other = split_labelled(full, _cfg(seed=1).dataset.labelled, 1)[1]
    assert torch.equal(again.positions, pool.positions) and not torch.equal(other.positions, pool.positions)
    assert "labelled[fraction=0.2,seed=0]" in labelled.version and pool.version.endswith("|pool")
    per_class = split_labelled(full, TrialConfig.model_validate(
        {"dataset": {"labelled": {"per_class": 3, "seed": 7}}}).dataset.labelled, 0)[0]
    assert torch.bincount(per_class.train_labels, minlength=10).tolist() == [3] * 10
    plain = TrialConfig()  # trials without labelled / teacher keep their keys (pinned in tests/test_trial_keys.py)
    assert "labelled" not in plain.training_dict()["dataset"] and "teacher" not in plain.training_dict()


def test_the_pools_labels_never_reach_the_training_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every pool label of the loaded data is poisoned after the split: any code path that reads one would hand the
    step a class id of 10**6. The student and FixMatch train through the real step; what reaches it is recorded."""
    import augmix_lab.data.labelled as labelled_module
    from augmix_lab.training.step import TrainStep

    poison, poisoned = 10**6, []
    real_split = labelled_module.split_labelled

    def poisoning_split(ds: Any, spec: Any, seed: int) -> Any:
        labelled, pool = real_split(ds, spec, seed)
        if pool is not None:
            ds.train_labels[pool.positions] = poison  # the withheld labels, in the dataset object the trainer loaded
            poisoned.append(len(pool))
        return labelled, pool

    monkeypatch.setattr(labelled_module, "split_labelled", poisoning_split)
    seen: list[torch.Tensor] = []
    real_call = TrainStep.__call__

    def spy(step: Any, images: torch.Tensor, labels: torch.Tensor, pool: Any = None) -> Any:
        seen.append(labels)
        if pool is not None:
            assert not hasattr(pool, "labels")
            seen.extend(t for t in (pool.targets,) if t is not None and not t.dtype.is_floating_point)
        return real_call(step, images, labels, pool)

    monkeypatch.setattr(TrainStep, "__call__", spy)
    _, _, pool = load_trial_split(_cfg(), None)
    wrong = PseudoLabelSet(torch.arange(len(pool)), torch.full((len(pool),), 3), torch.ones(len(pool)),
                           {"format": 1, "pool_size": len(pool), "pool_version": pool.version})
    wrong.save(tmp_path / "set.npz")  # every pseudo-label is class 3: the step must see 3s, never the true labels
    student = _cfg(method="standard", teacher={"parent_key": "t", "labels": "hard", "ratio": 1,
                                               "labels_file": str(tmp_path / "set.npz")})
    fixmatch = _cfg(method="fixmatch", method_params={"fixmatch": {"mu": 1, "strong": "randaugment"}})
    for i, cfg in enumerate((student, fixmatch)):
        result = Trainer(cfg, tmp_path / f"w{i}").run()
        assert math.isfinite(result.history[-1]["train_loss"])
    labels = torch.cat([t.flatten() for t in seen])
    assert poisoned == [160] * 3 and len(seen) >= 6  # (the set's pool, then each trainer's)
    assert int(labels.max()) < 10  # no poisoned (withheld) label ever reached a step
    assert result.history[-1][FIXMATCH_MASK_RATE] >= 0


# ---------------------------------------------------------------------------------------------- expansion and bad input


def test_rounds_chain_students_and_adding_rounds_keeps_the_earlier_keys(tmp_path: Path) -> None:
    body = STUDENTS.replace("threshold: 0}", "threshold: 0, rounds: 3}") + "seeds: 2\n"
    trials = expand_study(read_study(write_study(tmp_path, body)))
    by = {(t.variant, t.seed, t.axes.get("round")): t for t in trials}
    for seed in (0, 1):
        assert by[("student", seed, 1)].config.teacher.parent_key == by[("teacher", seed, None)].key
        assert by[("student", seed, 2)].config.teacher.parent_key == by[("student", seed, 1)].key
        assert by[("student", seed, 3)].config.teacher.parent_key == by[("student", seed, 2)].key
    fewer = expand_study(read_study(write_study(tmp_path, body.replace("rounds: 3", "rounds: 2"), "b.yaml")))
    assert {t.key for t in fewer} < {t.key for t in trials}  # rounds 1-2 are the same trials
    relabel = expand_study(read_study(write_study(tmp_path, body.replace("threshold: 0,", "threshold: 0.5,"), "c.yaml")))
    assert not {t.key for t in relabel if t.variant == "student"} & {t.key for t in trials}


BAD = [
    (STUDENTS.replace("from_variant: teacher,", "from_variant: nope,"), "teacher.from_variant", "unknown variant 'nope'"),
    (STUDENTS.replace("{name: teacher, method: standard}",
                      "{name: teacher, method: standard, teacher: {from_variant: student}}"), "teacher.from_variant",
     "cycle"),
    (STUDENTS.replace("{name: teacher, method: standard}",
                      "{name: teacher, method: standard, init: {from_variant: student}}"), "init.from_variant",
     "cycle"),
    (STUDENTS.replace("threshold: 0}", "threshold: 1.5}"), "teacher.threshold", "less than or equal to 1"),
    (STUDENTS + "  - {name: fm, method: fixmatch, method_params: {fixmatch: {threshold: -0.1}}}\n",
     "method_params.fixmatch.threshold", "in [0, 1]"),
    ("variants:\n  - {name: few, dataset: {labelled: {fraction: 0.01}}}\n", "dataset.labelled.fraction",
     "leaves class"),
    (STUDENTS.replace("jsd: {arity: 3},", "jsd: {arity: 3}, dataset: {labelled: null},"), "teacher",
     "unlabelled pool"),
    ("variants:\n  - {name: fm, method: fixmatch, dataset: {labelled: null}}\n", "method", "unlabelled pool"),
    (STUDENTS.replace("method: augmix, jsd: {arity: 3}, teacher", "method: mixup, teacher"), "method", "mixes"),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD, ids=[b[2][:12] for b in BAD])
def test_bad_self_training_input_is_refused_at_plan_time_naming_the_field(tmp_path: Path, body: str, field: str,
                                                                         message: str) -> None:
    path = write_study(tmp_path, body)
    with pytest.raises(UserError, match=re.escape(message)) as err:
        expand_study(read_study(path))
    assert str(path) in str(err.value) and field in str(err.value)


def test_bad_input_exits_2_from_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_study(tmp_path, BAD[0][0])
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "teacher.from_variant" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------- pseudo-labels and losses


def test_the_filter_thresholds_balances_upsamples_and_scores_against_withheld_labels() -> None:
    # 6 pool images, 3 classes: predicted classes 0,0,0,1,2,2 with decreasing confidence inside each class
    logits = torch.tensor([[5.0, 0, 0], [4, 0, 0], [0.5, 0, 0], [0, 3, 0], [0, 0, 6], [0, 0, 0.1]])
    withheld = torch.tensor([0, 1, 0, 1, 2, 2])
    conf = torch.softmax(logits, 1).max(1).values
    hard = build_set(logits, TeacherConfig(labels="hard", threshold=0.5), withheld)
    assert hard.indices.tolist() == [i for i in range(6) if conf[i] >= 0.5] == [0, 1, 3, 4]
    assert hard.targets.tolist() == [0, 0, 1, 2] and hard.meta[PSEUDO_LABEL_ACCURACY] == 75.0
    balanced = build_set(logits, TeacherConfig(labels="hard", threshold=0.0, per_class=2), withheld)
    assert balanced.indices.tolist() == [0, 1, 3, 3, 4, 5]  # class 1 has one image: upsampled to two copies
    assert balanced.kept == 5 and balanced.stats()[PSEUDO_LABEL_ACCURACY] == 80.0
    no_copies = build_set(logits, TeacherConfig(labels="hard", threshold=0.0, per_class=2, upsample=False))
    assert no_copies.indices.tolist() == [0, 1, 3, 4, 5]
    soft = build_set(logits, TeacherConfig(labels="soft", temperature=2.0, threshold=0.0))
    assert torch.allclose(soft.targets, torch.softmax(logits / 2.0, 1)) and soft.soft


def test_the_student_loss_is_noisy_students_ratio_or_zophs_normalisation() -> None:
    g = torch.Generator().manual_seed(0)
    lab, y = torch.randn(4, 3, generator=g), torch.tensor([0, 1, 2, 0])
    ps, t = torch.randn(8, 3, generator=g), torch.tensor([1, 1, 0, 2, 2, 0, 1, 0])
    ce = torch.nn.functional.cross_entropy
    ratio = StudentLoss("ratio", 3.0, 1.0, 0.0, torch.device("cpu"))
    assert torch.allclose(ratio(lab, y, ps, t), ce(lab, y) + 3.0 * ce(ps, t))  # main.py: (L·B + L_u·rB) / B
    norm = StudentLoss("normalized", 1.0, 0.5, 0.0, torch.device("cpu"))
    first = norm(lab, y, ps, t)  # running means start at the first losses: ½(L_h + α·L_h)
    assert torch.allclose(first, 0.5 * (ce(lab, y) + 0.5 * ce(lab, y)))
    second = norm(lab, y, ps * 2, t)
    means = 0.99 * torch.stack([ce(lab, y), ce(ps, t)]) + 0.01 * torch.stack([ce(lab, y), ce(ps * 2, t)])
    assert torch.allclose(second, 0.5 * (ce(lab, y) + 0.5 * means[0] / means[1] * ce(ps * 2, t)))


def test_fixmatch_masks_by_confidence_and_keeps_the_papers_defaults() -> None:
    from augmix_lab.training.fixmatch import FixMatch, FixMatchParams

    assert (FixMatchParams().threshold, FixMatchParams().mu, FixMatchParams().lambda_u) == (0.95, 7, 1.0)
    hook = FixMatch("fixmatch", {"threshold": 0.9}, (0.5,) * 3, (0.5,) * 3, torch.device("cpu"))
    weak = torch.tensor([[10.0, 0, 0], [0.1, 0, 0]])  # confident, unsure
    strong = torch.tensor([[0.0, 2, 0], [0, 0, 3.0]])
    loss, values = hook.extra_loss([weak, strong])
    expected = torch.nn.functional.cross_entropy(strong[:1], torch.tensor([0])) / 2  # mean over all μB images
    assert torch.allclose(loss, expected) and float(values[FIXMATCH_MASK_RATE]) == 0.5


# ---------------------------------------------------------------------------------------------- the driver


def _fake_tune(trained: list[str], kill_at: str | None = None) -> Any:
    """run_tune without Ray: train each trial of the wave inline into its run; ``kill_at`` a variant: the driver dies."""
    from augmix_lab.orchestration.trainable import trial_workdir
    from augmix_lab.tracking import TrialLogger

    def run(plan: Any, uri: str, run_ids: dict[str, str], launch: str, *rest: Any) -> tuple[list[str], list[str]]:
        for t in plan.todo:
            if t.variant == kill_at:
                raise KeyboardInterrupt  # the driver is killed before the student trains
            result = Trainer(t.config, trial_workdir(plan.out_dir, t.key)).run()
            logger = TrialLogger(uri, run_ids[t.key], launch)
            logger.log_scorecard(result.scorecard.summary, result.scorecard.table)
            logger.log_checkpoint(result.checkpoint, "final")
            logger.set_status("FINISHED")
            trained.append(t.variant)
        return [t.key for t in plan.todo], []

    return run


def _drive(path: Path, out: Path, tune: Any) -> Any:
    from augmix_lab.console import make_console
    from augmix_lab.orchestration.plan import load_plan, lookup_store
    from augmix_lab.orchestration.runner import create_runs, open_study
    from augmix_lab.orchestration.waves import run_waves

    plan = load_plan(path, str(out))
    uri, tracker, parent_id = open_study(plan)
    lookup_store(plan, uri)
    run_ids = create_runs(plan, tracker, parent_id, "L")
    run_waves(plan, uri, run_ids, "L", make_console(stderr=True), None, None, tune)
    return plan, uri, run_ids


@pytest.mark.slow
def test_a_killed_driver_trains_neither_twice_and_a_second_student_reuses_the_pseudo_labels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import augmix_lab.training.self_training as st
    from augmix_lab.tracking import TRACKING_TAGS
    from augmix_lab.tracking.store import make_client

    made: list[str] = []
    real = st.make_pseudo_labels
    monkeypatch.setattr(st, "make_pseudo_labels", lambda cfg, *a, **k: made.append(cfg.method) or real(cfg, *a, **k))
    monkeypatch.setattr("ray.is_initialized", lambda: False)  # label inline (counted) even if an earlier test left Ray up
    body = STUDENTS + "  - {name: student2, method: standard, teacher: {from_variant: teacher, ratio: 1, threshold: 0}}\n"
    path = write_study(tmp_path, body)
    trained: list[str] = []
    with pytest.raises(KeyboardInterrupt):  # teacher done, pool labelled, then the driver dies in the students' wave
        _drive(path, tmp_path / "out", _fake_tune(trained, kill_at="student"))
    assert trained == ["teacher"] and made == ["augmix"]  # labelled once for both students (same labelling options)
    plan, uri, run_ids = _drive(path, tmp_path / "out", _fake_tune(trained))
    assert sorted(trained) == ["student", "student2", "teacher"] and made == ["augmix"]  # nothing twice
    client = make_client(uri)
    by_variant = {t.variant: t for t in plan.trials}
    run = client.get_run(run_ids[by_variant["student"].key])
    assert run.data.tags[TRACKING_TAGS.teacher_key] == by_variant["teacher"].key
    assert run.data.tags[TRACKING_TAGS.teacher_run] == plan.complete[by_variant["teacher"].key]
    assert PSEUDO_LABEL_ACCURACY in run.data.metrics and run.data.tags[TRACKING_TAGS.round] == "1"
    # a fresh study directory finds the set on the teacher's MLflow run instead of labelling again
    from augmix_lab.orchestration.pseudo_labels import ensure_pseudo_labels

    fresh = SimpleNamespace(out_dir=tmp_path / "elsewhere", trials=plan.trials, study=plan.study)
    got = ensure_pseudo_labels(fresh, by_variant["student"], uri, {**plan.complete}, None, None)
    assert got.is_file() and made == ["augmix"]


def test_the_students_dropout_noises_the_classifier_in_training_only_and_keys_change_only_when_set() -> None:
    from augmix_lab.models import MODELS, create_model
    from augmix_lab.training.self_training import add_head_dropout

    for name in MODELS.names():  # the hook lands on the classifier of every registered model
        heads = [m for m in create_model(name, 7).modules() if isinstance(m, torch.nn.Linear)]
        assert heads and heads[-1].out_features == 7, name
    torch.manual_seed(0)
    model = create_model("small_cnn", 10)
    x = torch.rand(4, 3, 32, 32)
    model.eval()
    plain = model(x)
    add_head_dropout(model, 0.5)
    assert torch.equal(model(x), plain)  # labelling and evaluation see the plain model
    model.train()
    assert not torch.allclose(model(x), model(x))
    base = {"parent_key": "k", "ratio": 1}
    assert "dropout" not in TeacherConfig(**base).identity()
    assert TeacherConfig(**base, dropout=0.5).identity()["dropout"] == 0.5
    with pytest.raises(Exception, match="less than 1"):
        TeacherConfig(**base, dropout=1.0)
