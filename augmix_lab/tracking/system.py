"""System metrics per trial (CPU, memory, disk, network; GPU utilisation and memory where NVML/ROCm is there).

MLflow's own sampler (``mlflow.system_metrics.SystemMetricsMonitor``) runs in a thread of the trial's process and logs
``system/*`` metrics into the trial's run through the explicit URI. It needs ``psutil`` (and ``nvidia-ml-py`` for
NVIDIA GPUs); when they are missing, or ``MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING=false`` says no, nothing is sampled and
the trial runs as usual: system metrics are an aid, never a reason for a trial to fail.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_log = logging.getLogger(__name__)

SAMPLING_INTERVAL_S = 10.0  # MLflow's default too: one point per 10 s is cheap even for a 100-epoch trial
SWITCH_ENV = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"  # MLflow's own switch (mlflow/environment_variables.py)
SYSTEM_PREFIX = "system/"  # MLflow names them system/cpu_utilization_percentage, system/gpu_0_memory_usage_megabytes


def system_metrics_available() -> str | None:
    """None when system metrics can be sampled here, else the reason they cannot."""
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("false", "0", "no"):
        return f"{SWITCH_ENV} is false"
    if importlib.util.find_spec("psutil") is None:
        return "psutil is not installed"
    return None


def start_system_metrics(uri: str, run_id: str, interval_s: float = SAMPLING_INTERVAL_S) -> Any | None:
    """Start sampling into ``run_id`` (continuing its earlier steps); the monitor, or None when unavailable."""
    reason = system_metrics_available()
    if reason is not None:
        _log.debug("no system metrics for run %s: %s", run_id, reason)
        return None
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, sampling_interval=interval_s, resume_logging=True, tracking_uri=uri)
        monitor.start()
        return monitor
    except Exception as exc:  # noqa: BLE001 - an unusable sampler (no /proc, odd driver) must not fail the trial
        _log.warning("system metrics disabled for run %s: %s: %s", run_id, type(exc).__name__, exc)
        return None


def stop_system_metrics(monitor: Any | None) -> None:
    if monitor is None:
        return
    try:
        monitor.finish()
    except Exception as exc:  # noqa: BLE001 - flushing the last points is best effort
        _log.warning("system metrics: final flush failed: %s: %s", type(exc).__name__, exc)


@contextmanager
def system_metrics(uri: str, run_id: str, interval_s: float = SAMPLING_INTERVAL_S) -> Iterator[bool]:
    """``with system_metrics(uri, run_id):`` samples while the block runs; yields whether sampling is on."""
    monitor = start_system_metrics(uri, run_id, interval_s)
    try:
        yield monitor is not None
    finally:
        stop_system_metrics(monitor)
