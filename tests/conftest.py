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
# Compiled CPU kernels (augmix_lab/jit.py): one machine-wide numba cache for every test and Ray worker, so the suite
# compiles them once per machine, not once per test process (the per-test AUGMIX_LAB_CACHE below would hide it)
from augmix_lab.jit import kernel_cache_dir  # noqa: E402  (imports paths only: no numba, no torch)

os.environ.setdefault("NUMBA_CACHE_DIR", kernel_cache_dir())

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees a private data cache and runs root unless it sets its own."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("AUGMIX_LAB_DATA", str(base / "data-cache"))
    monkeypatch.setenv("AUGMIX_LAB_CACHE", str(base / "cache"))  # measurements: step costs, engine winners
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


# --- opt-in per-test cost table: `python -m pytest -q --cpu-times[=N]` -------------------------------------------
# Why: on a shared machine wall time is unreliable; process CPU (self + reaped children) is not. Ray workers are not
# children of pytest's, so live descendants are added (work in a process that exits unreaped by pytest is missed).
_CPU_ROWS: list[tuple[float, float, str]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--cpu-times", action="store", nargs="?", const=30, type=int, default=0, metavar="N",
                     help="list the N tests with the most process CPU time (self + children), with wall time")


def _cpu_now() -> float:
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime + _live_descendants_cpu()


def _live_descendants_cpu() -> float:
    """utime+stime of running descendants (the session Ray's raylet and workers), read from /proc (Linux only)."""
    from pathlib import Path

    parent, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid ... utime(12) stime(13)
        except OSError:
            continue
        pid = int(stat.parent.name)
        parent[pid], cpu[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    me, total = os.getpid(), 0
    for pid in cpu:
        p = parent.get(pid)
        while p and p != me:
            p = parent.get(p)
        if p == me:
            total += cpu[pid]
    return total / os.sysconf("SC_CLK_TCK")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # noqa: ARG001
    if not item.config.getoption("--cpu-times"):
        yield
        return
    import time

    cpu0, wall0 = _cpu_now(), time.perf_counter()
    yield  # setup + call + teardown: a module fixture's cost lands on its first test
    _CPU_ROWS.append((_cpu_now() - cpu0, time.perf_counter() - wall0, item.nodeid))
    if log := os.environ.get("AUGMIX_LAB_CPU_TIMES_LOG"):  # rows survive a run that is cut off before its summary
        with open(log, "a") as fh:
            fh.write(f"{_CPU_ROWS[-1][0]:.2f}\t{_CPU_ROWS[-1][1]:.2f}\t{item.nodeid}\n")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001, ARG001
    n = config.getoption("--cpu-times")
    if not n or not _CPU_ROWS:
        return
    tr = terminalreporter
    tr.write_sep("=", f"top {n} tests by process CPU (self + children)")
    for cpu, wall, nodeid in sorted(_CPU_ROWS, reverse=True)[:n]:
        tr.write_line(f"{cpu:8.2f}s cpu {wall:8.2f}s wall  {nodeid}")
    tr.write_line(f"total: {sum(r[0] for r in _CPU_ROWS):.1f}s cpu, {sum(r[1] for r in _CPU_ROWS):.1f}s wall, "
                  f"{len(_CPU_ROWS)} tests")
