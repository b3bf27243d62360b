"""The review commands and their pieces: `tmis review issue|status`, `tmis teacher show`, the schedule in
`tmis run`, the chain over the unit tree (省直辖县 without a city), teacher numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import JIANGXI_UNITS, write_unit_workbook
from pipeline_helpers import SCHOOL_A, Env, make_env
from review_helpers import KEY, OFFICERS, fill, issue, review_env, school_file, send
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.cli import main
from processor.review.chain import Chain, Step
from processor.review.numbering import Numberer
from processor.review.schedule import run_if_due
from processor.store.models import RecordVersion, Teacher, TeacherNumber, Unit

HUBEI = [("420000", "湖北省", ""), ("429004", "仙桃市", "420000"), ("4290040001", "仙桃市第一中学", "429004")]


@pytest.fixture
def env(instance: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = review_env(instance, tmp_path, levels="county,city")
    yield e
    e.engine.dispose()


def test_review_issue_prints_the_sheet_paths_and_status_shows_what_waits(env: Env, tmp_path: Path,
                                                                        runner: CliRunner) -> None:
    path, _ = school_file(env, tmp_path, n=2, seed=41)
    send(env, path)
    pending = env.count(RecordVersion)
    result = runner.invoke(main, ["review", "status", "--format", "json", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    assert [(u["unit"], u["level"], u["pending"], u["oldest_days"], u["open_sheets"])
            for u in json.loads(result.output)["units"]] == [("360102", "county", pending, 0, 0)]
    result = runner.invoke(main, ["review", "issue", "--unit", "360102", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    (line,) = result.output.strip().splitlines()
    assert Path(line).exists() and Path(line).parent == env.outbox / "360102"
    result = runner.invoke(main, ["review", "status", "--unit", "360100", "--format", "json",
                                  "--config", str(env.config_path)])
    (row,) = json.loads(result.output)["units"]
    assert (row["unit"], row["pending"], row["open_sheets"], row["sheets"][0]["path"]) == ("360102", pending, 1, line)
    result = runner.invoke(main, ["review", "status", "--unit", "360200", "--format", "json",
                                  "--config", str(env.config_path)])
    assert json.loads(result.output) == {"units": []}


def test_review_issue_without_signing_key_is_one_line(env: Env, runner: CliRunner,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMIS_SIGNING_KEY")
    result = runner.invoke(main, ["review", "issue", "--config", str(env.config_path)])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "TMIS_SIGNING_KEY" in result.output


def test_teacher_show_gives_the_record_and_each_decision(env: Env, tmp_path: Path, runner: CliRunner) -> None:
    path, persons = school_file(env, tmp_path, n=1, seed=42)
    send(env, path)
    (sheet,) = issue(env)
    assert send(env, fill(sheet.path, tmp_path / "in" / "区.xlsx", every=("通过", ""))).status == "applied"
    result = runner.invoke(main, ["teacher", "show", persons[0].id_number, "--format", "json",
                                  "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["id_number"], data["name"], data["unit"], data["teacher_number"]) == (
        persons[0].id_number, persons[0].name, SCHOOL_A[0], None)
    basic = next(v for v in data["versions"] if v["category"] == "基本信息")
    assert (basic["state"], basic["level"]) == ("pending", "city")
    assert [(h["level"], h["unit"], h["decision"], h["by"]) for h in basic["history"]] == [
        ("school", SCHOOL_A[0], "submitted", "inbox"), ("county", "360102", "pass", "王磊")]
    assert basic["history"][1]["sheet"] == sheet.sheet_id and basic["history"][1]["at"]
    assert {v["category"] for v in data["versions"]} >= {"基本信息", "学习经历", "联系方式"}


def test_teacher_show_of_an_unknown_number_is_one_line(env: Env, runner: CliRunner) -> None:
    result = runner.invoke(main, ["teacher", "show", "360102198001011235", "--config", str(env.config_path)])
    assert result.exit_code == 2 and "没有身份证件号为 360102198001011235 的教师" in result.output


def test_service_without_signing_key_refuses_the_schedule_in_one_line_and_keeps_running(env: Env) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "TMIS_SIGNING_KEY"}
    proc = subprocess.Popen([sys.executable, "-c", "from processor.cli import main; main()", "run", "--config",
                             str(env.config_path)], env=environ, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()  # said before the service starts watching
        assert "未启动审核回执单的定时签发" in line and "TMIS_SIGNING_KEY" in line and 'issue_time = ""' in line
        assert "服务已启动" in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err


def test_run_once_without_signing_key_processes_the_inbox(env: Env, tmp_path: Path, runner: CliRunner,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMIS_SIGNING_KEY")
    path, _ = school_file(env, tmp_path, n=1, seed=43)
    path.rename(env.inbox / path.name)
    result = runner.invoke(main, ["run", "--once", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    assert "接收 1" in result.output


def test_schedule_issues_once_per_day_after_the_issue_time(env: Env, tmp_path: Path) -> None:
    path, _ = school_file(env, tmp_path, n=1, seed=44)
    send(env, path)
    slot = datetime.now().astimezone().replace(hour=7, minute=0, second=0, microsecond=0)
    assert run_if_due(env.engine, env.config, env.pack, now=slot - timedelta(minutes=1)) is None
    sheets = run_if_due(env.engine, env.config, env.pack, now=slot + timedelta(hours=2))
    assert [s.unit_code for s in sheets] == ["360102"]
    assert run_if_due(env.engine, env.config, env.pack, now=slot + timedelta(hours=3)) is None
    assert run_if_due(env.engine, env.config, env.pack, now=slot + timedelta(days=1, hours=1)) == []


def test_county_directly_under_the_province_skips_the_city_level(instance: Path, tmp_path: Path) -> None:
    units = write_unit_workbook(tmp_path / "units.xlsx", [*JIANGXI_UNITS, *HUBEI], OFFICERS)
    env = make_env(instance, units)
    with Session(env.engine) as s:
        chain = Chain.load(s, ["county", "city", "province"])
    env.engine.dispose()
    assert chain.steps("4290040001") == [Step("county", "429004"), Step("province", "420000")]
    assert chain.steps(SCHOOL_A[0]) == [Step("county", "360102"), Step("city", "360100"), Step("province", "360000")]
    assert chain.after("4290040001", "county") == Step("province", "420000")
    assert chain.after("4290040001", "province") is None


def test_teacher_numbers_continue_from_the_highest_and_are_never_reused(env: Env, tmp_path: Path) -> None:
    path, persons = school_file(env, tmp_path, n=3, seed=45)
    send(env, path)
    with Session(env.engine) as s, s.begin():
        teachers = s.scalars(select(Teacher).order_by(Teacher.id)).all()
        s.add(TeacherNumber(number="360102000000010007", prefix="36010200000001", teacher_id=teachers[0].id,
                            unit_code=SCHOOL_A[0], assigned_at=datetime.now(UTC)))  # once given, then moved away
        s.flush()
        numberer = Numberer(s)
        got = [numberer.assign(t) for t in teachers[1:]]
        assert got == ["360102000000010008", "360102000000010009"]
        assert numberer.assign(teachers[1]) == "360102000000010008"  # a teacher keeps its number
        assert s.get(Unit, SCHOOL_A[0]) is not None


def test_resending_while_on_an_open_sheet_keeps_that_sheets_decision(env: Env, tmp_path: Path) -> None:
    path, persons = school_file(env, tmp_path, n=1, seed=46)
    send(env, path)
    (sheet,) = issue(env)
    persons[0].basic["native_place"] = "江西省赣州市"
    again = tmp_path / "drop" / "再次报送.xlsx"
    from processor import samples

    samples.write_workbook(again, persons, pack=env.pack, kind="teachers", unit_code=SCHOOL_A[0],
                           unit_name=SCHOOL_A[1], mistakes=[], seed=9)
    assert send(env, again).status == "accepted"
    assert env.count(RecordVersion, RecordVersion.review_state == "superseded") == 0  # the listed ones stay
    assert send(env, fill(sheet.path, tmp_path / "in" / "区.xlsx", every=("通过", ""))).status == "applied"
    states = {(v.submission_id, v.review_state, v.review_level) for v in env.versions(RecordVersion.category == "basic")}
    first, second = sorted({sid for sid, _, _ in states})
    assert states == {(first, "pending", "city"), (second, "pending", "county")}
    (next_sheet,) = issue(env, unit="360102")  # the newer version waits for the county's next sheet
    assert next_sheet.versions == env.count(RecordVersion, RecordVersion.submission_id == second)


def test_review_levels_must_be_bottom_up_levels_above_the_school(tmp_path: Path) -> None:
    from processor.config import load_config
    from processor.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[review]\nlevels = ["city", "county"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value).startswith(f"{path}：第 2 行 [review] levels：值 [\"city\", \"county\"] 无效")
    path.write_text("[review]\nsheet_valid_days = 10\n", encoding="utf-8")
    assert load_config(path, environ={"TMIS_REVIEW_LEVELS": "county,city,province"}).get("review", "levels") == [
        "county", "city", "province"]
    assert load_config(tmp_path / "none.toml", environ={}).get("review", "levels") == ["county"]
