"""GB 11643 identity numbers: checksums, 15-digit upgrade, residence permits, X handling, typed errors."""

from __future__ import annotations

import datetime as dt

import pytest

from processor import idnumber
from processor.idnumber import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)


def test_valid_number_with_check_x():
    assert idnumber.validate("11010519491231002X") == "11010519491231002X"


def test_lowercase_x_full_width_and_separators_are_compacted():
    assert idnumber.validate("１１０１０５ 1949-1231-002x") == "11010519491231002X"


def test_wrong_check_character_is_invalid_checksum():
    with pytest.raises(InvalidChecksum):
        idnumber.validate("110105194912310021")


def test_wrong_length_is_invalid_length():
    with pytest.raises(InvalidLength):
        idnumber.validate("1101051949123100")


def test_letters_inside_are_invalid_format():
    with pytest.raises(InvalidFormat):
        idnumber.validate("1101051949123100X2")


def test_impossible_birth_date_is_invalid_component():
    with pytest.raises(InvalidComponent):
        idnumber.validate("110105194902300013")


def test_fifteen_digit_number_is_accepted_and_upgraded():
    assert idnumber.validate("110105491231002") == "110105491231002"
    assert idnumber.upgrade15("110105491231002") == "11010519491231002X"


def test_check_digit_of_first_17():
    assert (idnumber.check_digit("11010519491231002"), idnumber.check_char("36042619910101007")) == ("X", "1")


def test_birth_date_and_sex_of_both_lengths():
    assert idnumber.birth_date("11010519491231002X") == dt.date(1949, 12, 31)
    assert idnumber.birth_date("110105491231002") == dt.date(1949, 12, 31)
    assert (idnumber.sex("11010519491231002X"), idnumber.sex("110105491231001")) == ("2", "1")


def test_residence_permit_is_valid_and_its_area_known():
    number = "81000019900101001" + idnumber.check_digit("81000019900101001")
    assert idnumber.is_valid(number) is True
    assert idnumber.area_known(number) is True


def test_unknown_area_code_is_valid_but_not_known():
    number = "99999919900101001" + idnumber.check_digit("99999919900101001")
    assert (idnumber.is_valid(number), idnumber.area_known(number), idnumber.area_known("110105")) == \
        (True, False, True)


def test_junk_raises_only_typed_errors():
    for junk in ("", "😀", "3²", "None", "x" * 18, "1" * 40):
        with pytest.raises(ValidationError):
            idnumber.validate(junk)
        assert idnumber.is_valid(junk) is False


def test_area_status_knows_when_a_code_went_out_of_use():
    # python-stdnum's cn/loc: 110103 崇文区 until 2010; 120110 东郊区 until 1991, then 东丽区.
    assert idnumber.area_status("110103", 2015) == idnumber.AreaStatus(True, "崇文区", 2010)
    assert idnumber.area_status("110103", 2010) == idnumber.AreaStatus(True, "崇文区", None)
    assert idnumber.area_status("120110", 1980).abolished is None
    assert idnumber.area_status("830000", 1992) == idnumber.AreaStatus(True, "台湾", None)


def test_validate_uses_the_day_it_is_given():
    number = "44030820260110151"
    number += idnumber.check_digit(number)
    assert idnumber.is_valid(number, dt.date(2026, 1, 10)) is True
    with pytest.raises(InvalidComponent):
        idnumber.validate(number, dt.date(2026, 1, 9))
