"""Model soups beside their best single member and the members' mean (Wortsman et al., "Model soups", ICML 2022:
uniform, greedy = Alg. 1). Soup runs are read with the study (``StudyRuns.soups``, built by ``run`` / ``soup``:
orchestration/soups.py); their members are trial keys of the study, so members' metrics come from the trial records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from augmix_lab.analysis.soups import soup_kinds
from augmix_lab.evaluation.registry import HELDOUT_ACCURACY, headline_specs
from augmix_lab.report.loading import StudyRuns, TrialRecord
from augmix_lab.report.stats import MISSING, format_number, summarize
from augmix_lab.report.tables.core import Results, Table, metric_title
from augmix_lab.report.tables.registry import register_table

HELDOUT = HELDOUT_ACCURACY  # fraction in [0, 1] on soup runs; shown in percent


def _runs_of(source: Results | StudyRuns) -> StudyRuns:
    return source.runs if isinstance(source, Results) else source


def _soups_of(source: Results | StudyRuns, soups: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if soups is not None:
        return list(soups)
    return list(getattr(_runs_of(source), "soups", None) or [])


def soup_groups(
    source: Results | StudyRuns, soups: Sequence[dict[str, Any]] | None = None
) -> list[tuple[tuple[str, str, str], list[dict[str, Any]], list[TrialRecord], dict[str, float]]]:
    """``[((dataset, model, init), soups, candidate trial records, {trial_key: held-out acc %})]`` in stable order."""
    runs = _runs_of(source)
    by_key = {t.trial_key: t for t in runs.finished}
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for s in _soups_of(source, soups):
        cands = [by_key[k] for k in s.get("candidates") or s.get("members") or [] if k in by_key]
        dataset = cands[0].condition.dataset if cands else "?"
        model = cands[0].condition.model if cands else "?"
        groups.setdefault((dataset, model, str(s.get("init") or s.get("group") or "?")), []).append(s)
    order: dict[Any, int] = {
        k: i for i, k in enumerate(soup_kinds())
    }  # the soup-kind registry's order (analysis/soups.py)
    out = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda s: (order.get(s.get("kind"), len(order)), str(s.get("kind"))))
        heldout: dict[str, float] = {}
        for s in group:  # every soup of a group scored the same candidates on the same held-out split
            heldout.update({k: 100.0 * float(v) for k, v in (s.get("member_heldout_accuracy") or {}).items()})
        keys = sorted({k for s in group for k in (s.get("candidates") or s.get("members") or [])})
        members = sorted((by_key[k] for k in keys if k in by_key), key=lambda t: (t.condition.label, t.trial_key))
        out.append((key, group, members, heldout))
    return out


def _label(t: TrialRecord) -> str:
    return t.condition.label + (f" (seed {t.seed})" if t.seed not in (None, 0) else "")


def _names(keys: Sequence[str], by_key: dict[str, TrialRecord]) -> str:
    return ", ".join(_label(by_key[k]) if k in by_key else k[:10] for k in keys)


@register_table("soups", order=110)
def soups_table(res: Results, built: Sequence[Table] = ()) -> Table | None:
    """Per (dataset, model, init): each soup kind, best single member (by held-out accuracy) and the members'
    mean ± sd (n); None when the study has no soups."""
    return soup_table(res)


def soup_table(source: Results | StudyRuns, soups: Sequence[dict[str, Any]] | None = None) -> Table | None:
    """The soups table of ``source`` (or of explicit ``soups`` records of ``tracking.soups.soup_results``)."""
    groups = soup_groups(source, soups)
    if not groups:
        return None
    runs = _runs_of(source)
    by_key = {t.trial_key: t for t in runs.finished}
    columns = [s.name for s in headline_specs()]  # when any row has them: clean, -C, mCE, then calibration
    present = {
        m
        for _, group, members, _ in groups
        for m in columns
        if any(m in s.get("metrics", {}) for s in group) or any(m in t.metrics for t in members)
    }
    metrics = [m for m in columns if m in present]
    header = ["Dataset", "Model", "Init", "Row", "Members", "Held-out acc. (%)", *(metric_title(m) for m in metrics)]
    table = Table("soups", "Model soups: soups vs best single member and members' mean", header, [])
    for (dataset, model, init), group, members, heldout in groups:
        init_name = _label(by_key[init]) if init in by_key else init[:12]
        lead = [dataset, model, init_name]
        for s in group:
            kind, keys = str(s.get("kind")), list(s.get("members") or [])
            n_cand = len(s.get("candidates") or keys)
            row_name = f"{kind} soup ({len(keys)}/{n_cand})" if kind == "greedy" else f"{kind} soup ({len(keys)})"
            vals = {
                HELDOUT: 100.0 * s["metrics"][HELDOUT] if HELDOUT in s.get("metrics", {}) else math.nan,
                **{m: s.get("metrics", {}).get(m, math.nan) for m in metrics},
            }
            table.rows.append(
                [*lead, row_name, _names(keys, by_key), *(format_number(vals[m]) for m in (HELDOUT, *metrics))]
            )
            for m, v in vals.items():
                table.values[(dataset, model, init, row_name, m)] = summarize([v])
        scored = [t for t in members if t.trial_key in heldout]
        if scored:
            best = max(scored, key=lambda t: (heldout[t.trial_key], t.trial_key))
            vals = {HELDOUT: heldout[best.trial_key], **{m: best.metrics.get(m, math.nan) for m in metrics}}
            table.rows.append(
                [*lead, "best single member", _label(best), *(format_number(vals[m]) for m in (HELDOUT, *metrics))]
            )
            for m, v in vals.items():
                table.values[(dataset, model, init, "best single member", m)] = summarize([v])
        if members:
            cells = []
            for m in (HELDOUT, *metrics):
                st = summarize(
                    [
                        heldout.get(t.trial_key, math.nan) if m == HELDOUT else t.metrics.get(m, math.nan)
                        for t in members
                    ]
                )
                table.values[(dataset, model, init, "members' mean", m)] = st
                cells.append(
                    MISSING
                    if st.n == 0
                    else format_number(st.mean)
                    if st.n == 1
                    else f"{format_number(st.mean)} ± {format_number(st.std)} (n={st.n})"
                )
            table.rows.append([*lead, "members' mean", _names([t.trial_key for t in members], by_key), *cells])
    table.notes += [
        "Soups average the weights of fine-tuned models that share one init (Wortsman et al., ICML 2022): uniform = "
        "all members, greedy = members added in order of held-out accuracy while it does not drop (their Alg. 1).",
        "Held-out accuracy on the held-out split of the training data (dataset.holdout), which chose the greedy "
        "soup and the best single member; other columns on the test set, errors in percent. "
        "Members' mean: mean ± sd over the group's members (n = members). Soup cells are single runs.",
        "A soup's BatchNorm statistics are re-estimated on training images after averaging, so a one-member soup "
        "can differ from that member on the test set.",
    ]
    return table
