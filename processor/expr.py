"""Sandboxed Jinja2 for rules: `when` / `assert` expressions and Chinese message templates, compiled once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MONTH_TEXT = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")

# Names every expression and message may use besides field codes.
HELPERS = ("today", "years", "month", "year")


class ExprError(Exception):
    """An expression or template of a rule cannot be compiled (the message says why, in Chinese)."""


def _as_date(x: Any) -> date | None:
    """A date from a date, a datetime, a 'YYYY-MM' / 'YYYY-MM-DD' text or a year (int)."""
    if x is None:
        return None
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return date(x, 1, 1) if 1 <= x <= 9999 else None
    if isinstance(x, str):
        m = MONTH_TEXT.match(x.strip())
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
            except ValueError:
                return None
    return None


def years(a: Any, b: Any) -> int | None:
    """Whole years from a to b (dates, 'YYYY-MM' months or years); None when either is unknown."""
    da, db = _as_date(a), _as_date(b)
    if da is None or db is None:
        return None
    return db.year - da.year - ((db.month, db.day) < (da.month, da.day))


def month(x: Any) -> str | None:
    """'YYYY-MM' of a date or a month; None when unknown."""
    d = _as_date(x)
    return None if d is None else f"{d.year:04d}-{d.month:02d}"


def year(x: Any) -> int | None:
    """The year of a date, a month or a year; None when unknown."""
    d = _as_date(x)
    return None if d is None else d.year


def show(value: Any) -> Any:
    """How a value appears inside a Chinese message: no 'None', no '3.0', codes joined by commas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if not (value.hour or value.minute or value.second) else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return ",".join(str(show(v)) for v in value)
    return value


@dataclass(frozen=True)
class Expression:
    """A compiled boolean/value expression and the names it reads."""

    source: str
    names: frozenset[str]
    fn: Callable[..., Any]

    def __call__(self, context: dict[str, Any]) -> Any:
        return self.fn(**context)


@dataclass(frozen=True)
class MessageTemplate:
    """A compiled message template and the names it reads."""

    source: str
    names: frozenset[str]
    render: Callable[[dict[str, Any]], str]


class ExprEnv:
    """One sandbox per Validator: helpers bound to the day of the check."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, finalize=show, keep_trailing_newline=False
        )
        self.env.globals.update(today=today, years=years, month=month, year=year)
        # Messages are lenient: a variable a check does not supply for this case renders as nothing.
        self.text_env = ImmutableSandboxedEnvironment(
            undefined=ChainableUndefined, autoescape=False, finalize=show, keep_trailing_newline=False
        )
        self.text_env.globals.update(self.env.globals)
        self._templates: dict[str, MessageTemplate] = {}

    def _names(self, source: str) -> frozenset[str]:
        return frozenset(meta.find_undeclared_variables(self.env.parse(source)))

    def expression(self, source: str) -> Expression:
        """Compile a `when` / `assert` expression; raises ExprError with a Chinese reason."""
        if not isinstance(source, str) or not source.strip():
            raise ExprError("表达式为空")
        try:
            names = self._names("{{ (" + source + ") }}")
            fn = self.env.compile_expression(source, undefined_to_none=False)
        except TemplateSyntaxError as exc:
            raise ExprError(f"表达式“{source}”语法错误（{exc.message}）") from exc
        except TemplateError as exc:
            raise ExprError(f"表达式“{source}”无法编译（{exc}）") from exc
        return Expression(source, names - set(HELPERS), fn)

    def template(self, source: str) -> MessageTemplate:
        """Compile a message/hint template (cached by text); raises ExprError with a Chinese reason."""
        hit = self._templates.get(source)
        if hit is not None:
            return hit
        try:
            names = frozenset(meta.find_undeclared_variables(self.text_env.parse(source)))
            tpl = self.text_env.from_string(source)
        except TemplateSyntaxError as exc:
            raise ExprError(f"消息模板“{source}”语法错误（{exc.message}）") from exc
        except TemplateError as exc:
            raise ExprError(f"消息模板“{source}”无法编译（{exc}）") from exc

        def render(variables: dict[str, Any], _tpl: Any = tpl, _src: str = source) -> str:
            try:
                return _tpl.render(variables)
            except (UndefinedError, SecurityError, TypeError, ValueError, AttributeError, KeyError) as exc:
                # A message that cannot be rendered must not lose the finding: show the raw template.
                return f"{_src}（消息模板无法生成：{exc}）"

        out = MessageTemplate(source, names - set(HELPERS), render)
        self._templates[source] = out
        return out


def evaluate(expr: Expression, context: dict[str, Any]) -> tuple[bool, Any]:
    """(ok, result): ok is False when the expression could not be decided for these values."""
    try:
        return True, expr(context)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError, OverflowError,
            UndefinedError, SecurityError, ArithmeticError):
        return False, None


def freeze(value: Any) -> Any:
    """A hashable stand-in for a message variable (dicts and lists become tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, set, frozenset)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(freeze(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def all_names(exprs: Iterable[Expression | None]) -> set[str]:
    """The union of the names read by several expressions."""
    out: set[str] = set()
    for e in exprs:
        if e is not None:
            out |= e.names
    return out
