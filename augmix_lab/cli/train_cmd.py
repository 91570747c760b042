"""`augmix-lab train`: train and evaluate one trial locally (no Ray, no MLflow), with a progress bar.

Settings come from ``--config trial.yaml`` and/or flags (flags win). Writes ``checkpoints/``, ``scorecard.json``
and ``table.csv`` in ``--out``; rerunning with the same ``--out`` resumes from ``checkpoints/last.pt``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from augmix_lab.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="TRIAL_YAML", help="one trial's settings (TrialConfig YAML)")
    parser.add_argument("--dataset", help="dataset name, e.g. shapes, cifar10, cifar100, imagenet")
    parser.add_argument("--model", help="model name, e.g. small_cnn, wrn40_2, resnext29_32x4d")
    parser.add_argument("--method", help="augmentation/training method, e.g. standard, augmix, adversarial")
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--jsd-arity", type=int, help="1 = no JSD; 3 = clean + 2 AugMix views (paper)")
    parser.add_argument("--batch-size", type=int, help="training batch size")
    parser.add_argument("--train-subset", type=int, help="use only the first N training images (smoke runs)")
    parser.add_argument("--test-subset", type=int, help="use only the first N test images (smoke runs)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--data-root", help="dataset directory (default $AUGMIX_LAB_DATA or ~/.cache/augmix-lab)")
    parser.add_argument("--out", help="output directory (default runs/train/<dataset>-<model>-<method>-s<seed>)")
    parser.add_argument("--no-progress", action="store_true", help="plain per-epoch lines instead of a progress bar")


def build_config(args: argparse.Namespace) -> Any:
    """TrialConfig from --config (if any) with the flags applied on top; validation errors are one line."""
    from pydantic import ValidationError

    from augmix_lab.config import TrialConfig, format_validation_error, load_trial_config

    cfg = load_trial_config(args.config) if args.config else TrialConfig()
    data = cfg.model_dump()
    for flag, key in (
        ("model", "model"),
        ("method", "method"),
        ("epochs", "epochs"),
        ("seed", "seed"),
        ("device", "device"),
    ):
        if getattr(args, flag, None) is not None:
            data[key] = getattr(args, flag)
    if args.dataset is not None:
        if args.dataset != data["dataset"]["name"]:
            data["dataset"]["options"] = {}  # options belong to the dataset they were written for
        data["dataset"]["name"] = args.dataset
    for flag, key in (("train_subset", "train_subset"), ("test_subset", "test_subset")):
        if getattr(args, flag, None) is not None:
            data["dataset"][key] = getattr(args, flag)
    if args.jsd_arity is not None:
        data["jsd"]["arity"] = args.jsd_arity
    if args.batch_size is not None:
        data["train"]["batch_size"] = args.batch_size
    if args.threads is not None:
        data["train"]["threads"] = args.threads
    try:
        cfg = TrialConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"train: {format_validation_error(exc)}") from None
    from augmix_lab.models import MODELS

    MODELS.get(cfg.model)  # unknown model names fail before any data is loaded
    return cfg


def default_out(cfg: Any) -> Path:
    from augmix_lab.paths import runs_root

    return runs_root() / "train" / f"{cfg.dataset.name}-{cfg.model}-{cfg.method.replace('+', '_')}-s{cfg.seed}"


class _Progress:
    """rich progress: an epochs bar and a batches bar with images/s and ETA; per-epoch metric lines above."""

    def __init__(self, enabled: bool) -> None:
        from augmix_lab.console import make_console

        self.console = make_console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.progress: Any = None
        self.epoch_task = self.batch_task = None
        self._images = 0
        self._t0 = time.perf_counter()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def on_train_start(self, start_epoch: int, epochs: int, batches: int) -> None:
        if start_epoch:
            self.console.print(f"resuming from epoch {start_epoch} of {epochs}")
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.progress.start()
        self.epoch_task = self.progress.add_task("epochs", total=epochs, completed=start_epoch, speed="")
        self.batch_task = self.progress.add_task("batches", total=batches, speed="")

    def on_batch_end(self, epoch: int, batch: int, images: int) -> None:
        if self.progress is None:
            return
        if batch == 1:
            self._images, self._t0 = 0, time.perf_counter()
            self.progress.reset(self.batch_task, description=f"epoch {epoch}")
        self._images += images
        speed = self._images / max(time.perf_counter() - self._t0, 1e-9)
        self.progress.update(self.batch_task, completed=batch, speed=f"{speed:,.0f} img/s")

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], checkpoint: Path | None) -> None:
        from augmix_lab.evaluation.registry import epoch_line

        self.console.print(f"epoch {epoch}: {epoch_line(metrics)}")  # the registered history metrics
        if self.progress is not None:
            self.progress.update(self.epoch_task, completed=epoch)


def summary_table(summary: dict[str, float]) -> Any:
    from rich.table import Table

    from augmix_lab.evaluation.registry import headline_specs

    table = Table(title="scorecard")
    table.add_column("metric")
    table.add_column("value", justify="right")
    headline = [s.name for s in headline_specs()]  # the registry's headline metrics first, then the rest by name
    keys = [k for k in headline if k in summary] + sorted(k for k in summary if k not in headline)
    for key in keys:
        value = summary[key]
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) and math.isfinite(value) else str(value))
    return table


def run(args: argparse.Namespace) -> int:
    from augmix_lab.console import make_console
    from augmix_lab.training import TrialCallbacks, run_trial

    cfg = build_config(args)
    out = Path(args.out) if args.out else default_out(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "trial.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=2) + "\n")
    with _Progress(enabled=not args.no_progress) as progress:

        def on_resume(epoch: int, history: list[dict[str, float]], note: str | None) -> None:
            if note:
                progress.console.print(f"[yellow]warning[/yellow]: {note}")

        callbacks = TrialCallbacks(
            on_epoch_end=progress.on_epoch_end,
            on_train_start=progress.on_train_start,
            on_batch_end=progress.on_batch_end,
            on_resume=on_resume,
        )
        result = run_trial(cfg, out, callbacks=callbacks, data_root=args.data_root)
    card = result.scorecard
    summary = {k: float(v) for k, v in dict(card.summary).items()}
    payload = {
        "summary": summary,
        "history": result.history,
        "checkpoint": str(result.checkpoint),
        "resumed_from_epoch": result.resumed_from_epoch,
        "config": cfg.model_dump(mode="json"),
    }
    (out / "scorecard.json").write_text(json.dumps(payload, indent=2) + "\n")
    table = getattr(card, "table", None)
    if table is not None:
        table.to_csv(out / "table.csv", index=False)
    console = make_console()
    console.print(summary_table(summary))
    console.print(f"wrote {out / 'scorecard.json'}, {out / 'table.csv'} and {result.checkpoint}")
    return 0
