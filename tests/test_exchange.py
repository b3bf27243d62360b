"""Exchange with legacy systems and the national system: profiles, import, export, manifest, round trip."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pipeline_helpers import COUNTY, SCHOOL_A, SCHOOL_B, SCHOOL_C, Env, make_env
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor import samples
from processor.cli import main
from processor.exchange.exporter import ValueWriter, mask_id, mask_phone
from processor.exchange.manifest import read_manifest
from processor.exchange.profile import ProfileError, load_profile
from processor.exchange.samples import write_foreign
from processor.normalise import normaliser_for
from processor.paths import PROJECT_ROOT
from processor.store.models import ExchangeImport, RecordVersion, Submission, Teacher

SHIPPED = PROJECT_ROOT / "rules" / "exchange"
IMPORT = [sys.executable, "-c", "from processor.cli import main; main()", "exchange", "import"]


@pytest.fixture
def env(instance: Path, unit_workbook: Path) -> Env:
    e = make_env(instance, unit_workbook)
    yield e
    e.engine.dispose()


@pytest.fixture
def store_env(store_instance: Path, unit_workbook: Path) -> Env:
    e = make_env(store_instance, unit_workbook)
    yield e
    e.engine.dispose()


def _people(n: int, seed: int, school: tuple[str, str], taken: set[str]) -> list[tuple[Any, tuple[str, str]]]:
    info = samples.SchoolInfo(code=school[0], name=school[1])
    out = []
    for p in samples.generate_people(n, seed=seed, school=info, taken_ids=taken):
        out.append((p, school))
    return out


def _rare_names(people: list[tuple[Any, tuple[str, str]]]) -> None:
    """Names outside GBK: 䶮 (CJK Extension A) and 𠮷 (Extension B, four bytes in GB18030)."""
    for person, name in zip((p for p, _ in people[:2]), ("刘䶮", "𠮷祥"), strict=True):
        person.name = name
        person.basic["name"] = name


def _legacy_people(n: int, seed: int) -> list[tuple[Any, tuple[str, str]]]:
    """People of SCHOOL_A the legacy layout can carry, two of them with names outside GBK."""
    people = _people(n, seed, SCHOOL_A, set())
    _rare_names(people)
    for person, _school in people:  # the legacy layout has one 民主党派 for eight parties: not representable
        if person.basic["political_status"][0] not in ("01", "02", "03", "13"):
            person.basic["political_status"] = ("13",)
    return people


def _profile(env: Env, name: str) -> Any:
    return load_profile(SHIPPED / name, env.pack)


def _own_profiles(env: Env, tmp_path: Path, name: str, **changes: Any) -> Any:
    """A copy of a shipped profile with [profile] keys changed, used through [exchange] profiles."""
    base = tmp_path / "profiles"
    target = base / name
    if not target.exists():
        shutil.copytree(SHIPPED / name, target)
    text = (target / "profile.toml").read_text(encoding="utf-8")
    for key, value in changes.items():
        literal = json.dumps(value) if isinstance(value, str) else str(value).lower()
        lines = [f"{key} = {literal}" if line.startswith(f"{key} =") else line for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    (target / "profile.toml").write_text(text, encoding="utf-8")
    config = env.config_path.read_text(encoding="utf-8")
    if f'profiles = "{base}"' not in config:
        env.config_path.write_text(config.replace('profiles = ""', f'profiles = "{base}"'), encoding="utf-8")
    env.reload()
    return load_profile(target, env.pack)


def _import(env: Env, path: Path, profile: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["exchange", "import", str(path), "--profile", profile, "--format", "json",
                                       "--config", str(env.config_path), *extra])
    assert result.output.strip().startswith("{"), result.output
    return result.exit_code, json.loads(result.output)


def _export(env: Env, profile: str, out: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["exchange", "export", "--profile", profile, "--out", str(out), "--format",
                                       "json", "--config", str(env.config_path), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _records(env: Env, state: str = "effective") -> dict[tuple[str, str, int], dict[str, Any]]:
    with Session(env.engine) as s:
        rows = s.execute(select(Teacher.id_number, RecordVersion.category, RecordVersion.seq, RecordVersion.data)
                         .join(Teacher, Teacher.id == RecordVersion.teacher_id)
                         .where(RecordVersion.review_state == state))
        return {(n, c, q): d for n, c, q, d in rows}


def _legacy_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    header = ["教师编号", "姓名", "性别", "身份证号", "出生年月", "民族", "政治面貌", "参加工作时间", "调入本校时间", "学历",
              "职称", "任教学科", "是否在编", "学校代码", "学校名称", "联系电话"]
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(header)
        for r in rows:
            w.writerow([r.get(h, "") for h in header])
    return path


def _id(seq: int) -> str:
    return samples.make_id_number("360102", date(1980, 1, 1 + seq % 28), 101 + seq * 2)


LEGACY_ROW = {"姓名": "张伟 ", "性别": "男", "身份证号": _id(0), "出生年月": "198001", "民族": "汉",
              "政治面貌": "中共党员", "参加工作时间": "2003.9", "调入本校时间": "2010.9", "学历": "2", "职称": "中学一级",
              "任教学科": "语文", "是否在编": "是", "学校代码": SCHOOL_A[0], "学校名称": SCHOOL_A[1],
              "联系电话": "１３８０７９１２３４５"}


# ----------------------------------------------------------------------------------------------- profiles


def test_shipped_profiles_load_with_their_routes(env: Env) -> None:
    legacy, national = _profile(env, "legacy-2011"), _profile(env, "national")
    assert (legacy.format, legacy.encoding, legacy.layout, legacy.route) == ("csv", "gb18030", "flat", "pending")
    assert legacy.target_sheets() == ["basic", "study", "title", "contact"]
    assert (national.format, national.layout, national.route) == ("xlsx", "sheets", "effective")
    assert national.sheets[0].sheet == "basic" and len(national.sheets) == len(env.pack.sheets)


def test_bad_code_in_a_code_map_is_reported_with_file_and_line(env: Env, tmp_path: Path) -> None:
    target = tmp_path / "legacy-2011"
    shutil.copytree(SHIPPED / "legacy-2011", target)
    with (target / "codes" / "title.csv").open("a", encoding="utf-8") as fh:
        fh.write("中小学高级教师,77,both,\n")
    with pytest.raises(ProfileError) as err:
        load_profile(target, env.pack)
    assert "title.csv：第 8 行：代码“77”不在代码表《" in str(err.value)


def test_unknown_field_in_a_profile_is_reported_with_its_line(env: Env, tmp_path: Path) -> None:
    target = tmp_path / "legacy-2011"
    shutil.copytree(SHIPPED / "legacy-2011", target)
    text = (target / "profile.toml").read_text(encoding="utf-8").replace('"basic.ethnicity"', '"basic.nation"')
    (target / "profile.toml").write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"basic.nation"' in t)
    with pytest.raises(ProfileError) as err:
        load_profile(target, env.pack)
    assert f"profile.toml：第 {line} 行：工作表 basic 没有字段“nation”" in str(err.value)


def test_required_field_neither_mapped_nor_listed_absent_is_a_profile_error(env: Env, tmp_path: Path) -> None:
    target = tmp_path / "legacy-2011"
    shutil.copytree(SHIPPED / "legacy-2011", target)
    text = (target / "profile.toml").read_text(encoding="utf-8").replace('"staff_source", ', "")
    (target / "profile.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as err:
        load_profile(target, env.pack)
    assert "必填字段 basic.staff_source（教职工来源）既没有对应的列，也没有列在 [sheets.basic] absent 中" in str(err.value)


# ----------------------------------------------------------------------------------------------- import


def test_legacy_file_imports_pending_review_with_codes_mapped(env: Env, tmp_path: Path) -> None:
    rows = [dict(LEGACY_ROW, 身份证号=_id(i), 姓名=f"张伟{'一二三四五'[i]}") for i in range(5)]
    code, out = _import(env, _legacy_csv(tmp_path / "旧系统.csv", rows), "legacy-2011")
    assert (code, out["status"], out["route"], out["errors"]) == (0, "done", "pending", 0)
    assert out["sheets"] == {"basic": {"rows": 5, "stored": 5}, "study": {"rows": 5, "stored": 5},
                             "title": {"rows": 5, "stored": 5}, "contact": {"rows": 5, "stored": 5}}
    records = _records(env, "pending")
    basic = records[(_id(0), "basic", 1)]
    assert (basic["name"], basic["sex"], basic["ethnicity"], basic["political_status"]) == ("张伟一", "1", "01", ["01"])
    assert (basic["birth_date"], basic["work_start_month"], basic["school_entry_month"]) == (
        "1980-01-01", "2003-09", "2010-09")
    assert (basic["id_type"], basic["nationality"], basic["is_in_bianzhi"]) == ("1", "156", "1")
    assert records[(_id(0), "study", 1)]["education"] == "20"
    assert records[(_id(0), "title", 1)]["title"] == "3"
    assert records[(_id(0), "contact", 1)] == {"name": "张伟一", "id_number": _id(0),
                                               "mobile": "13807912345"}
    assert {t.status for t in env.teachers()} == {"pending"}


def test_national_file_imports_effective_directly(env: Env, tmp_path: Path) -> None:
    people = _people(12, 3, SCHOOL_A, set()) + _people(8, 4, SCHOOL_C, set())
    path = write_foreign(tmp_path / "全国.xlsx", _profile(env, "national"), env.pack, people)
    code, out = _import(env, path, "national")
    assert (code, out["errors"], out["route"]) == (0, 0, "effective")
    assert out["stored"] == out["rows"] and out["sheets"]["basic"] == {"rows": 20, "stored": 20}
    assert env.count(RecordVersion, RecordVersion.review_state != "effective") == 0
    assert {t.status for t in env.teachers()} == {"active"}
    assert {t.unit_code for t in env.teachers()} == {SCHOOL_A[0], SCHOOL_C[0]}


def test_unmapped_legacy_codes_are_errors_naming_value_and_entry(env: Env, tmp_path: Path) -> None:
    rows = [dict(LEGACY_ROW, 身份证号=_id(0)), dict(LEGACY_ROW, 身份证号=_id(1), 学历="7"),
            dict(LEGACY_ROW, 身份证号=_id(2), 职称="中小学高级教师"), dict(LEGACY_ROW, 身份证号=_id(3), 政治面貌="民主党派")]
    code, out = _import(env, _legacy_csv(tmp_path / "旧系统.csv", rows), "legacy-2011")
    assert code == 1
    unmapped = [f for f in out["findings"] if f["rule"] == "EXCHANGE-UNMAPPED"]
    assert [(f["row"], f["column"], f["value"]) for f in unmapped] == [(3, "J", "7"), (4, "K", "中小学高级教师"),
                                                                       (5, "G", "民主党派")]
    assert unmapped[0]["message"] == "获得学历“7”在交换档案 legacy-2011 的代码对照表 education.csv 中没有对应的代码"
    assert "codes/education.csv 中加一行“7,本系统代码,both,”" in unmapped[0]["hint"]
    assert "旧系统不区分民主党派" in unmapped[2]["message"] and unmapped[2]["hint"].endswith("本行未导入。")
    records = _records(env, "pending")
    assert (_id(1), "study", 1) not in records and (_id(1), "basic", 1) in records
    assert (_id(2), "title", 1) not in records and (_id(2), "study", 1) in records
    assert not any(k[0] == _id(3) for k in records)  # a flat row without its 基本信息 stores nothing
    report = Path(out["report"])
    assert report.exists() and json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))["errors"] == 3


def test_utf8_file_for_a_gb18030_profile_is_refused_before_storing(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "旧系统.csv"
    _legacy_csv(path, [dict(LEGACY_ROW)])
    path.write_text(path.read_bytes().decode("gb18030"), encoding="utf-8")
    code, out = _import(env, path, "legacy-2011")
    assert (code, out["status"]) == (2, "refused")
    assert "文件是 UTF-8 编码" in out["reason"] and "规定为 GB18030" in out["reason"]
    assert env.count(Submission) == 0 and env.count(ExchangeImport) == 0


def test_undecodable_bytes_are_refused_naming_the_line(env: Env, tmp_path: Path) -> None:
    path = _legacy_csv(tmp_path / "旧系统.csv", [dict(LEGACY_ROW), dict(LEGACY_ROW, 身份证号=_id(1))])
    data = path.read_bytes()
    path.write_bytes(data + "王".encode("gb18030")[:1] + b"\xff,\r\n")
    code, out = _import(env, path, "legacy-2011")
    assert code == 2 and "第 4 行有不能按 GB18030 解码的字节" in out["reason"]
    assert env.count(Submission) == 0


def test_missing_column_is_refused_naming_it(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "旧系统.csv"
    path.write_text("姓名,性别,学校代码\r\n张伟,男,3601020001\r\n", encoding="gb18030")
    code, out = _import(env, path, "legacy-2011")
    assert code == 2 and "缺少交换档案 legacy-2011 规定的列：身份证号" in out["reason"]
    assert env.count(Submission) == 0


def test_unknown_school_is_an_error_on_its_row(env: Env, tmp_path: Path) -> None:
    rows = [dict(LEGACY_ROW, 身份证号=_id(0)), dict(LEGACY_ROW, 身份证号=_id(1), 学校代码="3601029999"),
            dict(LEGACY_ROW, 身份证号=_id(2), 学校代码=COUNTY[0])]
    code, out = _import(env, _legacy_csv(tmp_path / "旧系统.csv", rows), "legacy-2011")
    assert code == 1
    schools = [(f["row"], f["column"], f["value"], f["message"]) for f in out["findings"]
               if f["rule"] == "EXCHANGE-SCHOOL-UNKNOWN"]
    assert schools == [(3, "N", "3601029999", "学校代码 3601029999 不在本系统的单位名录中，本行未导入"),
                       (4, "N", COUNTY[0], f"学校代码 {COUNTY[0]} 是东湖区，不是学校，本行未导入")]
    assert {t.id_number for t in env.teachers()} == {_id(0)}


def test_school_outside_the_unit_is_an_error_on_its_row(env: Env, tmp_path: Path) -> None:
    rows = [dict(LEGACY_ROW, 身份证号=_id(0)), dict(LEGACY_ROW, 身份证号=_id(1), 学校代码=SCHOOL_C[0])]
    code, out = _import(env, _legacy_csv(tmp_path / "旧系统.csv", rows), "legacy-2011", "--unit", COUNTY[0])
    assert code == 1 and [f["row"] for f in out["findings"] if f["rule"] == "EXCHANGE-SCHOOL-UNKNOWN"] == [3]
    outside = [f["message"] for f in out["findings"] if f["rule"] == "EXCHANGE-SCHOOL-UNKNOWN"]
    assert outside == [f"学校 {SCHOOL_C[1]}（{SCHOOL_C[0]}）不在单位 {COUNTY[0]} 的范围内，本行未导入"]


def test_same_file_again_is_not_stored_twice(env: Env, tmp_path: Path) -> None:
    path = _legacy_csv(tmp_path / "旧系统.csv", [dict(LEGACY_ROW, 身份证号=_id(i)) for i in range(3)])
    assert _import(env, path, "legacy-2011")[1]["status"] == "done"
    code, again = _import(env, path, "legacy-2011")
    assert (code, again["status"], again["stored"]) == (0, "duplicate", 12)
    assert env.count(RecordVersion) == 12


def test_duplicate_person_in_a_later_chunk_is_an_error(env: Env, tmp_path: Path) -> None:
    env.config_path.write_text(env.config_path.read_text(encoding="utf-8").replace("chunk_rows = 20000",
                                                                                   "chunk_rows = 2"), encoding="utf-8")
    env.reload()
    rows = [dict(LEGACY_ROW, 身份证号=_id(i)) for i in range(3)] + [dict(LEGACY_ROW, 身份证号=_id(0))]
    code, out = _import(env, _legacy_csv(tmp_path / "旧系统.csv", rows), "legacy-2011")
    assert (code, out["chunks"]) == (1, 2)
    dup = [f for f in out["findings"] if f["rule"] == "EXCHANGE-DUPLICATE"]
    assert [(f["row"], f["message"]) for f in dup] == [(5, f"身份证件号“{_id(0)}”在本文件第 2 行已经出现过")]
    assert env.count(Teacher) == 3 and env.count(RecordVersion, RecordVersion.category == "basic") == 3


def test_legacy_xls_variant_is_imported(env: Env, tmp_path: Path) -> None:
    import xlwt

    _own_profiles(env, tmp_path, "legacy-2011", format="xls")
    book = xlwt.Workbook()
    ws = book.add_sheet("教师")
    header = list(LEGACY_ROW)
    for c, h in enumerate(header):
        ws.write(0, c, h)
    for r in range(3):
        row = dict(LEGACY_ROW, 身份证号=_id(r))
        for c, h in enumerate(header):
            ws.write(r + 1, c, float(row[h]) if h in ("出生年月", "参加工作时间") else row[h])
    book.save(str(tmp_path / "旧系统.xls"))
    code, out = _import(env, tmp_path / "旧系统.xls", "legacy-2011")
    assert (code, out["errors"], out["sheets"]["basic"]) == (0, 0, {"rows": 3, "stored": 3})
    basic = _records(env, "pending")[(_id(0), "basic", 1)]
    assert (basic["birth_date"], basic["work_start_month"]) == ("1980-01-01", "2003-09")


def _kill_after(args: list[str], env_vars: dict[str, str], chunks: int) -> int:
    """Run `tmis exchange import` and SIGKILL it once it reports `chunks` committed chunks; its return code."""
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env_vars, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(f"已入库第 {chunks} 批"):
            proc.send_signal(signal.SIGKILL)
            break
    return proc.wait(timeout=300)


def test_killed_import_resumes_where_it_stopped_and_stores_nothing_twice(store_env: Env, tmp_path: Path) -> None:
    env = store_env
    people = _people(60, 7, SCHOOL_A, taken := set()) + _people(60, 8, SCHOOL_B, taken)
    path = write_foreign(tmp_path / "旧系统.csv", _profile(env, "legacy-2011"), env.pack, people)
    variables = dict(os.environ, TMIS_EXCHANGE_CHUNK_ROWS="10", TMIS_CONFIG=str(env.config_path))
    args = [*IMPORT, str(path), "--profile", "legacy-2011"]
    assert _kill_after(args, variables, 3) == -signal.SIGKILL
    with Session(env.engine) as s:
        state = s.scalars(select(ExchangeImport)).one()
        assert (state.status, state.rows) == ("running", 10 * state.chunks_done)
        assert 3 <= state.chunks_done < 12
        stored_then = s.scalar(select(func.count()).select_from(RecordVersion))
        assert stored_then == state.stored
    done = subprocess.run([*args, "--format", "json"], capture_output=True, text=True, env=variables, timeout=300)
    out = json.loads(done.stdout)
    assert (out["status"], out["resumed"], out["chunks"], out["rows"]) == ("done", 1, 12, 120)
    with Session(env.engine) as s:
        per_person = s.execute(select(RecordVersion.teacher_id, RecordVersion.category, func.count())
                               .group_by(RecordVersion.teacher_id, RecordVersion.category)).all()
    assert {n for *_, n in per_person} == {1}
    assert env.count(RecordVersion) == out["stored"] and env.count(Teacher) == out["sheets"]["basic"]["stored"]
    assert env.count(Submission) == 1


def test_resumed_import_gives_the_same_store_as_an_uninterrupted_one(env: Env, tmp_path: Path,
                                                                      runner: CliRunner) -> None:
    people = _people(40, 9, SCHOOL_A, set())
    path = write_foreign(tmp_path / "旧系统.csv", _profile(env, "legacy-2011"), env.pack, people)
    variables = dict(os.environ, TMIS_EXCHANGE_CHUNK_ROWS="8", TMIS_CONFIG=str(env.config_path))
    args = [*IMPORT, str(path), "--profile", "legacy-2011"]
    assert _kill_after(args, variables, 2) == -signal.SIGKILL
    subprocess.run(args, capture_output=True, env=variables, timeout=300, check=False)
    other = make_env(_fresh_instance(runner, tmp_path / "另一实例"), tmp_path / "单位.xlsx")
    try:
        _import(other, path, "legacy-2011")
        assert _records(env, "pending") == _records(other, "pending")
    finally:
        other.engine.dispose()


def _with_repeats(path: Path, at: list[int], school: tuple[str, str]) -> Path:
    """The CSV with its first data row (a person of SCHOOL_A) again after the given data rows, at ``school``."""
    lines = path.read_bytes().split(b"\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    again = rows[0].replace(SCHOOL_A[0].encode(), school[0].encode()).replace(
        SCHOOL_A[1].encode("gb18030"), school[1].encode("gb18030"))
    for n in sorted(at, reverse=True):
        rows.insert(n, again)
    path.write_bytes(b"\r\n".join([header, *rows]) + b"\r\n")
    return path


def test_import_validated_in_a_child_process_stores_and_reports_the_same(env: Env, tmp_path: Path, runner: CliRunner,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    people = _people(25, 12, SCHOOL_A, taken := set()) + _people(25, 13, SCHOOL_B, taken)
    path = write_foreign(tmp_path / "旧系统.csv", _profile(env, "legacy-2011"), env.pack, people)
    # The first person again at another school in the next chunk (validated while the first may still be
    # storing: its 一人一号 look-up must wait for that commit) and in a later one.
    _with_repeats(path, [12, 33], SCHOOL_B)
    monkeypatch.setenv("TMIS_EXCHANGE_CHUNK_ROWS", "10")
    monkeypatch.setenv("TMIS_EXCHANGE_WORKER_MB", "-1")
    code, alone = _import(env, path, "legacy-2011")
    other = make_env(_fresh_instance(runner, tmp_path / "另一实例"), tmp_path / "单位.xlsx")
    try:
        monkeypatch.setenv("TMIS_EXCHANGE_WORKER_MB", "0")
        code2, split = _import(other, path, "legacy-2011")
        assert _records(env, "pending") == _records(other, "pending")
        assert other.count(Teacher) == env.count(Teacher) == 50
    finally:
        other.engine.dispose()
    for out in (alone, split):
        del out["report"]
    assert (code, alone["chunks"]) == (code2, 6)
    assert alone == split
    again = [(f["row"], f["rule"]) for f in split["findings"] if f["row"] in (14, 36)]
    assert again == [(r, rule) for r in (14, 36) for rule in ["PERSON-CONFLICT"] + ["ROW-NOT-STORED"] * 3]


def test_killed_import_with_a_validating_child_resumes_and_stores_nothing_twice(store_env: Env, tmp_path: Path,
                                                                                runner: CliRunner) -> None:
    env = store_env
    people = _people(40, 14, SCHOOL_A, taken := set()) + _people(40, 15, SCHOOL_B, taken)
    path = write_foreign(tmp_path / "旧系统.csv", _profile(env, "legacy-2011"), env.pack, people)
    variables = dict(os.environ, TMIS_EXCHANGE_CHUNK_ROWS="8", TMIS_EXCHANGE_WORKER_MB="0",
                     TMIS_CONFIG=str(env.config_path))
    args = [*IMPORT, str(path), "--profile", "legacy-2011"]
    assert _kill_after(args, variables, 3) == -signal.SIGKILL
    with Session(env.engine) as s:
        state = s.scalars(select(ExchangeImport)).one()
        assert state.status == "running" and 3 <= state.chunks_done < 10
    done = subprocess.run([*args, "--format", "json"], capture_output=True, text=True, env=variables, timeout=300)
    out = json.loads(done.stdout)
    assert (out["status"], out["resumed"], out["chunks"], out["rows"]) == ("done", 1, 10, 80)
    other = make_env(_fresh_instance(runner, tmp_path / "另一实例"), tmp_path / "单位.xlsx")
    try:
        _import(other, path, "legacy-2011")
        assert _records(env, "pending") == _records(other, "pending")
        assert env.count(RecordVersion) == other.count(RecordVersion) == out["stored"]
    finally:
        other.engine.dispose()


def _stored_state(env: Env) -> dict[str, list[tuple[Any, ...]]]:
    """Every table an import writes, without ids and timestamps (rows keyed by identity number, category, seq and
    file name instead), sorted: two stores with the same content give the same value."""
    from processor.reports import facts
    from processor.store.models import (
        Finding as FindingRow,
    )
    from processor.store.models import (
        IntakePerson,
        NumberingUnit,
        ReportFact,
        TeacherFact,
        TeacherNumber,
    )

    with Session(env.engine) as s:
        files = {i: name for i, name in s.execute(select(Submission.id, Submission.original_name))}
        numbers = {i: n for i, n in s.execute(select(Teacher.id, Teacher.id_number))}
        versions = {vid: (numbers[tid], category, seq, files[sub], row) for vid, tid, category, seq, sub, row in s.execute(
            select(RecordVersion.id, RecordVersion.teacher_id, RecordVersion.category, RecordVersion.seq,
                   RecordVersion.submission_id, RecordVersion.source_row))}

        def rows(stmt: Any, key: Any) -> list[tuple[Any, ...]]:
            return sorted((key(r) for r in s.execute(stmt)), key=repr)

        out = {
            "teachers": rows(select(Teacher.id_type, Teacher.id_number, Teacher.name, Teacher.unit_code, Teacher.status,
                                    Teacher.teacher_number), tuple),
            "teacher_numbers": rows(select(TeacherNumber.number, TeacherNumber.prefix, TeacherNumber.teacher_id,
                                           TeacherNumber.unit_code), lambda r: (r[0], r[1], numbers[r[2]], r[3])),
            "numbering_units": rows(select(NumberingUnit.unit_code, NumberingUnit.division, NumberingUnit.unit_number),
                                    tuple),
            "record_versions": rows(select(RecordVersion.id, RecordVersion.unit_code, RecordVersion.source_sheet,
                                           RecordVersion.data, RecordVersion.review_state, RecordVersion.review_level,
                                           RecordVersion.review_unit),
                                    lambda r: (versions[r[0]], r[1], r[2], json.dumps(r[3], sort_keys=True), *r[4:])),
            "report_facts": rows(select(ReportFact.version_id, ReportFact.teacher_id, ReportFact.unit_code,
                                        ReportFact.category, ReportFact.sex, ReportFact.birth_year, ReportFact.ethnicity,
                                        ReportFact.employment, ReportFact.education, ReportFact.title,
                                        ReportFact.subject),
                                 lambda r: (versions[r[0]], numbers[r[1]], *r[2:])),
            "teacher_facts": rows(select(TeacherFact.teacher_id, TeacherFact.version_id, TeacherFact.unit_code,
                                         TeacherFact.state, TeacherFact.sex, TeacherFact.birth_year,
                                         TeacherFact.ethnicity, TeacherFact.employment, TeacherFact.education,
                                         TeacherFact.title, TeacherFact.subject),
                                  lambda r: (numbers[r[0]], versions[r[1]], *r[2:])),
            "intake_persons": rows(select(IntakePerson.submission_id, IntakePerson.unit_code, IntakePerson.id_number,
                                          IntakePerson.accepted), lambda r: (files[r[0]], *r[1:])),
            "findings": rows(select(FindingRow.submission_id, FindingRow.sheet, FindingRow.row, FindingRow.column,
                                    FindingRow.field, FindingRow.value, FindingRow.rule, FindingRow.severity,
                                    FindingRow.message, FindingRow.hint), lambda r: (files[r[0]], *r[1:])),
            "submissions": rows(select(Submission.original_name, Submission.status, Submission.rows,
                                       Submission.rows_stored, Submission.errors, Submission.warnings), tuple),
            "exchange_imports": rows(select(ExchangeImport.submission_id, ExchangeImport.chunks_done, ExchangeImport.rows,
                                            ExchangeImport.stored, ExchangeImport.errors, ExchangeImport.warnings,
                                            ExchangeImport.counts, ExchangeImport.status),
                                     lambda r: (files[r[0]], *r[1:6], json.dumps(r[6], sort_keys=True), r[7])),
        }
        out["stale teacher_facts"] = [(facts.stale(s.connection()),)]
    return out


def test_authoritative_import_stores_what_pending_then_settled_would(store_env: Env, tmp_path: Path,
                                                                     runner: CliRunner,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An authoritative profile's records are written effective at once; the store ends exactly as when the same
    files are imported pending and then settled (the way it was done before), superseding included."""
    from processor.review.intake import settle_unreviewed

    env = store_env
    people = _people(30, 21, SCHOOL_A, taken := set()) + _people(20, 22, SCHOOL_B, taken)
    first = write_foreign(tmp_path / "第一批.csv", _profile(env, "legacy-2011"), env.pack, people)
    again = people[:8] + [(people[9][0], SCHOOL_B)]  # 8 persons again, one of them now named at another school
    for person, _school in again[:4]:
        person.name = person.basic["name"] = person.name + "新"
    second = write_foreign(tmp_path / "第二批.csv", _profile(env, "legacy-2011"), env.pack, again, seed=2)
    monkeypatch.setenv("TMIS_EXCHANGE_CHUNK_ROWS", "7")
    _own_profiles(env, tmp_path, "legacy-2011", authoritative=True)
    other = make_env(_fresh_instance(runner, tmp_path / "另一实例"), tmp_path / "单位.xlsx")
    try:
        for path in (first, second):
            code, out = _import(env, path, "legacy-2011")
            assert (code, out["route"]) == (0 if out["errors"] == 0 else 1, "effective")
            _, pending = _import(other, path, "legacy-2011")  # the shipped profile: pending review
            assert pending["route"] == "pending"
            with Session(other.engine) as s, s.begin():
                settle_unreviewed(s, other.config, other.pack, pending["submission"])
        direct, settled = _stored_state(env), _stored_state(other)
        assert direct == settled
        assert env.count(RecordVersion, RecordVersion.review_state == "superseded") >= 8
        assert env.count(Teacher, Teacher.teacher_number.is_not(None)) == 50
        assert direct["stale teacher_facts"] == [(0,)]
    finally:
        other.engine.dispose()


def _fresh_instance(runner: CliRunner, folder: Path) -> Path:
    from conftest import write_unit_workbook

    assert runner.invoke(main, ["init", str(folder)]).exit_code == 0
    if not (folder.parent / "单位.xlsx").exists():
        write_unit_workbook(folder.parent / "单位.xlsx")
    return folder / "config.toml"


# ----------------------------------------------------------------------------------------------- export


def test_export_writes_the_layout_and_a_manifest(env: Env, tmp_path: Path) -> None:
    people = _people(10, 5, SCHOOL_A, set())
    _import(env, write_foreign(tmp_path / "全国.xlsx", _profile(env, "national"), env.pack, people), "national")
    out = _export(env, "legacy-2011", tmp_path / "导出.csv", "--unit", COUNTY[0])
    data = (tmp_path / "导出.csv").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.reader(data.decode("gb18030").splitlines()))
    assert rows[0][:4] == ["教师编号", "姓名", "性别", "身份证号"] and len(rows) == 11
    manifest = read_manifest(tmp_path / "导出.csv")
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() == out["sha256"]
    assert (manifest["rows"], manifest["profile"], manifest["profile_version"], manifest["encoding"]) == (
        10, "legacy-2011", "2026.1", "gb18030")
    assert manifest["since"] is None and manifest["until"] == out["until"] and manifest["personal_data"] == "full"


def test_export_masks_personal_data_for_a_profile_not_entitled(env: Env, tmp_path: Path) -> None:
    _own_profiles(env, tmp_path, "legacy-2011", personal_data=False, authoritative=True)
    number = samples.make_id_number("110101", date(1990, 3, 7), 123)
    row = dict(LEGACY_ROW, 身份证号=number, 出生年月="199003")
    assert _import(env, _legacy_csv(tmp_path / "旧系统.csv", [row]), "legacy-2011")[0] == 0
    out = _export(env, "legacy-2011", tmp_path / "导出.csv")
    row = list(csv.reader((tmp_path / "导出.csv").read_text(encoding="gb18030").splitlines()))[1]
    assert (row[3], row[13]) == (number[:6] + "********" + number[-4:], "138****2345")
    assert out["personal_data"] == "masked"
    assert (mask_id("110101199003071234"), mask_phone("13812345678/0791-6123456")) == (
        "110101********1234", "138****5678/079*****3456")


def test_utf8_sig_profile_exports_csv_with_a_bom(env: Env, tmp_path: Path) -> None:
    _own_profiles(env, tmp_path, "legacy-2011", encoding="utf-8-sig", authoritative=True)
    path = tmp_path / "旧系统.csv"
    _legacy_csv(path, [dict(LEGACY_ROW, 姓名="刘䶮")])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().decode("gb18030").encode("utf-8"))
    code, out = _import(env, path, "legacy-2011")
    assert (code, out["errors"]) == (0, 0), out["findings"]
    _export(env, "legacy-2011", tmp_path / "导出.csv")
    data = (tmp_path / "导出.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and "刘䶮" in data.decode("utf-8-sig")


def test_since_last_exports_only_what_changed_since_the_last_export(env: Env, tmp_path: Path) -> None:
    national = _profile(env, "national")
    taken: set[str] = set()
    first = _people(6, 11, SCHOOL_A, taken)
    _import(env, write_foreign(tmp_path / "一.xlsx", national, env.pack, first), "national")
    assert _export(env, "national", tmp_path / "全量.xlsx", "--since-last")["teachers"] == 6
    assert _export(env, "national", tmp_path / "无变化.xlsx", "--since-last")["rows"] == 0
    second = _people(3, 12, SCHOOL_B, taken)
    _import(env, write_foreign(tmp_path / "二.xlsx", national, env.pack, second), "national")
    changed = _export(env, "national", tmp_path / "变化.xlsx", "--since-last")
    assert changed["teachers"] == 3 and changed["since"] is not None
    from openpyxl import load_workbook

    ws = load_workbook(tmp_path / "变化.xlsx", read_only=True)["基本信息"]
    numbers = {r[0] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert numbers == {SCHOOL_B[0]}
    assert _export(env, "national", tmp_path / "按日期.xlsx", "--since", "2000-01-01")["teachers"] == 9


# ----------------------------------------------------------------------------------------------- round trip


def test_national_round_trip_gives_back_the_same_records(store_env: Env, tmp_path: Path, runner: CliRunner) -> None:
    env = store_env
    people = _people(15, 21, SCHOOL_A, taken := set()) + _people(10, 22, SCHOOL_C, taken)
    _rare_names(people)
    _import(env, write_foreign(tmp_path / "全国.xlsx", _profile(env, "national"), env.pack, people), "national")
    _export(env, "national", tmp_path / "导出.xlsx")
    other = make_env(_fresh_instance(runner, tmp_path / "另一实例"), tmp_path / "单位.xlsx")
    try:
        code, out = _import(other, tmp_path / "导出.xlsx", "national")
        assert (code, out["errors"]) == (0, 0)
        mine, theirs = _records(env), _records(other)
        assert len(mine) > 50 and theirs == mine
        assert {"刘䶮", "𠮷祥"} <= {d["name"] for (_n, c, _s), d in theirs.items() if c == "basic"}
    finally:
        other.engine.dispose()


def test_legacy_round_trip_in_gb18030_gives_back_the_same_records(env: Env, tmp_path: Path,
                                                                   runner: CliRunner) -> None:
    _own_profiles(env, tmp_path, "legacy-2011", authoritative=True)
    people = _legacy_people(20, 31)
    source = write_foreign(tmp_path / "旧系统.csv", _profile_in(env, tmp_path), env.pack, people)
    code, first = _import(env, source, "legacy-2011")
    assert (code, first["errors"]) == (0, 0)
    _export(env, "legacy-2011", tmp_path / "导出.csv")
    data = (tmp_path / "导出.csv").read_bytes()
    assert "𠮷祥".encode("gb18030") in data and "刘䶮".encode("gb18030") in data
    other = make_env(_fresh_instance(runner, tmp_path / "另一实例"), tmp_path / "单位.xlsx")
    try:
        other.config_path.write_text(other.config_path.read_text(encoding="utf-8").replace(
            'profiles = ""', f'profiles = "{tmp_path / "profiles"}"'), encoding="utf-8")
        other.reload()
        _import(other, tmp_path / "导出.csv", "legacy-2011")
        mine, theirs = _records(env), _records(other)
        assert len(mine) > 40 and theirs == mine
    finally:
        other.engine.dispose()


def _profile_in(env: Env, tmp_path: Path) -> Any:
    return load_profile(tmp_path / "profiles" / "legacy-2011", env.pack)


def test_every_code_of_every_code_table_round_trips_through_the_national_profile(env: Env) -> None:
    profile = _profile(env, "national")
    checked = 0
    for layout in profile.sheets:
        spec = env.pack.sheets[layout.sheet]
        for col in layout.columns:
            if col.role != "field":
                continue
            f = spec.field(col.field or "")
            if not f.is_coded:
                continue
            table = env.pack.tables[f.table or ""]
            writer = ValueWriter(profile, env.pack, layout.sheet, f, col)
            read = normaliser_for(f, table)
            for code in table.entries:
                value = [code] if f.type == "codes" else code
                cell = read(writer(value))
                assert cell.value == ((code,) if f.type == "codes" else code), (layout.sheet, f.code, code, cell)
                checked += 1
    assert checked > 1000


def test_teacher_number_key_finds_the_person_without_an_identity_number(env: Env, tmp_path: Path) -> None:
    _own_profiles(env, tmp_path, "legacy-2011", key="teacher_number", authoritative=True)
    number = "360102000000010001"
    first = _legacy_csv(tmp_path / "一.csv", [dict(LEGACY_ROW, 教师编号=number)])
    assert _import(env, first, "legacy-2011")[1]["errors"] == 0
    assert [(t.id_number, t.teacher_number) for t in env.teachers()] == [(_id(0), number)]
    second = _legacy_csv(tmp_path / "二.csv", [dict(LEGACY_ROW, 教师编号=number, 身份证号="", 职称="中学高级")])
    code, out = _import(env, second, "legacy-2011")
    assert (code, out["errors"]) == (0, 0)
    assert _records(env)[(_id(0), "title", 1)]["title"] == "2"
    assert env.count(Teacher) == 1


def test_profiles_command_lists_the_shipped_profiles(env: Env, runner: CliRunner) -> None:
    result = runner.invoke(main, ["exchange", "profiles", "--config", str(env.config_path)])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "legacy-2011：2011 年版省级教师管理系统导出，版本 2026.1，csv（gb18030），进入审核，可获得个人信息",
        "national：全国教师管理信息系统批量导入，版本 2026.1，xlsx，直接生效，可获得个人信息"]


# ----------------------------------------------------------------------------------------------- .xls export


def test_xls_profile_exports_real_biff8_that_round_trips_with_names_outside_gbk(env: Env, tmp_path: Path,
                                                                               runner: CliRunner) -> None:
    _own_profiles(env, tmp_path, "legacy-2011", authoritative=True)
    people = _legacy_people(12, 41)
    code, first = _import(env, write_foreign(tmp_path / "旧系统.csv", _profile_in(env, tmp_path), env.pack, people),
                          "legacy-2011")
    assert (code, first["errors"]) == (0, 0)
    _own_profiles(env, tmp_path, "legacy-2011", format="xls")
    out = _export(env, "legacy-2011", tmp_path / "导出.xls")
    data = (tmp_path / "导出.xls").read_bytes()
    assert data[:8] == bytes.fromhex("d0cf11e0a1b11ae1")  # an OLE2 compound file: BIFF8, not a renamed CSV
    import python_calamine

    sheet = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "导出.xls")).get_sheet_by_index(0).to_python()
    assert sheet[0][:4] == ["教师编号", "姓名", "性别", "身份证号"] and len(sheet) == 13
    assert {"刘䶮", "𠮷祥"} <= {row[1] for row in sheet[1:]}
    assert (out["rows"], out["more_files"]) == (12, [])
    other = make_env(_fresh_instance(runner, tmp_path / "另一实例"), tmp_path / "单位.xlsx")
    try:
        other.config_path.write_text(other.config_path.read_text(encoding="utf-8").replace(
            'profiles = ""', f'profiles = "{tmp_path / "profiles"}"'), encoding="utf-8")
        other.reload()
        code, again = _import(other, tmp_path / "导出.xls", "legacy-2011")
        assert (code, again["errors"], again["stored"]) == (0, 0, first["stored"])
        assert _records(other) == _records(env)
    finally:
        other.engine.dispose()


def test_xls_export_past_a_sheets_rows_continues_in_numbered_files_listed_in_the_manifest(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import python_calamine

    from processor.exchange import exporter

    monkeypatch.setattr(exporter, "XLS_DATA_ROWS", 4)  # 65,535 in production: the same code path, small
    _own_profiles(env, tmp_path, "legacy-2011", authoritative=True)
    _import(env, write_foreign(tmp_path / "旧系统.csv", _profile_in(env, tmp_path), env.pack,
                               _people(10, 43, SCHOOL_A, set())), "legacy-2011")
    _own_profiles(env, tmp_path, "legacy-2011", format="xls")
    out = _export(env, "legacy-2011", tmp_path / "导出.xls")
    assert out["more_files"] == [str(tmp_path / "导出_2.xls"), str(tmp_path / "导出_3.xls")]
    manifest = read_manifest(tmp_path / "导出.xls")
    assert [(p["file"], p["rows"]) for p in manifest["parts"]] == [("导出.xls", 4), ("导出_2.xls", 4), ("导出_3.xls", 2)]
    for part in manifest["parts"]:
        data = (tmp_path / part["file"]).read_bytes()
        assert part["sha256"] == hashlib.sha256(data).hexdigest()
        rows = python_calamine.CalamineWorkbook.from_path(str(tmp_path / part["file"])).get_sheet_by_index(0).to_python()
        assert rows[0][:2] == ["教师编号", "姓名"] and len(rows) == part["rows"] + 1
    assert "分为 3 个文件" in manifest["split"] and manifest["rows"] == 10
