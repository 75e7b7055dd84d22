"""Shared fixtures.

Three groups of tests: pure numpy (no Java), real ImageJ behind the one session fixture
``ij`` (Java starts once per process), and JVM-mode cases in subprocesses (``run_python``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ij():
    """The real ImageJ of this test process: system ImageJ 1.x, with Xvfb when installed."""
    from fiji_bridge import imagej

    return imagej.start(display="auto")


@pytest.fixture(scope="session")
def ij_commands(ij):
    """ImageJ that can run menu commands and macros (Xvfb); skip where Xvfb is missing."""
    if not ij.can_run_commands:
        pytest.skip("menu commands need Xvfb (apt-get install xvfb xauth)")
    return ij


@pytest.fixture
def run_python(tmp_path):
    """Run Python code in a fresh interpreter (its own JVM); return CompletedProcess."""

    def run(code: str, *, env: dict | None = None, timeout: float = 120,
            args: list[str] | None = None) -> subprocess.CompletedProcess:
        full_env = dict(os.environ)
        full_env.pop("DISPLAY", None)
        full_env.pop("FIJI_BRIDGE_IMAGEJ", None)
        full_env.update(env or {})
        command = [sys.executable, "-c", textwrap.dedent(code)] if args is None else args
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=full_env, cwd=tmp_path)

    return run
