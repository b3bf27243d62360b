"""External programs some tests drive (poppler's pdftotext/pdffonts/pdftoppm/pdfinfo, LibreOffice's Python
bridge): on a machine without them such a test is skipped with the reason; under CI (CI=true), where
`.ci/run` installs them, it fails instead."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Any

import pytest


def missing(what: str, packages: str) -> None:
    """Skip (or fail under CI) because ``what`` is not installed; ``packages``: the Debian packages that bring it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} 未安装（bash .ci/run 会安装：apt-get install {packages}）")
    pytest.skip(f"本机没有 {what}，这项检查需要它；安装后即可运行：apt-get install {packages}（bash .ci/run 会自动安装）")


def poppler(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """subprocess.run of a poppler command (pdftotext, pdffonts, pdftoppm, pdfinfo)."""
    if shutil.which(args[0]) is None:
        missing(f"poppler 的 {args[0]}", "poppler-utils")
    return subprocess.run(args, **kwargs)


@functools.cache
def _has_uno() -> bool:
    try:
        return subprocess.run(["/usr/bin/python3", "-c", "import uno"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def require_uno() -> None:
    """LibreOffice and its Python bridge (python3-uno) for the system Python."""
    if shutil.which("soffice") is None or not _has_uno():
        missing("LibreOffice 及其 Python 接口（python3-uno）", "libreoffice-calc-nogui python3-uno")
