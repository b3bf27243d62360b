"""Ingest into the store (SQLite and PostgreSQL): accept modes, persons, re-sending, 一人一号, findings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pipeline_helpers import COUNTY, SCHOOL_A, SCHOOL_B, Env, make_env, people, workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from processor.ingest import StoreLookupImpl, json_safe
from processor.pipeline import process_file
from processor.store.models import Finding, RecordVersion, Submission, Teacher


@pytest.fixture(params=["one-process", "child"])
def env(request: pytest.FixtureRequest, store_instance: Path, unit_workbook: Path,
        monkeypatch: pytest.MonkeyPatch) -> Env:
    """Every test twice: validated in this process, and in a forked child while this process stores
    (processor/forked.py, used for big files): the outcomes must be the same."""
    e = make_env(store_instance, unit_workbook)
    used: list[int] = []
    if request.param == "child":
        from processor import forked

        monkeypatch.setenv("TMIS_INTAKE_PARALLEL_MIN_MB", "0")  # kept by the tests' own reloads
        e.reload()
        monkeypatch.setattr(forked, "available", lambda: True)  # a one-core machine too
        real = forked.validate

        def validate(*args, **kw):  # type: ignore[no-untyped-def]
            used.append(1)
            return real(*args, **kw)

        monkeypatch.setattr(forked, "validate", validate)
    yield e
    if request.param == "child" and e.submissions():
        assert used, "the forked child was not used"
    e.engine.dispose()


def _send(env: Env, tmp_path: Path, name: str, persons: list, **kw):  # type: ignore[no-untyped-def]
    path = tmp_path / "drop" / name
    injected = workbook(env, path, persons, **kw)
    return process_file(path, env.config, env.pack, env.engine), injected


def test_clean_file_is_accepted_with_every_row_pending_at_the_county(env: Env, tmp_path: Path) -> None:
    persons = people(6, seed=21)
    out, _ = _send(env, tmp_path, "教师信息.xlsx", persons)
    assert (out.status, out.errors) == ("accepted", 0)
    assert out.stored == out.rows > 6
    versions = env.versions()
    assert len(versions) == out.rows
    assert {(v.review_state, v.review_level, v.review_unit, v.unit_code, v.submission_id) for v in versions} == {
        ("pending", "county", COUNTY[0], SCHOOL_A[0], out.submission_id)}
    teachers = env.teachers()
    assert sorted(t.id_number for t in teachers) == sorted(p.id_number for p in persons)
    assert {(t.status, t.unit_code, t.id_type) for t in teachers} == {("pending", SCHOOL_A[0], "1")}
    assert Counter(v.category for v in versions)["basic"] == 6
    (sub,) = env.submissions()
    assert (sub.status, sub.rows, sub.rows_stored, sub.kind, sub.unit_code) == (
        "accepted", out.rows, out.rows, "teachers", SCHOOL_A[0])


def test_record_data_is_json_with_iso_dates_and_source_cells(env: Env, tmp_path: Path) -> None:
    persons = people(2, seed=22)
    _send(env, tmp_path, "教师信息.xlsx", persons)
    basic = env.versions(RecordVersion.category == "basic")
    by_number = {v.data["id_number"]: v for v in basic}
    first = by_number[persons[0].id_number]
    assert first.data["birth_date"] == persons[0].birth_date.isoformat()
    assert first.data["name"] == persons[0].name
    assert (first.source_sheet, first.seq) == ("基本信息", 1)
    assert (by_number[persons[0].id_number].source_row, by_number[persons[1].id_number].source_row) == (2, 3)
    assert json_safe((1, "a")) == [1, "a"]


def test_seq_numbers_a_persons_rows_of_a_sheet(env: Env, tmp_path: Path) -> None:
    _send(env, tmp_path, "教师信息.xlsx", people(5, seed=23))
    for v_list in _by_teacher_and_category(env).values():
        rows = sorted(v_list, key=lambda v: v.source_row)
        assert [v.seq for v in rows] == list(range(1, len(rows) + 1))


def _by_teacher_and_category(env: Env) -> dict[tuple[int, str], list[RecordVersion]]:
    out: dict[tuple[int, str], list[RecordVersion]] = {}
    for v in env.versions():
        out.setdefault((v.teacher_id, v.category), []).append(v)
    return out


def test_row_mode_stores_the_rows_without_errors(env: Env, tmp_path: Path) -> None:
    out, injected = _send(env, tmp_path, "教师信息.xlsx", people(8, seed=24), mistakes=[("unknown_code", 1)])
    assert out.status == "partial"
    (bad,) = [i for i in injected if i.mistake == "unknown_code"]
    stored_rows = {(v.source_sheet, v.source_row) for v in env.versions()}
    assert (bad.sheet, bad.row) not in stored_rows
    assert out.stored == len(stored_rows) == env.count(RecordVersion)
    assert out.rows - out.stored >= 1


def test_all_mode_stores_nothing_when_a_row_has_errors(env: Env, tmp_path: Path) -> None:
    env.reload(TMIS_INTAKE_ACCEPT_MODE="all")
    out, _ = _send(env, tmp_path, "教师信息.xlsx", people(5, seed=25), mistakes=[("unknown_code", 1)])
    assert (out.status, out.stored) == ("rejected", 0)
    assert env.count(RecordVersion) == 0 and env.count(Teacher) == 0
    (sub,) = env.submissions()
    assert sub.message == "按“全有或全无”方式接收：文件中有错误，整份文件未入库。"


def test_all_mode_accepts_a_clean_file(env: Env, tmp_path: Path) -> None:
    env.reload(TMIS_INTAKE_ACCEPT_MODE="all")
    out, _ = _send(env, tmp_path, "教师信息.xlsx", people(3, seed=26))
    assert out.status == "accepted" and out.stored == out.rows == env.count(RecordVersion)


def test_rows_of_a_person_whose_basic_row_is_wrong_are_not_stored(env: Env, tmp_path: Path) -> None:
    persons = people(6, seed=27)
    out, injected = _send(env, tmp_path, "教师信息.xlsx", persons, mistakes=[("missing_required", 1)])
    (bad,) = [i for i in injected if i.mistake == "missing_required"]
    number = persons[bad.person].id_number
    assert all(v.data.get("id_number") != number for v in env.versions())
    assert all(t.id_number != number for t in env.teachers())
    with Session(env.engine) as s:
        warned = s.scalars(select(Finding).where(Finding.submission_id == out.submission_id,
                                                 Finding.rule == "ROW-NOT-STORED")).all()
    assert warned and {f.value for f in warned} == {number}
    assert {f.severity for f in warned} == {"warning"}
    assert warned[0].message == f"本行暂未入库：该人员的基本信息（第 {bad.row} 行）有错误"
    assert warned[0].hint == f"请先改正基本信息工作表第 {bad.row} 行的错误，再重新报送整份文件。"
    # every other person is stored
    assert len(env.teachers()) == 5


def test_resend_replaces_the_pending_versions(env: Env, tmp_path: Path) -> None:
    persons = people(5, seed=28)
    first, _ = _send(env, tmp_path, "教师信息.xlsx", persons, seed=1)
    pending = env.count(RecordVersion, RecordVersion.review_state == "pending")
    second, _ = _send(env, tmp_path, "教师信息（修改后）.xlsx", persons, seed=2)
    assert second.submission_id != first.submission_id and second.status == "accepted"
    assert env.count(RecordVersion, RecordVersion.review_state == "pending") == pending
    assert env.count(RecordVersion, RecordVersion.review_state == "superseded") == first.stored
    assert {v.submission_id for v in env.versions(RecordVersion.review_state == "pending")} == {second.submission_id}
    assert len(env.teachers()) == 5


def test_corrected_file_after_errors_replaces_what_was_stored(env: Env, tmp_path: Path) -> None:
    persons = people(5, seed=29)
    first, _ = _send(env, tmp_path, "教师信息.xlsx", persons, mistakes=[("unknown_code", 1)])
    second, _ = _send(env, tmp_path, "教师信息（修改后）.xlsx", persons)
    assert (first.status, second.status) == ("partial", "accepted")
    assert env.count(RecordVersion, RecordVersion.review_state == "pending") == second.stored
    assert env.count(RecordVersion, RecordVersion.review_state == "superseded") == first.stored


def test_person_held_by_another_school_is_a_conflict(env: Env, tmp_path: Path) -> None:
    taken: set[str] = set()
    at_a = people(3, seed=30, taken=taken)
    _send(env, tmp_path, "一中.xlsx", at_a)
    at_b = people(2, seed=31, school=SCHOOL_B, taken=taken) + [at_a[0]]
    out, _ = _send(env, tmp_path, "豫章小学.xlsx", at_b, school=SCHOOL_B)
    assert out.status == "partial"
    with Session(env.engine) as s:
        conflicts = s.scalars(select(Finding).where(Finding.submission_id == out.submission_id,
                                                    Finding.rule == "PERSON-CONFLICT")).all()
        holder = s.scalars(select(Teacher).where(Teacher.id_number == at_a[0].id_number)).one()
    assert [(f.sheet, f.severity, f.field) for f in conflicts] == [("基本信息", "error", "id_number")]
    assert SCHOOL_A[1] in conflicts[0].message
    assert holder.unit_code == SCHOOL_A[0]
    b_versions = env.versions(RecordVersion.submission_id == out.submission_id)
    assert all(v.teacher_id != holder.id for v in b_versions)
    assert {t.unit_code for t in env.teachers()} == {SCHOOL_A[0], SCHOOL_B[0]}
    assert len(env.teachers()) == 5


def test_unit_that_is_not_a_school_is_rejected(env: Env, tmp_path: Path) -> None:
    out, _ = _send(env, tmp_path, "区教育局.xlsx", people(2, seed=32), school=COUNTY)
    assert (out.status, out.stored) == ("rejected", 0)
    (sub,) = env.submissions()
    assert sub.message == "模板中的单位 东湖区（360102）不是学校，教师信息应由学校报送"
    assert env.count(RecordVersion) == 0


def test_findings_are_saved_with_the_submission(env: Env, tmp_path: Path) -> None:
    out, injected = _send(env, tmp_path, "教师信息.xlsx", people(6, seed=33),
                          mistakes=[("id_checksum", 1), ("unknown_code", 1)])
    with Session(env.engine) as s:
        rows = s.scalars(select(Finding).where(Finding.submission_id == out.submission_id)).all()
        sub = s.get(Submission, out.submission_id)
    cells = {(f.sheet, f.row, f.column, f.rule) for f in rows}
    for i in injected:
        assert (i.sheet, i.row, i.column, i.rule) in cells
    assert sub.errors == sum(1 for f in rows if f.severity == "error") == out.errors
    assert sub.warnings == sum(1 for f in rows if f.severity == "warning") == out.warnings


def test_store_lookup_finds_persons_elsewhere_and_known(env: Env, tmp_path: Path) -> None:
    persons = people(3, seed=34)
    _send(env, tmp_path, "教师信息.xlsx", persons)
    lookup = StoreLookupImpl(env.engine)
    keys = [("1", persons[0].id_number), (None, persons[1].id_number), ("1", "110101199003070012")]
    assert lookup.persons_elsewhere(keys, SCHOOL_B[0]) == {
        ("1", persons[0].id_number): SCHOOL_A, (None, persons[1].id_number): SCHOOL_A}
    assert lookup.persons_elsewhere(keys, SCHOOL_A[0]) == {}
    assert lookup.persons_known(keys) == {("1", persons[0].id_number), (None, persons[1].id_number)}
    assert lookup.persons_known([("2", persons[0].id_number)]) == set()


def test_sub_record_of_a_person_whose_basic_row_has_a_bad_number_points_at_that_row(
        instance: Path, unit_workbook: Path, tmp_path: Path) -> None:
    env = make_env(instance, unit_workbook)
    injected = workbook(env, tmp_path / "a.xlsx", people(3, seed=8), mistakes=[("id_checksum", 1)])
    bad_row = injected[0].row
    outcome = process_file(tmp_path / "a.xlsx", env.config, env.pack, env.engine)
    report = next((env.outbox / "3601020001").glob("*.json")).read_text(encoding="utf-8")
    env.engine.dispose()
    assert outcome.status == "partial"
    assert f"基本信息第 {bad_row} 行（同名人员" in report
    assert "在本文件的基本信息中没有记录" not in report


def _small_chunks(env: Env, monkeypatch: pytest.MonkeyPatch, rows: int) -> list[tuple[str, int]]:
    """The pipeline's validator in chunks of ``rows`` rows; returns the (sheet, rows) of every chunk ingested."""
    import processor.ingest as ingest_module
    from processor import pipeline

    validator = pipeline._validator(env.pack, env.engine, env.config.today, int(env.config.get("check", "max_findings")))
    monkeypatch.setattr(validator, "chunk_rows", rows)
    seen: list[tuple[str, int]] = []
    real_add = ingest_module.Ingest.add

    def add(self: ingest_module.Ingest, sheet_id: str, records: list) -> None:  # type: ignore[type-arg]
        seen.append((sheet_id, len(records)))
        real_add(self, sheet_id, records)

    monkeypatch.setattr(ingest_module.Ingest, "add", add)
    return seen


def test_rows_are_stored_chunk_by_chunk_as_the_engine_validates_them(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = _small_chunks(env, monkeypatch, 3)
    out, _ = _send(env, tmp_path, "教师信息.xlsx", people(8, seed=31))
    assert [n for sheet, n in chunks if sheet == "basic"] == [3, 3, 2]  # 8 基本信息 rows, handed over 3 at a time
    assert chunks[0][0] == "basic" and sum(n for _, n in chunks) == out.rows
    assert (out.status, out.stored) == ("accepted", out.rows) and env.count(RecordVersion) == out.rows
    for v_list in _by_teacher_and_category(env).values():  # a person's rows of a sheet may span two chunks
        rows = sorted(v_list, key=lambda v: v.source_row)
        assert [v.seq for v in rows] == list(range(1, len(rows) + 1))
    assert sorted(t.id_number for t in env.teachers()) == sorted({v.data["id_number"] for v in env.versions()})


def test_chunked_ingest_keeps_a_wrong_basic_rows_person_out_of_later_chunks(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _small_chunks(env, monkeypatch, 2)
    persons = people(6, seed=27)
    out, injected = _send(env, tmp_path, "教师信息.xlsx", persons, mistakes=[("missing_required", 1)])
    (bad,) = [i for i in injected if i.mistake == "missing_required"]
    number = persons[bad.person].id_number
    assert all(v.data.get("id_number") != number for v in env.versions())
    assert len(env.teachers()) == 5 and all(t.id_number != number for t in env.teachers())
    with Session(env.engine) as s:
        warned = s.scalars(select(Finding).where(Finding.submission_id == out.submission_id,
                                                 Finding.rule == "ROW-NOT-STORED")).all()
    assert warned and {f.value for f in warned} == {number}
    assert warned[0].message == f"本行暂未入库：该人员的基本信息（第 {bad.row} 行）有错误"


def test_number_map_keys_standard_numbers_compactly_and_keeps_the_others_apart() -> None:
    from processor.ingest import NumberMap

    m = NumberMap()
    m["36010219800101001X"] = 1
    m["360102198001010012"] = 2
    m["E12345678"] = 3  # a passport number: kept as text
    m["３６０１０２１９８００１０１００１２"] = 4  # full-width digits are not the same number
    assert (m["36010219800101001X"], m["360102198001010012"], m["E12345678"]) == (1, 2, 3)
    assert m.get("３６０１０２１９８００１０１００１２", 0) == 4 and len(m) == 4
    assert "36010219800101001x" not in m  # numbers arrive normalised (upper-case X)
    assert m.missing({"360102198001010012", "360102198001010020", "E12345678"}) == {"360102198001010020"}


def test_number_map_finds_and_updates_numbers_after_they_were_folded_into_its_arrays() -> None:
    from processor.ingest import NumberMap
    from processor.samples import id_check_digit

    numbers = []
    for i in range(2 * NumberMap.FOLD + 10):  # two folds and a few numbers still in the dict
        first17 = f"360102{1960 + i % 40}{1 + i // 1000 % 12:02d}{1 + i // 12000 % 28:02d}{i % 1000:03d}"
        numbers.append(first17 + id_check_digit(first17))
    assert len(set(numbers)) == len(numbers)
    m = NumberMap()
    for n in numbers:
        m[n] = 0
    for i, n in enumerate(numbers):  # the teacher ids come after the person was met, most from the arrays
        m[n] = i + 1
    m["E12345678"] = 5
    assert len(m) == len(numbers) + 1
    assert [m[n] for n in numbers] == list(range(1, len(numbers) + 1))
    assert m.get(numbers[0], -1) == 1 and m.get("360102199001011230", -1) == -1
    assert m.missing({numbers[5], numbers[-1], "360102199001011230"}) == {"360102199001011230"}
