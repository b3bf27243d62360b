"""expression: an `assert` expression over the row holds (the rule fires when it is false)."""

from __future__ import annotations

from typing import Any

from processor.checks.base import INVALID, Check, ParamSpec, register
from processor.expr import evaluate


@register
class ExpressionCheck(Check):
    kind = "expression"
    params = {"assert": ParamSpec((str,), required=True)}
    min_fields = 0
    constants_ok = True  # e.g. limit = 70 next to assert = "years(birth_date, today) < limit"

    def setup(self) -> None:
        self.assertion = self._compile(self.p["assert"], "assert")
        params = {k: v for k, v in self.p.items() if k != "assert"}
        self.constants = params
        self._reads = tuple(sorted(n for n in self.assertion.names if n not in self.p))

    def reads(self) -> tuple[str, ...]:
        return self._reads

    def test(self, values: tuple[Any, ...]) -> Any:
        if any(v is INVALID for v in values):
            return None
        ctx = dict(zip(self._reads, values, strict=True))
        ctx.update(self.constants)
        ok, result = evaluate(self.assertion, ctx)
        return ok and not result
