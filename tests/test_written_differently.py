"""Values officers write every day in another spelling are accepted, not flagged."""

from __future__ import annotations

import pytest

from processor.paths import CORE_RULES_DIR
from processor.rulepack.loader import load_pack
from processor.rulepack.model import RulePack


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(CORE_RULES_DIR)


@pytest.mark.parametrize(("table", "written", "code"), [
    ("political", "中共党员", "01"),
    ("political", "党员", "01"),
    ("political", "13-群众", "13"),
    ("nationality", "CHN", "156"),
    ("nationality", "CN", "156"),
    ("nationality", "中华人民共和国", "156"),
    ("id_doc_type", "身份证", "1"),
    ("ethnicity", " 汉族 ", "01"),
    ("ethnicity", "汉", "01"),
    ("ethnicity", "1", "01"),
    ("sex", "男", "1"),
    ("sex", "1-男", "1"),
])
def test_code_written_another_way_is_found(pack: RulePack, table: str, written: str, code: str) -> None:
    assert pack.tables[table].lookup(written) == code
