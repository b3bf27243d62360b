"""Save a file with an open password through a real, headless LibreOffice (its UNO bridge), as a school
does with 文件 → 另存为 → 使用密码保存. Run with the system Python that has `uno` (Debian python3-uno):

    /usr/bin/python3 tests/lo_password.py SOURCE TARGET FILTER PASSWORD   (FILTER: calc8, "MS Excel 97")
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import uno  # type: ignore[import-not-found]
from com.sun.star.beans import PropertyValue  # type: ignore[import-not-found]


def _prop(name: str, value: object) -> PropertyValue:
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def main() -> None:
    src, target, filter_name, password = sys.argv[1:5]
    pipe = f"tmis_test_{os.getpid()}"
    profile = uno.systemPathToFileUrl(os.path.abspath(target) + ".lo-profile")
    office = subprocess.Popen(["soffice", f"-env:UserInstallation={profile}", "--headless", "--invisible",
                               "--norestore", f"--accept=pipe,name={pipe};urp;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.monotonic() + 120
        while True:
            try:
                remote = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                break
            except Exception:  # noqa: BLE001 - LibreOffice still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        desktop = remote.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", remote)
        doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(os.path.abspath(src)), "_blank", 0,
                                           (_prop("Hidden", True),))
        doc.storeToURL(uno.systemPathToFileUrl(os.path.abspath(target)),
                       (_prop("FilterName", filter_name), _prop("Password", password)))
        doc.close(True)
        try:
            desktop.terminate()
        except Exception:  # noqa: BLE001 - the bridge goes away with the office
            pass
    finally:
        try:
            office.wait(timeout=60)
        except subprocess.TimeoutExpired:
            office.kill()


if __name__ == "__main__":
    main()
