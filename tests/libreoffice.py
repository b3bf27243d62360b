"""Converting files with a real LibreOffice, as officers do when they save a workbook again."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def soffice_convert(src: Path, target: str, outdir: Path) -> Path:
    """Convert with a real LibreOffice (own profile per call); skip when absent, fail under CI."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice 未安装")
        pytest.skip("LibreOffice 未安装")
    profile = outdir / "lo-profile"
    outdir.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to", target,
                    "--outdir", str(outdir), str(src)], check=True, capture_output=True, timeout=180)
    out = outdir / f"{src.stem}.{target.split(':')[0]}"
    assert out.exists(), f"LibreOffice produced no {out.name}"
    return out
