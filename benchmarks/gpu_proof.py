"""GPU proof harness: one command, one table (and JSON) of every figure issue 13 asks for, measured in this run.

    python benchmarks/gpu_proof.py [--device cuda] [--out gpu_proof.json]      # <= 5 min on one H100/H200
    python benchmarks/gpu_proof.py --device cpu --quick --out /tmp/proof.json  # < 1 min on 2 cores (CI path)

Rows: CUDA tests; AugMix (ours batched on the device vs reference PIL in a DataLoader with every core vs timm vs
torchvision v2 per image); training steps (wrn40_2, resnext29_32x4d; Standard / AugMix+JSD(3); bf16 autocast +
channels_last on CUDA; eager / torch.compile); 4 packed trials vs 1; -C evaluation per corruption and which kernels
leave the device; ImageNet decode+RRC+flip+AugMix vs the ResNet-50 step; projected study wall times.
CUDA timings use events after warm-up; CPU timings use time.perf_counter. Imports only the training/evaluation core.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
# wheels augmix_lab.config needs beyond the GPU image (versions as /work/main constraints.txt pins them)
PYDANTIC_WHEELS = ("pydantic==2.14.3", "pydantic-core==2.50.4", "annotated-types==0.8.0", "typing-inspection==0.4.5")
ROWS: list[dict[str, Any]] = []


def row(section: str, name: str, value: Any = "", unit: str = "", note: str = "") -> None:
    ROWS.append({"section": section, "name": name, "value": value, "unit": unit, "note": note})
    v = f"{value:,.1f}" if isinstance(value, float) else str(value)
    print(f"{section:<10} {name:<44} {v:>12} {unit:<8} {note}", flush=True)


def check_pydantic() -> None:
    if importlib.util.find_spec("pydantic") is None:
        print("pydantic is missing (augmix_lab.config needs it). Carry these wheels (device README, 'carrying wheels'):\n"
              "  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "
              "--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl " + " ".join(PYDANTIC_WHEELS)
              + "\n  then start the run with: python3 -m pip install -q --no-index --no-deps --target /tmp/site "
              ".whl/*.whl && export PYTHONPATH=/tmp/site:$PYTHONPATH", file=sys.stderr)
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


def run_gpu_tests(device: Any) -> None:
    if device.type != "cuda":
        row("tests", "pytest -m gpu", "skipped", "", "no CUDA device: the CUDA-marked tests did not run")
        return
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", str(ROOT / "tests")],
                       cwd=ROOT, capture_output=True, text=True)
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    row("tests", "pytest -m gpu", "passed" if r.returncode in (0, 5) else "FAILED", "", tail)
    if r.returncode not in (0, 5):
        print(r.stdout[-4000:], r.stderr[-2000:], file=sys.stderr)
        sys.exit(1)


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


def bench_augmix(device: Any, quick: bool) -> dict[str, float]:
    import torch
    from PIL import Image
    from torchvision.transforms import v2

    from augmix_lab.augment import AugmentAndMix, normalize

    batch, per_image = (32, 16) if quick else (512, 2048)
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
        loader = torch.utils.data.DataLoader(_RefAugMix(pil, views), batch_size=64, num_workers=workers)
        t0 = time.perf_counter()
        n = sum(len(b[0]) if views > 1 else len(b) for b in loader)
        rates[f"ref_{label}"] = n / (time.perf_counter() - t0)
        tv = v2.AugMix(severity=3, mixture_width=3, chain_depth=-1, alpha=1.0, all_ops=False,
                       interpolation=v2.InterpolationMode.BILINEAR)
        tensors = list(images[: min(per_image, batch)])
        t0 = time.perf_counter()
        for img in tensors:
            for _ in range(max(1, views - 1)):
                normalize(tv(img.to(device)).unsqueeze(0), (0.5,) * 3, (0.5,) * 3)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates[f"tv_{label}"] = len(tensors) / (time.perf_counter() - t0)
        if importlib.util.find_spec("timm") is not None:
            from timm.data.auto_augment import augment_and_mix_transform

            timm_aug = augment_and_mix_transform("augmix-m3-w3-d-1", {})  # timm AugMixAugment, paper knobs
            t0 = time.perf_counter()
            for img in pil[: min(per_image, batch)]:
                for _ in range(max(1, views - 1)):
                    timm_aug(img)
            rates[f"timm_{label}"] = min(per_image, batch) / (time.perf_counter() - t0)
        ref = rates[f"ref_{label}"]
        row("augmix", f"{label}: ours batched b{batch} on {device.type}", rates[f"ours_{label}"], "img/s", f"{rates[f'ours_{label}'] / ref:.1f}x ref")
        row("augmix", f"{label}: reference PIL, DataLoader x{workers} workers", ref, "img/s", "1.0x ref")
        row("augmix", f"{label}: torchvision v2.AugMix per image", rates[f"tv_{label}"], "img/s", f"{rates[f'tv_{label}'] / ref:.2f}x ref")
        if f"timm_{label}" in rates:
            row("augmix", f"{label}: timm AugMixAugment per image", rates[f"timm_{label}"], "img/s", f"{rates[f'timm_{label}'] / ref:.2f}x ref")
        else:
            row("augmix", f"{label}: timm AugMixAugment per image", "n/a", "", "timm not installed")
    return rates


# ------------------------------------------------------------------------------------------------ training step


def make_trainer(model_name: str, method: str, arity: int, device: Any, batch: int, size: int = 32,
                 classes: int = 10, kind: str = "cifar", compiled: str | None = None) -> tuple[Callable[[], Any], Any]:
    """The trainer's own step (``training.build_train_step``) on a fixed random uint8 batch: (call, step).

    ``compiled``: None (eager) or a torch.compile backend; ``inductor`` goes through the trial setting
    ``train.compile: on``, any other backend (quick mode's ``eager``) is swapped into the step's compiled forward.
    """
    import torch

    from augmix_lab.config import TrialConfig
    from augmix_lab.models import create_model
    from augmix_lab.training import build_train_step

    torch.manual_seed(0)
    cfg = TrialConfig.model_validate({
        "model": model_name, "method": method, "jsd": {"arity": arity}, "seed": 0,
        "train": {"lr": 0.01, "amp": "auto", "channels_last": "on", "compile": "on" if compiled == "inductor" else "off"},
    })
    model = create_model(model_name, classes).to(device, memory_format=torch.channels_last).train()
    mean, std = ((0.5,) * 3,) * 2 if kind == "cifar" else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    step = build_train_step(cfg, model, num_classes=classes, mean=mean, std=std, kind=kind, image_size=size,
                            device=device)
    if compiled not in (None, "inductor"):  # why: inductor's C++ codegen takes minutes on CPU; dynamo alone is cheap
        step._forward_loss = torch.compile(step.forward_loss, backend=compiled)
    gen = torch.Generator().manual_seed(0)
    in_size = size if kind == "cifar" else size + size // 7  # ImageNet: RRC from a slightly larger decoded image
    images = torch.randint(0, 256, (batch, 3, in_size, in_size), dtype=torch.uint8, generator=gen).to(device)
    labels = torch.randint(0, classes, (batch,), generator=gen).to(device)
    return (lambda: step(images, labels)), (step, images, labels)


def bench_training(device: Any, quick: bool) -> dict[str, float]:
    import torch

    batch, warm, iters = (2, 1, 1) if quick else (128, 5, 20)
    # quick (CPU): dynamo with the eager backend exercises the compile path without minutes of inductor codegen
    backend = "eager" if quick else "inductor"
    rates: dict[str, float] = {}
    for model_name in ("wrn40_2", "resnext29_32x4d"):
        for method, arity, label in (("standard", 1, "standard"), ("augmix", 3, "augmix+jsd3")):
            for compiled in (None, backend):
                key = f"{model_name}/{label}/{'compile' if compiled else 'eager'}"
                if quick and compiled and model_name != "wrn40_2":  # why: each dynamo trace costs seconds on CPU
                    row("train", key, "n/a", "", "quick: wrn40_2 alone exercises the compile path")
                    continue
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                call, (step, images, labels) = make_trainer(model_name, method, arity, device, batch, compiled=compiled)
                s = timer(device, call, warm + (2 if compiled and not quick else 0), iters)
                a = timer(device, lambda: step.augmentation(images, labels, step.generators["augment"]), 0 if quick else 1, iters)
                peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
                rates[key] = batch / s
                peak_note = f", peak {peak:.2f} GiB" if device.type == "cuda" else ""
                row("train", key, batch / s, "img/s", f"batch {batch}, aug {100 * min(1.0, a / s):.0f}% of step"
                    + peak_note + (f", backend {compiled}" if compiled else ""))
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


def bench_corruptions(device: Any, quick: bool) -> None:
    import torch

    from augmix_lab.augment import normalize
    from augmix_lab.corruptions import BENCHMARK_CORRUPTIONS, corrupt
    from augmix_lab.models import create_model

    batch = 8 if quick else 1000
    model = create_model("small_cnn" if quick else "wrn40_2", 10).to(device, memory_format=torch.channels_last).eval()
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8).to(device)
    dtype = torch.bfloat16 if device.type == "cuda" else None

    @torch.no_grad()
    def forward(x: Any) -> Any:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            return model(normalize(x, (0.5,) * 3, (0.5,) * 3).contiguous(memory_format=torch.channels_last))

    bare = batch / timer(device, lambda: forward(images), 1, 1 if quick else 5)
    row("eval-C", f"bare forward ({'small_cnn' if quick else 'wrn40_2'})", bare, "img/s")
    names = BENCHMARK_CORRUPTIONS[:4] if quick else BENCHMARK_CORRUPTIONS
    for name in names:
        gen = torch.Generator(device=device).manual_seed(0)
        leaves = _host_calls(lambda: corrupt(images[:2], name, 3, gen, "cifar"))
        rate = batch / timer(device, lambda: forward(corrupt(images, name, 3, gen, "cifar")), 1 if not quick else 0, 1 if quick else 3)
        row("eval-C", f"{name} s3 + forward", rate, "img/s", f"{rate / bare:.2f}x bare; "
            + (f"host calls (data or constants): {leaves}" if leaves else "stays on device"))
    if quick:
        row("eval-C", "(quick: first 4 corruptions only)", "", "", "")


def _host_calls(fn: Callable[[], Any]) -> str:
    """Which host escapes a corruption kernel makes: Tensor.cpu/numpy/tolist/item and cv2 calls, counted by patching."""
    import torch

    import augmix_lab.corruptions.functional as cf

    counts: dict[str, int] = {}
    originals = {m: getattr(torch.Tensor, m) for m in ("cpu", "numpy", "tolist", "item")}

    def wrap(m: str) -> Callable[..., Any]:
        def patched(self: Any, *a: Any, **k: Any) -> Any:
            counts[f"Tensor.{m}"] = counts.get(f"Tensor.{m}", 0) + 1
            return originals[m](self, *a, **k)
        return patched

    class _Cv2Spy:
        def __getattr__(self, attr: str) -> Any:
            value = getattr(cv2_module, attr)
            if callable(value):
                counts[f"cv2.{attr}"] = counts.get(f"cv2.{attr}", 0) + 1
            return value

    cv2_module = cf.cv2
    try:
        for m in originals:
            setattr(torch.Tensor, m, wrap(m))
        cf.cv2 = _Cv2Spy()
        fn()
    finally:
        for m, f in originals.items():
            setattr(torch.Tensor, m, f)
        cf.cv2 = cv2_module
    return ", ".join(f"{k}x{v}" for k, v in sorted(counts.items()))


# ------------------------------------------------------------------------------------------------ ImageNet input


def bench_imagenet(device: Any, quick: bool) -> dict[str, float]:
    import numpy as np
    import torch
    from PIL import Image

    from augmix_lab.augment import AugmentAndMix
    from augmix_lab.data.imagenet import ImageNetLoader, LazyImageFolder

    n, batch = (4, 2) if quick else (1024, 256)
    rng = np.random.default_rng(0)
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
        rates = {}
        for decode in ("cpu", "cuda") if device.type == "cuda" else ("cpu",):
            loader = ImageNetLoader(folder, batch, device=device, decode=decode, num_workers=os.cpu_count() or 1)
            for _ in zip(range(0 if quick else 1), loader):
                pass  # warm-up (worker start, first decode); quick: the workers' start is timed too
            t0 = time.perf_counter()
            seen = 0
            for images, _ in loader:
                aug.views(images, 3, gen)
                seen += images.shape[0]
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            rates[decode] = seen / (time.perf_counter() - t0)
            row("imagenet", f"decode({decode})+RRC+flip+AugMix jsd3, 500x375 JPEG", rates[decode], "img/s",
                f"{os.cpu_count()} workers, batch {batch}")
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


def project(train: dict[str, float], imagenet: dict[str, float], eval_rate: float) -> None:
    from augmix_lab.orchestration.estimate import KNOWN_SIZES, _eval_passes
    from augmix_lab.study import expand_study, read_study

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every row in under a minute on CPU")
    parser.add_argument("--out", default="gpu_proof.json")
    args = parser.parse_args()
    check_pydantic()
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda but CUDA is not available; use --device cpu --quick", file=sys.stderr)
        sys.exit(2)
    if device.type == "cpu":  # OMP_NUM_THREADS when set (CI: 1 per process), else up to 2 threads
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or min(2, os.cpu_count() or 1)))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"gpu_proof: device {name}, torch {torch.__version__}, quick={args.quick}")
    print(f"{'section':<10} {'measurement':<44} {'value':>12} {'unit':<8} note")
    t0 = time.perf_counter()
    run_gpu_tests(device)
    bench_augmix(device, args.quick)
    train = bench_training(device, args.quick)
    bench_packing(device, args.quick)
    bench_corruptions(device, args.quick)
    imagenet = bench_imagenet(device, args.quick)
    eval_rate = next(r["value"] for r in ROWS if r["section"] == "eval-C" and r["name"].startswith("bare"))
    project(train, imagenet, eval_rate)
    row("total", "harness wall time", time.perf_counter() - t0, "s")
    Path(args.out).write_text(json.dumps({"device": name, "torch": torch.__version__, "quick": args.quick, "rows": ROWS}, indent=1))


if __name__ == "__main__":
    main()
