"""`tmis demo`: a demo province end to end, the pipeline run once, a summary of where everything went."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from processor.cli import main
from processor.config import load_config
from processor.demo import UNITS_CSV, demo_schools, load_units, run_demo
from processor.store.db import open_store, session_scope
from processor.store.models import Finding, Submission, Unit


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """One small demo through the CLI (real LibreOffice for the .xls when installed)."""
    root = tmp_path_factory.mktemp("demo") / "演示"
    result = CliRunner().invoke(main, ["demo", "--dir", str(root), "--schools", "5", "--seed", "7"])
    return root, result


def test_demo_units_are_real_jiangxi_divisions_with_valid_parents():
    rows = load_units()
    codes = {c for c, _, _ in rows}
    assert ("360000", "江西省", "") in rows
    assert ("360100", "南昌市", "360000") in rows
    assert ("360102", "东湖区", "360100") in rows
    for code, _name, parent in rows[1:]:
        assert parent in codes
        if len(code) == 6:
            assert code[:4] == parent[:4] or parent == "360000"
    schools = [r for r in rows if len(r[0]) == 10]
    assert len(schools) >= 50
    assert all(c[:2] in ("21", "31", "34") and c[2:4] == "36" for c, _, _ in schools)
    assert UNITS_CSV.read_text(encoding="utf-8").startswith("代码,名称,上级代码\n")


def test_demo_schools_beyond_the_list_are_synthesised_under_real_counties():
    schools = demo_schools(60)
    assert len({s.code for s in schools}) == 60
    counties = {c for c, _, _ in load_units() if len(c) == 6}
    assert all(s.county_code in counties for s in schools)


def test_demo_runs_end_to_end_and_says_where_outputs_went(demo_run):
    root, result = demo_run
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"演示完成：{root.resolve()}" in out
    assert f"{root.resolve() / 'outbox'}/" in out
    assert f"{root.resolve() / 'var' / 'archive'}/" in out
    assert f"{root.resolve() / 'var' / 'quarantine'}/" in out
    assert "数据库：sqlite:///" in out
    assert "接下来可以试试" in out and "tmis units show 360000" in out
    assert "重复提交：教师信息采集表_" in out
    assert "不是表格的文件：东湖区教师培训通知（扫描件）.pdf → 无法识别" in out
    assert list((root / "inbox").iterdir()) == []
    assert "发来邮件“新任教师信息报送”，附件 " in out and "_新任教师.xlsx → 已接收" in out
    assert "逐级审核：" in out and "回执单处理结果：已采用" in out
    assert "省级报表（由库中数据生成，每个数字可追溯）：" in out
    assert "培训学分：" in out and "的学分计入学分银行" in out and "tmis credits show " in out
    assert "  月报表：" in out and "  工作总结：" in out and "  通报：" in out and "  月报填报表（发给各设区市）：共 " in out


def test_demo_files_all_end_archived_or_quarantined(demo_run):
    root, result = demo_run
    assert result.exit_code == 0, result.output
    config = load_config(root / "config.toml", required=True)
    with session_scope(open_store(config)) as session:
        subs = session.scalars(select(Submission)).all()
        statuses = sorted(s.status for s in subs)
        units = session.scalars(select(Unit.code)).all()
    # 5 schools + the re-sent copy (answered as a duplicate, not stored again) + the PDF + one school's mail
    # + the county's return sheet sent back + the county's training plan, its provider's result sheet and the
    # county's confirmation of it.
    assert len(subs) == 11
    assert sorted((s.kind, s.status) for s in subs if s.kind in ("training-plan", "training-result", "confirm-sheet")) == [
        ("confirm-sheet", "applied"), ("training-plan", "accepted"), ("training-result", "accepted")]
    assert [(s.channel, s.status) for s in subs if s.channel == "mail"] == [("mail", "accepted")]
    assert [s.status for s in subs if s.kind == "return-sheet"] == ["applied"]
    assert "unreadable" in statuses
    for sub in subs:
        assert Path(sub.archived_path).exists(), sub.original_name
    assert "360000" in units and len([u for u in units if len(u) == 10]) == 5
    quarantined = [p for p in (root / "var" / "quarantine").iterdir() if not p.name.endswith(".reason.txt")]
    assert [p.name.split("__", 1)[1] for p in quarantined] == ["东湖区教师培训通知（扫描件）.pdf"]
    xls_sent = shutil.which("soffice") is not None
    assert any(s.original_name.endswith(".xls") for s in subs) == xls_sent


def test_demo_findings_are_exactly_the_injected_mistakes(tmp_path: Path):
    result = run_demo(tmp_path / "d", schools=6, seed=11, xls=False)
    config = load_config(result.config_path, required=True)
    with session_scope(open_store(config)) as session:
        found: dict[str, set[tuple]] = {}
        for sub, f in session.execute(select(Submission, Finding).join(Finding, Finding.submission_id == Submission.id)):
            if f.sheet is not None and f.rule != "ROW-NOT-STORED":
                found.setdefault(sub.original_name, set()).add((f.sheet, f.row, f.column, f.rule))
    checked = 0
    for demo_file in result.files:
        if demo_file.scenario not in ("clean", "mistakes", "new-teachers"):
            continue
        want = {(i.sheet, i.row, i.column, i.rule) for i in demo_file.injected if i.rule}
        assert found.get(demo_file.name, set()) == want, demo_file.name
        checked += 1
    assert checked == 5


def test_demo_refuses_an_existing_demo_without_force_and_resets_with_it(tmp_path: Path):
    root = tmp_path / "d"
    run_demo(root, schools=2, seed=3)  # as the command runs it (an .xls through LibreOffice where it is installed)
    config = load_config(root / "config.toml", required=True)
    with session_scope(open_store(config)) as session:
        first = sorted((s.original_name, s.status) for s in session.scalars(select(Submission)))
        first_done = max(s.received_at for s in session.scalars(select(Submission)))
    again = CliRunner().invoke(main, ["demo", "--dir", str(root), "--schools", "2"])
    assert again.exit_code == 2
    assert "演示目录已存在，未作任何改动" in again.output and "--force" in again.output
    forced = CliRunner().invoke(main, ["demo", "--dir", str(root), "--schools", "2", "--seed", "3", "--force"])
    assert forced.exit_code == 0, forced.output
    with session_scope(open_store(config)) as session:
        # Every file of the demo once, as after the first run: the reset started from an empty database.
        again_rows = sorted((s.original_name, s.status) for s in session.scalars(select(Submission)))
        oldest = min(s.received_at for s in session.scalars(select(Submission)))
    assert again_rows == first
    assert oldest > first_done


def test_demo_never_touches_a_folder_it_did_not_make(tmp_path: Path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "成绩.xlsx").write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["demo", "--dir", str(root), "--force"])
    assert result.exit_code == 2
    assert "不是 tmis demo 建立的演示目录，未作任何改动" in result.output
    assert [p.name for p in root.iterdir()] == ["成绩.xlsx"]


def test_demo_csv_is_a_gb18030_legacy_export(demo_run):
    root, result = demo_run
    assert result.exit_code == 0, result.output
    archived = [p for p in (root / "var" / "archive").rglob("*.csv")]
    assert len(archived) == 1
    rows = list(csv.reader(archived[0].read_bytes().decode("gb18030").splitlines()))
    assert rows[0][:3] == ["姓名", "曾用名", "性别"] and len(rows) > 8


def test_demo_renders_the_provinces_reports_from_the_store(demo_run):
    root, result = demo_run
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (root / "outbox" / "360000").iterdir())
    for title in ("月报表", "工作总结", "通报"):
        assert [n.rsplit(".", 1)[1] for n in names if n.startswith(f"{title}_江西省_")] == ["pdf", "xlsx"]
    forms = sorted((root / "outbox").glob("36??00/月报填报表_*.xlsx"))  # one for each of the 11 cities
    assert [p.parent.name for p in forms] == [f"36{n:02d}00" for n in range(1, 12)]
