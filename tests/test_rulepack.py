"""The shipped rule pack loads, the province overlay applies, bad pack files give one exact line, `tmis rules`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from processor.cli import main
from processor.errors import RulePackError
from processor.paths import CORE_RULES_DIR, OVERLAYS_DIR
from processor.rulepack import RulePack, load_pack

JIANGXI = OVERLAYS_DIR / "360000"

CATEGORIES = {
    1: ["basic"], 2: ["study"], 3: ["work"], 4: ["post"], 5: ["title"], 6: ["qualification"], 7: ["teaching"],
    8: ["research_project", "book", "paper", "award", "artwork", "patent", "report", "medical_certificate",
        "standard", "student_award"],
    9: ["talent"], 10: ["training"], 11: ["overseas"], 12: ["language_skill", "other_skill", "certificate"],
    13: ["rotation"], 14: ["contact"],
}


@pytest.fixture(scope="module")
def core() -> RulePack:
    return load_pack(CORE_RULES_DIR)


@pytest.fixture(scope="module")
def jiangxi() -> RulePack:
    return load_pack(CORE_RULES_DIR, JIANGXI)


@pytest.fixture()
def pack_copy(tmp_path: Path) -> Path:
    """A writable copy of the core pack to break on purpose."""
    target = tmp_path / "core"
    shutil.copytree(CORE_RULES_DIR, target)
    return target


def _load_error(core_dir: Path, overlay: Path | None = None) -> str:
    with pytest.raises(RulePackError) as info:
        load_pack(core_dir, overlay)
    return str(info.value)


# --- the shipped pack ---------------------------------------------------------------------------------

def test_shipped_pack_has_every_category_in_template_order(core: RulePack) -> None:
    by_category: dict[int, list[str]] = {}
    for sheet in core.ordered_sheets():
        by_category.setdefault(sheet.category, []).append(sheet.id)
    assert by_category == CATEGORIES


def test_new_teacher_template_holds_basic_and_contact(core: RulePack) -> None:
    assert [s.id for s in core.sheets_for_kind("new-teachers")] == ["basic", "contact"]
    assert sorted(s.id for s in core.sheets.values() if s.new_teacher) == ["basic", "contact"]


def test_teachers_template_holds_every_sheet(core: RulePack) -> None:
    assert [s.id for s in core.sheets_for_kind("teachers")] == [s.id for s in core.ordered_sheets()]


def test_basic_starts_in_the_s2_template_order(core: RulePack) -> None:
    codes = [f.code for f in core.sheet("basic").input_fields]
    assert codes[:8] == ["name", "former_name", "sex", "staff_number", "nationality", "id_type", "id_number",
                         "birth_date"]
    assert codes[-2:] == ["personnel_status", "remarks"]


def test_every_code_field_names_an_existing_table(core: RulePack) -> None:
    missing = [(s.id, f.code, f.table) for s in core.sheets.values() for f in s.fields
               if f.is_coded and f.table not in core.tables]
    assert missing == []


def test_every_rule_field_exists_on_its_sheet(core: RulePack) -> None:
    missing = []
    for rule in core.rules:
        sheets = list(core.sheets.values()) if rule.sheet == "*" else [core.sheet(rule.sheet)]
        for code in rule.fields:
            if not any(s.has_field(code) for s in sheets):
                missing.append((rule.id, code))
        after = rule.params.get("after")
        if after:
            sheet_id, _, code = after.rpartition(".")
            targets = [core.sheet(sheet_id)] if sheet_id else sheets
            if not any(s.has_field(code) for s in targets):
                missing.append((rule.id, after))
    assert missing == []


def test_fields_md_rule_ids_are_all_present(core: RulePack) -> None:
    ids = {r.id for r in core.rules}
    expected = {
        "NAT-ETHNIC-POLITIC-REQUIRED", "NAT-ETHNIC-POLITIC-BLANK", "ID-BIRTH", "ID-SEX", "ID-CHECKSUM",
        "DATE-WORK-BIRTH", "DATE-WORK-AGE16", "DATE-SCHOOL-WORK", "DATE-NOT-FUTURE", "BIANZHI-FORM-REQUIRED",
        "BIANZHI-FORM-BLANK", "BIANZHI-CONTRACT", "GRASSROOTS-BLANK", "GRASSROOTS-ORDER", "STUDY-DATES",
        "STUDY-DEGREE-REQUIRED", "STUDY-DEGREE-BLANK", "STUDY-DEGREE-LEVEL", "STUDY-EDU-REQUIRED",
        "STUDY-EDU-BLANK", "STUDY-AFTER-BIRTH", "WORK-DATES", "OVERSEAS-BLANK", "OVERSEAS-DATES",
        "OVERSEAS-COUNTRY", "POST-FAMILY", "POST-FAMILY-CONCURRENT", "POST-CONCURRENT-BLANK",
        "POST-CONCURRENT-SAME", "TEACH-STATUS-REQUIRED", "TEACH-STATUS-BLANK", "TEACH-ONE-TERM", "TRAIN-HOURS",
        "TRAIN-YEAR", "AWARD-OTHER-REQUIRED", "AWARD-OTHER-BLANK", "CERT-LANG-REQUIRED", "CERT-LANG-BLANK",
        "ROTATION-UNIT", "QUAL-NUMBER", "QUAL-REGISTRATION", "MULTI-EXCLUSIVE", "ID-LENGTH", "ID-CHARS",
        "ID-DATE", "ID-AREA", "ID-15", "ID-OTHER-TYPE", "ID-DUPLICATE", "PERSON-CONFLICT", "REF-NO-BASIC",
        "PERSONNEL-STATUS-CHANGE", "MOBILE-FORMAT", "PHONE-FORMAT", "EMAIL-FORMAT", "ID-AS-NUMBER",
        "ID-SCIENTIFIC", "DATE-AMBIGUOUS", "CODE-HISTORICAL", "CODE-AMBIGUOUS", "TEXT-LINEBREAK", "NAME-SPACES",
        "DERIVED-IGNORED",
    }
    assert expected - ids == set()


def test_idnumber_rules_cover_every_part(core: RulePack) -> None:
    parts = {r.id: r.params["part"] for r in core.rules if r.kind == "idnumber"}
    assert parts == {
        "ID-LENGTH": "length", "ID-CHARS": "chars", "ID-DATE": "date", "ID-CHECKSUM": "checksum",
        "ID-AREA": "area", "ID-15": "upgraded15", "ID-BIRTH": "birth", "ID-SEX": "sex",
        "ID-OTHER-TYPE": "other_type", "ID-AREA-ABOLISHED": "area_abolished", "ID-PERMIT-AREA": "permit_area",
        "ID-DOC-HK": "document", "ID-DOC-MACAO": "document", "ID-DOC-TAIWAN": "document",
        "ID-DOC-PASSPORT": "document",
    }


def test_leaving_personnel_states_are_forbidden_with_the_change_procedure(core: RulePack) -> None:
    rule = next(r for r in core.rules if r.id == "PERSONNEL-STATUS-CHANGE")
    assert rule.params["forbidden"] == ["301", "302", "303", "306", "307", "308"]
    assert all(core.tables["personnel_status"].entries[c].selectable is False for c in rule.params["forbidden"])
    assert "请通过变动业务办理" in rule.hint


def test_historical_ethnicity_name_maps_to_current_code(core: RulePack) -> None:
    ethnicity = core.tables["ethnicity"]
    assert ethnicity.historical_code("毛难族") == "36"
    assert ethnicity.lookup("毛难族") is None
    assert ethnicity.lookup("汉") == "01"


def test_old_title_is_accepted_as_historical_name(core: RulePack) -> None:
    assert core.tables["tech_position"].historical_code("小学高级教师") == "3"


# --- the overlay ----------------------------------------------------------------------------------------

def test_overlay_adds_rural_teacher_after_personnel_status(jiangxi: RulePack) -> None:
    codes = [f.code for f in jiangxi.sheet("basic").fields]
    assert codes[codes.index("personnel_status") + 1] == "is_rural_teacher"
    field = jiangxi.sheet("basic").field("is_rural_teacher")
    assert (field.label, field.type, field.table, field.required) == ("是否乡村教师", "yesno", "yesno", True)


def test_overlay_field_gets_generated_rules(jiangxi: RulePack) -> None:
    generated = {r.id for r in jiangxi.rules if r.generated and r.fields == ("is_rural_teacher",)}
    assert generated == {"REQUIRED", "CODE-UNKNOWN"}


def test_overlay_switches_off_the_age16_rule(jiangxi: RulePack, core: RulePack) -> None:
    assert "DATE-WORK-AGE16" in {r.id for r in core.active_rules()}
    assert "DATE-WORK-AGE16" not in {r.id for r in jiangxi.active_rules()}
    assert jiangxi.disabled == {"DATE-WORK-AGE16"}


def test_overlay_adds_talent_projects(jiangxi: RulePack, core: RulePack) -> None:
    table = jiangxi.tables["talent_project"]
    assert table.lookup("江西省中小学学科带头人") == "31"
    assert len(table.entries) == len(core.tables["talent_project"].entries) + 3
    assert table.title == "入选人才项目"


def test_overlay_adds_its_own_rule(jiangxi: RulePack) -> None:
    rule = next(r for r in jiangxi.active_rules() if r.id == "JX-TEGANG-RURAL")
    assert (rule.kind, rule.sheet, rule.severity) == ("expression", "basic", "warning")


def test_overlay_layers_are_named_core_first(jiangxi: RulePack) -> None:
    assert jiangxi.layers == ["全国核心指标（中小学/幼儿园）", "江西省定制包（示例）"]


def test_overlay_can_switch_off_one_generated_rule_instance(tmp_path: Path) -> None:
    (tmp_path / "overlay.toml").write_text(
        '[overlay]\nname = "测试"\ndisable = ["REQUIRED@basic.staff_source"]\n', encoding="utf-8")
    pack = load_pack(CORE_RULES_DIR, tmp_path)
    required = {r.fields[0] for r in pack.active_rules() if r.id == "REQUIRED" and r.sheet == "basic"}
    assert "staff_source" not in required
    assert "staff_category" in required


def test_overlay_replacing_a_table_keeps_its_title(tmp_path: Path) -> None:
    (tmp_path / "overlay.toml").write_text('[overlay]\nname = "测试"\n', encoding="utf-8")
    (tmp_path / "codes").mkdir()
    (tmp_path / "codes" / "rotation_type.csv").write_text("code,name\n0,无\n1,城乡交流\n", encoding="utf-8")
    pack = load_pack(CORE_RULES_DIR, tmp_path)
    assert list(pack.tables["rotation_type"].entries) == ["0", "1"]
    assert pack.tables["rotation_type"].title == "交流轮岗类型"


# --- loader error messages ------------------------------------------------------------------------------

def test_toml_syntax_error_names_file_and_line(pack_copy: Path) -> None:
    bad = pack_copy / "rules" / "99_bad.toml"
    bad.write_text('[[rule]]\nid = "X-ONE"\nkind = "required\nsheet = "basic"\n', encoding="utf-8")
    assert _load_error(pack_copy) == (
        f"{bad}：第 3 行：TOML 语法错误（Illegal character '\\n' (at line 3, column 17)）。"
        "请检查引号、括号和等号是否成对、完整。"
    )


def test_unknown_field_type_names_file_and_line(pack_copy: Path) -> None:
    bad = pack_copy / "sheets" / "99_x.toml"
    bad.write_text('[sheet]\nid = "x"\nname = "测试"\ncategory = 15\n\n[[field]]\ncode = "a"\nlabel = "甲"\n'
                   'type = "txt"\n', encoding="utf-8")
    assert _load_error(pack_copy) == (
        f"{bad}：第 9 行：字段 a 的类型“txt”未知。"
        "可用的类型：text, code, codes, date, month, year, int, decimal, yesno, idnumber。"
    )


def test_rule_with_unknown_field_names_rule_and_line(pack_copy: Path) -> None:
    bad = pack_copy / "rules" / "99_bad.toml"
    bad.write_text('# a comment\n[[rule]]\nid = "X-ONE"\nkind = "required"\nsheet = "basic"\n'
                   'fields = ["no_such_field"]\n', encoding="utf-8")
    assert _load_error(pack_copy) == (
        f"{bad}：第 3 行：规则 X-ONE 引用的字段“no_such_field”在工作表 basic 中不存在。"
        "请检查字段代码的拼写（见 tmis rules list）。"
    )


def test_missing_code_table_names_field_and_line(pack_copy: Path) -> None:
    bad = pack_copy / "sheets" / "99_x.toml"
    bad.write_text('[sheet]\nid = "x"\nname = "测试"\ncategory = 15\n\n[[field]]\ncode = "a"\nlabel = "甲"\n'
                   'type = "code"\ntable = "no_table"\n', encoding="utf-8")
    assert _load_error(pack_copy) == (
        f"{bad}：第 10 行：字段 x.a 引用的代码表“no_table”不存在。请在 codes/ 下提供 no_table.csv，或改用已有的代码表。"
    )


def test_bad_severity_names_rule_and_line(pack_copy: Path) -> None:
    bad = pack_copy / "rules" / "99_bad.toml"
    bad.write_text('[[rule]]\nid = "X-ONE"\nkind = "required"\nsheet = "basic"\nfields = ["name"]\n'
                   'severity = "fatal"\n', encoding="utf-8")
    assert _load_error(pack_copy) == (
        f"{bad}：第 2 行：规则 X-ONE 的 severity“fatal”无效。severity 只能是 error 或 warning。"
    )


def test_duplicate_rule_id_names_both_places(pack_copy: Path) -> None:
    bad = pack_copy / "rules" / "99_bad.toml"
    bad.write_text('[[rule]]\nid = "ID-LENGTH"\nkind = "required"\nsheet = "basic"\nfields = ["name"]\n',
                   encoding="utf-8")
    first = pack_copy / "rules" / "01_identity.toml"
    line = first.read_text(encoding="utf-8").splitlines().index('id = "ID-LENGTH"') + 1
    assert _load_error(pack_copy) == f"{bad}：第 2 行：规则编号 ID-LENGTH 重复（另见 {first} 第 {line} 行）"


def test_overlay_disabling_an_unknown_rule_names_the_line(tmp_path: Path) -> None:
    manifest = tmp_path / "overlay.toml"
    manifest.write_text('[overlay]\nname = "测试"\ndisable = [\n  "ID-LENGTH",\n  "NO-SUCH-RULE",\n]\n',
                        encoding="utf-8")
    assert _load_error(CORE_RULES_DIR, tmp_path) == (
        f"{manifest}：第 5 行：要停用的规则“NO-SUCH-RULE”不存在。请用 tmis rules list 查看规则编号。"
    )


def test_overlay_disabling_an_unknown_field_instance_names_the_field(tmp_path: Path) -> None:
    manifest = tmp_path / "overlay.toml"
    manifest.write_text('[overlay]\nname = "测试"\ndisable = ["REQUIRED@basic.nosuch"]\n', encoding="utf-8")
    assert _load_error(CORE_RULES_DIR, tmp_path) == (
        f"{manifest}：第 3 行：要停用的规则“REQUIRED@basic.nosuch”指向的字段 basic.nosuch 不存在。"
        "写法为 规则编号@工作表.字段代码，例如 REQUIRED@basic.health_status。"
    )


# --- tmis rules -----------------------------------------------------------------------------------------

def _config(tmp_path: Path, overlay: Path | None = None) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[rules]\noverlay = "{overlay or ""}"\n', encoding="utf-8")
    return path


def test_rules_list_json_shows_every_sheet_and_table(tmp_path: Path, core: RulePack) -> None:
    result = CliRunner().invoke(main, ["rules", "list", "--config", str(_config(tmp_path)), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["layers"] == ["全国核心指标（中小学/幼儿园）"]
    assert [s["id"] for s in data["sheets"]] == [s.id for s in core.ordered_sheets()]
    assert {t["id"]: t["count"] for t in data["tables"]}["yesno"] == 2
    assert data["disabled"] == []


def test_rules_list_with_overlay_shows_what_is_switched_off(tmp_path: Path) -> None:
    config = _config(tmp_path, JIANGXI)
    result = CliRunner().invoke(main, ["rules", "list", "--config", str(config), "--sheet", "basic",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["layers"][-1] == "江西省定制包（示例）"
    assert [s["id"] for s in data["sheets"]] == ["basic"]
    assert "is_rural_teacher" in [f["code"] for f in data["sheets"][0]["fields"]]
    assert [(r["id"], r["disabled_by"]) for r in data["disabled_rules"]] == [("DATE-WORK-AGE16", "DATE-WORK-AGE16")]
    assert "DATE-WORK-AGE16" not in {r["id"] for r in data["rules"]}
    assert "JX-TEGANG-RURAL" in {r["id"] for r in data["rules"]}


def test_rules_list_text_shows_fields_tables_and_rules(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "list", "--config", str(_config(tmp_path)), "--sheet", "contact"])
    assert result.exit_code == 0, result.output
    assert "联系方式（contact，第 14 类，每人一条，新任教师填报）" in result.output
    assert "手机号码" in result.output
    assert "MOBILE-FORMAT" in result.output
    assert "已停用：无" in result.output


def test_rules_list_unknown_sheet_is_one_clean_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "list", "--config", str(_config(tmp_path)), "--sheet", "nosuch"])
    assert result.exit_code == 1
    assert result.output.startswith("错误：没有编号为“nosuch”的工作表。可用的工作表编号：basic, study, ")
    assert result.output.count("\n") == 1


def test_rules_check_accepts_the_shipped_overlay(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(JIANGXI), "--config", str(_config(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("规则包有效：全国核心指标（中小学/幼儿园） → 江西省定制包（示例）；25 个工作表，")


def test_rules_check_reports_a_broken_pack_in_one_line(tmp_path: Path, pack_copy: Path) -> None:
    bad = pack_copy / "rules" / "99_bad.toml"
    bad.write_text('[[rule]]\nid = "X-ONE"\nkind = "required"\nsheet = "nosheet"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["rules", "check", str(pack_copy), "--config", str(_config(tmp_path))])
    assert result.exit_code == 2
    assert result.output.startswith(f"错误：{bad}：第 2 行：规则 X-ONE 指向的工作表“nosheet”不存在。可用的工作表：basic, ")
    assert result.output.count("\n") == 1


def test_rules_check_rejects_a_folder_that_is_no_pack(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path), "--config", str(_config(tmp_path))])
    assert result.exit_code == 2
    assert result.output == f"错误：{tmp_path}：不是规则包目录。核心包目录须有 pack.toml，省级定制包目录须有 overlay.toml。\n"
