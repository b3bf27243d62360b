"""The document-number modules (processor/iddocs): real published numbers, one written form, typed errors only."""

from __future__ import annotations

import pytest

from processor import iddocs
from processor.iddocs import cn_passport, hk_macao_permit, hkid, macao_id, tw_permit
from processor.idnumber import InvalidChecksum, ValidationError

MODULES = (hkid, macao_id, hk_macao_permit, tw_permit, cn_passport)


@pytest.mark.parametrize("number", ["G123456A", "A5555550", "C5678909", "AB9876543", "WX1234569",  # stdnum-js
                                    "CA182361(1)", "A123456(3)"])
def test_published_hong_kong_identity_card_numbers_are_valid(number: str) -> None:
    assert hkid.is_valid(number) is True


def test_a_wrong_hkid_check_character_is_invalid_checksum_with_the_right_one() -> None:
    with pytest.raises(InvalidChecksum) as caught:
        hkid.validate("C5678908")
    assert caught.value.expected == "9"


def test_hkid_is_compacted_and_formatted_as_printed_on_the_card() -> None:
    assert (hkid.compact("ab 987654 (3)"), hkid.format("AB9876543")) == ("AB9876543", "AB987654(3)")


def test_macao_identity_card_is_formatted_with_brackets() -> None:
    assert (macao_id.validate("1/234567/8"), macao_id.format("12345678")) == ("12345678", "1234567(8)")


def test_old_taiwan_permit_keeps_the_lifetime_number_in_its_first_eight_digits() -> None:
    assert tw_permit.lifetime_number("0725745601(B)") == "07257456"


def test_canonical_form_leaves_other_brackets_alone() -> None:
    assert (iddocs.canonical("ａ１２３４５６（３）"), iddocs.canonical("军字第(12)号")) == ("A1234563", "军字第(12)号")


def test_every_format_id_is_described_with_an_example() -> None:
    assert all("如 " in iddocs.get(fid).form for fid in iddocs.ids())


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_junk_raises_only_typed_errors(module) -> None:
    for junk in ("", "😀", "3²", "None", "x" * 18, "1" * 40, "(", "A(", "/"):
        with pytest.raises(ValidationError):
            module.validate(junk)
        assert module.is_valid(junk) is False
