"""`--config` before the subcommand (`tmis --config X units list`), after it, and TMIS_CONFIG."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import write_unit_workbook

from processor.cli import main

NANCHANG = [("360000", "江西省", ""), ("360100", "南昌市", "360000"), ("360102", "东湖区", "360100")]
JINGDEZHEN = [("360000", "江西省", ""), ("360200", "景德镇市", "360000"), ("360222", "浮梁县", "360200")]


def _instance(runner: CliRunner, folder: Path, units: list[tuple], tmp_path: Path) -> Path:
    result = runner.invoke(main, ["init", str(folder)])
    assert result.exit_code == 0, result.output
    config = folder / "config.toml"
    book = write_unit_workbook(tmp_path / f"{folder.name}_单位.xlsx", units, officers=None)
    result = runner.invoke(main, ["units", "import", str(book), "--config", str(config)])
    assert result.exit_code == 0, result.output
    return config


@pytest.fixture
def two_instances(runner: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    return (_instance(runner, tmp_path / "南昌", NANCHANG, tmp_path),
            _instance(runner, tmp_path / "景德镇", JINGDEZHEN, tmp_path))


def test_group_config_before_the_subcommand_reaches_it(runner: CliRunner, two_instances: tuple[Path, Path]) -> None:
    nanchang, _ = two_instances
    result = runner.invoke(main, ["--config", str(nanchang), "units", "list"])
    assert result.exit_code == 0, result.output
    assert "东湖区" in result.output and "浮梁县" not in result.output
    assert result.output.rstrip().endswith("共 3 个单位。")


def test_group_config_reaches_a_nested_command_of_another_group(runner: CliRunner, tmp_path: Path,
                                                                two_instances: tuple[Path, Path]) -> None:
    _, jingdezhen = two_instances
    book = write_unit_workbook(tmp_path / "新增.xlsx", [("360200", "景德镇市", "360000"),
                                                      ("360281", "乐平市", "360200")], officers=None)
    result = runner.invoke(main, ["--config", str(jingdezhen), "units", "import", str(book)])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(main, ["units", "list", "--config", str(jingdezhen)])
    assert "乐平市" in listed.output and listed.output.rstrip().endswith("共 4 个单位。")


def test_subcommand_config_wins_over_the_group_config(runner: CliRunner, two_instances: tuple[Path, Path]) -> None:
    nanchang, jingdezhen = two_instances
    result = runner.invoke(main, ["--config", str(nanchang), "units", "list", "--config", str(jingdezhen)])
    assert result.exit_code == 0, result.output
    assert "浮梁县" in result.output and "东湖区" not in result.output


def test_tmis_config_environment_variable_is_used_without_an_option(
        runner: CliRunner, two_instances: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    _, jingdezhen = two_instances
    monkeypatch.setenv("TMIS_CONFIG", str(jingdezhen))
    result = runner.invoke(main, ["units", "list"])
    assert result.exit_code == 0, result.output
    assert "浮梁县" in result.output and "东湖区" not in result.output


def test_group_config_wins_over_tmis_config(runner: CliRunner, two_instances: tuple[Path, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    nanchang, jingdezhen = two_instances
    monkeypatch.setenv("TMIS_CONFIG", str(jingdezhen))
    result = runner.invoke(main, ["--config", str(nanchang), "units", "list"])
    assert result.exit_code == 0, result.output
    assert "东湖区" in result.output and "浮梁县" not in result.output


def test_group_config_that_does_not_exist_is_one_chinese_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["--config", str(tmp_path / "没有.toml"), "units", "list"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "没有.toml" in result.output and "错误" in result.output
