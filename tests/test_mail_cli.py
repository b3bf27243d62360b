"""`tmis mail queue|retry|quarantine` on an instance with nothing queued or quarantined yet."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from processor.cli import main


def _run(instance: Path, *args: str) -> object:
    return CliRunner().invoke(main, ["mail", *args, "--config", str(instance)])


def test_an_empty_queue_is_said_in_chinese_and_as_json(instance: Path) -> None:
    assert _run(instance, "queue").output == "发件队列为空。\n"
    assert json.loads(_run(instance, "queue", "--format", "json").output) == {"messages": []}


def test_no_quarantined_mail_is_said(instance: Path) -> None:
    assert _run(instance, "quarantine").output == "没有被隔离的邮件。\n"


def test_retry_of_an_unknown_message_names_the_fix(instance: Path) -> None:
    result = _run(instance, "retry", "9")
    assert (result.exit_code, result.output) == (2, "错误：发件队列中没有编号为 9 的邮件。请用 tmis mail queue 查看编号。\n")


def test_release_of_an_unknown_message_names_the_fix(instance: Path) -> None:
    result = _run(instance, "quarantine", "--release", "3")
    assert (result.exit_code, result.output) == (
        2, "错误：没有编号为 3 的隔离邮件。请用 tmis mail quarantine 查看编号。\n")
