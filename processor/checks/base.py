"""The one interface every check kind shares: a registry by kind, typed params, start/rows/end phases yielding hits."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import compress
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from processor.expr import ExprEnv, ExprError, Expression, evaluate
from processor.rulepack.model import FieldSpec, RuleDef, RulePack, SheetSpec

if TYPE_CHECKING:
    from processor.engine import StoreLookup


class _Invalid:
    """The value of a cell whose normalisation failed: filled, but unusable for cross-field checks."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<invalid>"

    def __reduce__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()

# Memo tables are cleared when they grow past this many entries: bounded memory on million-row files
# whose key columns (identity numbers, names) hardly repeat. Columns that do repeat (codes, months, dates)
# have far fewer distinct values; 50,000 instead of 200,000 took about 25 MB off a 1,000,000-row check.
MEMO_LIMIT = 50_000


class RuleError(Exception):
    """A rule cannot be used as written; becomes a RULE-ERROR finding and the run goes on without the rule."""


class NotApplicable(RuleError):
    """A rule written for every sheet ("*") that has nothing to do on this one: skipped without a finding."""


class Hit(NamedTuple):
    """A check's raw result: which row and field, the cell as written, and the kind's message variables."""

    row: int | None  # Excel row; None for a sheet-level hit
    field: str | None
    raw: Any  # the cell as written (display_value is applied when the finding is made)
    extra: dict[str, Any] | None = None
    index: int | None = None  # index in the chunk, when the hit comes from rows()


@dataclass
class CheckEnv:
    """What checks may consult besides their rule: the day, the expression sandbox, the store, file facts."""

    today: date
    expr: ExprEnv
    store: StoreLookup | None = None
    all_fields: frozenset[str] = frozenset()
    shared: dict[str, Any] = field(default_factory=dict)  # caches several checks share (across files)
    # per file (set by the engine before each workbook)
    unit_code: str | None = None
    school_type: str | None = None  # template variant of the file's school (None: unknown)
    file_keys: dict[tuple[str, str], set[Any]] = field(default_factory=dict)  # (sheet, field) → values in file
    # (sheet, key field, value field) → {key: value} of that sheet in the file (first row per key wins)
    file_maps: dict[tuple[str, str, str], dict[Any, Any]] = field(default_factory=dict)
    present_sheets: set[str] = field(default_factory=set)  # sheet ids found in the file
    # (sheet, field) → names (姓名) on rows of that sheet that have an error: their key may be the typo
    file_suspects: dict[tuple[str, str], set[Any]] = field(default_factory=dict)


@dataclass
class BlockInfo:
    """The block being checked, as checks see it in start()."""

    sheet: SheetSpec
    title: str
    header_row: int
    columns: dict[str, int]
    missing: tuple[str, ...]
    extra_headers: tuple[tuple[int, str], ...] = ()
    raw_block: Any = None


class Chunk:
    """A slice of rows, column-wise: normalised values (None empty, INVALID failed) and raw cells per field."""

    __slots__ = ("rows", "n", "values", "raws", "_none", "cache")

    def __init__(self, rows: list[int], values: dict[str, list[Any]], raws: dict[str, Any]) -> None:
        self.rows = rows
        self.n = len(rows)
        self.values = values
        self.raws = raws
        self._none: list[Any] | None = None
        self.cache: dict[Any, Any] = {}  # per-chunk results several checks share (e.g. identity analyses)

    def column(self, name: str) -> list[Any]:
        """The values of a field (all None when the sheet lacks the column)."""
        col = self.values.get(name)
        if col is None:
            if self._none is None:
                self._none = [None] * self.n
            return self._none
        return col

    def raw(self, name: str | None, i: int) -> Any:
        col = self.raws.get(name) if name else None
        return None if col is None else col[i]

    def hit(self, i: int, name: str | None, extra: dict[str, Any] | None = None) -> Hit:
        return Hit(self.rows[i], name, self.raw(name, i), extra, i)

    def row_values(self, i: int) -> dict[str, Any]:
        return {k: (None if col[i] is INVALID else col[i]) for k, col in self.values.items()}


class ParamSpec(NamedTuple):
    types: tuple[type, ...]
    required: bool = False
    default: Any = None


REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: make a check kind available under its `kind` name."""
    REGISTRY[cls.kind] = cls
    return cls


def load_kinds() -> dict[str, type[Check]]:
    """Import every module of processor.checks so that each kind registers itself."""
    import processor.checks as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name != "base":
            importlib.import_module(f"processor.checks.{info.name}")
    return REGISTRY


class Check:
    """One rule applied to one sheet. Phases: start(block) → hits, rows(chunk) → hits, end() → hits.

    Subclasses declare `kind`, `params` (name → ParamSpec), and either override `test` (row-level, memoised
    on the values of the names read) or the phase methods."""

    kind: ClassVar[str] = ""
    params: ClassVar[dict[str, ParamSpec]] = {}
    min_fields: ClassVar[int] = 1
    max_fields: ClassVar[int | None] = None
    skips_invalid: ClassVar[bool] = True  # a failed cell in `fields` makes the row undecidable for this check
    # Applied to the check's own columns before memoising (a C-level callable keeps it fast), e.g. "is it
    # empty?" for required/blank, so that a rule over names or identity numbers memoises on True/False.
    project: ClassVar[Callable[[Any], Any] | None] = None
    constants_ok: ClassVar[bool] = False  # other keys of the rule are named constants (expression)

    def __init__(self, rule: RuleDef, sheet: SheetSpec, pack: RulePack, env: CheckEnv) -> None:
        self.rule = rule
        self.sheet = sheet
        self.pack = pack
        self.env = env
        self.p = self._check_params()
        n = len(rule.fields)
        if n < self.min_fields:
            raise RuleError(f"检查类型 {self.kind} 至少需要 {self.min_fields} 个字段（fields）")
        if self.max_fields is not None and n > self.max_fields:
            raise RuleError(f"检查类型 {self.kind} 最多只能有 {self.max_fields} 个字段（fields）")
        for code in rule.fields:
            if not sheet.has_field(code):
                raise RuleError(f"字段“{code}”不在工作表 {sheet.id}（{sheet.name}）中")
        self.fields: tuple[str, ...] = tuple(rule.fields)
        self.when: Expression | None = self._compile(rule.when, "when") if rule.when else None
        self.setup()
        own = tuple(self.reads())
        when_names = tuple(sorted(n for n in self.when.names if n not in self.p)) if self.when else ()
        # The key of the memo: the check's own values (projected when the kind says so), then the values
        # `when` reads that are not already among them (all of them when projected: they differ).
        if self.project is not None:
            extra = when_names
        else:
            extra = tuple(n for n in when_names if n not in own)
        self.names: tuple[str, ...] = own + extra
        self._own_count = len(own)
        self._when_pos: tuple[int, ...] = tuple(
            (len(own) + extra.index(n)) if n in extra else own.index(n) for n in when_names)
        self._memo: dict[Any, Any] = _Memo(self._evaluate_key)
        self._single = len(self.names) == 1
        self._none_key = not self.names
        self._when_names: tuple[str, ...] = when_names
        self._when_memo: dict[Any, Any] = _Memo(self._when_key)

    # -- construction helpers -------------------------------------------------------------------------
    def _check_params(self) -> dict[str, Any]:
        given = dict(self.rule.params)
        out: dict[str, Any] = {}
        for name, spec in self.params.items():
            if name in given and given[name] is None and not spec.required:
                given.pop(name)
                out[name] = spec.default
            elif name in given:
                value = given.pop(name)
                if spec.types and not isinstance(value, spec.types) or isinstance(value, bool) and bool not in spec.types:
                    names = "、".join(_TYPE_NAMES.get(t, t.__name__) for t in spec.types)
                    raise RuleError(f"参数 {name} 的值 {value!r} 类型不对，应为{names}")
                out[name] = value
            elif spec.required:
                raise RuleError(f"检查类型 {self.kind} 缺少参数 {name}")
            else:
                out[name] = spec.default
        if given and self.constants_ok:
            for name, value in given.items():
                if name in self.env.all_fields:
                    raise RuleError(f"参数名 {name} 与字段代码相同，请换一个名字")
                out[name] = value
            given = {}
        if given:
            allowed = "、".join(self.params) or "（无）"
            raise RuleError(f"检查类型 {self.kind} 不认识参数 {'、'.join(sorted(given))}；可用参数：{allowed}")
        return out

    def _compile(self, source: Any, what: str) -> Expression:
        if not isinstance(source, str):
            raise RuleError(f"{what} 应为字符串表达式")
        try:
            expr = self.env.expr.expression(source)
        except ExprError as exc:
            raise RuleError(str(exc)) from exc
        unknown = sorted(n for n in expr.names if n not in self.env.all_fields and n not in self.p)
        if unknown:
            raise RuleError(f"{what} 表达式“{source}”中的名称 {'、'.join(unknown)} 不是字段代码或可用函数"
                            "（可用：字段代码、today、years、month、year）")
        return expr

    def field_spec(self, code: str) -> FieldSpec:
        return self.sheet.field(code)

    def setup(self) -> None:
        """Kind-specific validation of params and precomputation; raise RuleError when unusable."""

    def reads(self) -> tuple[str, ...]:
        """The field codes whose values `test` receives, in order (default: the rule's fields)."""
        return self.fields

    @property
    def target(self) -> str | None:
        """The field whose cell gets marked."""
        return self.fields[0] if self.fields else None

    # -- phases --------------------------------------------------------------------------------------
    def start(self, block: BlockInfo) -> Iterable[Hit]:
        """Called once per sheet block before its rows; may yield sheet-level hits."""
        self.block = block
        return ()

    def rows(self, chunk: Chunk) -> Iterable[Hit]:
        """Row-level: the memoised `test` on the tuple of values of `names`; yields a hit per failing row."""
        project, own = self.project, self._own_count
        cols: list[Iterable[Any]] = [
            map(project, chunk.column(n)) if project is not None and i < own else chunk.column(n)
            for i, n in enumerate(self.names)]
        if self._single:
            keys: Iterable[Any] = cols[0]
        elif self._none_key:
            keys = [()] * chunk.n
        else:
            keys = zip(*cols, strict=True)
        memo = self._memo
        results = list(map(memo.__getitem__, keys))
        if len(memo) > MEMO_LIMIT:
            memo.clear()
        return self._hits(chunk, results)

    def _hits(self, chunk: Chunk, results: list[Any]) -> Iterator[Hit]:
        for i in compress(range(chunk.n), results):
            for name, extra in results[i]:
                yield chunk.hit(i, name, extra)

    def end(self) -> Iterable[Hit]:
        """Called once per sheet block after its rows; may yield cross-row hits."""
        return ()

    def collects(self) -> tuple[str, str] | None:
        """(sheet id, field) whose values in the file this check needs before its own sheet is checked."""
        return None

    def collects_suspects(self) -> tuple[str, str, str] | None:
        """(sheet id, key field, name field): names on that sheet's rows that got an error."""
        return None

    def collects_map(self) -> tuple[str, str, str] | None:
        """(sheet id, key field, value field): a key → value map of another sheet this check needs first."""
        return None

    def when_mask(self, chunk: Chunk) -> list[bool] | None:
        """Per row: does `when` hold (None when the rule has no `when`)? Memoised on the names it reads."""
        if self.when is None:
            return None
        names = self._when_names
        if not names:
            return [self._when_key(())] * chunk.n
        if len(names) == 1:
            keys: Iterable[Any] = chunk.column(names[0])
        else:
            keys = zip(*[chunk.column(n) for n in names], strict=True)
        memo = self._when_memo
        out = list(map(memo.__getitem__, keys))
        if len(memo) > MEMO_LIMIT:
            memo.clear()
        return out

    def _when_key(self, key: Any) -> bool:
        vals = (key,) if len(self._when_names) == 1 else key
        if any(v is INVALID for v in vals):
            return False
        ctx = dict(zip(self._when_names, vals, strict=True))
        ctx.update({k: v for k, v in self.p.items() if k in self.when.names})
        ok, result = evaluate(self.when, ctx)
        return bool(ok and result)

    # -- row-level evaluation -------------------------------------------------------------------------
    def _evaluate_key(self, key: Any) -> tuple[tuple[str | None, dict[str, Any] | None], ...]:
        vals = (key,) if self._single else key
        if self.when is not None:
            ctx = {n: vals[i] for n, i in zip(self._when_names, self._when_pos, strict=True)}
            if any(v is INVALID for v in ctx.values()):
                return ()
            for n in self.when.names:
                if n in self.p:
                    ctx[n] = self.p[n]
            ok, result = evaluate(self.when, ctx)
            if not ok or not result:
                return ()
        own = vals[: self._own_count]
        if self.skips_invalid and any(v is INVALID for v in own):
            return ()
        try:
            out = self.test(own)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, ArithmeticError):
            return ()
        if not out:
            return ()
        if isinstance(out, dict):
            return ((self.target, out),)
        if out is True:
            return ((self.target, None),)
        return tuple(out)

    def test(self, values: tuple[Any, ...]) -> Any:
        """Row-level test on the values of reads(): falsy = pass; True or a dict of variables = fail on the
        target; or a list of (field, variables) pairs."""
        return None


class _Memo(dict):
    """A dict that computes missing entries (a memo whose misses run the check)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        value = self.fn(key)
        self[key] = value
        return value


_TYPE_NAMES = {str: "字符串", int: "整数", float: "数字", bool: "true 或 false", list: "列表"}


def number(x: Any) -> float | None:
    """A numeric value of a normalised cell (int, float); None for anything else."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return x
    return None


EMPTY_VALUES = frozenset({None, "", ()})  # normalised values that mean "nothing filled in"


def is_empty(x: Any) -> bool:
    return x is None or (isinstance(x, (str, tuple)) and len(x) == 0)
