"""Sanity of the rule-pack data: code tables, sheet names, field specifications, rule texts."""

from __future__ import annotations

import csv
import datetime
import re
import tomllib

import pytest
from jinja2.sandbox import SandboxedEnvironment

from processor.paths import CORE_RULES_DIR, PROJECT_ROOT
from processor.rulepack import RulePack, load_pack
from processor.rulepack.model import MULTI_SEPARATORS, fold_name

CODES_DIR = CORE_RULES_DIR / "codes"
TABLE_FILES = sorted(p for p in CODES_DIR.glob("*.csv") if not p.name.endswith(".historical.csv"))

# The 0-无 / 00-无 codes fields.md requires (its S1 conventions and the per-sheet tables).
NONE_CODES = {
    "education": "0", "degree_level": "0", "tech_position": "0", "qualification_type": "0", "teach_stage": "0",
    "project_type": "0", "book_type": "00", "reward_type": "0", "artwork_type": "0", "patent_type": "0",
    "talent_project": "00", "certificate_type": "0", "rotation_type": "0", "school_post": "00",
    "concurrent_post_category": "0", "concurrent_duty": "00", "public_funded_normal": "0",
    "grassroots_service": "0", "psychology_teacher": "0",
}
# Tables whose names legitimately repeat (the standard heads 30 and 40 both 有慢性病).
SHARED_NAMES = {"health_detailed"}


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(CORE_RULES_DIR)


def _rows(path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("path", TABLE_FILES, ids=lambda p: p.stem)
def test_code_table_codes_are_unique_and_named(path) -> None:
    rows = _rows(path)
    codes = [r["code"] for r in rows]
    assert rows and list(rows[0])[:2] == ["code", "name"]
    assert len(codes) == len(set(codes))
    assert [c for c in codes if not c.strip() or c != c.strip()] == []
    assert [r["code"] for r in rows if not r["name"].strip()] == []


@pytest.mark.parametrize("path", [p for p in TABLE_FILES if p.stem not in SHARED_NAMES], ids=lambda p: p.stem)
def test_code_table_names_and_aliases_point_to_one_code(path) -> None:
    owner: dict[str, str] = {}
    clashes = []
    for row in _rows(path):
        for name in (row["name"], *(a for a in (row.get("aliases") or "").split("|") if a)):
            key = fold_name(name)
            if owner.setdefault(key, row["code"]) != row["code"]:
                clashes.append(name)
    assert clashes == []


def test_code_table_files_are_utf8_without_bom_and_lf() -> None:
    bad = [p.name for p in CODES_DIR.glob("*.csv") if p.read_bytes().startswith(b"\xef\xbb\xbf")
           or b"\r\n" in p.read_bytes()]
    assert bad == []


def test_every_table_is_described_in_tables_toml() -> None:
    meta = tomllib.loads((CODES_DIR / "tables.toml").read_text(encoding="utf-8"))
    assert set(meta) == {p.stem for p in TABLE_FILES}
    incomplete = [t for t, m in meta.items() if not (m.get("title") and m.get("source"))
                  or m.get("confidence") not in ("C", "P", "U")]
    assert incomplete == []


def test_every_table_is_in_the_codes_readme() -> None:
    readme = (CODES_DIR / "README.md").read_text(encoding="utf-8")
    assert [p.stem for p in TABLE_FILES if p.stem not in readme] == []


def test_none_codes_are_present(pack: RulePack) -> None:
    missing = [(t, c) for t, c in NONE_CODES.items() if c not in pack.tables[t].entries]
    assert missing == []
    assert {pack.tables[t].entries[c].name for t, c in NONE_CODES.items()} <= {"无", "否", "无其他岗位类别"}


def test_yesno_is_zero_no_one_yes(pack: RulePack) -> None:
    assert {c: e.name for c, e in pack.tables["yesno"].entries.items()} == {"0": "否", "1": "是"}


def test_post_grades_come_in_families(pack: RulePack) -> None:
    codes = list(pack.tables["post_grade"].entries)
    assert sum(c.startswith("1") for c in codes) == 13
    assert sum(c.startswith("2") for c in codes) == 10
    assert sum(c.startswith("3") for c in codes) == 6
    assert {"998", "999"} <= set(codes)


def test_degree_names_start_with_their_level(pack: RulePack) -> None:
    levels = pack.tables["degree_level"].entries
    wrong = [e.code for e in pack.tables["degree_name"].entries.values()
             if e.parent not in levels or e.code[0] != e.parent]
    assert wrong == []


def test_tree_parents_exist(pack: RulePack) -> None:
    # degree_name is the one table whose parent lives in another table (degree_level).
    orphans = [(t.id, e.code) for t in pack.tables.values() if t.id != "degree_name" for e in t.entries.values()
               if e.parent and e.parent not in t.entries]
    assert orphans == []


def test_sheet_names_fit_excel(pack: RulePack) -> None:
    names = [s.name for s in pack.sheets.values()]
    assert len(names) == len(set(names))
    assert [n for n in names if len(n) > 31 or re.search(r"[\[\]:*?/\\]", n)] == []


def test_sheet_names_and_aliases_identify_one_sheet(pack: RulePack) -> None:
    owner: dict[str, str] = {}
    clashes = [(s.id, k) for s in pack.sheets.values() for k in s.name_keys() if owner.setdefault(k, s.id) != s.id]
    assert clashes == []


def test_field_headers_identify_one_field_per_sheet(pack: RulePack) -> None:
    clashes = []
    for sheet in pack.sheets.values():
        owner: dict[str, str] = {}
        labels = [f.label for f in sheet.fields]
        assert len(labels) == len(set(labels)), sheet.id
        for f in sheet.fields:
            clashes += [(sheet.id, k) for k in f.header_keys() if owner.setdefault(k, f.code) != f.code]
    assert clashes == []


def test_many_record_sheets_start_with_name_and_id_number(pack: RulePack) -> None:
    for sheet in pack.sheets.values():
        if sheet.id == "basic":  # 基本信息 follows the S2 template order instead
            continue
        name, id_number = sheet.fields[:2]
        assert (name.code, name.label, name.type, name.required, name.max_length) == \
            ("name", "姓名", "text", True, 50), sheet.id
        assert (id_number.code, id_number.label, id_number.type, id_number.required, id_number.max_length) == \
            ("id_number", "身份证件号", "idnumber", True, 40), sheet.id


def test_every_field_has_an_example_and_a_width(pack: RulePack) -> None:
    missing = [(s.id, f.code) for s in pack.sheets.values() for f in s.fields if not f.example or not f.width]
    assert missing == []


def test_coded_examples_and_defaults_are_in_their_tables(pack: RulePack) -> None:
    bad = []
    for sheet in pack.sheets.values():
        for f in sheet.fields:
            if not f.table:
                continue
            table = pack.tables[f.table]
            values = MULTI_SEPARATORS.split(f.example) if f.type == "codes" else [f.example]
            values += [f.default] if f.default else []
            bad += [(sheet.id, f.code, v) for v in values if table.lookup(v) is None]
    assert bad == []


def test_date_examples_have_the_field_format(pack: RulePack) -> None:
    formats = {"date": r"\d{4}-\d{2}-\d{2}", "month": r"\d{4}-\d{2}", "year": r"\d{4}", "int": r"\d+",
               "decimal": r"\d+(\.\d+)?", "idnumber": r"\d{17}[\dX]"}
    bad = [(s.id, f.code) for s in pack.sheets.values() for f in s.fields
           if f.type in formats and not re.fullmatch(formats[f.type], f.example or "")]
    assert bad == []


def test_variant_fields_name_known_variants(pack: RulePack) -> None:
    variants = {v for s in pack.sheets.values() for f in s.fields for v in f.variants}
    assert variants == {"primary_secondary", "kindergarten", "special"}


def test_derived_fields_are_not_required(pack: RulePack) -> None:
    assert [(s.id, f.code) for s in pack.sheets.values() for f in s.fields if f.derived and f.required] == []


def test_rule_expressions_and_texts_compile_in_the_sandbox(pack: RulePack) -> None:
    env = SandboxedEnvironment()
    for rule in pack.rules:
        for expr in (rule.when, rule.params.get("assert")):
            if expr:
                env.compile_expression(expr)
        env.from_string(rule.message)
        env.from_string(rule.hint)


def test_rule_expressions_give_the_intended_answers(pack: RulePack) -> None:
    env = SandboxedEnvironment()
    rules = {r.id: r for r in pack.rules}

    def holds(rule_id: str, **row) -> bool:
        return bool(env.compile_expression(rules[rule_id].params["assert"])(today=datetime.date(2025, 6, 1), **row))

    assert holds("POST-FAMILY", post_grade="110", post_category="1")
    assert not holds("POST-FAMILY", post_grade="110", post_category="3")
    assert holds("POST-FAMILY", post_grade="999", post_category="4")
    assert not holds("STUDY-DEGREE-LEVEL", degree_name="405", degree_level="3")
    assert not holds("TEACH-COURSE-STAGE", courses=("302", "202"), teaching_stage=("3",))
    assert holds("TEACH-COURSE-STAGE", courses=("302", "402"), teaching_stage=("3", "4"))
    assert holds("QUAL-NUMBER-TYPE", certificate_number="20083600141000123", certificate_type="4")
    assert not holds("QUAL-NUMBER-YEAR", certificate_number="19903600141000123")


def test_rule_messages_are_chinese_with_a_hint(pack: RulePack) -> None:
    cjk = re.compile(r"[\u4e00-\u9fff]")
    bad = [r.id for r in pack.rules if not (cjk.search(r.message) and cjk.search(r.hint))]
    assert bad == []


def test_cell_rules_match_the_documented_list(pack: RulePack) -> None:
    doc = (PROJECT_ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    section = doc.split("## Cell rules and their variables", 1)[1]
    documented = set(re.findall(r"^\| `([A-Z0-9-]+)` \|", section, flags=re.M))
    assert documented == {r.id for r in pack.rules if r.kind == "cell"}


@pytest.mark.parametrize("overlay", [None, "360000"])
def test_every_rule_compiles_in_the_validator(overlay: str | None) -> None:
    from processor.engine import Validator
    from processor.paths import OVERLAYS_DIR

    pack = load_pack(CORE_RULES_DIR, OVERLAYS_DIR / overlay if overlay else None)
    validator = Validator(pack, today=datetime.date(2025, 6, 1))
    assert [f.message for f in validator.rule_errors] == []
