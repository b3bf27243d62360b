"""The docs cannot drift: every command is in the README, every setting is documented in config.toml."""

from __future__ import annotations

import re
import tomllib

import click

from processor.cli import main
from processor.config import SCHEMA
from processor.paths import DEFAULT_CONFIG, PROJECT_ROOT


def _commands(group: click.Group, prefix: str = "tmis") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
        else:
            out.append(full)
    return out


def test_every_command_is_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [c for c in _commands(main) if f"`{c}" not in readme]
    assert missing == []


def test_every_command_has_chinese_help() -> None:
    def walk(group: click.Group):
        for cmd in group.commands.values():
            yield cmd
            if isinstance(cmd, click.Group):
                yield from walk(cmd)

    no_help = [c.name for c in walk(main) if not c.help or not re.search(r"[\u4e00-\u9fff]", c.help)]
    assert no_help == []


def test_every_setting_is_in_the_shipped_config() -> None:
    data = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    shipped = {(s, k) for s, keys in data.items() for k in keys}
    expected = {(s, k) for s, keys in SCHEMA.items() for k in keys}
    assert shipped == expected


def test_every_setting_has_a_comment_above_it() -> None:
    lines = DEFAULT_CONFIG.read_text(encoding="utf-8").splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        m = re.match(r"^([a-z_0-9]+)\s*=", line)
        if not m:
            continue
        j = i - 1
        while j >= 0 and re.match(r"^[a-z_0-9]+\s*=", lines[j]):
            j -= 1  # keys sharing one comment block (smtp_host / smtp_port)
        if j < 0 or not lines[j].startswith("#"):
            undocumented.append(m.group(1))
    assert undocumented == []


def test_usage_errors_are_in_chinese() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["check", "--format", "xml", "x.xlsx"])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == "错误：'--format' 的值无效：'xml' 不在可选值 'text', 'json' 之中。"
