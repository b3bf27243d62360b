"""The province's hours → credits conversion rule (rules/credits/<province>.toml): load it with file-and-line
errors, convert one project's hours, count a teacher's credits over a period under the caps."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from processor.errors import RulePackError
from processor.paths import PROJECT_ROOT
from processor.rulepack.loader import _line_of, _read_toml

CREDITS_DIR = PROJECT_ROOT / "rules" / "credits"
# The six levels a training may have, in the order they are shown (code of the training pack's table).
LEVELS = ("national", "province", "city", "county", "school", "self")
LEVEL_CODES = {"1": "national", "2": "province", "3": "city", "4": "county", "5": "school", "6": "self"}
CONFIRMERS = ("owner", "province", "school_authority")
RULE_KEYS = {"province", "name", "version", "cycle_years", "required_credits", "decimals"}
LEVEL_KEYS = {"label", "credits_per_hour", "max_per_project", "cap_per_year", "cap_per_cycle", "confirmed_by"}
REGISTRATION_KEYS = {"assessment_pass", "ethics_fail"}


@dataclass(frozen=True)
class Level:
    code: str
    label: str
    credits_per_hour: Decimal
    max_per_project: Decimal | None
    cap_per_year: Decimal | None
    cap_per_cycle: Decimal | None
    confirmed_by: str


@dataclass(frozen=True)
class CreditRule:
    """One province's conversion rule."""

    file: Path
    province: str
    name: str
    version: str
    cycle_years: int
    required_credits: Decimal
    decimals: int
    levels: dict[str, Level]
    assessment_pass: tuple[str, ...] = ("优秀", "合格")
    ethics_fail: tuple[str, ...] = ("不合格",)
    extra: dict[str, Any] = field(default_factory=dict)

    def _round(self, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP)

    def credits(self, level: str, hours: Decimal | float | int) -> Decimal:
        """Credits of one project of ``level`` attended for ``hours`` (rounded, capped per project)."""
        spec = self.levels[level]
        value = self._round(Decimal(str(hours)) * spec.credits_per_hour)
        if spec.max_per_project is not None:
            value = min(value, spec.max_per_project)
        return value

    def required_for(self, years: int) -> Decimal:
        """Credits required over ``years`` years: the cycle's requirement, pro rata for another length (rounded up)."""
        if years == self.cycle_years:
            return self.required_credits
        step = Decimal(1).scaleb(-self.decimals)
        raw = self.required_credits * years / self.cycle_years
        return (raw / step).to_integral_value(rounding="ROUND_CEILING") * step

    def counted(self, entries: Iterable[tuple[str, int, Decimal]], years: int) -> dict[str, Any]:
        """What counts of entries (level, year, credits) in a period of ``years`` years: per level and year under
        ``cap_per_year``, per level under ``cap_per_cycle`` (pro rata for a period that is not a whole cycle)."""
        per: dict[str, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        raw_total = Decimal(0)
        for level, year, credits in entries:
            per[level][year] += Decimal(credits)
            raw_total += Decimal(credits)
        by_level: dict[str, Decimal] = {}
        for level, years_of in per.items():
            spec = self.levels.get(level)
            total = Decimal(0)
            for amount in years_of.values():
                total += min(amount, spec.cap_per_year) if spec and spec.cap_per_year is not None else amount
            if spec and spec.cap_per_cycle is not None:
                cap = spec.cap_per_cycle if years == self.cycle_years else self._round(
                    spec.cap_per_cycle * years / self.cycle_years)
                total = min(total, cap)
            by_level[level] = total
        counted = sum(by_level.values(), Decimal(0))
        return {"raw": raw_total, "counted": counted, "by_level": by_level}


def _bad(path: Path, text: str, needle: str, message: str, hint: str = "", *, section: str = "") -> RulePackError:
    """The error at the first line holding ``needle`` inside ``section`` (its header line, e.g. [levels.city])."""
    start = (_line_of(text, section) or 1) - 1 if section else 0
    line = _line_of(text, needle, start) if needle else None
    return RulePackError(message, file=path, place=f"第 {line} 行" if line else None, hint=hint or None)


def _decimal(raw: dict[str, Any], key: str, path: Path, text: str, where: str, *, required: bool,
             positive: bool = False) -> Decimal | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise _bad(path, text, where, f"{where} 缺少 {key}", f"请加上 {key} = 数值。", section=where)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise _bad(path, text, f"{key} =", f"{where} 的 {key} 应为数值，而不是“{value}”", f"例如 {key} = 1.0。",
                   section=where)
    number = Decimal(str(value))
    if number < 0 or (positive and number == 0):
        raise _bad(path, text, f"{key} =", f"{where} 的 {key} 应{'大于' if positive else '不小于'} 0，现为 {value}",
                   section=where)
    return number


def _unknown(raw: dict[str, Any], allowed: set[str], path: Path, text: str, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _bad(path, text, f"{unknown[0]} =", f"{where} 有未知的键“{unknown[0]}”",
                   f"可用的键：{', '.join(sorted(allowed))}。", section=where if where.startswith("[") else "")


def load_rule(path: str | Path) -> CreditRule:
    """Load and check one rule file; RulePackError naming file, line and the fix when anything is wrong."""
    path = Path(path)
    data, text = _read_toml(path)
    head = data.get("rule")
    if not isinstance(head, dict):
        raise RulePackError("缺少 [rule] 段", file=path, hint="请在文件开头写 [rule]，并给出 province、name、version 等键。")
    _unknown(head, RULE_KEYS, path, text, "[rule]")
    _unknown(data, {"rule", "levels", "registration"}, path, text, "文件")
    province = str(head.get("province", ""))
    if not re.fullmatch(r"\d{2}0000", province):
        raise _bad(path, text, "province", f"[rule] province “{province}”不是省级单位代码",
                   "省级单位代码为 6 位、以 0000 结尾，例如 province = \"360000\"。")
    if path.stem not in (province, "default") and re.fullmatch(r"\d{6}", path.stem):
        raise _bad(path, text, "province", f"文件名 {path.name} 与 province = \"{province}\" 不一致",
                   f"请把文件改名为 {province}.toml，或改正 province。")
    cycle = head.get("cycle_years", 5)
    if isinstance(cycle, bool) or not isinstance(cycle, int) or not 1 <= cycle <= 10:
        raise _bad(path, text, "cycle_years", f"cycle_years 应为 1～10 的整数，而不是“{cycle}”", "例如 cycle_years = 5。")
    decimals = head.get("decimals", 1)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 3:
        raise _bad(path, text, "decimals", f"decimals 应为 0～3 的整数，而不是“{decimals}”")
    required = _decimal(head, "required_credits", path, text, "[rule]", required=True, positive=True)
    levels_raw = data.get("levels")
    if not isinstance(levels_raw, dict):
        raise RulePackError("缺少 [levels.*] 段", file=path,
                            hint=f"请为每个级别写一段 [levels.级别]，级别为 {'、'.join(LEVELS)}。")
    levels: dict[str, Level] = {}
    for code, raw in levels_raw.items():
        where = f"[levels.{code}]"
        if code not in LEVELS:
            raise _bad(path, text, where, f"未知的培训级别“{code}”", f"可用的级别：{'、'.join(LEVELS)}。")
        if not isinstance(raw, dict):
            raise _bad(path, text, where, f"{where} 应为一段键值")
        _unknown(raw, LEVEL_KEYS, path, text, where)
        confirmed_by = str(raw.get("confirmed_by", "owner"))
        if confirmed_by not in CONFIRMERS:
            raise _bad(path, text, "confirmed_by", f"{where} 的 confirmed_by “{confirmed_by}”无效",
                       f"可用：{'、'.join(CONFIRMERS)}。", section=where)
        levels[code] = Level(
            code=code, label=str(raw.get("label") or code),
            credits_per_hour=_decimal(raw, "credits_per_hour", path, text, where, required=True,  # type: ignore[arg-type]
                                      positive=True),
            max_per_project=_decimal(raw, "max_per_project", path, text, where, required=False, positive=True),
            cap_per_year=_decimal(raw, "cap_per_year", path, text, where, required=False),
            cap_per_cycle=_decimal(raw, "cap_per_cycle", path, text, where, required=False),
            confirmed_by=confirmed_by)
    missing = [c for c in LEVELS if c not in levels]
    if missing:
        raise RulePackError(f"缺少级别 {'、'.join(missing)} 的换算", file=path,
                            hint=f"请为每个级别写一段 [levels.级别]（{'、'.join(LEVELS)} 都要有）。")
    reg = data.get("registration", {})
    if not isinstance(reg, dict):
        raise _bad(path, text, "[registration]", "[registration] 应为一段键值")
    _unknown(reg, REGISTRATION_KEYS, path, text, "[registration]")
    lists: dict[str, tuple[str, ...]] = {}
    for key, default in (("assessment_pass", ("优秀", "合格")), ("ethics_fail", ("不合格",))):
        value = reg.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _bad(path, text, f"{key} =", f"[registration] {key} 应为字符串列表", f'例如 {key} = ["合格"]。')
        lists[key] = tuple(value)
    return CreditRule(file=path, province=province, name=str(head.get("name", province)),
                      version=str(head.get("version", "0")), cycle_years=cycle,
                      required_credits=required,  # type: ignore[arg-type]
                      decimals=decimals, levels=levels, assessment_pass=lists["assessment_pass"],
                      ethics_fail=lists["ethics_fail"])


def rules_dir(config: Any) -> Path:
    """[credits] rules, or the shipped rules/credits."""
    raw = config.get("credits", "rules") if config is not None else ""
    if not raw:
        return CREDITS_DIR
    p = Path(raw).expanduser()
    return p if p.is_absolute() else (config.base_dir / p).resolve()


def province_of(session: Any, code: str) -> str | None:
    """The province above (or at) unit ``code`` in the unit tree (a school's code says nothing about its place)."""
    from processor.store.models import Unit

    seen = 0
    unit = session.get(Unit, code)
    while unit is not None and seen < 10:
        if unit.level == "province":
            return str(unit.code)
        unit = session.get(Unit, unit.parent_code) if unit.parent_code else None
        seen += 1
    return None


def rule_for(config: Any, province: str) -> CreditRule:
    """The rule of ``province`` (its file in the rules directory); RulePackError when there is none."""
    directory = rules_dir(config)
    path = directory / f"{province}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.toml"))
        raise RulePackError(f"没有省级单位 {province} 的学分换算规则", file=path,
                            hint=f"请在 {directory} 中建立 {province}.toml（格式见 rules/credits/README.md）；"
                                 f"现有：{'、'.join(known) or '（无）'}。")
    return load_rule(path)


def rule_for_unit(config: Any, session: Any, code: str) -> CreditRule:
    """The rule of the province unit ``code`` lies in."""
    province = province_of(session, code)
    if province is None:
        raise RulePackError(f"单位 {code} 不在任何省级单位之下，无法确定学分换算规则",
                            hint="请检查单位树（tmis units show 代码）。")
    return rule_for(config, province)
