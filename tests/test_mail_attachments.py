"""Attachments as real clients name them, zip archives within limits, masking of what is mailed."""

from __future__ import annotations

from pathlib import Path

from mail_helpers import (
    foxmail_message,
    outlook_message,
    plain_message,
    raw_bytes_message,
    thunderbird_message,
    zip_bytes,
)
from openpyxl import Workbook, load_workbook

from processor.mail.attachments import Limits, parse_message, unpack_zip
from processor.mail.masking import mask_text, mask_workbook
from processor.mail.outgoing import encoded_name_params

NAME = "南昌市第一中学_教师信息采集表（2026年12月）.xlsx"
SENDER = "zhangwei@ncyz.edu.cn"
DATA = b"PK\x03\x04 not really a workbook"


def test_outlook_gb2312_encoded_word_name_is_decoded() -> None:
    parsed = parse_message(outlook_message(SENDER, NAME, DATA))
    assert [(a.name, a.data) for a in parsed.attachments] == [(NAME, DATA)]
    assert (parsed.sender, parsed.sender_name, parsed.subject) == (SENDER, "张伟", "教师信息报送")


def test_foxmail_name_split_into_two_encoded_words_is_decoded() -> None:
    parsed = parse_message(foxmail_message(SENDER, NAME, DATA))
    assert [a.name for a in parsed.attachments] == [NAME]
    assert parsed.subject == "报送教师信息"


def test_thunderbird_rfc2231_continuations_are_joined_and_decoded() -> None:
    parsed = parse_message(thunderbird_message(SENDER, NAME, DATA))
    assert [a.name for a in parsed.attachments] == [NAME]
    assert parsed.sender_name == "张伟"


def test_raw_gbk_bytes_in_the_filename_are_decoded() -> None:
    parsed = parse_message(raw_bytes_message(SENDER, "豫章小学教师信息.xlsx", DATA, "gbk", msgid="<r1@x>"))
    assert [a.name for a in parsed.attachments] == ["豫章小学教师信息.xlsx"]


def test_raw_utf8_bytes_in_the_filename_are_decoded() -> None:
    parsed = parse_message(raw_bytes_message(SENDER, "豫章小学教师信息.csv", DATA, "utf-8", msgid="<r2@x>"))
    assert [a.name for a in parsed.attachments] == ["豫章小学教师信息.csv"]


def test_a_name_with_a_path_keeps_only_its_last_part() -> None:
    parsed = parse_message(raw_bytes_message(SENDER, "..\\..\\windows/../教师.xlsx", DATA, "utf-8", msgid="<r3@x>"))
    assert [a.name for a in parsed.attachments] == ["教师.xlsx"]


def test_a_message_without_attachments_has_none() -> None:
    parsed = parse_message(plain_message(SENDER, msgid="<p1@x>"))
    assert (parsed.attachments, parsed.skipped) == ([], [])


def test_failed_dkim_in_authentication_results_is_reported() -> None:
    raw = plain_message(SENDER, msgid="<p2@x>", extra_headers=(
        "Authentication-Results: mx.dhq.edu.cn;\r\n dkim=fail header.d=ncyz.edu.cn;\r\n spf=pass smtp.mailfrom=x\r\n"))
    assert parse_message(raw).auth_failures == ["dkim=fail"]


def test_zip_members_with_gbk_names_come_out_with_their_chinese_names() -> None:
    data = zip_bytes([("一中/教师信息.xlsx", DATA), ("说明.docx", b"x")], gbk_names=True)
    found, skipped = unpack_zip("报送.zip", data, Limits())
    assert [(a.name, a.container) for a in found] == [("教师信息.xlsx", "报送.zip")]
    assert [(s.name, s.reason) for s in skipped] == [("报送.zip／说明.docx", "不是表格文件")]


def test_zip_member_path_never_leaves_the_folder() -> None:
    found, _ = unpack_zip("a.zip", zip_bytes([("../../../etc/教师.csv", b"a,b\n")]), Limits())
    assert [a.name for a in found] == ["教师.csv"]


def test_zip_with_too_many_members_is_refused() -> None:
    data = zip_bytes([(f"{i}.csv", b"a") for i in range(4)])
    found, skipped = unpack_zip("多.zip", data, Limits(max_files=3))
    assert found == []
    assert [s.reason for s in skipped] == ["压缩包中有 4 个文件，超过上限 3 个，请分开发送"]


def test_zip_bomb_member_is_not_unpacked() -> None:
    found, skipped = unpack_zip("炸弹.zip", zip_bytes([("a.csv", b"0" * 5_000_000)]), Limits(max_ratio=100))
    assert found == []
    assert [s.reason for s in skipped] == ["压缩比异常（超过 100 倍），疑似压缩炸弹，未解压"]


def test_zip_too_big_when_unpacked_is_refused() -> None:
    found, skipped = unpack_zip("大.zip", zip_bytes([("a.csv", bytes(range(256)) * 8192)]), Limits(max_bytes=1 << 20))
    assert found == []
    assert [s.reason for s in skipped] == ["压缩包解压后共 2 MB，超过上限 1 MB"]


def test_identity_and_phone_numbers_are_masked_in_text() -> None:
    assert mask_text("身份证 11010119900307123X，手机 13812345678。") == "身份证 110101********123X，手机 138****5678。"


def test_identity_and_phone_numbers_are_masked_in_a_workbook(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证件号", "手机", "备注"])
    ws.append(["王芳", "360102198507150027", 13907910001, "联系 13807910003"])
    wb.save(tmp_path / "a.xlsx")
    mask_workbook(tmp_path / "a.xlsx", tmp_path / "b.xlsx")
    row = [c.value for c in load_workbook(tmp_path / "b.xlsx").active[2]]
    assert row == ["王芳", "360102********0027", "139****0001", "联系 138****0003"]


def test_outgoing_attachment_name_is_readable_both_ways() -> None:
    ctype_name, disposition = encoded_name_params("错误报告_南昌市第一中学_教师信息采集表_2026-12-01.xlsx")
    assert ctype_name.startswith('"=?utf-8?b?') and ctype_name.endswith('?="')
    assert "filename*=UTF-8''%E9%94%99%E8%AF%AF%E6%8A%A5%E5%91%8A_" in disposition
