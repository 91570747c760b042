"""Model soups in the driver: after a study's trials (``run``) or on demand (``augmix-lab soup STUDY.yaml``), build
each group's soups from the trials' final checkpoints and log each as a run. The one home of soup orchestration; the
recipes are ``analysis/soups.py`` (the ``SOUP_KINDS`` registry), the groups ``study/soups.py``, the runs
``tracking/soups.py`` and the table and plot the report's.

Recipe (Wortsman et al., ICML 2022, "Model soups", Sec. 3 and Algorithm 1): members are scored on the last
``dataset.holdout`` training images (never trained on; the test set and -C/-P never influence the choice). After every
averaging, BatchNorm statistics are re-estimated on the (non-held-out) training images — also for every candidate
inside the greedy loop and for the members themselves — so every held-out number is measured the same way, by the
trial's ``Scorer`` (its normalisation and AMP dtype). Each soup is then scored like a trial (``evaluate_model``).

No Ray: a soup is a few weight averages, BatchNorm passes and one evaluation. Soups already in the store with the same
identity (kind, members, held-out/BN settings, evaluation settings) are skipped, so a re-run never rebuilds them; a
soup whose members are not all finished is skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augmix_lab.config import TrialConfig
from augmix_lab.errors import UserError
from augmix_lab.evaluation.registry import headline_text
from augmix_lab.study.soups import SoupsSpec, init_identity, soup_groups


@dataclass(frozen=True)
class SoupIngredient:
    """A finished trial offered to a soup: its key, config, final checkpoint and init identity."""

    key: str
    config: TrialConfig
    checkpoint: Path
    init: str
    label: str = ""


@dataclass
class BuiltSoup:
    kind: str
    members: list[str]  # trial keys (greedy: in the order added)
    heldout_accuracy: float  # fraction in [0, 1]
    member_heldout: dict[str, float]
    history: list[dict[str, Any]]
    state_dict: dict[str, Any] = field(repr=False)
    scorecard: Any = None


def _load_members(ingredients: Sequence[SoupIngredient], version: str) -> list[Any]:
    from augmix_lab.analysis.soups import SoupMember
    from augmix_lab.training.checkpoint import load_final

    members = []
    for ing in ingredients:
        state = load_final(ing.checkpoint)
        if state.get("fingerprint") != ing.config.fingerprint(version) or state.get("data_version") != version:
            raise UserError(
                f"{ing.checkpoint}: belongs to trial {state.get('fingerprint')} on data "
                f"{state.get('data_version')!r}, not to soup member {ing.key} on {version!r}"
            )
        members.append(SoupMember(name=ing.key, state_dict=state["model"], init=ing.init, arch=ing.config.model))
    return members


class SoupBench:
    """One group's model, data and scorer: ``score(state_dict)`` loads weights, re-estimates BatchNorm on the training
    images and returns the held-out accuracy (fraction), the one way every member, candidate and soup is scored."""

    def __init__(
        self, cfg: TrialConfig, *, heldout_n: int | None, bn_images: int | None, data_root: str | Path | None
    ) -> None:
        from augmix_lab.data.trial import load_trial_data
        from augmix_lab.device import resolve_device
        from augmix_lab.training.trainer import trial_model, trial_scorer

        self.cfg, self.device, self.data_root = cfg, resolve_device(cfg.device), cfg.dataset.root or data_root
        data = load_trial_data(cfg, data_root)
        self.ds = data.dataset
        assert data.heldout_images is not None and data.heldout_labels is not None  # build_soups checked the holdout
        self.h_images, self.h_labels = data.heldout_images[:heldout_n], data.heldout_labels[:heldout_n]
        self.bn_source = self.ds.train_images[:bn_images]
        self.model = trial_model(cfg, self.ds.num_classes, weights=False).to(self.device)  # members' weights replace it
        self.scorer = trial_scorer(self.model, self.ds, cfg, self.device)

    def load(self, state_dict: Any) -> Any:
        from augmix_lab.analysis.soups import recompute_batchnorm

        self.model.load_state_dict(state_dict)
        # BN statistics of an average are not the average of statistics: re-estimate (paper Sec. 3; swa_utils.update_bn)
        return recompute_batchnorm(self.model, self.bn_source, self.scorer.inputs, device=self.device)

    def score(self, state_dict: Any) -> float:
        self.load(state_dict)
        self.model.eval()
        return self.scorer.accuracy(self.h_images, self.h_labels)


def build_soups(
    ingredients: Sequence[SoupIngredient],
    kinds: Sequence[str],
    *,
    heldout_n: int | None = None,
    bn_images: int | None = None,
    data_root: str | Path | None = None,
    evaluate: bool = True,
) -> list[BuiltSoup]:
    """The requested soups (``analysis.soups.SOUP_KINDS``) of one group, each BN-re-estimated and (optionally)
    evaluated like a trial."""
    from augmix_lab.analysis.soups import SOUP_KINDS, check_compatible

    if not ingredients:
        raise UserError("soups: no members to average")
    if ingredients[0].config.dataset.holdout is None:
        raise UserError(
            f"field 'dataset.holdout': soup member {ingredients[0].label or ingredients[0].key} has no "
            "held-out split of the training data; allowed: dataset.holdout: N"
        )
    recipes = {kind: SOUP_KINDS.get(kind) for kind in kinds}  # an unknown kind fails before any loading
    bench = SoupBench(ingredients[0].config, heldout_n=heldout_n, bn_images=bn_images, data_root=data_root)
    members = _load_members(ingredients, bench.ds.version)
    check_compatible(members)  # different inits / architectures are refused here, before any averaging
    member_acc = {m.name: bench.score(m.state_dict) for m in members}
    out: list[BuiltSoup] = []
    for kind, recipe in recipes.items():
        soup = recipe(members, bench.score, member_acc)
        bench.load(soup.state_dict)
        final_sd = {k: v.detach().clone().cpu() for k, v in bench.model.state_dict().items()}  # re-estimated BN
        scorecard = _evaluate(bench) if evaluate else None
        out.append(
            BuiltSoup(
                kind=kind,
                members=soup.members,
                heldout_accuracy=soup.accuracy,
                member_heldout=dict(member_acc),
                history=soup.history,
                state_dict=final_sd,
                scorecard=scorecard,
            )
        )
    return out


def _evaluate(bench: SoupBench) -> Any:
    from augmix_lab.evaluation import evaluate_model
    from augmix_lab.training.trainer import amp_dtype

    cfg = bench.cfg
    bench.model.eval()
    return evaluate_model(
        bench.model,
        bench.ds,
        cfg.eval,
        device=bench.device,
        data_root=bench.data_root,
        autocast_dtype=amp_dtype(cfg, bench.device),
    )


# ---- driver ----------------------------------------------------------------------------------------------------------
def run_soups(plan: Any, uri: str, tracker: Any, parent_id: str, console: Any, data_root: str | None) -> bool:
    """Build the missing soups of ``plan`` (a StudyPlan whose ``complete``/``reevaluate`` are filled). True if all
    soups exist afterwards."""
    from augmix_lab.analysis.soups import soup_kinds
    from augmix_lab.tracking.soups import finished_soups

    spec: SoupsSpec = plan.study.spec.soups
    runs = {**plan.reevaluate, **plan.complete}  # trained: both have a FINISHED run with a final checkpoint
    have = finished_soups(uri, tracker.experiment_name, plan.study.name)
    ok = True
    for group in soup_groups(plan.trials, spec):
        missing = [t.label for t in group.members if t.key not in runs]
        if missing:
            console.print(f"[yellow]SOUP SKIPPED[/yellow] {group.name}: members not finished: {', '.join(missing)}")
            ok = False
            continue
        kinds = [k for k in spec.kinds or soup_kinds() if group.soup_key(k, spec) not in have]
        if not kinds:
            console.print(f"soups of {group.name}: complete")
            continue
        ok = _build_group(plan, group, kinds, runs, uri, tracker, parent_id, console, data_root) and ok
    return ok


def _build_group(
    plan: Any,
    group: Any,
    kinds: list[str],
    runs: dict[str, str],
    uri: str,
    tracker: Any,
    parent_id: str,
    console: Any,
    data_root: str | None,
) -> bool:
    """Build, save and log one group's missing soups; a failure fails that group's soup runs only."""
    from augmix_lab.orchestration.trainable import final_checkpoint
    from augmix_lab.tracking.soups import fail_soup, start_soup_run

    spec: SoupsSpec = plan.study.spec.soups
    candidates = [t.key for t in group.members]
    soup_runs = {
        k: start_soup_run(
            uri,
            tracker.experiment_id,
            parent_id,
            study=plan.study.name,
            soup_key=group.soup_key(k, spec),
            kind=k,
            group=group.name,
            init=group.init,
            candidates=candidates,
            eval_key=group.members[0].eval_key,
        )
        for k in kinds
    }
    try:
        ingredients = [
            SoupIngredient(
                key=t.key,
                config=t.config,
                init=init_identity(t),
                label=t.label,
                checkpoint=final_checkpoint(plan.out_dir, t.key, uri, runs[t.key]),
            )
            for t in group.members
        ]
        built = build_soups(ingredients, kinds, heldout_n=spec.heldout.n, bn_images=spec.bn_images, data_root=data_root)
    except Exception as exc:  # noqa: BLE001 - one bad group must not stop the others
        for run_id in soup_runs.values():
            fail_soup(uri, run_id, f"{type(exc).__name__}: {exc}")
        console.print(f"[red]SOUP FAILED[/red] {group.name}: {type(exc).__name__}: {exc}")
        return False
    for soup in built:
        _log_soup(plan, group, soup, soup_runs[soup.kind], uri, console)
    return True


def _log_soup(plan: Any, group: Any, soup: BuiltSoup, run_id: str, uri: str, console: Any) -> None:
    from augmix_lab.tracking.soups import log_soup
    from augmix_lab.training.checkpoint import CHECKPOINT_FORMAT, save_atomic

    key = group.soup_key(soup.kind, plan.study.spec.soups)
    ckpt = save_atomic(
        {"format": CHECKPOINT_FORMAT, "model": soup.state_dict, "kind": soup.kind, "members": soup.members},
        plan.out_dir / "soups" / key / "soup.pt",
    )
    log_soup(
        uri,
        run_id,
        members=soup.members,
        member_heldout=soup.member_heldout,
        heldout_accuracy=soup.heldout_accuracy,
        history=soup.history,
        summary=soup.scorecard.summary,
        table=soup.scorecard.table,
        checkpoint=ckpt,
    )
    labels = {t.key: t.label for t in group.members}
    best = max(soup.member_heldout.values())
    console.print(
        f"[green]SOUP[/green] {soup.kind} {group.name}: {len(soup.members)}/{len(group.members)} "
        f"members ({', '.join(labels[k] for k in soup.members)}), held-out acc "
        f"{soup.heldout_accuracy:.4f} (best member {best:.4f}), "
        f"{headline_text(soup.scorecard.summary, sep=', ')}"
    )


def build_study_soups(
    study_path: str, *, out: str | None = None, data_root: str | None = None, console: Any = None
) -> int:
    """``augmix-lab soup STUDY.yaml``: exit 0 when every soup of the study exists afterwards, 1 otherwise; bad input
    raises ``UserError``."""
    from augmix_lab.console import make_console
    from augmix_lab.orchestration.lock import driver_lock
    from augmix_lab.orchestration.plan import experiment_for, load_plan, lookup_store
    from augmix_lab.study.soups import check_soups
    from augmix_lab.tracking import StudyTracker, check_reachable, resolve_tracking

    console = console or make_console(stderr=True)
    plan = load_plan(study_path, out)
    check_soups(plan.study, plan.trials, force=True)  # the command asks for soups even when soups.enabled is off
    uri, artifact_location = resolve_tracking(plan.study.spec.tracking.uri, plan.out_dir)
    check_reachable(uri)
    with driver_lock(plan.out_dir):  # it writes the study's parent run: not beside a running `augmix-lab run`
        tracker = StudyTracker(uri, experiment_for(plan.study), artifact_location)
        parent_id = tracker.start_study(plan.study.name, plan.study.hash, plan.study.text)
        lookup_store(plan, uri)
        ok = run_soups(plan, uri, tracker, parent_id, console, data_root)
        done = ok and not plan.todo
        tracker.finish_study(parent_id, "FINISHED" if done else "FAILED", None if done else "soups or trials missing")
    return 0 if ok else 1
