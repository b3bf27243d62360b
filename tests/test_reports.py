"""Reports (SQLite and PostgreSQL): the monthly progress report, summary PDF and bulletin; every figure checked
against SQL over the store, workbooks read back, PDFs rendered (pdftoppm), their text (pdftotext) and font
(pdffonts) checked; rerender gives the same figures after the store changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from external import poppler
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
    out = poppler(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return "".join(out.split())


def _assert_renders_with_embedded_font(path: Path, tmp_path: Path) -> None:
    fonts = poppler(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    lines = fonts.splitlines()[2:]
    assert lines and all(" yes " in line for line in lines), fonts
    assert any("WenQuanYi" in line for line in lines)
    poppler(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")], check=True)
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


def test_summary_composition_equals_sql_and_its_pdf_has_contents_and_charts(env: Env, tmp_path: Path) -> None:
    out = _cli(env, "report", "summary", "--month", MONTH, "--unit", "360000")
    assert out["teachers"] == _sql(env, """SELECT COUNT(DISTINCT teacher_id) FROM record_versions
        WHERE category = 'basic' AND review_state IN ('pending', 'effective')""") == 11
    with env.engine.connect() as conn:
        by_sex = dict(conn.execute(text("""SELECT f.sex, COUNT(*) FROM report_facts f
            JOIN (SELECT MAX(id) AS vid FROM record_versions WHERE category = 'basic'
                  AND review_state IN ('pending', 'effective') GROUP BY teacher_id) c ON c.vid = f.version_id
            GROUP BY f.sex""")).all())
    names = {"1": "男性", "2": "女性"}
    assert out["by_sex"] == {names[k]: v for k, v in sorted(by_sex.items(), key=lambda kv: (-kv[1], names[kv[0]]))}
    for key in ("by_age", "by_education", "by_title", "by_subject", "by_employment", "by_ethnicity", "by_school_type"):
        assert sum(out[key].values()) == out["teachers"], key
    assert out["quality"]["rules"][0]["count"] >= 1
    assert {r["rule"] for r in out["quality"]["rules"]} >= {"ID-CHECKSUM", "ID-SEX"}
    assert [r["unit"] for r in out["late"]] == ["3602220001"]
    pdf = next(Path(f) for f in out["files"] if f.endswith(".pdf"))
    _assert_renders_with_embedded_font(pdf, tmp_path)
    words = _pdf_text(pdf)
    for heading in ("目录", "一、工作进度", "二、教师队伍构成", "三、数据质量", "四、未报送或未按时报送的学校", "按性别",
                    "按最高学历", "浮梁县第一中学", "未报送", "江西省教师信息采集工作总结"):
        assert heading in words, heading
    pages = poppler(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(next(line.split()[-1] for line in pages.splitlines() if line.startswith("Pages:"))) >= 3


def test_summary_table_breaks_across_pages_with_its_header_repeated(env: Env, tmp_path: Path) -> None:
    with env.engine.begin() as conn:  # 120 more schools that have sent nothing: a long late list
        for i in range(120):
            conn.execute(text("INSERT INTO units (code, name, level, parent_code, created_at, updated_at) "
                              "VALUES (:c, :n, 'school', '360222', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                         {"c": f"36022201{i:02d}" if i < 100 else f"36022202{i - 100:02d}", "n": f"浮梁县第{i + 2}小学"})
    out = _cli(env, "report", "summary", "--month", MONTH, "--unit", "360000")
    pdf = next(Path(f) for f in out["files"] if f.endswith(".pdf"))
    pages = poppler(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    late_pages = [p for p in pages if "浮梁县第" in p and "小学" in p]
    assert len(late_pages) >= 2
    assert all("学校代码" in "".join(p.split()) and "首次报送时间" in "".join(p.split()) for p in late_pages)


def test_bulletin_ranks_by_completion_then_timeliness_on_one_page(env: Env, tmp_path: Path) -> None:
    out = _cli(env, "report", "bulletin", "--month", MONTH, "--unit", "360000")
    assert [(r["rank"], r["unit"], r["completion"]) for r in out["ranking"]] == [(1, "360100", 100.0), (2, "360200", 0.0)]
    pdf = next(Path(f) for f in out["files"] if f.endswith(".pdf"))
    _assert_renders_with_embedded_font(pdf, tmp_path)
    info = poppler(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Pages:           1" in info
    words = _pdf_text(pdf)
    assert f"关于{MONTH}教师信息采集工作进度的通报" in words and "尚有学校未报送的单位：景德镇市" in words
    xlsx = next(Path(f) for f in out["files"] if f.endswith(".xlsx"))
    ws = load_workbook(xlsx)["通报"]
    header = next(r for r in range(1, 8) if ws.cell(r, 1).value == "名次")
    assert [ws.cell(header + 1, c).value for c in (1, 2, 3, 4)] == [1, "南昌市", 3, 3]
