"""The rule engine: streams a workbook's rows through the checks, column-wise in chunks, with memoisation.

Per chunk of rows and per field column, the raw cells are normalised through a memo keyed by
(type(raw), raw) — most columns hold a handful of distinct values — and every row-level check is
memoised on the tuple of the values it reads, so a rule over code fields runs a few times per file,
not once per row. Messages are rendered only for failing rows, memoised on the variables they use."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import compress, zip_longest
from operator import attrgetter
from typing import Any, Protocol

from processor.checks.base import (
    INVALID,
    MEMO_LIMIT,
    BlockInfo,
    Check,
    CheckEnv,
    Chunk,
    Hit,
    NotApplicable,
    RuleError,
    load_kinds,
)
from processor.expr import ExprEnv, ExprError, MessageTemplate, freeze
from processor.findings import ERROR, WARNING, Finding, column_letter, display_value
from processor.rulepack.model import FieldSpec, RuleDef, RulePack, SheetSpec

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000
RULE_ERROR = "RULE-ERROR"
CELL_FALLBACK = "CELL-INVALID"

TYPE_NAMES = {"date": "日期", "month": "年月", "year": "年份", "int": "整数", "decimal": "数字"}
DATE_FORMATS = {"date": "YYYY-MM-DD", "month": "YYYY-MM", "year": "YYYY"}
DEFAULT_EXAMPLES = {"date": "1985-03-07", "month": "2016-09", "year": "2016", "int": "12", "decimal": "1.5"}

PersonKey = tuple[str | None, str]


class StoreLookup(Protocol):
    """The store's answers the engine needs, asked in batches per chunk (the pipeline implements it).

    A key's id_type may be None: the sheet carries no document type, so any type matches."""

    def persons_elsewhere(self, keys: list[PersonKey], unit_code: str) -> dict[PersonKey, tuple[str, str]]:
        """Persons active at a school other than unit_code → (school_code, school_name)."""
        ...

    def persons_known(self, keys: list[PersonKey]) -> set[PersonKey]:
        """Persons the store holds a 基本信息 record for."""
        ...


@dataclass(slots=True)
class RowRecord:
    """One data row after normalisation: values by field code (None when empty or unusable)."""

    sheet_id: str
    excel_row: int
    values: dict[str, Any]
    has_error: bool
    # The values as the JSON text a record version stores, when made beforehand (by the validating child of
    # processor/forked.py, so that the storing process does not spend its time on it); None: not made.
    data_json: str | None = None


@dataclass
class SheetCounts:
    rows: int = 0
    errors: int = 0
    warnings: int = 0


@dataclass
class ValidationResult:
    """Findings sorted by sheet order, row and column; rows by sheet id; counts per sheet id."""

    findings: list[Finding]
    rows: dict[str, list[RowRecord]]
    counts: dict[str, SheetCounts]
    truncated: bool
    errors: int  # all error findings, including those past the max_findings limit
    warnings: int
    error_rows: dict[str, set[int]] = field(default_factory=dict)  # sheet id → Excel rows with an error

    @property
    def total_rows(self) -> int:
        return sum(c.rows for c in self.counts.values())


class _Entry:
    """One distinct raw cell of one field after normalisation."""

    __slots__ = ("value", "issue", "info", "check", "emit", "severity")

    def __init__(self, value: Any, issue: str | None = None, info: dict[str, Any] | None = None,
                 check: Check | None = None, emit: bool = False, severity: str = ERROR) -> None:
        self.value = value
        self.issue = issue
        self.info = info or {}
        self.check = check
        self.emit = emit
        self.severity = severity


_VALUE = attrgetter("value")
_EMIT = attrgetter("emit")
EMPTY_ENTRY = _Entry(None)


class _FieldState:
    """Normaliser and memo of one field of one sheet (for one date system)."""

    __slots__ = ("spec", "normalise", "memo", "text_memo", "cell_rules", "sheet", "disabled", "any_emit",
                 "others")

    def __init__(self, spec: FieldSpec, sheet: SheetSpec, normalise: Callable[[Any], Any],
                 cell_rules: Callable[[str], Check | None], disabled: set[str]) -> None:
        self.spec = spec
        self.sheet = sheet
        self.normalise = normalise
        self.memo: dict[Any, _Entry] = _Memo(self.entry)  # (type(raw), raw) → entry
        # raw text → entry: text cells need no type in the key (text never equals a number or a date)
        self.text_memo: dict[Any, _Entry] = _Memo(self._text_entry)
        self.cell_rules = cell_rules
        self.disabled = disabled
        self.any_emit = False  # has any distinct cell of this field given a finding?
        self.others = 0  # non-text cells looked up through text_memo (decides the path of the next chunk)

    def _text_entry(self, raw: Any) -> _Entry:
        if raw.__class__ is not str:
            self.others += 1
            return self.memo[(raw.__class__, raw)]
        ent = self.memo[(str, raw)]
        memo = self.text_memo
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[raw] = ent
        return ent

    def entries(self, col: Any) -> list[_Entry]:
        """The entry of every cell of a column, through the memo (normalising each distinct cell once)."""
        if self.others * 20 <= len(col):
            self.others = 0
            return list(map(self.text_memo.__getitem__, col))
        self.others = 0
        out = list(map(self.memo.__getitem__, zip(map(type, col), col, strict=True)))
        # Come back to the text path when this chunk turns out to be all text.
        self.others = len(col) // 10 if any(e.__class__ is not str for e in col) else 0
        return out

    def entry(self, key: tuple[type, Any]) -> _Entry:
        raw = key[1]
        if raw is None or raw == "":
            ent = EMPTY_ENTRY
        else:
            try:
                cell = self.normalise(raw)
                value, issue, info = cell.value, cell.issue, dict(cell.info or {})
            except Exception:  # a normaliser must never take the run down with it
                log.exception("normaliser for %s.%s failed on %r", self.sheet.id, self.spec.code, raw)
                value, issue, info = None, CELL_FALLBACK, {}
            if issue is None:
                ent = _Entry(value) if value is not None else EMPTY_ENTRY
            else:
                check = self.cell_rules(issue)
                severity = check.rule.severity if check is not None else str(info.get("severity", ERROR))
                emit = not (check is None and (
                    issue in self.disabled or f"{issue}@{self.sheet.id}.{self.spec.code}" in self.disabled))
                usable = value is not None and severity != ERROR
                ent = _Entry(value if usable else INVALID, issue, info, check, emit, severity)
                self.any_emit = self.any_emit or emit
        memo = self.memo
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = ent
        return ent


class _Memo(dict):
    """A dict whose misses call fn, which stores what it decides to keep (unlike checks.base._Memo, which
    stores every result): text_memo must not keep non-text keys, since 1, 1.0 and True are equal keys."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: Any) -> Any:
        return self.fn(key)


@dataclass
class _Compiled:
    check: Check
    message: MessageTemplate
    hint: MessageTemplate
    names: tuple[str, ...]  # variables the message and hint read
    needs_row: bool


class Validator:
    """Checks workbooks against a rule pack. Build once (rules compile once), validate many files.

    One Validator serves one thread at a time (its memo tables and per-file state are not locked)."""

    def __init__(self, pack: RulePack, *, today: date, store_lookup: StoreLookup | None = None,
                 max_findings: int = 50_000, chunk_rows: int = CHUNK_ROWS,
                 normaliser_factory: Callable[..., Callable[[Any], Any]] | None = None) -> None:
        self.pack = pack
        self.today = today
        self.max_findings = max_findings
        self.chunk_rows = chunk_rows
        self._normaliser_factory = normaliser_factory
        self.kinds = load_kinds()
        all_fields = frozenset(f.code for s in pack.sheets.values() for f in s.fields)
        self.env = CheckEnv(today=today, expr=ExprEnv(today), store=store_lookup, all_fields=all_fields)
        self.rule_errors: list[Finding] = []
        self.checks: dict[str, list[_Compiled]] = {s: [] for s in pack.sheets}
        self.cell_checks: dict[str, dict[tuple[str, str | None], _Compiled]] = {s: {} for s in pack.sheets}
        self._by_check: dict[int, _Compiled] = {}
        self._fields: dict[tuple[str, str, bool], _FieldState] = {}
        self._render_memo: dict[Any, tuple[str, str]] = {}
        self._common: dict[tuple[int, str | None, str], dict[str, Any]] = {}
        self._gc_was_enabled = True
        self._build()

    # -- compile the rules ------------------------------------------------------------------------
    def _build(self) -> None:
        reported: set[tuple[str, str]] = set()
        for rule in self.pack.active_rules():
            for sheet, problem in self._instantiate(rule):
                if problem is None:
                    continue
                key = (rule.id if not rule.generated else f"{rule.id}@{rule.sheet}.{','.join(rule.fields)}", problem)
                if key in reported:
                    continue
                reported.add(key)
                self.rule_errors.append(self._rule_error(rule, sheet, problem))

    def _targets(self, rule: RuleDef) -> list[SheetSpec]:
        if rule.sheet != "*":
            sheet = self.pack.sheets.get(rule.sheet)
            if sheet is None:
                raise RuleError(f"工作表“{rule.sheet}”不存在")
            return [sheet]
        return [s for s in self.pack.ordered_sheets() if all(s.has_field(f) for f in rule.fields)]

    def _instantiate(self, rule: RuleDef) -> Iterator[tuple[SheetSpec | None, str | None]]:
        try:
            targets = self._targets(rule)
        except RuleError as exc:
            yield None, str(exc)
            return
        cls = self.kinds.get(rule.kind)
        if cls is None:
            yield None, f"检查类型“{rule.kind}”未知，可用：{'、'.join(sorted(self.kinds))}"
            return
        for sheet in targets:
            try:
                check = cls(rule, sheet, self.pack, self.env)
                message = self.env.expr.template(rule.message or "{{ label }}不符合规则 " + rule.id)
                hint = self.env.expr.template(rule.hint or "")
            except NotApplicable:
                continue
            except RuleError as exc:
                yield sheet, str(exc)
                continue
            except ExprError as exc:
                yield sheet, str(exc)
                continue
            except Exception as exc:  # a rule must never take the run down: report it as a rule error
                log.exception("rule %s could not be built", rule.id)
                yield sheet, f"规则无法使用（{type(exc).__name__}: {exc}）"
                continue
            names = tuple(sorted(message.names | hint.names))
            compiled = _Compiled(check, message, hint, names, "row" in names or any(
                n in self.env.all_fields for n in names))
            self._by_check[id(check)] = compiled
            if rule.kind == "cell":
                for f in check.fields or (None,):
                    self.cell_checks[sheet.id].setdefault((rule.id, f), compiled)
            else:
                self.checks[sheet.id].append(compiled)
                if rule.generated and rule.fields:
                    # The generated rule of a field also words the normaliser's finding of the same code.
                    self.cell_checks[sheet.id].setdefault((rule.id, rule.fields[0]), compiled)
            yield sheet, None

    def _rule_error(self, rule: RuleDef, sheet: SheetSpec | None, problem: str) -> Finding:
        where = rule.where or "字段规格"
        on = f"（工作表 {sheet.id}）" if sheet is not None and rule.sheet == "*" else ""
        name = f"{rule.id}@{rule.sheet}.{rule.fields[0]}" if rule.generated and rule.fields else rule.id
        return Finding(
            sheet=None, row=None, column=None, field=None, value=rule.id, rule=RULE_ERROR, severity=ERROR,
            message=f"规则 {name}（{where}）{on}无法使用：{problem}",
            hint="请改正规则文件中的这条规则（见 docs/rules.md）；本次校验已跳过该规则，其余规则照常执行。",
        )

    def _cell_rule(self, sheet_id: str, field_code: str) -> Callable[[str], Check | None]:
        table = self.cell_checks[sheet_id]

        def lookup(issue: str) -> Check | None:
            c = table.get((issue, field_code)) or table.get((issue, None))
            return c.check if c is not None else None

        return lookup

    def _field_state(self, sheet: SheetSpec, spec: FieldSpec, date1904: bool,
                     text_file: bool = False) -> _FieldState:
        key = (sheet.id, spec.code, date1904, text_file)
        state = self._fields.get(key)
        if state is None:
            factory = self._normaliser_factory
            if factory is None:
                from processor.normalise import normaliser_for as factory
            table = self.pack.tables.get(spec.table) if spec.table else None
            state = _FieldState(spec, sheet, factory(spec, table, date1904=date1904, text_file=text_file),
                                self._cell_rule(sheet.id, spec.code), self.pack.disabled)
            self._fields[key] = state
        return state

    # -- validate ---------------------------------------------------------------------------------
    def validate(self, wb: Any, *, keep_rows: bool = True,
                 on_chunk: Callable[[str, list[RowRecord]], None] | None = None) -> ValidationResult:
        """Check every recognised sheet block of a WorkbookData; RowRecords are kept when keep_rows, and
        handed to on_chunk per chunk (bounded memory) when given."""
        run = _Run(self, wb, keep_rows, on_chunk)
        # Millions of small, acyclic objects (cells, tuples, memo entries): the cyclic garbage collector
        # would rescan them again and again for nothing. Paused for the run, restored afterwards.
        was_enabled = self._gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return run.execute()
        finally:
            if was_enabled:
                gc.enable()


class _Run:
    """The state of one validation: findings, counts, rows kept."""

    def __init__(self, v: Validator, wb: Any, keep_rows: bool,
                 on_chunk: Callable[[str, list[RowRecord]], None] | None) -> None:
        self.v = v
        self.wb = wb
        self.keep_rows = keep_rows
        self.on_chunk = on_chunk
        self.findings: list[Finding] = []
        self.truncated = False
        self.errors = 0
        self.warnings = 0
        self.counts: dict[str, SheetCounts] = {}
        self.rows: dict[str, list[RowRecord]] = {}
        self.error_rows: dict[str, set[int]] = {}
        self.block_order: dict[str, int] = {}

    def execute(self) -> ValidationResult:
        v, wb = self.v, self.wb
        env = v.env
        env.unit_code = getattr(wb, "unit_code", None)
        meta = getattr(wb, "meta", None) or {}
        env.school_type = meta.get("school_type") or v.pack.school_type_for(env.unit_code)
        env.file_keys = {}
        env.file_maps = {}
        env.file_suspects = {}
        suspects: dict[str, list[tuple[str, str, str]]] = {}
        blocks = [b for b in getattr(wb, "blocks", []) if b.spec.id in v.pack.sheets]
        env.present_sheets = {b.spec.id for b in blocks}
        wanted: dict[str, set[str]] = {}
        for sid in env.present_sheets:
            for c in v.checks[sid]:
                need = c.check.collects()
                if need is not None:
                    wanted.setdefault(need[0], set()).add(need[1])
                    env.file_keys.setdefault(need, set())
                need_sus = c.check.collects_suspects()
                if need_sus is not None and (need_sus[0], need_sus[1]) not in env.file_suspects:
                    wanted.setdefault(need_sus[0], set())
                    env.file_suspects[(need_sus[0], need_sus[1])] = set()
                    suspects.setdefault(need_sus[0], []).append(need_sus)
                need_map = c.check.collects_map()
                if need_map is not None:
                    wanted.setdefault(need_map[0], set())
                    env.file_maps.setdefault(need_map, {})
        for i, b in enumerate(getattr(wb, "blocks", [])):
            self.block_order.setdefault(b.title, i)
        for f in v.rule_errors:
            self._add(f)
        for f in getattr(wb, "findings", []) or []:
            self._add(f)
        # Sheets other sheets refer to (基本信息) go first, so their keys are known when the others run.
        ordered = sorted(enumerate(blocks), key=lambda ib: (0 if ib[1].spec.id in wanted else 1, ib[0]))
        for _, block in ordered:
            self._block(block, wanted.get(block.spec.id, set()), suspects.get(block.spec.id, []))
        self.findings.sort(key=self._sort_key)
        return ValidationResult(self.findings, self.rows, self.counts, self.truncated, self.errors, self.warnings,
                                self.error_rows)

    def _sort_key(self, f: Finding) -> tuple[int, int, int, int]:
        sheet = -1 if f.sheet is None else self.block_order.get(f.sheet, 10_000)
        row = -1 if f.row is None else f.row
        col = -1 if not f.column else _column_index(f.column)
        return (sheet, row, col, 0)

    def _add(self, f: Finding) -> None:
        if f.severity == ERROR:
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.findings) >= self.v.max_findings:
            self.truncated = True
            return
        self.findings.append(f)

    # -- one sheet block ---------------------------------------------------------------------------
    def _block(self, block: Any, collect: set[str], suspects: list[tuple[str, str, str]]) -> None:
        v = self.v
        spec: SheetSpec = block.spec
        compiled = v.checks[spec.id]
        counts = self.counts.setdefault(spec.id, SheetCounts())
        error_rows = self.error_rows.setdefault(spec.id, set())
        kept = self.rows.setdefault(spec.id, []) if self.keep_rows else None
        columns: dict[str, int] = dict(block.columns)
        info = BlockInfo(spec, block.title, block.header_row, columns, tuple(getattr(block, "missing", ()) or ()),
                         tuple(getattr(block, "extra_headers", ()) or ()), block)
        date1904 = bool(getattr(self.wb, "date1904", False))
        fields = [f for f in spec.fields if f.code in columns and not f.derived]
        # A CSV holds what Excel showed, not what was typed (2016.10 shows as 2016.1): the normaliser knows.
        text_file = getattr(self.wb, "format", None) == "csv"
        states = [(f.code, columns[f.code], v._field_state(spec, f, date1904, text_file)) for f in fields]
        derived = self._derived_columns(spec, columns, info.extra_headers, block)
        # Findings name the file's column letter, derived columns included.
        ctx = _BlockCtx(block.title, {**dict(derived), **columns}, counts, error_rows, spec)
        for c in compiled:
            for hit in c.check.start(info) or ():
                self._emit(c, hit, ctx, None)
        for chunk_rows in block.iter_chunks(v.chunk_rows):
            if not chunk_rows:
                continue
            rows = [r for r, _ in chunk_rows]
            n = len(rows)
            transposed = list(zip_longest(*[cells for _, cells in chunk_rows], fillvalue=None))
            width = len(transposed)
            nones = (None,) * n
            values: dict[str, list[Any]] = {}
            raws: dict[str, Any] = {}
            for code, idx, state in states:
                col = transposed[idx] if idx < width else nones
                # (type, raw) keys keep 1, 1.0 and True apart; misses normalise once per distinct cell.
                ents = state.entries(col)
                values[code] = list(map(_VALUE, ents))
                raws[code] = col
                if state.any_emit:
                    for i in compress(range(n), map(_EMIT, ents)):
                        self._cell_issue(ents[i], code, rows[i], col[i], ctx)
            chunk = Chunk(rows, values, raws)
            counts.rows += n
            for code, idx in derived:
                if not ctx.derived_done.get(code):
                    self._derived(code, transposed[idx] if idx < width else nones, rows, ctx)
            for c in compiled:
                hits = c.check.rows(chunk)
                if hits:
                    for hit in hits:
                        self._emit(c, hit, ctx, chunk)
            for code in collect:
                if code in values:
                    self.v.env.file_keys[(spec.id, code)].update(
                        x for x in values[code] if x is not None and x is not INVALID)
            for (sid, key_code, value_code), mapping in self.v.env.file_maps.items():
                if sid == spec.id and key_code in values and value_code in values:
                    for k, x in zip(values[key_code], values[value_code], strict=True):
                        if k is not None and k is not INVALID and x is not None and x is not INVALID:
                            mapping.setdefault(k, x)
            for sid, key_code, name_code in suspects:
                names = values.get(name_code)
                if names is not None and error_rows:
                    bucket = self.v.env.file_suspects[(sid, key_code)]
                    bucket.update(names[i] for i, r in enumerate(rows) if r in error_rows and names[i])
            if kept is not None or self.on_chunk is not None:
                records = self._records(spec.id, chunk, error_rows)
                if kept is not None:
                    kept.extend(records)
                if self.on_chunk is not None:
                    # The caller's work (a database session, say) may make reference cycles: let the
                    # collector run while it works.
                    paused = not gc.isenabled() and self.v._gc_was_enabled
                    if paused:
                        gc.enable()
                    try:
                        self.on_chunk(spec.id, records)
                    finally:
                        if paused:
                            gc.disable()
        for c in compiled:
            for hit in c.check.end() or ():
                self._emit(c, hit, ctx, None)
        if kept is not None and error_rows:
            for r in kept:
                if not r.has_error and r.excel_row in error_rows:
                    r.has_error = True

    def _records(self, sheet_id: str, chunk: Chunk, error_rows: set[int]) -> list[RowRecord]:
        codes = list(chunk.values)
        cols = [chunk.values[c] for c in codes]
        out = []
        for i, row in enumerate(chunk.rows):
            vals = {c: (None if col[i] is INVALID else col[i]) for c, col in zip(codes, cols, strict=True)}
            out.append(RowRecord(sheet_id, row, vals, row in error_rows))
        return out

    def _derived_columns(self, spec: SheetSpec, columns: dict[str, int], extra: tuple[tuple[int, str], ...],
                         block: Any) -> list[tuple[str, int]]:
        out = [(f.code, columns[f.code]) for f in spec.fields if f.derived and f.code in columns]
        out += [(code, idx) for code, idx in (getattr(block, "derived", None) or {}).items()
                if code not in columns and spec.has_field(code)]
        if extra:
            from processor.rulepack.model import fold_name

            keys = {k: f.code for f in spec.fields if f.derived for k in f.header_keys()}
            for idx, text in extra:
                code = keys.get(fold_name(text))
                if code and code not in columns and all(code != c for c, _ in out):
                    out.append((code, idx))
        return out

    def _derived(self, code: str, col: Any, rows: list[int], ctx: _BlockCtx) -> None:
        """A column the system fills itself was filled in: one DERIVED-IGNORED warning per column."""
        if ctx.derived_done.get(code):
            return
        for i, raw in enumerate(col):
            if raw is None or raw == "" or (isinstance(raw, str) and not raw.strip()):
                continue
            ctx.derived_done[code] = True
            table = self.v.cell_checks[ctx.spec.id]
            # A cell rule naming this very field (QUAL-REGISTRATION) words it; else DERIVED-IGNORED.
            named = [c for (rid, f), c in table.items() if f == code]
            compiled = named[0] if named else table.get(("DERIVED-IGNORED", code)) or table.get(
                ("DERIVED-IGNORED", None))
            if compiled is not None:
                self._emit(compiled, Hit(rows[i], code, raw, None), ctx, None)
            return

    def _cell_issue(self, ent: _Entry, code: str, row: int, raw: Any, ctx: _BlockCtx) -> None:
        check = ent.check
        if check is not None:
            self._emit(self.v._by_check[id(check)], Hit(row, code, raw, ent.info), ctx, None)
            return
        # The normaliser named a finding no rule words: report it in plain terms rather than lose it.
        spec = ctx.spec.field(code)
        shown = ent.info.get("shown") or display_value(raw)
        message = ent.info.get("message") or f"{spec.label}“{shown}”无法识别"
        hint = ent.info.get("hint") or "请按模板说明的格式重新填写该单元格。"
        self._record(ctx, Finding(ctx.title, row, _letter(ctx.columns, code), code, display_value(raw),
                                  ent.issue or CELL_FALLBACK, ent.severity, str(message), str(hint)))

    def _record(self, ctx: _BlockCtx, f: Finding) -> None:
        if f.severity == ERROR:
            ctx.counts.errors += 1
            if f.row is not None:
                ctx.error_rows.add(f.row)
        else:
            ctx.counts.warnings += 1
        self._add(f)

    def _emit(self, c: _Compiled, hit: Hit, ctx: _BlockCtx, chunk: Chunk | None) -> None:
        rule = c.check.rule
        severity = rule.severity if rule.severity in (ERROR, WARNING) else ERROR
        if severity == ERROR:
            ctx.counts.errors += 1
            if hit.row is not None:
                ctx.error_rows.add(hit.row)
        else:
            ctx.counts.warnings += 1
        if len(self.findings) >= self.v.max_findings:
            self.truncated = True
            if severity == ERROR:
                self.errors += 1
            else:
                self.warnings += 1
            return
        value = display_value(hit.raw) or None
        message, hint = self._render(c, hit, ctx, chunk, value)
        f = Finding(ctx.title, hit.row, _letter(ctx.columns, hit.field), hit.field, value, rule.id, severity,
                    message, hint)
        self._add(f)

    def _render(self, c: _Compiled, hit: Hit, ctx: _BlockCtx, chunk: Chunk | None,
                value: str | None) -> tuple[str, str]:
        extra = hit.extra or {}
        message_tpl, hint_tpl, names = c.message, c.hint, c.names
        common = self._common(c, hit.field, ctx)
        variables: dict[str, Any] = dict(common)
        variables["value"] = value
        variables["excel_row"] = hit.row
        variables.update(extra)
        if c.needs_row:
            row_values = chunk.row_values(hit.index) if chunk is not None and hit.index is not None else {}
            variables["row"] = row_values
            for code in self.v.env.all_fields:
                if code in names and code not in variables:
                    variables[code] = row_values.get(code)
        key = (id(c), message_tpl.source, hint_tpl.source,
               tuple((n, freeze(variables.get(n))) for n in names))
        memo = self.v._render_memo
        out = memo.get(key)
        if out is None:
            out = (message_tpl.render(variables), hint_tpl.render(variables))
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[key] = out
        return out

    def _common(self, c: _Compiled, field_code: str | None, ctx: _BlockCtx) -> dict[str, Any]:
        key = (id(c), field_code, ctx.title)
        hit = self.v._common.get(key)
        if hit is not None:
            return hit
        rule, spec = c.check.rule, ctx.spec
        fs = spec.field(field_code) if field_code and spec.has_field(field_code) else None
        table = self.v.pack.tables.get(fs.table) if fs is not None and fs.table else None
        example = (fs.example if fs is not None and fs.example else None) or (
            table.choices()[0] if table is not None and table.choices() else
            DEFAULT_EXAMPLES.get(fs.type if fs is not None else "", ""))
        variables: dict[str, Any] = dict(rule.params)
        variables.update(c.check.p)
        variables.update(
            label=fs.label if fs is not None else (spec.name if field_code is None else field_code),
            field=field_code,
            sheet=ctx.title,
            sheet_name=spec.name,
            labels={f.code: f.label for f in spec.fields},
            table_title=table.title if table is not None else "",
            example=example,
            type_name=TYPE_NAMES.get(fs.type, "有效值") if fs is not None else "",
            date_format=DATE_FORMATS.get(fs.type, "") if fs is not None else "",
            choices_hint="（可从下拉列表中选择）" if table is not None else "",
            today=self.v.today,
        )
        self.v._common[key] = variables
        return variables


@dataclass
class _BlockCtx:
    title: str
    columns: dict[str, int]
    counts: SheetCounts
    error_rows: set[int]
    spec: SheetSpec
    derived_done: dict[str, bool] = field(default_factory=dict)


def _letter(columns: dict[str, int], field_code: str | None) -> str | None:
    if not field_code:
        return None
    idx = columns.get(field_code)
    return None if idx is None else column_letter(idx)


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        if not ("A" <= ch <= "Z"):
            return 0
        n = n * 26 + (ord(ch) - 64)
    return n


def summarise(result: ValidationResult) -> dict[str, int]:
    """Totals for receipts and the CLI: rows, errors, warnings."""
    return {"rows": result.total_rows, "errors": result.errors, "warnings": result.warnings}


__all__ = ["Validator", "ValidationResult", "RowRecord", "SheetCounts", "StoreLookup", "summarise"]
