"""A trial parse in a child process with a memory ceiling, for the formats the guard cannot bound.

For .xlsx/.xlsm/.ods the guard measures, from the XML, how many cells a sheet addresses before any parser
allocates them. The binary formats (.xls, .xlsb) say little before they are parsed, and a damaged or hostile
one can make calamine allocate without end; calamine then aborts the whole process on the failed allocation
(a Rust abort is no exception Python could catch), or the kernel kills it. So such a file is parsed first in
a child process whose address space is capped at ``Limits.max_parse_bytes`` and whose time is capped at
``Limits.parse_seconds``: only a file the child could read is parsed again in the worker. The child's
standard error (Rust panic text) is kept from the terminal and logged at debug level.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from processor.errors import InputError
from processor.readers.guard import HINT_RESAVE

log = logging.getLogger(__name__)

TRIAL_FORMATS = ("xls", "xlsb")
_CHILD = "from processor.readers.isolate import _child; _child()"


def _child() -> None:
    """In the child: open the workbook and convert every worksheet's cells; exit 0 unless the process dies."""
    from python_calamine import CalamineWorkbook

    path = sys.argv[1]
    try:
        with open(path, "rb") as fh:
            wb = CalamineWorkbook.from_filelike(fh)
        for name in wb.sheet_names:
            for _row in wb.get_sheet_by_name(name).iter_rows():
                pass
    except BaseException as exc:  # noqa: BLE001 - a parse error is the worker's to report, not a crash
        if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
    os._exit(0)


def _cap(max_bytes: int) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:  # inside a capped worker: never above what it may have
        max_bytes = min(max_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, hard))


def trial_parse(path: Path, name: str, max_bytes: int, seconds: float) -> None:
    """Parse the file in a capped child process; InputError when the child runs out of memory, dies or
    takes longer than ``seconds``. Returns quietly when the child could read it (or raised a parse error,
    which the worker's own parse reports in its words)."""
    env = dict(os.environ, RUST_BACKTRACE="0")
    preexec = (lambda: _cap(max_bytes)) if sys.platform.startswith("linux") else None
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, timeout=seconds,
                              env=env, preexec_fn=preexec, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        log.info("%s: the trial parse took more than %.0f s", name, seconds)
        raise InputError(f"文件结构异常，读取超过 {seconds:.0f} 秒仍未完成（疑似损坏或被改动过）", file=name,
                         hint=HINT_RESAVE) from None
    if done.stderr:
        log.debug("%s: the trial parse wrote to standard error: %s", name,
                  done.stderr[:4000].decode("utf-8", "replace").strip())
    if done.returncode != 0:
        log.info("%s: the trial parse ended with %s (memory ceiling %d MB)", name, done.returncode,
                    max_bytes // (1024 * 1024))
        raise InputError(f"文件结构异常，无法在 {max_bytes // (1024 * 1024)} MB 的内存上限内读取（疑似损坏或被改动过）",
                         file=name, hint=HINT_RESAVE)
