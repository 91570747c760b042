"""The report's Minimal Sample Distance table (augmentation × corruption) and the paper's scatter plot of MSD against
per-corruption error (Mintun, Kirillov & Xie, NeurIPS 2021, Fig. 2/3): what both need from the parent run's
``analyses/msd.csv`` (computed by ``run`` / ``analyze``, orchestration/msd.py; read by report/loading.py) and the
trials' metrics. The table is registered in report/tables/msd.py, the plot in report/plots/msd.py."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from augmix_lab.evaluation.registry import C_BAR_CORRUPTION_ERROR, CORRUPTION_ERROR, family_key
from augmix_lab.report.stats import MISSING, format_number, summarize
from augmix_lab.report.tables import Results, Table

ERROR_FAMILY = {"C": CORRUPTION_ERROR, "C-bar": C_BAR_CORRUPTION_ERROR}  # per-corruption error metric per benchmark
BENCH_ORDER = {"C": 0, "C-bar": 1}


def msd_cells(res: Results, df: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (dataset, model, variant label, benchmark, corruption): MSD and MMD averaged over severities and
    baseline seeds, and the variant's error on that corruption (mean over its seeds; NaN when not evaluated)."""
    cols = [
        "dataset",
        "model",
        "label",
        "benchmark",
        "corruption",
        "msd",
        "mmd",
        "n",
        "error",
        "severities",
        "baselines",
        "samples",
    ]
    if df is None or not len(df):
        return pd.DataFrame(columns=cols)
    runs = {t.run_id: t for t in res.runs.finished}
    rows = []
    keys = ["dataset", "model", "label", "benchmark", "corruption"]
    for (dataset, model, label, bench, corruption), g in df.groupby(keys, sort=False):
        run_ids = {r for ids in g["run_ids"].astype(str) for r in ids.split(";")}
        key = family_key(ERROR_FAMILY.get(str(bench), CORRUPTION_ERROR), str(corruption))
        errors = summarize([runs[r].metrics[key] for r in sorted(run_ids) if r in runs and key in runs[r].metrics])
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "label": label,
                "benchmark": bench,
                "corruption": corruption,
                "msd": float(g["msd"].mean()),
                "mmd": float(g["mmd"].mean()),
                "n": len(g),
                "error": errors.mean if errors.n else math.nan,
                "severities": ",".join(str(int(s)) for s in sorted(set(g["severity"]))),
                "baselines": int(g["baseline_run_id"].nunique()),
                "samples": int(g["samples"].iloc[0]),
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    out["_order"] = out["benchmark"].map(BENCH_ORDER).fillna(9)
    return out.sort_values(["dataset", "model", "_order"], kind="stable").drop(columns="_order")


def msd_table(res: Results, df: pd.DataFrame | None) -> Table | None:
    """Rows: corruptions (-C, then C-bar); columns: the variants' augmentations; cells: MSD."""
    cells = msd_cells(res, df)
    if not len(cells):
        return None
    labels = sorted(dict.fromkeys(cells["label"]), key=lambda lab: (lab.split(" [")[0] != res.runs.baseline, lab))
    table = Table(
        "msd",
        "Minimal sample distance, augmentation × corruption (Mintun et al. 2021)",
        ["Dataset", "Model", "Benchmark", "Corruption", *labels],
        [],
        [],
    )
    first = cells.iloc[0]
    table.notes.append(
        "MSD = min over sampled augmentations a of ||f(a) − E_c f(c)||₂ (lower: the augmentation produces images the "
        "baseline model sees like that corruption); f(t) = mean penultimate feature of the baseline (clean-trained) "
        f"model over fixed training images transformed by t; {int(first['samples'])} augmentation draws, each applied "
        "to every image; mean over the severities measured and the baseline seeds used."
    )
    table.notes.append(
        "Augmentations without the dataset's crop and flip (as the reference's feature sets); mixup / "
        "cutmix mix each image with copies of itself there."
    )
    table.tidy = []
    for (dataset, model, bench, corruption), g in cells.groupby(
        ["dataset", "model", "benchmark", "corruption"], sort=False
    ):
        by_label = {r.label: r for r in g.itertuples()}
        table.rows.append(
            [
                dataset,
                model,
                bench,
                corruption,
                *(format_number(by_label[lab].msd, 3) if lab in by_label else MISSING for lab in labels),
            ]
        )
        for r in g.itertuples():
            table.tidy.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "variant": r.label,
                    "benchmark": bench,
                    "corruption": corruption,
                    "metric": "msd",
                    "mean": r.msd,
                    "n": r.n,
                    "mmd": r.mmd,
                    "error": r.error,
                    "severities": r.severities,
                    "baselines": r.baselines,
                    "samples": r.samples,
                }
            )  # mean, n: over severities x baseline seeds
    return table


def spearman(cells: pd.DataFrame) -> float:
    """Spearman's rho between MSD and error over the cells that have both (NaN below 3 points or when constant)."""
    from scipy.stats import spearmanr

    ok = cells[np.isfinite(cells["msd"].astype(float)) & np.isfinite(cells["error"].astype(float))]
    if len(ok) < 3 or ok["msd"].nunique() < 2 or ok["error"].nunique() < 2:
        return math.nan  # undefined for a constant input (e.g. a 1-epoch model with one error everywhere)
    return float(spearmanr(ok["msd"], ok["error"]).statistic)
