"""Monthly forms: issued pre-filled and signed with the monthly report, only the open cells unlocked, taken back
through the inbox (applied or refused with the reason), consolidated into the province's next report; the
scheduled monthly report is made exactly once per period."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pipeline_helpers import Env, make_env
from sqlalchemy import text

from processor.cli import main
from processor.pipeline import process_file
from processor.reports.schedule import run_due

KEY = "k" * 64


@pytest.fixture
def env(store_instance: Path, unit_workbook: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("TMIS_SIGNING_KEY", KEY)
    e = make_env(store_instance, unit_workbook)
    yield e
    e.engine.dispose()


def _monthly(env: Env, month: str = "2026-11") -> dict:
    result = CliRunner().invoke(main, ["report", "monthly", "--month", month, "--unit", "360000", "--format", "json",
                                       "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _fill(path: Path, trained: object, problems: str = "部分学校网络不稳定") -> Path:
    wb = load_workbook(path)
    ws = wb["月报填报表"]
    for r in range(1, ws.max_row + 1):
        label = ws.cell(r, 1).value
        if label == "本月培训人数":
            ws.cell(r, 2, trained)
        elif label == "遇到的问题":
            ws.cell(r, 2, problems)
        elif label == "下一步工作":
            ws.cell(r, 2, "逐校督促")
        elif label == "填报人":
            ws.cell(r, 2, "王磊")
    wb.save(path)
    return path


def test_forms_are_issued_to_each_city_with_only_the_open_cells_unlocked(env: Env) -> None:
    out = _monthly(env)
    assert sorted(Path(p).parent.name for p in out["forms"]) == ["360100", "360200"]
    ws = load_workbook(out["forms"][0])["月报填报表"]
    assert ws.protection.sheet is True
    unlocked = {ws.cell(r, 1).value for r in range(1, ws.max_row + 1) if ws.cell(r, 2).protection.locked is False}
    assert unlocked == {"本月培训人数", "遇到的问题", "下一步工作", "填报人"}
    assert ws.page_setup.fitToWidth == 1


def test_without_signing_key_the_report_is_written_and_one_plain_line_says_the_forms_were_not_issued(
        env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMIS_SIGNING_KEY")
    result = CliRunner().invoke(main, ["report", "monthly", "--month", "2026-11", "--unit", "360000",
                                       "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    files = [Path(line) for line in result.stdout.splitlines()]
    assert sorted(p.suffix for p in files) == [".pdf", ".xlsx"] and all(p.exists() for p in files)
    lines = result.stderr.splitlines()
    assert lines[0] == ("月报表已生成，但没有发出月报填报表：没有设置签名密钥：请在环境变量 TMIS_SIGNING_KEY 中设置一个足够长的"
                        "随机字符串（例如 python3 -c \"import secrets; print(secrets.token_hex(32))\" 的输出）。"
                        "设置 TMIS_SIGNING_KEY 后重新运行 tmis report monthly（或等下一次定时生成），即可向各市、县发出填报表。")
    assert "not issued" not in result.stderr and "Traceback" not in result.output
    assert not list(env.outbox.glob("*/月报填报表*"))


def test_a_filled_form_comes_back_and_is_in_the_next_report(env: Env, tmp_path: Path) -> None:
    out = _monthly(env)
    form = Path(next(p for p in out["forms"] if "/360100/" in p))
    dropped = _fill(form.rename(tmp_path / form.name), 120)
    outcome = process_file(dropped, env.config, env.pack, env.engine)
    assert outcome.status == "accepted" and outcome.archived_path.exists()
    sidecar = json.loads(outcome.report_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert (sidecar["status"], sidecar["unit"], sidecar["period"]) == ("applied", "360100", "2026-11")
    again = _monthly(env)
    assert again["rows"][0]["trained"] == 120 and again["total"]["trained"] == 120
    assert again["returns"][0]["problems"] == "部分学校网络不稳定"
    ws = load_workbook(next(p for p in again["files"] if p.endswith(".xlsx")))["各地反馈"]
    assert [ws.cell(3, c).value for c in (1, 3, 4)] == ["360100", 120, "部分学校网络不稳定"]


def test_a_form_whose_figures_were_changed_is_refused(env: Env, tmp_path: Path) -> None:
    out = _monthly(env)
    form = Path(out["forms"][0]).rename(tmp_path / "form.xlsx")
    wb = load_workbook(form)
    meta = wb["_tmis"]
    for r in range(1, meta.max_row + 1):
        if meta.cell(r, 1).value == "period":
            meta.cell(r, 2, "2026-10")
    wb.save(form)
    outcome = process_file(_fill(form, 5), env.config, env.pack, env.engine)
    sidecar = json.loads(outcome.report_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["status"] == "refused"
    assert sidecar["findings"][0]["rule"] == "FORM-SIGNATURE"
    with env.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM monthly_returns")).scalar() == 0


def test_a_form_with_a_bad_count_is_refused_on_its_cell(env: Env, tmp_path: Path) -> None:
    out = _monthly(env)
    form = Path(out["forms"][0]).rename(tmp_path / "form.xlsx")
    outcome = process_file(_fill(form, "一百"), env.config, env.pack, env.engine)
    finding = json.loads(outcome.report_path.with_suffix(".json").read_text(encoding="utf-8"))["findings"][0]
    assert (finding["rule"], finding["column"], finding["message"]) == ("FORM-TRAINED", "B", "本月培训人数“一百”不是人数")
    assert finding["row"] is not None


def test_the_scheduled_report_is_made_once_per_period(env: Env) -> None:
    env.reload(TMIS_REPORTS_SCHEDULE="true")
    before = datetime(2026, 11, 24, 9, 0).astimezone()
    due = datetime(2026, 11, 25, 9, 0).astimezone()
    assert run_due(env.config, env.engine, env.pack, now=before) is None
    first = run_due(env.config, env.engine, env.pack, now=due)
    assert first is not None
    assert run_due(env.config, env.engine, env.pack, now=due.replace(day=28)) is None
    with env.engine.connect() as conn:
        assert conn.execute(text("SELECT kind, unit_code, period, run_id FROM scheduled_reports")).all() == [
            ("monthly", "360000", "2026-11", first)]
        assert conn.execute(text("SELECT scheduled FROM report_runs WHERE id = :i"), {"i": first}).scalar()
