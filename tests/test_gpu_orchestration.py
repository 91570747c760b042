"""GPU orchestration units without Ray: per-epoch GPU figures (a no-op on CPU), the OOM re-pack ladder, OOM detection,
the test-only OOM injection, and the re-pack record in a real SQLite MLflow store. The end-to-end re-pack and the
Ray-task re-evaluation run in tests/test_run_study.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from augmix_lab.orchestration.trainable import INJECTED_OOM_MARKER, inject_oom_hook, is_cuda_oom
from augmix_lab.orchestration.tune_driver import next_gpu_fraction
from augmix_lab.tracking import GPU_METRICS, TRACKING_TAGS, StudyTracker, TrialLogger, gpu_epoch_stats, resolve_tracking


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, StudyTracker, str]:
    """One embedded store for the module (creating one costs seconds); each test uses its own trial key."""
    uri, artifacts = resolve_tracking(None, tmp_path_factory.mktemp("gpu-orch"))
    tracker = StudyTracker(uri, "gpu-orch", artifacts)
    return uri, tracker, tracker.start_study("gpu-orch", "h", "name: gpu-orch\n")


def _run(store: tuple[str, StudyTracker, str], key: str) -> str:
    _, tracker, parent = store
    run_id, _ = tracker.trial_run(parent, key, study="gpu-orch", variant="v", seed=0, axes={}, params={},
                                  config_yaml="model: small_cnn\n", eval_key="e0")
    return run_id


class FakeCuda:
    """torch.cuda as a trial that used GPU 0 sees it: 3 MiB peak allocated, 8 MiB reserved."""

    def __init__(self, initialized: bool = True) -> None:
        self.initialized, self.resets = initialized, 0

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return self.initialized

    def current_device(self) -> int:
        return 0

    def max_memory_allocated(self, device: int) -> int:
        return 3 * 1024 * 1024

    def max_memory_reserved(self, device: int) -> int:
        return 8 * 1024 * 1024

    def reset_peak_memory_stats(self, device: int) -> None:
        self.resets += 1


class FakeNvml:
    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=87, memory=40)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=25, total=100, free=75)


def test_gpu_stats_are_a_no_op_without_cuda_in_use() -> None:
    if not torch.cuda.is_available():
        assert gpu_epoch_stats() == {}  # the real torch of a CPU machine
    unused = FakeCuda(initialized=False)  # a GPU node whose trial never touched CUDA
    assert gpu_epoch_stats(SimpleNamespace(cuda=unused), FakeNvml()) == {}
    assert unused.resets == 0


def test_gpu_stats_names_values_and_per_epoch_peak_reset() -> None:
    cuda = FakeCuda()
    stats = gpu_epoch_stats(SimpleNamespace(cuda=cuda), FakeNvml())
    assert tuple(stats) == GPU_METRICS
    assert stats == {"gpu_mem_peak_allocated_mb": 3.0, "gpu_mem_peak_reserved_mb": 8.0,
                     "gpu_utilization_pct": 87.0, "gpu_mem_used_pct": 25.0}
    assert cuda.resets == 1, "each epoch reports its own peak"


def test_gpu_stats_without_nvml_keep_the_memory_figures() -> None:
    class BrokenNvml(FakeNvml):
        def nvmlInit(self) -> None:
            raise RuntimeError("NVML Shared Library Not Found")

    stats = gpu_epoch_stats(SimpleNamespace(cuda=FakeCuda()), BrokenNvml())
    assert set(stats) == {"gpu_mem_peak_allocated_mb", "gpu_mem_peak_reserved_mb"}


class TwoGpuNvml(FakeNvml):
    """Physical GPU 0 busy at 10 %, GPU 1 at 87 %, and a MIG instance of GPU 1 (no utilisation for MIG in NVML)."""

    UUIDS = {"GPU-aaaaaaaa-0000-0000-0000-000000000000": 0, "GPU-bbbbbbbb-1111-1111-1111-111111111111": 1,
             "MIG-cccccccc-2222-2222-2222-222222222222": "mig"}
    PCI = {"00000000:3B:00.0": 0, "00000000:86:00.0": 1}

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetHandleByUUID(self, uuid: str):  # noqa: ANN201
        if uuid not in self.UUIDS:
            raise RuntimeError("NVML_ERROR_NOT_FOUND")
        return self.UUIDS[uuid]

    def nvmlDeviceGetHandleByPciBusId(self, bus: str):  # noqa: ANN201
        if bus not in self.PCI:
            raise RuntimeError("NVML_ERROR_NOT_FOUND")
        return self.PCI[bus]

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return next(u for u, h in self.UUIDS.items() if h == handle)

    def nvmlDeviceGetUtilizationRates(self, handle):  # noqa: ANN001, ANN201
        if handle == "mig":
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return SimpleNamespace(gpu=(10, 87)[handle], memory=0)

    def nvmlDeviceGetMemoryInfo(self, handle):  # noqa: ANN001, ANN201
        return SimpleNamespace(used={0: 10, 1: 60, "mig": 5}[handle], total={0: 100, 1: 100, "mig": 20}[handle], free=0)


class CudaWithProperties(FakeCuda):
    def __init__(self, **props) -> None:  # noqa: ANN003
        super().__init__()
        self.props = SimpleNamespace(**props)

    def get_device_properties(self, device: int) -> SimpleNamespace:
        return self.props


@pytest.mark.parametrize(("visible", "cuda", "util", "mem"), [
    # UUID entries in CUDA_VISIBLE_DEVICES (Kubernetes, Slurm): torch's device 0 is physical GPU 1
    ("GPU-bbbbbbbb-1111-1111-1111-111111111111", FakeCuda(), 87.0, 60.0),
    ("GPU-bbbbbbbb", FakeCuda(), 87.0, 60.0),  # a unique UUID prefix, as CUDA accepts it
    ("3,1", FakeCuda(), 87.0, 60.0),  # integer entries map torch's index (1 here) to NVML's (physical 1)
    # torch knows its device: UUID (bare, as CUDA reports it), else PCI bus id, whatever the variable says
    ("0", CudaWithProperties(uuid="bbbbbbbb-1111-1111-1111-111111111111"), 87.0, 60.0),
    ("0", CudaWithProperties(uuid="", pci_bus_id=0x86, pci_device_id=0, pci_domain_id=0), 87.0, 60.0),
    # a MIG instance: its own memory, no utilisation (NVML does not give one)
    ("MIG-cccccccc-2222-2222-2222-222222222222", FakeCuda(), None, 25.0),
])
def test_nvml_figures_come_from_the_trials_own_gpu(visible: str, cuda: FakeCuda, util: float | None, mem: float,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    device = 1 if visible == "3,1" else 0
    cuda.current_device = lambda: device  # type: ignore[method-assign]
    stats = gpu_epoch_stats(SimpleNamespace(cuda=cuda), TwoGpuNvml())
    assert stats.get("gpu_utilization_pct") == util and stats["gpu_mem_used_pct"] == mem


def test_an_unidentified_gpu_reports_no_nvml_figures_rather_than_gpu_0s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-ffffffff-9999-9999-9999-999999999999")
    stats = gpu_epoch_stats(SimpleNamespace(cuda=FakeCuda()), TwoGpuNvml())
    assert set(stats) == {"gpu_mem_peak_allocated_mb", "gpu_mem_peak_reserved_mb"}


@pytest.mark.parametrize(("fraction", "bigger"), [(0.25, 0.5), (0.5, 1.0), (0.3, 0.6), (0.75, 1.0), (1.0, None),
                                                  (0.0, None), (2.0, None)])
def test_repack_ladder_doubles_up_to_a_whole_gpu(fraction: float, bigger: float | None) -> None:
    assert next_gpu_fraction(fraction) == bigger


def test_cuda_oom_is_recognised_by_type_or_message_only() -> None:
    assert is_cuda_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_cuda_oom(RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 15.78 GiB total)"))
    assert not is_cuda_oom(RuntimeError("DataLoader worker (pid 1) is killed by signal: Killed"))
    assert not is_cuda_oom(MemoryError())
    assert not is_cuda_oom(RuntimeError("CUDA error: an illegal memory access was encountered"))


@pytest.mark.parametrize("message", [
    "CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported at some other API call",
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
    "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
    "cuFFT error: CUFFT_ALLOC_FAILED",
    "cusolver error: CUSOLVER_STATUS_ALLOC_FAILED, when calling `cusolverDnCreate(handle)`",
])
def test_library_allocation_failures_count_as_cuda_oom(message: str) -> None:
    assert is_cuda_oom(RuntimeError(message))
    try:  # raised from inside another error (e.g. torch.compile's BackendCompilerFailed wrapping it)
        try:
            raise RuntimeError(message)
        except RuntimeError as inner:
            raise ValueError("backend compiler failed") from inner
    except ValueError as outer:
        assert is_cuda_oom(outer)


def test_oom_memory_is_released_after_the_handler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The trial's OOM traceback holds a large tensor (its activations); when _release_gpu_memory runs it is gone."""
    import gc
    import weakref

    import augmix_lab.orchestration.trainable as trainable
    import augmix_lab.tracking as tracking
    import augmix_lab.tracking.system as system
    import augmix_lab.training as training

    freed_at_release: list[bool] = []
    refs: list[weakref.ref] = []
    reports: list[dict] = []

    def failing_trial(cfg, workdir, callbacks=None, data_root=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        activations = torch.empty(64 * 2**20, dtype=torch.uint8)  # held by this frame of the traceback
        refs.append(weakref.ref(activations))
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def release() -> None:
        gc.collect()
        freed_at_release.append(refs[0]() is None)

    class Logger:
        def __init__(self, *args) -> None:  # noqa: ANN002
            self.status: list[tuple] = []

        def __getattr__(self, name: str):  # noqa: ANN204
            return lambda *a, **k: self.status.append((name, *a)) if name == "set_status" else 0

    monkeypatch.setattr(training, "run_trial", failing_trial)
    monkeypatch.setattr(tracking, "TrialLogger", Logger)
    monkeypatch.setattr(system, "start_system_metrics", lambda *a: None)
    monkeypatch.setattr(trainable, "_release_gpu_memory", release)
    monkeypatch.setattr(trainable, "dataset_records", lambda *a: [])
    monkeypatch.setattr(trainable, "_report", lambda metrics, checkpoint_dir=None: reports.append(metrics))
    cfg = {"model": "small_cnn", "dataset": {"name": "shapes"}}
    from augmix_lab.config import TrialConfig

    trials = {"k": {"config": TrialConfig.model_validate(cfg).model_dump(mode="json"), "run_id": "r"}}
    trainable.train_trial({"trial_key": "k"}, trials=trials, tracking_uri=f"sqlite:///{tmp_path}/unused.db",
                          out_dir=str(tmp_path), gpus_per_trial=0.25)
    assert freed_at_release == [True], "the OOM's traceback still held the trial's tensors at release"
    assert reports == [{trainable.OOM_METRIC: 1}]  # re-packed at a bigger share, not a failure


def test_injected_oom_fires_once_in_the_named_trial_and_epoch(tmp_path: Path) -> None:
    assert inject_oom_hook(None, "k1", tmp_path) is None
    assert inject_oom_hook("other:2", "k1", tmp_path) is None
    hook = inject_oom_hook("k1:2", "k1", tmp_path)
    hook(1, 1, 64)  # epoch 1: nothing
    hook(2, 2, 64)  # not the first batch: nothing
    with pytest.raises(torch.cuda.OutOfMemoryError, match="AUGMIX_LAB_INJECT_OOM"):
        hook(2, 1, 64)
    assert (tmp_path / INJECTED_OOM_MARKER).is_file()
    inject_oom_hook("k1:2", "k1", tmp_path)(2, 1, 64)  # the retry (a new hook, same workdir) trains on


def test_repacks_are_recorded_as_a_chain_in_the_trial_run(store) -> None:  # noqa: ANN001
    uri, run_id = store[0], _run(store, "repack")
    logger = TrialLogger(uri, run_id)
    assert logger.record_repack(0.25, 0.5) == "0.25->0.5"
    assert logger.record_repack(0.5, 1.0) == "0.25->0.5->1"
    tags = logger.client.get_run(run_id).data.tags
    assert tags[TRACKING_TAGS.repacks] == "0.25->0.5->1" and tags[TRACKING_TAGS.gpu_fraction] == "1"
    assert "CUDA out of memory" in tags[TRACKING_TAGS.note]


@pytest.mark.parametrize(("gpus", "reported", "status"), [(0.5, "augmix_lab_oom", "RUNNING"),
                                                          (1.0, "augmix_lab_failed", "FAILED")])
def test_trainable_reports_oom_for_a_repack_below_a_whole_gpu_and_fails_at_one(
        gpus: float, reported: str, status: str, store, tmp_path: Path,  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    import augmix_lab.training as training
    from augmix_lab.config import TrialConfig
    from augmix_lab.orchestration import trainable

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    reports: list[dict] = []
    monkeypatch.setattr(training, "run_trial", out_of_memory)
    monkeypatch.setattr(trainable, "_report", lambda metrics, checkpoint_dir=None: reports.append(metrics))
    cfg = TrialConfig.model_validate({"dataset": {"name": "shapes"}, "model": "small_cnn", "epochs": 1})
    uri, run_id = store[0], _run(store, f"oom-{gpus:g}")
    trainable.train_trial({"trial_key": "k"}, trials={"k": {"config": cfg.model_dump(mode="json"), "run_id": run_id}},
                          tracking_uri=uri, out_dir=str(tmp_path / "out"), gpus_per_trial=gpus)
    assert reports == [{reported: 1}]
    run = TrialLogger(uri, run_id).client.get_run(run_id)
    assert run.info.status == status
    if status == "FAILED":
        assert "no larger GPU share" in run.data.tags[TRACKING_TAGS.error]
