"""Reports (SQLite and PostgreSQL): the monthly progress report, summary PDF and bulletin; every figure checked
against SQL over the store, workbooks read back, PDFs rendered (pdftoppm), their text (pdftotext) and font
(pdffonts) checked; rerender gives the same figures after the store changed."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pipeline_helpers import SCHOOL_B, SCHOOL_C, Env, make_env, people, workbook
from sqlalchemy import text

from processor.cli import main
from processor.pipeline import process_file

MONTH = datetime.now(UTC).astimezone().strftime("%Y-%m")


@pytest.fixture
def env(store_instance: Path, unit_workbook: Path, tmp_path: Path) -> Env:
    e = make_env(store_instance, unit_workbook)
    drop = tmp_path / "drop"
    a = people(5, seed=31)
    workbook(e, drop / "a.xlsx", a, mistakes=[("id_checksum", 1)], seed=3)
    workbook(e, drop / "a2.xlsx", a, seed=4)  # a re-submission of school A, corrected
    workbook(e, drop / "b.xlsx", people(3, seed=32, school=SCHOOL_B), school=SCHOOL_B)
    workbook(e, drop / "c.xlsx", people(4, seed=33, school=SCHOOL_C), school=SCHOOL_C,
             mistakes=[("sex_mismatch", 1)], seed=5)
    for name in ("a.xlsx", "a2.xlsx", "b.xlsx", "c.xlsx"):
        process_file(drop / name, e.config, e.pack, e.engine)
    with e.engine.begin() as conn:  # one person of school B reviewed through to effective
        conn.execute(text("UPDATE record_versions SET review_state = 'effective' WHERE id = "
                          "(SELECT MIN(id) FROM record_versions WHERE unit_code = :u AND category = 'basic')"),
                     {"u": SCHOOL_B[0]})
    yield e
    e.engine.dispose()


def _cli(env: Env, *args: str) -> dict:
    result = CliRunner().invoke(main, [*args, "--format", "json", "--config", str(env.config_path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _sql(env: Env, sql: str, **params: object) -> int:
    with env.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar() or 0


SCHOOLS_OF = """WITH RECURSIVE t(code) AS (SELECT code FROM units WHERE code = :u
                UNION ALL SELECT units.code FROM units JOIN t ON units.parent_code = t.code)
                SELECT code FROM t"""


def test_monthly_rows_are_the_units_directly_below_with_figures_equal_to_sql(env: Env) -> None:
    out = _cli(env, "report", "monthly", "--month", MONTH, "--unit", "360000")
    assert [r["unit"] for r in out["rows"]] == ["360100", "360200"]
    for row in out["rows"]:
        u = row["unit"]
        assert row["schools"] == _sql(env, f"SELECT COUNT(*) FROM units WHERE level = 'school' AND code IN ({SCHOOLS_OF})", u=u)
        assert row["schools_submitted"] == _sql(env, f"""SELECT COUNT(DISTINCT s.unit_code) FROM submissions s
            JOIN units ON units.code = s.unit_code AND units.level = 'school'
            WHERE s.status <> 'unreadable' AND s.kind IN ('teachers', 'new-teachers') AND s.unit_code IN ({SCHOOLS_OF})""", u=u)
        assert row["teachers_received"] == _sql(env, f"SELECT COUNT(DISTINCT id_number) FROM intake_persons WHERE unit_code IN ({SCHOOLS_OF})", u=u)
        assert row["teachers_accepted"] == _sql(env, f"SELECT COUNT(DISTINCT id_number) FROM intake_persons WHERE accepted AND unit_code IN ({SCHOOLS_OF})", u=u)
        assert row["teachers_effective"] == _sql(env, f"""SELECT COUNT(DISTINCT teacher_id) FROM record_versions
            WHERE category = 'basic' AND review_state = 'effective' AND unit_code IN ({SCHOOLS_OF})""", u=u)
        assert row["pending_total"] == _sql(env, f"""SELECT COUNT(*) FROM record_versions
            WHERE category = 'basic' AND review_state = 'pending' AND unit_code IN ({SCHOOLS_OF})""", u=u)
    nanchang, jingdezhen = out["rows"]
    assert (nanchang["schools"], nanchang["schools_submitted"], nanchang["teachers_received"]) == (3, 3, 13)  # the mistyped number counts too
    assert (nanchang["teachers_effective"], nanchang["resubmissions"], nanchang["files"]) == (1, 1, 4)
    assert (jingdezhen["schools"], jingdezhen["schools_submitted"], jingdezhen["schools_silent"]) == (1, 0, 1)
    assert out["total"]["teachers_received"] == 13
    assert out["total"]["teachers_accepted"] == nanchang["teachers_accepted"] == 11  # one bad 基本信息 row at C


def test_monthly_workbook_reads_back_the_same_numbers_and_prints_landscape(env: Env) -> None:
    out = _cli(env, "report", "monthly", "--month", MONTH, "--unit", "360000")
    xlsx = next(Path(f) for f in out["files"] if f.endswith(".xlsx"))
    assert xlsx.parent == env.outbox / "360000"
    ws = load_workbook(xlsx)["月报表"]
    header = next(r for r in range(1, 6) if ws.cell(r, 1).value == "单位代码")
    values = {ws.cell(r, 1).value: [c.value for c in ws[r]] for r in range(header + 1, header + 4)}
    assert values["360100"][2:6] == [3, 1, 3, 0]
    assert values["360100"][8:10] == [out["rows"][0]["teachers_received"], out["rows"][0]["teachers_accepted"]]
    assert values[None][1] == "合计"
    assert (ws.page_setup.orientation, ws.page_setup.fitToWidth, ws.print_title_rows) == (
        "landscape", 1, f"${header}:${header}")
    assert "&P" in ws.oddFooter.center.text


def _pdf_text(path: Path) -> str:
    """The PDF's text without whitespace (pdftotext puts CJK glyphs and spaces together as it lays them out)."""
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return "".join(out.split())


def _assert_renders_with_embedded_font(path: Path, tmp_path: Path) -> None:
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    lines = fonts.splitlines()[2:]
    assert lines and all(" yes " in line for line in lines), fonts
    assert any("WenQuanYi" in line for line in lines)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
    assert list(tmp_path.glob("page*.png"))


def test_monthly_pdf_has_the_chinese_text_and_an_embedded_font(env: Env, tmp_path: Path) -> None:
    out = _cli(env, "report", "monthly", "--month", MONTH, "--unit", "360000")
    pdf = next(Path(f) for f in out["files"] if f.endswith(".pdf"))
    _assert_renders_with_embedded_font(pdf, tmp_path)
    words = _pdf_text(pdf)
    assert f"江西省教师信息采集工作月报表（{MONTH}）" in words
    assert "南昌市" in words and "景德镇市" in words and "合计" in words and "第1页" in words


def test_rerender_gives_the_recorded_figures_after_the_store_changed(env: Env, tmp_path: Path) -> None:
    out = _cli(env, "report", "monthly", "--month", MONTH, "--unit", "360000")
    with env.engine.begin() as conn:
        conn.execute(text("UPDATE record_versions SET review_state = 'effective' WHERE category = 'basic'"))
    again = _cli(env, "report", "monthly", "--month", MONTH, "--unit", "360000")
    assert again["rows"][0]["teachers_effective"] == 11 != out["rows"][0]["teachers_effective"]
    old = _cli(env, "report", "rerender", str(out["run"]))
    assert (old["rows"], old["total"], old["audit_id"]) == (out["rows"], out["total"], out["audit_id"])
    with env.engine.connect() as conn:
        audit_max, queried = conn.execute(text("SELECT audit_id, queried_at FROM report_runs WHERE id = :i"),
                                          {"i": out["run"]}).one()
    assert audit_max == out["audit_id"] == _sql(env, "SELECT MAX(id) FROM audit_log WHERE action = 'submission.receive'")
    assert queried is not None


def test_a_bad_month_is_refused_with_the_fix(env: Env) -> None:
    result = CliRunner().invoke(main, ["report", "monthly", "--month", "2026-13", "--unit", "360000",
                                       "--config", str(env.config_path)])
    assert result.exit_code == 2
    assert "月份“2026-13”的格式不对。请写成 年-月，例如 --month 2026-11。" in result.stderr
