"""School-type variants: 幼儿园 and 特教 fields are required only from schools of those types."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pytest

from processor import samples
from processor.engine import Validator
from processor.paths import CORE_RULES_DIR
from processor.readers import read_workbook
from processor.rulepack.loader import load_pack
from processor.rulepack.model import RulePack

TODAY = date(2026, 3, 1)


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(CORE_RULES_DIR)


def _blank_columns(path: Path, labels: set[str]) -> None:
    """Empty the named columns of 基本信息 (the school left them out)."""
    book = openpyxl.load_workbook(path)
    ws = book["基本信息"]
    for cell in ws[1]:
        if str(cell.value).lstrip("*") in labels:
            for row in range(2, ws.max_row + 1):
                ws.cell(row, cell.column).value = None
    book.save(path)


def _required_fields(path: Path, pack: RulePack) -> set[str]:
    result = Validator(pack, today=TODAY).validate(read_workbook(path, pack))
    return {f.field for f in result.findings if f.rule == "REQUIRED"}


def test_school_type_follows_the_code_prefix(pack: RulePack) -> None:
    assert [pack.school_type_for(c) for c in ("1136010001", "5136010001", "2136010001", "360102", None)] == [
        "kindergarten", "special", "primary_secondary", None, None]


def test_kindergarten_file_must_fill_the_kindergarten_fields(tmp_path: Path, pack: RulePack) -> None:
    people = samples.generate_people(2, seed=3, today=TODAY, detail=False)
    path = tmp_path / "k.xlsx"
    samples.write_workbook(path, people, pack=pack, kind="new-teachers", unit_code="1136010001",
                           unit_name="东湖区第一幼儿园", seed=1)
    _blank_columns(path, {"是否全日制学前教育专业毕业", "是否受过学前教育专业培养培训"})
    required = _required_fields(path, pack)
    assert {"is_fulltime_preschool_graduate", "had_preschool_training"} <= required
    assert "had_special_ed_training" not in required


def test_primary_school_template_has_no_kindergarten_fields_and_requires_its_own(tmp_path: Path, pack: RulePack) -> None:
    people = samples.generate_people(2, seed=3, today=TODAY, detail=False)
    path = tmp_path / "p.xlsx"
    samples.write_workbook(path, people, pack=pack, kind="new-teachers", unit_code="2136010001",
                           unit_name="东湖区第一小学", seed=1)
    _blank_columns(path, {"是否受过特教专业培养培训"})
    assert _required_fields(path, pack) == {"had_special_ed_training"}
