"""-C against -C-bar error with the gap, ours beside Mintun, Kirillov & Xie (NeurIPS 2021)'s table."""

from __future__ import annotations

from collections.abc import Sequence

from augmix_lab.evaluation.registry import C_BAR_ERROR, MEAN_CORRUPTION_ERROR
from augmix_lab.report.paper_numbers import paper_method, paper_value
from augmix_lab.report.stats import MISSING, format_number, format_stat, summarize
from augmix_lab.report.tables.core import IMAGENET_DATASETS, Results, Table, plain
from augmix_lab.report.tables.registry import register_table

C, BAR = MEAN_CORRUPTION_ERROR, C_BAR_ERROR
GAP = "c_bar_gap"  # the tidy rows' name of the per-seed difference (not a logged metric)
PAPER_SETUP = {True: ("imagenet", "resnet50"), False: ("cifar10", "wrn40_2")}  # the paper's ImageNet / CIFAR-10 rows


@register_table(
    "c_vs_c_bar", order=42, paper="cbar", paper_metrics=(C, BAR)
)  # vs_paper: the same dataset, model and method on released files
def c_vs_c_bar(res: Results, built: Sequence[Table] = ()) -> Table | None:
    if not res.has(BAR):
        return None
    table = Table(
        "c_vs_c_bar",
        "-C vs -C-bar error and the gap (Mintun et al. 2021)",
        [
            "Dataset",
            "Model",
            "Variant",
            "-C error (%)",
            "-C-bar error (%)",
            "Gap (pp)",
            "Paper -C",
            "Paper -C-bar",
            "Paper gap",
            "Paper setup",
        ],
        [],
        res.legend(),
        key_names=("dataset", "model", "variant", "metric"),
    )
    table.notes.append(
        "Gap = -C-bar error − -C error, per seed, then mean ± 95 % CI over seeds; > 0: the model is "
        "less robust to the corruptions unlike -C (the paper's ΔIN-C / ΔC10-C)."
    )
    table.notes.append(
        "Paper columns: Mintun et al. 2021 (facebookresearch/augmentation-corruption figs/table.png) for "
        "the same method, on the paper's setup (CIFAR-10 / WRN-40-2 for 32-px datasets, ImageNet / "
        "ResNet-50 otherwise); where that setup is not ours they are a reference, not a "
        "reproduction (vs_paper compares exact setups)."
    )
    for c in plain(res.conditions):
        if BAR not in res.per_seed[c] and C not in res.per_seed[c]:
            continue
        mine, theirs = res.per_seed[c].get(BAR, {}), res.per_seed[c].get(C, {})
        gap = summarize([mine[s] - theirs[s] for s in sorted(set(mine) & set(theirs))])
        setup = PAPER_SETUP[c.dataset in IMAGENET_DATASETS]
        method = paper_method(res.params[c])
        p_c, p_bar = (paper_value("cbar", *setup, method, m) for m in (C, BAR))
        table.rows.append([
            c.dataset, c.model, c.label, res.cell(c, C, table.notes), res.cell(c, BAR, table.notes),
            format_stat(gap) if gap.n else MISSING, _num(p_c), _num(p_bar),
            _num(p_bar - p_c if p_c is not None and p_bar is not None else None),
            f"{'/'.join(setup)} {method}" if p_c is not None else MISSING,
        ])  # fmt: skip
        for m in (C, BAR):
            table.put(
                (c.dataset, c.model, c.label, m), res.stat(c, m), **res.tidy_extra(c, m), paper=p_c if m == C else p_bar
            )
        if gap.n:
            table.put(
                (c.dataset, c.model, c.label, GAP),
                gap,
                metric=GAP,
                paper=p_bar - p_c if p_c is not None and p_bar is not None else None,
            )
    return table if table.rows else None


def _num(v: float | None) -> str:
    return MISSING if v is None else format_number(v, 1)
