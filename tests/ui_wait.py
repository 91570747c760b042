"""Waiting for `augmix-lab ui` in tests: the URL it prints, once its server answers /health."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest
import requests

UI_START_S = 120  # `python -m mlflow server` imports for ~10-20 s on a 2-core machine
BASE_URL = r"http://127\.0\.0\.1:\d+"


def wait_for_ui(proc: subprocess.Popen, log: Path, pattern: str = BASE_URL,
                detail: Callable[[], str] | None = None) -> re.Match:
    """Poll ``log`` for ``pattern`` (a URL starting with the server's base) until the server is healthy."""
    deadline = time.monotonic() + UI_START_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(pattern, log.read_text())
        if found:
            base = re.match(BASE_URL, found.group(0))
            try:
                if base and requests.get(f"{base.group(0)}/health", timeout=2).status_code == 200:
                    return found
            except requests.RequestException:
                pass
        time.sleep(0.5)
    pytest.fail(f"augmix-lab ui did not come up: rc={proc.poll()} {detail() if detail else log.read_text()[-2000:]!r}")
