"""GPU proof harness: one command, one table (and JSON) of every figure issues 13 and 29 ask for, measured in this run.

    python benchmarks/gpu_proof.py [--device cuda] [--out gpu_proof.json]      # sized to <= 5 min on one H100
    python benchmarks/gpu_proof.py --device cpu --quick --out /tmp/proof.json  # about a minute on 2 cores (CI path)
    python benchmarks/gpu_proof.py --sections tests,engines --skip-tests ...   # a subset of the sections

Sections, in run order (each prints its wall time; the JSON is rewritten after every row, so a run cut off by a
timeout keeps what it measured): tests (the gpu-marked tests, in modules that import only the training/evaluation
core); augmix (ours batched on the device vs reference PIL in a DataLoader with every core vs timm vs torchvision v2
per image); engines (AugMix's sorted vs masked op engine at 32 and 224 px; the winner is stored for ``auto``);
train (wrn40_2, resnext29_32x4d; Standard / AugMix+JSD(3); bf16 autocast + channels_last on CUDA; eager); packing
(4 trials vs 1); eval-C (-C evaluation per corruption, and what each kernel moves between host and device after its
warm-up); imagenet (decode+RRC+flip+AugMix vs the ResNet-50 step); projection (study wall times); compile
(torch.compile rows, last: each starts only while the time budget allows one more compile).
CUDA timings use events after warm-up; CPU timings use time.perf_counter. Imports only the training/evaluation core.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/gpu_proof.py` from a plain checkout (no install)
    sys.path.insert(0, str(ROOT))
# what the core needs beyond the GPU image (versions as constraints.txt pins them); docs/performance.md: carry list
CARRIED_WHEELS = ("pydantic==2.14.3", "pydantic-core==2.50.4", "annotated-types==0.8.0", "typing-inspection==0.4.5",
                  "typing_extensions==4.16.0")
SECTIONS = ("tests", "augmix", "engines", "train", "packing", "eval-C", "imagenet", "projection", "compile")
COMPILE_ESTIMATE_S = {"cuda": 90.0, "cpu": 15.0}  # one inductor compile of a CIFAR model (cuda), dynamo-only (cpu)
ROWS: list[dict[str, Any]] = []
STATE: dict[str, Any] = {"out": None, "meta": {}, "t0": time.perf_counter(), "failed": []}


def row(section: str, name: str, value: Any = "", unit: str = "", note: str = "") -> None:
    ROWS.append({"section": section, "name": name, "value": value, "unit": unit, "note": note})
    v = f"{value:,.1f}" if isinstance(value, float) else str(value)
    print(f"{section:<10} {name:<44} {v:>12} {unit:<8} {note}", flush=True)
    write_json()


def write_json() -> None:
    """The whole table so far, written atomically after every row (a timeout keeps what was measured)."""
    out = STATE["out"]
    if out is None:
        return
    doc = {**STATE["meta"], "elapsed_s": time.perf_counter() - STATE["t0"], "rows": ROWS}
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    os.replace(tmp, out)


def check_pydantic() -> None:
    if importlib.util.find_spec("pydantic") is None:
        print("pydantic is missing (augmix_lab.config needs it). Carry these wheels (docs/performance.md):\n"
              "  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "
              "--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 "
              "-d .whl " + " ".join(CARRIED_WHEELS)
              + "\n  then start the run with: python3 -m pip install -q --no-index --no-deps --no-compile "
              "--no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site", file=sys.stderr)
        sys.exit(3)


def timer(device: Any, fn: Callable[[], Any], warmup: int, iters: int) -> float:
    """Seconds per call of ``fn``: CUDA events after warm-up on CUDA, perf_counter on CPU."""
    import torch

    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


# ------------------------------------------------------------------------------------------------ tests

# third-party deprecations under an older torch / torchvision / numpy than constraints.txt pins are shown, not fatal
# (pyproject's filterwarnings = error stays in force for every other warning); -W options override the ini list
TEST_WARNING_OVERRIDES = ("default::DeprecationWarning", "default::PendingDeprecationWarning", "default::FutureWarning")


GPU_MARK = re.compile(r"^\s*(@pytest\.mark\.gpu\b|pytestmark\b.*\bpytest\.mark\.gpu\b)", re.MULTILINE)


def gpu_test_files() -> list[Path]:
    """The test modules holding gpu-marked tests (a ``@pytest.mark.gpu`` decorator or module ``pytestmark``). They
    must import only the training/evaluation core (no mlflow, ray): tests/test_gpu_proof.py collects them with both
    unimportable."""
    return sorted(p for p in (ROOT / "tests").glob("test_*.py") if GPU_MARK.search(p.read_text()))


def gpu_test_command() -> list[str]:
    warnings = [arg for w in TEST_WARNING_OVERRIDES for arg in ("-W", w)]
    return [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
            *warnings, *(str(p) for p in gpu_test_files())]


def run_gpu_tests(device: Any) -> None:
    """The gpu-marked tests: run on CUDA; on CPU collected and skipped (the collection itself is the check). A
    failure is recorded (its pytest output beside the JSON, ``<out>.tests.log``) and the measurements still run: one
    lease gives both; the harness exits 1 at the end."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    r = subprocess.run([*gpu_test_command(), "-rfE"], cwd=ROOT, capture_output=True, text=True, env=env)
    if STATE["out"] is not None:
        STATE["out"].with_suffix(".tests.log").write_text(r.stdout + "\n" + r.stderr)
    lines = r.stdout.strip().splitlines() or [""]
    ok = r.returncode in (0, 5)  # 5: nothing selected
    where = "" if device.type == "cuda" else "no CUDA device: collected, the CUDA tests skip; "
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in lines if line.startswith(("FAILED ", "ERROR "))]
    note = where + lines[-1] + (f"; failing: {', '.join(failed)}" if failed else "")
    row("tests", f"pytest -m gpu ({len(gpu_test_files())} modules)", "passed" if ok else "FAILED", "", note)
    if not ok:
        print(r.stdout[-6000:], r.stderr[-3000:], file=sys.stderr)
        STATE["failed"].append("tests")


# ------------------------------------------------------------------------------------------------ AugMix


class _RefAugMix:  # picklable dataset for DataLoader workers: the reference per-image PIL path
    def __init__(self, images: Any, views: int) -> None:
        self.images, self.views = images, views

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Any:
        import numpy as np

        from augmix_lab.augment import PAPER_OPS
        from augmix_lab.augment.reference import preprocess, reference_augmix

        rng = np.random.default_rng(i)
        img = self.images[i]
        if self.views == 1:
            return reference_augmix(img, PAPER_OPS, rng)
        return preprocess(img, (0.5,) * 3, (0.5,) * 3), reference_augmix(img, PAPER_OPS, rng), reference_augmix(img, PAPER_OPS, rng)


def _loader_rate(loader: Any, views: int) -> float:
    """Images/s of one pass over a DataLoader whose workers are already running (a warm-up pass came first)."""
    t0 = time.perf_counter()
    n = sum(len(b[0]) if views > 1 else len(b) for b in loader)
    return n / (time.perf_counter() - t0)


def bench_augmix(device: Any, quick: bool) -> dict[str, float]:
    import torch
    from PIL import Image
    from torchvision.transforms import v2

    from augmix_lab.augment import AugmentAndMix, normalize

    batch, per_image, loop = (32, 16, 8) if quick else (512, 2048, 256)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=gen)
    pil = [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in images[:per_image].repeat(per_image // min(batch, per_image) + 1, 1, 1, 1)[:per_image]]
    aug = AugmentAndMix(width=3, depth=-1, severity=3, alpha=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)
    dev_images, dgen = images.to(device), torch.Generator(device=device).manual_seed(0)
    rates: dict[str, float] = {}
    workers = os.cpu_count() or 1
    for views, label in ((1, "single"), (3, "jsd3")):
        s = timer(device, lambda: aug(dev_images, dgen) if views == 1 else aug.views(dev_images, 3, dgen), 1 if quick else 3, 1 if quick else 10)
        rates[f"ours_{label}"] = batch / s
        loader = torch.utils.data.DataLoader(_RefAugMix(pil, views), batch_size=64, num_workers=workers,
                                             persistent_workers=True)
        _loader_rate(loader, views)  # warm-up pass: workers start, imports load
        rates[f"ref_{label}"] = _loader_rate(loader, views)
        del loader
        tv = v2.AugMix(severity=3, mixture_width=3, chain_depth=-1, alpha=1.0, all_ops=False,
                       interpolation=v2.InterpolationMode.BILINEAR)
        tensors = list(images[: min(loop, batch)])
        normalize(tv(tensors[0].to(device)).unsqueeze(0), (0.5,) * 3, (0.5,) * 3)  # warm-up
        t0 = time.perf_counter()
        for img in tensors:
            for _ in range(max(1, views - 1)):
                normalize(tv(img.to(device)).unsqueeze(0), (0.5,) * 3, (0.5,) * 3)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates[f"tv_{label}"] = len(tensors) / (time.perf_counter() - t0)
        if importlib.util.find_spec("timm") is not None:
            from timm.data.auto_augment import augment_and_mix_transform

            timm_aug = augment_and_mix_transform("augmix-m3-w3", {})  # timm AugMixAugment: severity 3, width 3, depth -1 (its default)
            t0 = time.perf_counter()
            for img in pil[: min(loop, batch)]:
                for _ in range(max(1, views - 1)):
                    timm_aug(img)
            rates[f"timm_{label}"] = min(loop, batch) / (time.perf_counter() - t0)
        ref = rates[f"ref_{label}"]
        unit = "img/s"  # images per second (jsd3: the clean view and 2 AugMix views of each)
        row("augmix", f"{label}: ours batched b{batch} on {device.type}", rates[f"ours_{label}"], unit, f"{rates[f'ours_{label}'] / ref:.1f}x ref")
        row("augmix", f"{label}: reference PIL, DataLoader x{workers} workers", ref, unit, "1.0x ref; warm workers")
        row("augmix", f"{label}: torchvision v2.AugMix per image", rates[f"tv_{label}"], unit, f"{rates[f'tv_{label}'] / ref:.2f}x ref")
        if f"timm_{label}" in rates:
            row("augmix", f"{label}: timm AugMixAugment per image", rates[f"timm_{label}"], unit, f"{rates[f'timm_{label}'] / ref:.2f}x ref")
        else:
            row("augmix", f"{label}: timm AugMixAugment per image", "n/a", "", "timm not installed")
    return rates


def bench_engines(device: Any, quick: bool) -> None:
    """AugMix's two op engines on the same params at 32 and 224 px; their uint8 chains must agree (within one level:
    the affine's batched float math can land a value on the other side of a truncation). A full run stores the
    faster one per image size for this hardware (``augment.ops.store_engine_winner``): ``auto`` follows."""
    import torch

    from augmix_lab.augment import AugmentAndMix
    from augmix_lab.augment import ops as ops_module
    from augmix_lab.device import count_transfers

    for size, batch in (((32, 16), (224, 2)) if quick else ((32, 512), (224, 128))):
        gen = torch.Generator(device=device).manual_seed(size)
        images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=gen, device=device)
        params = AugmentAndMix().make_params(batch, gen)
        seconds, outputs, moved = {}, {}, {}
        for engine in ("sorted", "masked"):
            aug = AugmentAndMix(engine=engine)
            outputs[engine] = aug.augment_chains(images, params).int()
            seconds[engine] = timer(device, lambda: aug.apply(images, params), 1, 1 if quick else 5)
            if device.type == "cuda":
                with count_transfers() as seen:
                    aug.apply(images, params)
                moved[engine] = seen.note()
        diff = (outputs["sorted"] - outputs["masked"]).abs()
        same = int(diff.max()) <= 1
        agree = f"chains {'identical' if not diff.any() else f'differ by <= {int(diff.max())} level at {int((diff > 0).sum())} of {diff.numel()} values'}"
        if quick:
            stored = "quick: not stored"
        else:
            winner = ops_module.store_engine_winner(device, size, seconds, batch=batch)
            stored = f"stored: auto -> {winner} at ~{size} px"
        for engine in ("sorted", "masked"):
            row("engines", f"augmix {size}px b{batch} engine={engine}", batch / seconds[engine], "img/s",
                f"{seconds['sorted'] / seconds[engine]:.2f}x sorted; {agree}"
                + (f"; {moved[engine]}" if engine in moved else "") + (f"; {stored}" if engine == "masked" else ""))
        if not same:
            STATE["failed"].append(f"engines {size}px")


# ------------------------------------------------------------------------------------------------ training step


def make_trainer(model_name: str, method: str, arity: int, device: Any, batch: int, size: int = 32,
                 classes: int = 10, kind: str = "cifar", compiled: str | None = None) -> tuple[Callable[[], Any], Any]:
    """The trainer's own step (``training.build_train_step``) on a fixed random uint8 batch: (call, step).

    ``compiled``: None (eager) or a torch.compile backend, through the trial setting ``train.compile: on`` (quick
    mode: ``eager``, dynamo capture without inductor's minutes of C++ codegen on CPU).
    """
    import torch

    from augmix_lab.config import TrialConfig
    from augmix_lab.models import create_model
    from augmix_lab.training import build_train_step

    torch.manual_seed(0)
    cfg = TrialConfig.model_validate({
        "model": model_name, "method": method, "jsd": {"arity": arity}, "seed": 0,
        "train": {"lr": 0.01, "amp": "auto", "channels_last": "on", "compile": "on" if compiled else "off"},
    })
    model = create_model(model_name, classes).to(device, memory_format=torch.channels_last).train()
    mean, std = ((0.5,) * 3,) * 2 if kind == "cifar" else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    step = build_train_step(cfg, model, num_classes=classes, mean=mean, std=std, kind=kind, image_size=size,
                            device=device, compile_backend=compiled if compiled != "inductor" else None)
    gen = torch.Generator().manual_seed(0)
    in_size = size if kind == "cifar" else size + size // 7  # ImageNet: RRC from a slightly larger decoded image
    images = torch.randint(0, 256, (batch, 3, in_size, in_size), dtype=torch.uint8, generator=gen).to(device)
    labels = torch.randint(0, classes, (batch,), generator=gen).to(device)
    return (lambda: step(images, labels)), (step, images, labels)


TRAIN_CASES = [(m, method, arity, label) for m in ("wrn40_2", "resnext29_32x4d")
               for method, arity, label in (("standard", 1, "standard"), ("augmix", 3, "augmix+jsd3"))]


def bench_training(device: Any, quick: bool, compiled: str | None = None, budget_s: float = float("inf"),
                   ) -> dict[str, float]:
    """Eager rows (``compiled`` None) or the torch.compile rows; a compile row starts only while the budget allows."""
    import torch

    batch, warm, iters = (2, 1, 1) if quick else (128, 5, 20)
    rates: dict[str, float] = {}
    for model_name, method, arity, label in TRAIN_CASES:
        key = f"{model_name}/{label}/{'compile' if compiled else 'eager'}"
        if compiled and quick and model_name != "wrn40_2":  # why: each dynamo trace costs seconds on CPU
            row("compile", key, "n/a", "", "quick: wrn40_2 alone exercises the compile path")
            continue
        left = budget_s - (time.perf_counter() - STATE["t0"])
        if compiled and left < COMPILE_ESTIMATE_S.get(device.type, 90.0):
            row("compile", key, "n/a", "", f"skipped: {left:.0f} s left of the time budget (--budget-s)")
            continue
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        call, (step, images, labels) = make_trainer(model_name, method, arity, device, batch, compiled=compiled)
        t0 = time.perf_counter()
        call()  # first call: the compile (when compiling), then lazy init
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        first = time.perf_counter() - t0
        s = timer(device, call, warm, iters)
        a = timer(device, lambda: step.augmentation(images, labels, step.generators["augment"]), 0 if quick else 1, iters)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        rates[key] = batch / s
        note = f"batch {batch}, aug {100 * min(1.0, a / s):.0f}% of step"
        note += f", peak {peak:.2f} GiB" if device.type == "cuda" else ""
        note += f", backend {compiled}, first call (compile) {first:.1f} s" if compiled else ""
        row("compile" if compiled else "train", key, batch / s, "img/s", note)
    return rates


def bench_packing(device: Any, quick: bool) -> None:
    import torch

    batch, warm, iters = (2, 1, 1) if quick else (128, 5, 20)

    def trial(results: list[float], i: int, barrier: threading.Barrier) -> None:
        stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        with torch.cuda.stream(stream) if stream is not None else _null():
            step, _ = make_trainer("wrn40_2", "augmix", 3, device, batch)
            for _ in range(warm):
                step()
            barrier.wait()
            t0 = time.perf_counter()
            for _ in range(iters):
                step()
            if stream is not None:
                stream.synchronize()
            results[i] = time.perf_counter() - t0

    for n in (1, 4):  # gpus_per_trial 0.25: four trials, each its own CUDA stream and model, share the device
        results = [0.0] * n
        barrier = threading.Barrier(n)
        threads = [threading.Thread(target=trial, args=(results, i, barrier)) for i in range(n)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        row("packing", f"{n} trial(s) wrn40_2 augmix+jsd3 on one {device.type}", n * batch * iters / max(results), "img/s",
            f"aggregate, batch {batch}; " + ("threads with one CUDA stream each" if device.type == "cuda" else "threads on CPU"))


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


# ------------------------------------------------------------------------------------------------ -C evaluation


def bench_corruptions(device: Any, quick: bool) -> float:
    """-C evaluation rows; returns the bare forward rate (images/s) the projection uses."""
    import torch

    from augmix_lab.corruptions import BENCHMARK_CORRUPTIONS, corrupt
    from augmix_lab.evaluation.scoring import Scorer
    from augmix_lab.models import create_model

    batch = 8 if quick else 1000
    model = create_model("small_cnn" if quick else "wrn40_2", 10).to(device).eval()
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8).to(device)
    dtype = torch.bfloat16 if device.type == "cuda" else None
    # the forward evaluation runs: the one Scorer (normalise, channels_last, autocast, inference mode)
    forward = Scorer(model, (0.5,) * 3, (0.5,) * 3, device, autocast_dtype=dtype, batch_size=batch).logits

    bare = batch / timer(device, lambda: forward(images), 1, 1 if quick else 5)
    row("eval-C", f"bare forward ({'small_cnn' if quick else 'wrn40_2'})", bare, "img/s")
    names = BENCHMARK_CORRUPTIONS[:4] if quick else BENCHMARK_CORRUPTIONS
    for name in names:
        gen = torch.Generator(device=device).manual_seed(0)
        moved = _transfers(name, images[:2], device)
        rate = batch / timer(device, lambda: forward(corrupt(images, name, 3, gen, "cifar")), 1, 1 if quick else 3)
        row("eval-C", f"{name} s3 + forward", rate, "img/s", f"{rate / bare:.2f}x bare; {moved}")
    if quick:
        row("eval-C", "(quick: first 4 corruptions only)", "", "", "")
    return bare


def _transfers(name: str, images: Any, device: Any) -> str:
    """What ``corrupt`` moves between host and device after a warm-up call (``device.count_transfers``): on the
    device itself, or, on a CPU run, on PyTorch's data-less ``meta`` device (a read back stops it there)."""
    import augmix_lab.corruptions.filters as filters_module
    import augmix_lab.corruptions.functional as cf
    from augmix_lab.corruptions import corrupt
    from augmix_lab.device import count_transfers

    target = images if device.type != "cpu" else images.to("meta")
    where = "" if device.type != "cpu" else " (meta device)"
    for counting in (False, True):
        with count_transfers((cf, filters_module)) as seen:
            try:
                corrupt(target, name, 3, None, "cifar")
            except (NotImplementedError, RuntimeError):
                if counting:
                    return f"{seen.note()}, then stops{where}"
    return seen.note() + where


# ------------------------------------------------------------------------------------------------ ImageNet input


def bench_imagenet(device: Any, quick: bool) -> dict[str, float]:
    import numpy as np
    import torch
    from PIL import Image

    from augmix_lab.augment import AugmentAndMix
    from augmix_lab.data.imagenet import ImageNetLoader, LazyImageFolder

    n, batch = (4, 2) if quick else (1024, 256)
    rng = np.random.default_rng(0)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        base = rng.integers(0, 256, (375 // 15 + 1, 500 // 15 + 1, 3), dtype=np.uint8)
        for i in range(n):  # ImageNet-sized JPEGs with smooth content (random noise would compress unrealistically)
            img = Image.fromarray(np.roll(base, i, axis=1)).resize((500, 375), Image.BILINEAR)
            files.append(Path(tmp) / f"im{i}.JPEG")
            img.save(files[-1], quality=90)
        folder = LazyImageFolder(files, torch.zeros(n, dtype=torch.int64))
        aug = AugmentAndMix(width=3, depth=-1, severity=1, alpha=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        gen = torch.Generator(device=device).manual_seed(0)
        for decode in ("cpu", "cuda") if device.type == "cuda" else ("cpu",):
            loader = ImageNetLoader(folder, batch, device=device, decode=decode, num_workers=os.cpu_count() or 1)
            for images, _ in loader:  # warm-up pass: the workers start and stay (persistent) for the timed pass
                aug.views(images, 3, gen)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            seen = 0
            for images, _ in loader:
                aug.views(images, 3, gen)
                seen += images.shape[0]
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            rates[decode] = seen / (time.perf_counter() - t0)
            row("imagenet", f"decode({decode})+RRC+flip+AugMix jsd3, 500x375 JPEG", rates[decode], "img/s",
                f"{os.cpu_count()} workers (warm), batch {batch}")
    b, warm, iters = (2, 1, 1) if quick else (128, 3, 10)
    size = 64 if quick else 224  # quick: a 64 px step, its rate scaled by pixel count to 224 px (FLOPs ~ pixels)
    for method, arity, label in (("standard", 1, "standard"), ("augmix", 3, "augmix+jsd3")):
        step, _ = make_trainer("resnet50", method, arity, device, b, size=size, classes=1000, kind="imagenet")
        rates[f"resnet50/{label}"] = b / timer(device, step, warm, iters) * (size / 224) ** 2
        ratio = max(v for k, v in rates.items() if "/" not in k) / rates[f"resnet50/{label}"]
        row("imagenet", f"resnet50 train step {label} (channels_last{', bf16' if device.type == 'cuda' else ''})",
            rates[f"resnet50/{label}"], "img/s", f"input pipeline / step = {ratio:.2f}"
            + (f"; quick: timed at {size} px, scaled to 224 px" if size != 224 else ""))
    return rates


# ------------------------------------------------------------------------------------------------ projection


def project(train: dict[str, float], imagenet: dict[str, float], eval_rate: float | None) -> None:
    from augmix_lab.orchestration.estimate import KNOWN_SIZES, _eval_passes
    from augmix_lab.study import expand_study, read_study

    missing = [s for s, have in (("train", train), ("imagenet", imagenet), ("eval-C", eval_rate)) if not have]
    if missing:
        row("projection", "studies wall time on this device (sequential)", "n/a", "", f"needs sections {', '.join(missing)}")
        return
    wrn = {k.split("/")[1]: v for k, v in train.items() if k.startswith("wrn40_2") and k.endswith("eager")}
    total = []
    for study in ("ablation", "methods", "imagenet"):
        trials = expand_study(read_study(ROOT / "studies" / f"{study}.yaml"))
        seconds = 0.0
        for t in trials:
            cfg = t.config
            n_train, n_test, _, _ = KNOWN_SIZES.get(cfg.dataset.name, KNOWN_SIZES["cifar10"])
            jsd = cfg.jsd.arity > 1
            if cfg.dataset.name == "imagenet":
                step = imagenet["resnet50/augmix+jsd3" if jsd else "resnet50/standard"]
                rate = min(step, max(v for k, v in imagenet.items() if "/" not in k))  # the slower of input and step
            else:  # measured per model where we have it, else wrn40_2's (the harness times two CIFAR models)
                key = next((k for k in train if k.startswith(cfg.model) and k.endswith("eager")
                            and ("jsd" in k) == jsd), None)
                rate = train[key] if key else wrn["augmix+jsd3" if jsd else "standard"]
            seconds += cfg.epochs * n_train / rate + n_test * _eval_passes(cfg) / eval_rate
        total.append(f"{study} {len(trials)} trials {seconds / 3600:.1f} h")
    row("projection", "studies wall time on this device (sequential)", "; ".join(total), "", "trials x epochs x images / img/s + eval")


def parse_sections(text: str | None, skip_tests: bool) -> list[str]:
    chosen = list(SECTIONS) if not text else [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        raise SystemExit(f"--sections: unknown {', '.join(unknown)}; allowed: {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in chosen and not (skip_tests and s == "tests")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every row in about a minute on CPU")
    parser.add_argument("--out", default="gpu_proof.json")
    parser.add_argument("--sections", default=None, help=f"comma-separated subset of: {', '.join(SECTIONS)}")
    parser.add_argument("--skip-tests", action="store_true", help="leave out the tests section")
    parser.add_argument("--budget-s", type=float, default=300.0,
                        help="wall-time budget: a compile row starts only if its estimate still fits (default 300)")
    args = parser.parse_args(argv)
    sections = parse_sections(args.sections, args.skip_tests)
    check_pydantic()
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda but CUDA is not available; use --device cpu --quick", file=sys.stderr)
        sys.exit(2)
    if device.type == "cpu":  # OMP_NUM_THREADS when set (CI: 1 per process), else up to 2 threads
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or min(2, os.cpu_count() or 1)))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    STATE["out"] = Path(args.out)
    STATE["meta"] = {"device": name, "torch": torch.__version__, "quick": args.quick, "sections": sections}
    print(f"gpu_proof: device {name}, torch {torch.__version__}, quick={args.quick}, sections={','.join(sections)}")
    print(f"{'section':<10} {'measurement':<44} {'value':>12} {'unit':<8} note")
    STATE["t0"] = time.perf_counter()
    train: dict[str, float] = {}
    imagenet: dict[str, float] = {}
    eval_rate: float | None = None
    timings: list[tuple[str, float]] = []
    for section in sections:
        t0 = time.perf_counter()
        if section == "tests":
            run_gpu_tests(device)
        elif section == "augmix":
            bench_augmix(device, args.quick)
        elif section == "engines":
            bench_engines(device, args.quick)
        elif section == "train":
            train = bench_training(device, args.quick)
        elif section == "packing":
            bench_packing(device, args.quick)
        elif section == "eval-C":
            eval_rate = bench_corruptions(device, args.quick)
        elif section == "imagenet":
            imagenet = bench_imagenet(device, args.quick)
        elif section == "projection":
            project(train, imagenet, eval_rate)
        elif section == "compile":
            bench_training(device, args.quick, compiled="eager" if args.quick else "inductor", budget_s=args.budget_s)
        timings.append((section, time.perf_counter() - t0))
    for section, seconds in timings:
        row("total", f"section {section}", seconds, "s")
    row("total", "harness wall time", time.perf_counter() - STATE["t0"], "s", f"budget {args.budget_s:.0f} s")
    if STATE["failed"]:  # every row was measured and written; the run still fails
        print(f"gpu_proof: FAILED checks: {', '.join(STATE['failed'])}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
