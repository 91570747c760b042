"""Shared test setup: quiet, offline, deterministic, and bounded on a 2-core machine.

Area-specific fixtures live in their own test modules; shared ones are added here.
"""

from __future__ import annotations

import os

# Keep every test offline and away from the user's real stores and caches.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("RAY_ADDRESS", None)

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees a private data cache and runs root unless it sets its own."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("AUGMIX_LAB_DATA", str(base / "data-cache"))
    monkeypatch.setenv("AUGMIX_LAB_CACHE", str(base / "cache"))  # plan's step-cost cache (orchestration/step_cache.py)
    monkeypatch.setenv("AUGMIX_LAB_RUNS", str(base / "runs"))


@pytest.fixture(scope="session")
def ray_session(tmp_path_factory: pytest.TempPathFactory):
    """One local Ray (2 CPUs, 1 logical GPU, no dashboard) for the whole test session; `augmix-lab run` in-process reuses it.

    Its workers inherit the environment at start-up, so the private data cache is set here before Ray starts.
    """
    import hashlib

    import ray

    base = tmp_path_factory.getbasetemp()
    os.environ["AUGMIX_LAB_DATA"] = str(base / "data-cache")
    temp_dir = f"/tmp/ray-t{hashlib.sha256(str(base).encode()).hexdigest()[:8]}"  # short: unix socket path limit
    for attempt in (1, 2):  # Ray's raylet start-up wait is a fixed 30 s; a loaded machine can miss it once
        try:
            # num_gpus=1: a logical GPU (none is used) so fractional gpus_per_trial schedules (the OOM re-pack test)
            ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False,
                     logging_level="WARNING")
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    ray.shutdown()
