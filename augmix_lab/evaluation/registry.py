"""The metric registry: the one list of metric names. Every metric the store holds is registered here (or by a
plugin through the same functions), each name spelled once; code refers to a metric by the constants below or by
asking the registry (``headline_specs``, ``metric_names``), never by a hand-written list.

Three kinds, one ``MetricSpec`` each:
- ``summary``: one function + one ``@register_metric`` decorator. It turns the tidy per-cell table
  (``Scorecard.table``, logged as ``scorecard/table.csv``) into a summary value: a float (key = the metric's name), a
  dict suffix -> float for a per-name family (keys ``<prefix><suffix>``, e.g. ``corruption_error.fog``), or None when
  it does not apply.
- ``history``: logged per epoch (step = epoch) by the trainer (``register_logged_metric(..., kind="history")``).
- ``soup``: logged on model-soup runs by the soups driver (``kind="soup"``).
- ``trial``: logged once per trial beside the scorecard by the trainer (``kind="trial"``: the labelled split, the
  pseudo-labels a self-training student learnt from).
The report reads titles, units, ranges, the "better" direction, summary-table columns and plot axes from the spec;
``headline`` metrics are the short list every one-line summary shows (console lines, ``train``'s scorecard, the
soups table).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:  # pandas (+ pyarrow) is imported where a table is summarised: the study schema reads names only
    import pandas as pd

from augmix_lab.evaluation import metrics as M
from augmix_lab.registry import Registry

Value = float | dict[str, float] | None
Kind = Literal["summary", "history", "soup", "trial"]

# ---- names the code refers to: each spelled once, here (the registrations below use them) ---------------------------
CLEAN_ERROR = "clean_error"
CLEAN_RMS_CALIB_ERROR = "clean_rms_calib_error"
CLEAN_ECE = "clean_ece"
MEAN_CORRUPTION_ERROR = "mean_corruption_error"
CORRUPTION_ERROR = "corruption_error"
C_BAR_ERROR = "c_bar_error"
C_BAR_CORRUPTION_ERROR = "c_bar_corruption_error"
C_RMS_CALIB_ERROR = "c_rms_calib_error"
CE = "ce"
MCE = "mce"
MFP = "mfp"
FR = "fr"
MFR = "mfr"
TRAIN_LOSS = "train_loss"
TRAIN_ERROR = "train_error"
TEST_ERROR = "test_error"
LR = "lr"
EPOCH_TIME_S = "epoch_time_s"
IMAGES_PER_S = "images_per_s"
TRAIN_DEVICE_S = "train_device_s"
TRAIN_IMAGES_PER_S = "train_images_per_s"
GPU_MEM_PEAK_ALLOCATED_MB = "gpu_mem_peak_allocated_mb"
GPU_MEM_PEAK_RESERVED_MB = "gpu_mem_peak_reserved_mb"
GPU_UTILIZATION_PCT = "gpu_utilization_pct"
GPU_MEM_USED_PCT = "gpu_mem_used_pct"
HELDOUT_ACCURACY = "heldout_accuracy"
HELDOUT_ACCURACY_BEST_MEMBER = "heldout_accuracy.best_member"
HELDOUT_ACCURACY_MEMBERS_MEAN = "heldout_accuracy.members_mean"
SOUP_SIZE = "soup_size"
SOUP_CANDIDATES = "soup_candidates"
FIXMATCH_MASK_RATE = "fixmatch_mask_rate"
LABELLED_FRACTION = "labelled_fraction"
PSEUDO_LABELS_KEPT = "pseudo_labels_kept"
PSEUDO_LABEL_ACCURACY = "pseudo_label_accuracy"


@dataclass(frozen=True)
class SummaryContext:
    """What a metric may need beyond the tidy rows."""

    dataset_kind: str = "cifar"  # "cifar" or a folder dataset (ImageNet-style AlexNet normalisation)
    clean_error: float | None = None  # filled by summarize_table from the clean row
    alexnet_flip_probs: Mapping[str, float] | None = None
    alexnet_t5d: Mapping[str, float] | None = None


@dataclass(frozen=True)
class MetricSpec:
    """One metric. ``per``: None (a scalar) or what a family is indexed by ("corruption", "perturbation",
    "severity"); ``prefix``: a family's summary-key prefix; ``range``: (low, high), high None = unbounded;
    ``benchmark``: the tidy rows it reads ("clean", "C", "C-bar", "P"; None = per-epoch history, not from the table);
    ``summary``: column position in the report's summary table (None = not a column); ``sensitivity``: priority as
    the sensitivity plots' metric (lower first); ``clean``: the clean metric drawn at severity 0 for a severity family;
    ``bars``: (plot-name prefix, caption) of a per-name grouped bar plot; ``kind``: "summary" (from the tidy table),
    "history" (per epoch) or "soup"; ``headline``: position among the metrics one-line summaries show (None = not
    one); ``short``: its label in console lines (e.g. "mCE"); ``line``: a history metric's format in the trainer's
    per-epoch console line (``str.format`` of the value); ``curve``: the report loads its per-epoch history;
    ``group``: a family of logged metrics read together (e.g. "gpu")."""

    name: str
    fn: Callable[[pd.DataFrame, SummaryContext], Value] = field(repr=False)
    title: str
    unit: str
    higher_is_better: bool
    range: tuple[float, float | None]
    aggregate: str
    benchmark: str | None
    per: str | None = None
    prefix: str | None = None
    summary: int | None = None
    sensitivity: int | None = None
    clean: str | None = None
    bars: tuple[str, str] | None = None
    kind: Kind = "summary"
    headline: int | None = None
    short: str | None = None
    line: str | None = None
    curve: bool = False
    group: str | None = None

    def key_title(self, key: str) -> str:
        """Display title of a summary key of this metric (a family member gets its suffix)."""
        if self.per is None or not self.prefix or not key.startswith(self.prefix):
            return self.title
        return f"{self.title} {key[len(self.prefix) :]}"

    @property
    def axis_label(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title

    @property
    def upper(self) -> float:
        return math.inf if self.range[1] is None else float(self.range[1])


METRICS: Registry[MetricSpec] = Registry("metric")


def register_metric(
    name: str,
    *,
    title: str,
    unit: str = "%",
    higher_is_better: bool = False,
    range: tuple[float, float | None] = (0.0, 100.0),
    aggregate: str,
    benchmark: str | None,
    per: str | None = None,
    prefix: str | None = None,
    summary: int | None = None,
    sensitivity: int | None = None,
    clean: str | None = None,
    bars: tuple[str, str] | None = None,
    headline: int | None = None,
    short: str | None = None,
) -> Callable[[Callable], Callable]:
    """Decorator of a summary metric (a function of the tidy rows of ``benchmark``):
    ``@register_metric("mfp", title="mFP", aggregate="mean over perturbations", benchmark="P")``."""

    def decorator(fn: Callable[[pd.DataFrame, SummaryContext], Value]) -> Callable:
        pre = (prefix if prefix is not None else f"{name}.") if per else None
        METRICS.add(
            name,
            MetricSpec(
                name,
                fn,
                title,
                unit,
                higher_is_better,
                range,
                aggregate,
                benchmark,
                per,
                pre,
                summary,
                sensitivity,
                clean,
                bars,
                "summary",
                headline,
                short,
            ),
        )
        return fn

    return decorator


def _not_from_the_table(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return None  # logged by the code that measures it (trainer, soups driver), not computed from the tidy rows


def register_logged_metric(
    name: str,
    *,
    kind: Kind,
    title: str,
    aggregate: str,
    unit: str = "%",
    higher_is_better: bool = False,
    range: tuple[float, float | None] = (0.0, 100.0),
    sensitivity: int | None = None,
    line: str | None = None,
    curve: bool = False,
    group: str | None = None,
) -> str:
    """Register a metric that code logs itself: ``kind="history"`` (per epoch, step = epoch: the trainer or a
    training hook), ``kind="soup"`` (soup runs) or ``kind="trial"`` (once per trial, beside the scorecard). Returns
    the name, so a module may keep it as a constant."""
    if kind == "summary":
        raise ValueError("summary metrics are computed from the tidy table: use @register_metric")
    METRICS.add(
        name,
        MetricSpec(
            name,
            _not_from_the_table,
            title,
            unit,
            higher_is_better,
            range,
            aggregate,
            None,
            sensitivity=sensitivity,
            kind=kind,
            line=line,
            curve=curve,
            group=group,
        ),
    )
    return name


def specs() -> list[MetricSpec]:
    """Every registered metric in registration order (a summary's key order)."""
    return [METRICS.get(n) for n in METRICS._items]  # noqa: SLF001 - registration order, not sorted


def spec_for_key(key: str) -> MetricSpec | None:
    """The metric that produces summary key ``key``: an exact scalar name, else the longest family prefix."""
    if key in METRICS and METRICS.get(key).per is None:
        return METRICS.get(key)
    family = [s for s in specs() if s.per and s.prefix and key.startswith(s.prefix) and len(key) > len(s.prefix)]
    return max(family, key=lambda s: len(s.prefix or "")) if family else None


def key_title(key: str) -> str:
    spec = spec_for_key(key)
    return spec.key_title(key) if spec else key


def family_key(name: str, member: str) -> str:
    """The summary key of one member of a registered family: ``family_key(CE, "fog")`` -> ``"ce.fog"``."""
    return f"{METRICS.get(name).prefix}{member}"


def metric_names(kind: Kind | None = None, *, group: str | None = None, curve: bool | None = None) -> tuple[str, ...]:
    """Registered names, in registration order, filtered by kind / group / ``curve``."""
    return tuple(
        s.name
        for s in specs()
        if (kind is None or s.kind == kind)
        and (group is None or s.group == group)
        and (curve is None or s.curve == curve)
    )


def headline_specs() -> list[MetricSpec]:
    """The headline metrics in ``headline`` order."""
    return sorted((s for s in specs() if s.headline is not None), key=attrgetter("headline"))


def headline_text(values: Mapping[str, Any], sep: str = "  ") -> str:
    """``"clean 12.50%  mCE 20.00%"``: the headline metrics with a console label that ``values`` holds."""
    shown = [s for s in headline_specs() if s.short and isinstance(values.get(s.name), (int, float))]
    return sep.join(f"{s.short} {float(values[s.name]):.2f}{s.unit}" for s in shown)


def epoch_line(values: Mapping[str, Any], sep: str = "  ") -> str:
    """The trainer's per-epoch console line: each history metric with a ``line`` format that ``values`` holds."""
    return sep.join(
        s.line.format(values[s.name]) for s in specs() if s.kind == "history" and s.line and s.name in values
    )


def summarize_table(table: pd.DataFrame, ctx: SummaryContext = SummaryContext()) -> dict[str, float]:
    """Every registered metric computed from the tidy rows: summary key -> value (the logged final metrics)."""
    out: dict[str, float] = {}
    clean = table[table.benchmark == "clean"]
    if ctx.clean_error is None and _has(clean, "error"):
        ctx = replace(ctx, clean_error=float(clean.error.iloc[0]))
    for spec in specs():
        if spec.benchmark is None:
            continue
        value = spec.fn(table[table.benchmark == spec.benchmark], ctx)
        if isinstance(value, dict):
            out.update({f"{spec.prefix}{k}": float(v) for k, v in value.items()})
        elif value is not None:
            out[spec.name] = float(value)
    return out


# ---- helpers over tidy rows ------------------------------------------------------------------------------------------
def _has(rows: pd.DataFrame, column: str) -> bool:
    return column in rows and len(rows) > 0 and bool(rows[column].notna().any())


def _by(rows: pd.DataFrame, key: str, column: str) -> dict[str, float]:
    """Mean of ``column`` per value of ``key`` in first-appearance order (evaluation order)."""
    if not _has(rows, column):
        return {}
    name = (lambda k: str(int(k))) if key == "severity" else str
    import pandas as pd

    return {name(k): float(rows[rows[key] == k][column].mean()) for k in pd.unique(rows[key])}


def _clean(column: str) -> Callable[[pd.DataFrame, SummaryContext], Value]:
    return lambda rows, ctx: float(rows[column].iloc[0]) if _has(rows, column) else None


def _imagenet_errors(rows: pd.DataFrame, ctx: SummaryContext) -> dict[str, float] | None:
    """Per-corruption errors when ImageNet-style AlexNet normalisation applies (folder dataset, all 15 present)."""
    per = _by(rows, "corruption", "error")
    return per if ctx.dataset_kind != "cifar" and all(n in per for n in M.ALEXNET_ERR) else None


# ---- clean -----------------------------------------------------------------------------------------------------------
register_metric(
    CLEAN_ERROR,
    title="Clean error",
    aggregate="top-1 error on the clean test set",
    benchmark="clean",
    summary=0,
    sensitivity=2,
    headline=0,
    short="clean",
)(_clean("error"))
register_metric(
    CLEAN_RMS_CALIB_ERROR,
    title="Clean RMS calib.",
    aggregate="RMS calibration error, clean test set",
    benchmark="clean",
    summary=3,
    headline=3,
)(_clean("rms_calib_error"))
register_metric(CLEAN_ECE, title="Clean ECE", aggregate="ECE (15 bins), clean test set", benchmark="clean", headline=4)(
    _clean("ece")
)
register_metric(
    "clean_brier",
    title="Clean Brier",
    unit="",
    range=(0.0, 2.0),
    aggregate="Brier score, clean test set",
    benchmark="clean",
)(_clean("brier"))
register_metric(
    "clean_nll", title="Clean NLL", unit="nats", range=(0.0, None), aggregate="NLL, clean test set", benchmark="clean"
)(_clean("nll"))


# ---- -C --------------------------------------------------------------------------------------------------------------
@register_metric(
    MEAN_CORRUPTION_ERROR,
    title="-C error",
    benchmark="C",
    summary=1,
    sensitivity=1,
    headline=1,
    short="mCE",
    aggregate="mean error over corruptions x severities (CIFAR 'mCE', unnormalised)",
)
def _mean_corruption_error(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    if not _has(rows, "error"):
        return None
    return M.mean_corruption_error({(r.corruption, r.severity): r.error for r in rows.itertuples()})


@register_metric(
    CORRUPTION_ERROR,
    title="Error",
    per="corruption",
    benchmark="C",
    aggregate="mean over severities",
    bars=("corruption_error", "Error per corruption"),
)
def _corruption_error(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _by(rows, "corruption", "error")


@register_metric(
    "corruption_error_by_severity",
    title="Error",
    per="severity",
    prefix="corruption_error.severity_",
    benchmark="C",
    aggregate="mean over corruptions",
    clean=CLEAN_ERROR,
)
def _corruption_error_by_severity(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _by(rows, "severity", "error")


@register_metric(
    "c_rms_calib_error_by_severity",
    title="RMS calibration error",
    per="severity",
    prefix="c_rms_calib_error.severity_",
    benchmark="C",
    aggregate="mean over corruptions",
    clean=CLEAN_RMS_CALIB_ERROR,
)
def _c_rms_by_severity(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _by(rows, "severity", "rms_calib_error")


@register_metric(
    C_RMS_CALIB_ERROR,
    title="-C RMS calib.",
    benchmark="C",
    summary=4,
    headline=5,
    aggregate="mean RMS calibration error over corruptions x severities",
)
def _c_rms(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return float(rows.rms_calib_error.mean()) if _has(rows, "rms_calib_error") else None


@register_metric("c_ece", title="-C ECE", benchmark="C", aggregate="mean ECE over corruptions x severities")
def _c_ece(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return float(rows.ece.mean()) if _has(rows, "ece") else None


@register_metric(
    CE,
    title="CE",
    per="corruption",
    range=(0.0, None),
    benchmark="C",
    aggregate="mean over severities / AlexNet's (ImageNet CE_c)",
)
def _ce(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    per = _imagenet_errors(rows, ctx)
    return M.corruption_errors_imagenet(per) if per else None


@register_metric(
    MCE,
    title="mCE",
    range=(0.0, None),
    benchmark="C",
    summary=2,
    sensitivity=0,
    headline=2,
    aggregate="mean over corruptions of AlexNet-normalised CE_c (ImageNet mCE)",
)
def _mce(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    per = _imagenet_errors(rows, ctx)
    return M.mce(per) if per else None


@register_metric(
    "relative_mce",
    title="Relative mCE",
    range=(0.0, None),
    benchmark="C",
    aggregate="mean over corruptions of (CE_c - clean) / AlexNet's (Hendrycks & Dietterich 2019)",
)
def _relative_mce(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    per = _imagenet_errors(rows, ctx)
    return M.relative_mce(per, ctx.clean_error) if per and ctx.clean_error is not None else None


# ---- C-bar (CIFAR-10-C-bar / ImageNet-C-bar; Mintun, Kirillov & Xie, NeurIPS 2021) ---------------------------------
@register_metric(
    C_BAR_ERROR,
    title="-C-bar error",
    benchmark="C-bar",
    summary=1,
    aggregate="mean error over C-bar corruptions x severities (test_c_bar.py 'overall-avg')",
)
def _c_bar_error(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    if not _has(rows, "error"):
        return None
    return M.mean_corruption_error({(r.corruption, r.severity): r.error for r in rows.itertuples()})


@register_metric(
    C_BAR_CORRUPTION_ERROR,
    title="C-bar error",
    per="corruption",
    benchmark="C-bar",
    aggregate="mean over severities (test_c_bar.py '<corruption>-avg')",
    bars=("c_bar_corruption_error", "Error per C-bar corruption"),
)
def _c_bar_corruption_error(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _by(rows, "corruption", "error")


@register_metric(
    "c_bar_error_by_severity",
    title="C-bar error",
    per="severity",
    prefix="c_bar_error.severity_",
    benchmark="C-bar",
    aggregate="mean over C-bar corruptions",
    clean="clean_error",
)
def _c_bar_error_by_severity(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _by(rows, "severity", "error")


# ---- -P --------------------------------------------------------------------------------------------------------------
@register_metric(
    "flip_prob",
    title="Flip probability",
    per="perturbation",
    benchmark="P",
    aggregate="mean over videos of the per-video flip rate",
    bars=("flip_probability", "Flip probability per perturbation"),
)
def _flip_prob(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _by(rows, "corruption", "flip_prob")


@register_metric(
    "t5d",
    title="T5D",
    unit="",
    range=(0.0, None),
    per="perturbation",
    benchmark="P",
    aggregate="mean top-5 distance over videos",
)
def _t5d(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _by(rows, "corruption", "t5d")


@register_metric(MFP, title="mFP", benchmark="P", summary=5, aggregate="mean flip probability over perturbations")
def _mfp(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    fps = _by(rows, "corruption", "flip_prob")
    return M.mean_over(fps) if fps else None


def _alexnet_rates(rows: pd.DataFrame, ctx: SummaryContext) -> dict[str, float] | None:
    fps = _by(rows, "corruption", "flip_prob")
    if not fps or not ctx.alexnet_flip_probs:
        return None
    return M.flip_rates(fps, {k: v for k, v in ctx.alexnet_flip_probs.items() if k in fps})


@register_metric(
    FR,
    title="FR",
    per="perturbation",
    range=(0.0, None),
    benchmark="P",
    aggregate="flip probability / AlexNet's per perturbation",
)
def _fr(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    return _alexnet_rates(rows, ctx)


@register_metric(
    MFR,
    title="mFR",
    range=(0.0, None),
    benchmark="P",
    summary=6,
    aggregate="mean over perturbations of AlexNet-normalised flip rates (ImageNet mFR)",
)
def _mfr(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    fr = _alexnet_rates(rows, ctx)
    return float(np.mean(list(fr.values()))) if fr else None


@register_metric(
    "mt5d",
    title="mT5D",
    range=(0.0, None),
    benchmark="P",
    summary=7,
    aggregate="mean over perturbations of AlexNet-normalised top-5 distances",
)
def _mt5d(rows: pd.DataFrame, ctx: SummaryContext) -> Value:
    t5ds = _by(rows, "corruption", "t5d")
    if not t5ds or not ctx.alexnet_t5d:
        return None
    return M.mt5d(t5ds, {k: v for k, v in ctx.alexnet_t5d.items() if k in t5ds})


# ---- Fourier heat map (eval.fourier; Yin et al., NeurIPS 2019) -----------------------------------------------------
def _band(name: str) -> Callable[[pd.DataFrame, SummaryContext], Value]:
    return lambda rows, ctx: (
        float(rows[rows.corruption == name].error.iloc[0]) if _has(rows[rows.corruption == name], "error") else None
    )


register_metric(
    "fourier_low_freq_error",
    title="Fourier low-freq. error",
    benchmark="fourier",
    summary=8,
    aggregate="mean heat-map error over frequencies within half the Nyquist radius",
)(_band("low_freq"))
register_metric(
    "fourier_high_freq_error",
    title="Fourier high-freq. error",
    benchmark="fourier",
    summary=9,
    aggregate="mean heat-map error over frequencies beyond half the Nyquist radius",
)(_band("high_freq"))


# ---- per-epoch history (logged by the trainer, step = epoch; not computed from the tidy table) -----------------------
# `line`: the format in `augmix-lab train`'s per-epoch console line, in registration order
register_logged_metric(
    TRAIN_LOSS,
    kind="history",
    title="Train loss",
    unit="",
    range=(0.0, None),
    curve=True,
    aggregate="mean training loss over the epoch's images",
    line="train_loss {:.4f}",
)
register_logged_metric(
    TRAIN_ERROR,
    kind="history",
    title="Train error",
    line="train_error {:.2f}%",
    aggregate="top-1 error on the epoch's augmented training batches (clean view)",
)
register_logged_metric(
    TEST_ERROR,
    kind="history",
    title="Test error",
    sensitivity=3,
    curve=True,
    aggregate="clean test error after each epoch",
    line="test_error {:.2f}%",
)
register_logged_metric(
    LR,
    kind="history",
    title="Learning rate",
    unit="",
    range=(0.0, None),
    line="lr {:.2e}",
    aggregate="the learning rate after the epoch's last step",
)
register_logged_metric(
    IMAGES_PER_S,
    kind="history",
    title="Training throughput",
    unit="img/s",
    range=(0.0, None),
    higher_is_better=True,
    line="{:,.0f} img/s",
    aggregate="training images per second",
)
register_logged_metric(
    EPOCH_TIME_S,
    kind="history",
    title="Epoch time",
    unit="s",
    range=(0.0, None),
    line="{:.1f} s",
    aggregate="wall time of the epoch (training and its test pass)",
)
# training cost, logged every epoch as the running total (the run's last value is the whole training's cost)
register_logged_metric(
    TRAIN_DEVICE_S,
    kind="history",
    group="cost",
    title="Training device time",
    unit="s",
    range=(0.0, None),
    aggregate="wall seconds of the training loop on the trial's device, summed "
    "over the epochs so far (per-epoch test passes and evaluation excluded)",
)
register_logged_metric(
    TRAIN_IMAGES_PER_S,
    kind="history",
    group="cost",
    title="Training images/s",
    unit="img/s",
    range=(0.0, None),
    higher_is_better=True,
    aggregate="training images per second of training device time, over the epochs so far",
)
# per epoch on CUDA only (tracking/gpu.py: torch.cuda peaks of this process, NVML for the whole device)
register_logged_metric(
    GPU_MEM_PEAK_ALLOCATED_MB,
    kind="history",
    group="gpu",
    title="GPU memory peak allocated",
    unit="MB",
    range=(0.0, None),
    aggregate="torch.cuda.max_memory_allocated since the last epoch",
)
register_logged_metric(
    GPU_MEM_PEAK_RESERVED_MB,
    kind="history",
    group="gpu",
    title="GPU memory peak reserved",
    unit="MB",
    range=(0.0, None),
    aggregate="torch.cuda.max_memory_reserved since the last epoch",
)
register_logged_metric(
    GPU_UTILIZATION_PCT,
    kind="history",
    group="gpu",
    title="GPU utilisation",
    aggregate="NVML: % of the sample period a kernel ran (whole device)",
)
register_logged_metric(
    GPU_MEM_USED_PCT,
    kind="history",
    group="gpu",
    title="GPU memory in use",
    aggregate="NVML: device memory used by every process, % of its total",
)

# per epoch, FixMatch's training hook (training/fixmatch.py): a fraction, not percent. Group ONLINE_PSEUDO_LABELS: a
# run that logged a metric of it pseudo-labelled online (the report's "self-trained (online)" arm, read without torch)
ONLINE_PSEUDO_LABELS = "online_pseudo_labels"
register_logged_metric(
    FIXMATCH_MASK_RATE,
    kind="history",
    group=ONLINE_PSEUDO_LABELS,
    title="FixMatch mask rate",
    unit="",
    range=(0.0, 1.0),
    line="mask {:.2f}",
    aggregate="share of the unlabelled images whose weak-view confidence "
    "reached the threshold, mean over the epoch's steps",
)

# ---- self-training (once per trial beside the scorecard: training/trainer.py, training/self_training.py) ----------
register_logged_metric(
    LABELLED_FRACTION,
    kind="trial",
    title="Labelled fraction",
    unit="",
    range=(0.0, 1.0),
    aggregate="labelled training images / training images (dataset.labelled; 1 without it)",
)
register_logged_metric(
    PSEUDO_LABELS_KEPT,
    kind="trial",
    title="Pseudo-labels kept",
    unit="",
    range=(0.0, None),
    aggregate="distinct pool images the teacher's filter kept",
)
register_logged_metric(
    PSEUDO_LABEL_ACCURACY,
    kind="trial",
    title="Pseudo-label accuracy",
    higher_is_better=True,
    aggregate="the kept pseudo-labels' argmax against the withheld labels, % of the distinct kept",
)

# ---- model soups (logged on soup runs by the soups driver; accuracies are fractions) --------------------------------
register_logged_metric(
    HELDOUT_ACCURACY,
    kind="soup",
    title="Held-out accuracy",
    unit="",
    range=(0.0, 1.0),
    higher_is_better=True,
    aggregate="the soup's accuracy on the held-out training split",
)
register_logged_metric(
    HELDOUT_ACCURACY_BEST_MEMBER,
    kind="soup",
    title="Best member held-out accuracy",
    unit="",
    range=(0.0, 1.0),
    higher_is_better=True,
    aggregate="the best candidate's held-out accuracy",
)
register_logged_metric(
    HELDOUT_ACCURACY_MEMBERS_MEAN,
    kind="soup",
    title="Members' mean held-out accuracy",
    unit="",
    range=(0.0, 1.0),
    higher_is_better=True,
    aggregate="mean held-out accuracy of the candidates",
)
register_logged_metric(
    SOUP_SIZE, kind="soup", title="Soup size", unit="", range=(1.0, None), aggregate="models averaged into the soup"
)
register_logged_metric(
    SOUP_CANDIDATES,
    kind="soup",
    title="Soup candidates",
    unit="",
    range=(1.0, None),
    aggregate="models of the group the soup chose from",
)
