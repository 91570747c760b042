"""Score a model on the clean test set, its -C benchmark and (optionally) its C-bar and -P benchmarks: ``evaluate_model``.

Benchmarks are streamed through the model in large batches (no DataLoader for in-memory arrays; a lazy ImageNet
folder is read as its reference eval view by DataLoader workers), under ``torch.inference_mode``, channels_last, and
the trial's AMP dtype (``autocast_dtype``: None = float32, as ``train.amp: off``). Sources (``EvalConfig.corruptions.source``):
"released" (``<root>/<NAME>-C``), "generated" (``<root>/generated/<NAME>-C`` from ``augmix-lab data make-c``),
"on_the_fly" (test batches corrupted during evaluation with a fixed seed), "auto" (first of those that is complete).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from augmix_lab.corruptions import released
from augmix_lab.corruptions.registry import (
    CORRUPTIONS,
    PERTURBATIONS,
    SEVERITIES,
    SUITES,
    check_corruption_names,
    check_perturbation_names,
)
from augmix_lab.corruptions.sources import c_cell_source, resolve_c_source, resolve_p_source
from augmix_lab.data.batching import image_batches
from augmix_lab.device import resolve_device
from augmix_lab.errors import UserError
from augmix_lab.evaluation import metrics as M
from augmix_lab.evaluation.predictions import PredictionRecorder, cbar_cell
from augmix_lab.evaluation.registry import SummaryContext, summarize_table
from augmix_lab.evaluation.scoring import Scorer, as_uint8_batch

CBAR = SUITES["c_bar"]  # the tidy rows' benchmark of CIFAR-10-C-bar / ImageNet-C-bar
TABLE_COLUMNS = ["benchmark", "corruption", "severity", "error", "rms_calib_error", "ece", "nll", "brier", "n",
                 "flip_prob", "t5d", "source"]  # fmt: skip


@dataclass
class Scorecard:
    """``summary``: metric name -> value (names of docs/architecture.md); ``table``: one tidy row per evaluated cell."""

    summary: dict[str, float]
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TABLE_COLUMNS))
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # artifact path -> array (e.g. fourier/error.npy)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # per-image class ids (evaluation/predictions.py)


def _row(benchmark: str, corruption: str, severity: int, scores: Mapping[str, float], source: str) -> dict:
    row: dict[str, Any] = {c: math.nan for c in TABLE_COLUMNS}
    row.update(benchmark=benchmark, corruption=corruption, severity=severity, source=source, **scores)
    return row


def _c_source(dataset, cfg, root: Path, names: tuple[str, ...], kind: str = "C") -> str:
    return resolve_c_source(dataset.name, cfg.source, names, root, folder=dataset.kind != "cifar", kind=kind)


def _c_cells(
    dataset, cfg, eval_cfg, root: Path, source: str, names, severities, profile: str, predictor, kind: str = "C"
) -> Iterator[tuple[str, int, np.ndarray, np.ndarray]]:
    """(corruption, severity, logits, labels) per evaluated cell of the -C (``kind="C"``) or C-bar benchmark."""
    from augmix_lab.corruptions.generate import corrupted_batches

    class_to_idx = {c: i for i, c in enumerate(getattr(dataset, "classes", []))} or None
    for name in names:
        for s in severities:
            if source == "on_the_fly":  # a tensor, or a lazy folder streamed as its eval view (never all at once)
                logit_parts, label_parts = [], []
                for batch, lab in corrupted_batches(
                    dataset.test_images,
                    torch.as_tensor(dataset.test_labels),
                    name,
                    s,
                    seed=eval_cfg.seed,
                    batch_size=eval_cfg.batch_size,
                    profile=profile,
                    device=predictor.device,
                ):
                    logit_parts.append(predictor.logits(batch).cpu().numpy())
                    label_parts.append(np.asarray(lab))
                yield name, s, np.concatenate(logit_parts), np.concatenate(label_parts)
            elif dataset.kind != "cifar" and source == "released":
                level = CORRUPTIONS.get(name).constants(profile, s)[0] if kind == "C-bar" else None
                folder = released.folder_c_dir(root, dataset.name, name, s, kind, level)
                paths, labels = released.list_folder_images(folder, class_to_idx)
                step = eval_cfg.batch_size
                logits = np.concatenate(
                    [
                        predictor(as_uint8_batch(released.decode_images(paths[i : i + step])))
                        for i in range(0, len(paths), step)
                    ]
                )
                yield name, s, logits, labels
            else:
                base = released.released_dir if source == "released" else released.generated_dir
                images, labels = released.CorruptionSet(base(root, dataset.name, kind)).images(name, s)
                yield name, s, predictor(images), labels.astype(np.int64)


# ---- -P sources ------------------------------------------------------------------------------------------------------
def _p_videos(dataset, pcfg, eval_cfg, root: Path, names, profile: str, device) -> Iterator[tuple[str, Any, str]]:
    """(perturbation, videos (N, T, H, W, 3) uint8 or list of mp4 paths, source) per perturbation."""
    from augmix_lab.corruptions.generate import make_generator
    from augmix_lab.corruptions.perturbations import perturb_sequence

    rel = released.released_dir(root, dataset.name, "P")
    gen = released.generated_dir(root, dataset.name, "P")
    for name in names:
        source = resolve_p_source(dataset.name, pcfg.source, name, root)
        rel_npy = rel / f"{name}.npy"
        if source == "released":
            if rel_npy.is_file():
                yield name, released.open_npy(rel_npy)[: pcfg.max_videos], source
            else:  # the mp4 folder layout of ImageNet-P
                paths, _ = released.list_videos(root, name, dataset.name)
                yield name, paths[: pcfg.max_videos], source
        elif source == "generated":
            yield name, released.open_npy(gen / f"{name}.npy")[: pcfg.max_videos], source
        else:
            chunks = []
            for k, batch in enumerate(image_batches(dataset.test_images, 100, stop=pcfg.max_videos or None)):
                batch = batch.to(device)
                g = make_generator(batch.device, eval_cfg.seed, "P", name, 1, k)
                chunks.append(perturb_sequence(batch, name, g, profile).permute(0, 1, 3, 4, 2).cpu().numpy())
            yield name, np.concatenate(chunks), source


def _video_logits(videos: Any, predictor) -> Iterator[np.ndarray]:
    """Logits (n, T, K) per chunk of videos (arrays (N, T, H, W, 3) or mp4 paths), about one eval batch per chunk."""
    first = released.load_video(videos[0]) if isinstance(videos[0], (str, Path)) else np.asarray(videos[0])
    per_chunk = max(1, predictor.batch_size // first.shape[0])
    for start in range(0, len(videos), per_chunk):
        chunk = [
            released.load_video(v) if isinstance(v, (str, Path)) else np.asarray(v)
            for v in videos[start : start + per_chunk]
        ]
        frames = np.concatenate(chunk)
        yield predictor(frames).reshape(len(chunk), chunk[0].shape[0], -1)


def _c_rows(
    dataset,
    eval_cfg,
    root: Path,
    profile: str,
    predictor: Scorer,
    recorder: PredictionRecorder,
) -> list[dict]:
    """One tidy row per -C cell (``eval.corruptions``); each cell's class ids go to ``recorder``."""
    ccfg = eval_cfg.corruptions
    names = check_corruption_names(ccfg.names, "eval.corruptions.names")
    bad = [s for s in ccfg.severities if s not in SEVERITIES]
    if bad:
        raise UserError(f"eval.corruptions.severities: {bad} not allowed; allowed are 1..5")
    source = _c_source(dataset, ccfg, root, names)
    rows = []
    for name, s, logits, labels in _c_cells(
        dataset, ccfg, eval_cfg, root, source, names, ccfg.severities, profile, predictor
    ):
        recorder.add_c(name, s, logits, labels)
        rows.append(
            _row(
                "C",
                name,
                s,
                M.classification_scores(logits, labels, calibration=eval_cfg.calibration),
                c_cell_source(dataset.name, name, source, root),
            )
        )
    return rows


def _c_bar_rows(
    dataset,
    eval_cfg,
    root: Path,
    profile: str,
    predictor: Scorer,
    recorder: PredictionRecorder,
) -> list[dict]:
    """One tidy row of benchmark "C-bar" per CIFAR-10-C-bar / ImageNet-C-bar cell (``eval.c_bar``, Mintun et al.
    2021); each cell's class ids go to ``recorder`` as ``c_bar.<corruption>.<severity>``."""
    bcfg = eval_cfg.c_bar
    names = check_corruption_names(bcfg.names, "eval.c_bar.names", suite="c_bar", profile=profile)
    bad = [s for s in bcfg.severities if s not in SEVERITIES]
    if bad:
        raise UserError(f"eval.c_bar.severities: {bad} not allowed; allowed are 1..5")
    source = _c_source(dataset, bcfg, root, names, kind=CBAR)
    rows = []
    for name, s, logits, labels in _c_cells(
        dataset, bcfg, eval_cfg, root, source, names, bcfg.severities, profile, predictor, kind=CBAR
    ):
        recorder.add(cbar_cell(name, s), logits, labels)
        rows.append(
            _row(CBAR, name, s, M.classification_scores(logits, labels, calibration=eval_cfg.calibration), source)
        )
    return rows


def _p_rows(dataset, eval_cfg, root: Path, profile: str, predictor: Scorer) -> list[dict]:
    """One tidy row per -P perturbation (``eval.perturbations``): flip probability and top-5 distance."""
    pcfg = eval_cfg.perturbations
    pnames = check_perturbation_names(pcfg.names or None, "eval.perturbations.names")
    rows = []
    for name, videos, source in _p_videos(dataset, pcfg, eval_cfg, root, pnames, profile, predictor.device):
        logits = np.concatenate(list(_video_logits(videos, predictor)))
        noise = PERTURBATIONS.get(name).noise
        scores = {
            "flip_prob": M.flip_probability(logits, noise=noise),
            "t5d": M.top5_distance(logits, noise=noise),
            "n": len(logits),
        }
        rows.append(_row("P", name, 0, scores, source))
    return rows


# ---- entry point -----------------------------------------------------------------------------------------------------
def evaluate_model(
    model: torch.nn.Module,
    dataset,
    eval_cfg,
    device: str | torch.device | None = None,
    data_root: str | Path | None = None,
    *,
    alexnet_flip_probs: Mapping[str, float] | None = None,
    alexnet_t5d: Mapping[str, float] | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> Scorecard:
    """Score ``model`` on ``dataset``'s clean test set, -C and -P benchmarks as configured by ``eval_cfg`` (EvalConfig).

    ``alexnet_flip_probs`` / ``alexnet_t5d`` (perturbation -> AlexNet value) enable ``mfr`` / ``mt5d``; no AlexNet
    -P constants are bundled (they are not in any reference code). ``autocast_dtype``: the precision the model runs
    in, the trial's AMP dtype (``training.amp_dtype``); None (``amp: off``) runs float32 on every device, so a
    scorecard does not change precision between CPU and GPU.
    """
    from augmix_lab.corruptions.generate import profile_for
    from augmix_lab.data import resolve_data_root

    dev = resolve_device(device)
    root = resolve_data_root(data_root)
    was_training = model.training
    model.eval().to(dev)
    predictor = Scorer(
        model, dataset.mean, dataset.std, dev, autocast_dtype=autocast_dtype, batch_size=eval_cfg.batch_size
    )  # the one scorer (evaluation/scoring.py)
    profile = profile_for(dataset)
    rows: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    recorder = PredictionRecorder()  # per-image class ids for the report's paired bootstrap
    try:
        if eval_cfg.clean:
            clean_logits, clean_labels = predictor(dataset.test_images), np.asarray(dataset.test_labels)
            recorder.add("clean", clean_logits, clean_labels)
            scores = M.classification_scores(clean_logits, clean_labels, calibration=eval_cfg.calibration)
            rows.append(_row("clean", "clean", 0, scores, "test"))
        if eval_cfg.corruptions.enabled:
            rows += _c_rows(dataset, eval_cfg, root, profile, predictor, recorder)
        if eval_cfg.c_bar.enabled:
            rows += _c_bar_rows(dataset, eval_cfg, root, profile, predictor, recorder)
        if eval_cfg.perturbations.enabled:
            rows += _p_rows(dataset, eval_cfg, root, profile, predictor)
        if eval_cfg.fourier.enabled:  # Fourier heat map (evaluation/fourier_eval.py)
            from augmix_lab.evaluation.fourier_eval import BENCHMARK, evaluate_fourier

            bands, arrays = evaluate_fourier(predictor, dataset, eval_cfg.fourier, seed=eval_cfg.seed)
            rows += [_row(BENCHMARK, b.pop("corruption"), 0, b, "test") for b in bands]
    finally:
        model.train(was_training)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    # the summary is derived from the tidy rows by the metric registry (evaluation/registry.py), never by hand
    ctx = SummaryContext(dataset_kind=dataset.kind, alexnet_flip_probs=alexnet_flip_probs, alexnet_t5d=alexnet_t5d)
    return Scorecard(summary=summarize_table(table, ctx), table=table, arrays=arrays, predictions=recorder.arrays())
