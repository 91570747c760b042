"""The study's soup step: after its trials, build each group's uniform and greedy soup and log each as a run.

Runs in the driver (no Ray: a soup is a few weight averages, BatchNorm passes and one evaluation). Soups already in the
store with the same identity (kind, members, held-out/BN settings, evaluation settings) are skipped, so a re-run of the
study never rebuilds them; a soup whose members are not all finished is skipped with the reason.
"""

from __future__ import annotations

from typing import Any

from augmix_lab.evaluation.registry import headline_text
from augmix_lab.study.soups import SoupsSpec, init_identity, soup_groups


def run_soups(plan: Any, uri: str, tracker: Any, parent_id: str, console: Any, data_root: str | None) -> bool:
    """Build the missing soups of ``plan`` (a StudyPlan whose ``complete``/``reevaluate`` are filled). True if all
    soups exist afterwards."""
    from augmix_lab.orchestration.waves import parent_final_checkpoint
    from augmix_lab.tracking.soups import fail_soup, finished_soups, log_soup, start_soup_run
    from augmix_lab.training.checkpoint import CHECKPOINT_FORMAT, save_atomic
    from augmix_lab.training.soup import SoupIngredient, build_soups

    spec: SoupsSpec = plan.study.spec.soups
    study = plan.study.name
    runs = {**plan.reevaluate, **plan.complete}  # trained: both have a FINISHED run with a final checkpoint
    have = finished_soups(uri, tracker.experiment_name, study)
    ok = True
    for group in soup_groups(plan.trials, spec):
        missing = [t.label for t in group.members if t.key not in runs]
        if missing:
            console.print(f"[yellow]SOUP SKIPPED[/yellow] {group.name}: members not finished: {', '.join(missing)}")
            ok = False
            continue
        kinds = [k for k in spec.kinds if group.soup_key(k, spec) not in have]
        if not kinds:
            console.print(f"soups of {group.name}: complete")
            continue
        candidates = [t.key for t in group.members]
        soup_runs = {k: start_soup_run(uri, tracker.experiment_id, parent_id, study=study,
                                       soup_key=group.soup_key(k, spec), kind=k, group=group.name, init=group.init,
                                       candidates=candidates, eval_key=group.members[0].eval_key) for k in kinds}
        try:
            ingredients = [SoupIngredient(key=t.key, config=t.config, init=init_identity(t), label=t.label,
                                          checkpoint=parent_final_checkpoint(plan.out_dir, t.key, uri, runs[t.key]))
                           for t in group.members]
            built = build_soups(ingredients, kinds, heldout_n=spec.heldout.n, bn_images=spec.bn_images,
                                data_root=data_root)
        except Exception as exc:  # noqa: BLE001 - one bad group must not stop the others
            for run_id in soup_runs.values():
                fail_soup(uri, run_id, f"{type(exc).__name__}: {exc}")
            console.print(f"[red]SOUP FAILED[/red] {group.name}: {type(exc).__name__}: {exc}")
            ok = False
            continue
        labels = {t.key: t.label for t in group.members}
        for soup in built:
            key = group.soup_key(soup.kind, spec)
            ckpt = save_atomic({"format": CHECKPOINT_FORMAT, "model": soup.state_dict, "kind": soup.kind,
                                "members": soup.members}, plan.out_dir / "soups" / key / "soup.pt")
            log_soup(uri, soup_runs[soup.kind], members=soup.members, member_heldout=soup.member_heldout,
                     heldout_accuracy=soup.heldout_accuracy, history=soup.history, summary=soup.scorecard.summary,
                     table=soup.scorecard.table, checkpoint=ckpt)
            best = max(soup.member_heldout.values())
            console.print(f"[green]SOUP[/green] {soup.kind} {group.name}: {len(soup.members)}/{len(candidates)} "
                          f"members ({', '.join(labels[k] for k in soup.members)}), held-out acc "
                          f"{soup.heldout_accuracy:.4f} (best member {best:.4f}), "
                          f"{headline_text(soup.scorecard.summary, sep=', ')}")
    return ok
