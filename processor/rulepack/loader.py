"""Load the core rule pack and a province overlay from TOML and CSV, reporting mistakes with file and line."""

from __future__ import annotations

import csv
import io
import re
import tomllib
from pathlib import Path
from typing import Any

from processor.errors import RulePackError
from processor.findings import SEVERITIES
from processor.rulepack.model import (
    FIELD_TYPES,
    CodeEntry,
    CodeTable,
    FieldSpec,
    RuleDef,
    RulePack,
    SheetSpec,
    fold_name,
)

ALIAS_COLUMNS = ("short_name", "alpha2", "alpha3")
RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
FIELD_CODE = re.compile(r"^[a-z][a-z0-9_]*$")

FIELD_KEYS = {
    "code", "label", "type", "required", "derived", "table", "max_length", "min", "max", "pattern",
    "aliases", "width", "default", "example", "note", "confidence", "source", "variants",
}
SHEET_KEYS = {"id", "name", "category", "order", "records", "aliases", "new_teacher", "note", "confidence"}
RULE_KEYS = {"id", "kind", "sheet", "fields", "severity", "when", "message", "hint", "source"}

# Rules generated from the field specifications; their ids are stable finding codes like any other.
GENERATED = {
    "REQUIRED": ("required", "error", "{{ label }}为必填项，不能为空", "请在该单元格填写{{ label }}{{ choices_hint }}。"),
    "CODE-UNKNOWN": (
        "codelist", "error", "{{ label }}“{{ value }}”不在代码表《{{ table_title }}》中",
        "请从下拉列表中选择，可填代码、名称或“代码-名称”，例如“{{ example }}”。",
    ),
    "DATE-INVALID": ("date", "error", "{{ label }}“{{ value }}”不是有效的{{ type_name }}{% if excel_1900 %}："
                     "Excel 把 1900 年当作闰年，其中的 1900-02-29 并不存在（读出时与 1900-02-28 无法区分）"
                     "{% elif bad_year %}：年份 {{ bad_year }} 不在 {{ min_year }}～{{ max_year }} 年之间{% endif %}",
                     "{% if bad_year %}年份应在 {{ min_year }}～{{ max_year }} 年之间，请核对年份是否输错。"
                     "{% else %}请按 {{ date_format }} 填写，例如 {{ example }}。{% endif %}"),
    "NUMBER-INVALID": ("number", "error", "{{ label }}“{{ value }}”不是{{ type_name }}",
                       "请只填写阿拉伯数字，不要带单位或文字。"),
    "LENGTH-MAX": ("length", "error", "{{ label }}长度为 {{ length }} 个字符，超过上限 {{ max }}",
                   "请删减到 {{ max }} 个字符以内。"),
    "NUMBER-RANGE": ("range", "error", "{{ label }}“{{ value }}”超出允许范围 {{ min }}～{{ max }}",
                     "请填写 {{ min }} 到 {{ max }} 之间的数。"),
    "PATTERN": ("pattern", "error", "{{ label }}“{{ value }}”格式不正确", "{{ pattern_hint }}"),
}


def _line_of(text: str, needle: str, start: int = 0) -> int | None:
    """1-based line of the first occurrence of needle at or after line `start` (0-based)."""
    lines = text.splitlines()
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i + 1
    return None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RulePackError("文件不是 UTF-8 编码", file=path, hint="请用 UTF-8 编码保存该文件。") from exc
    except OSError as exc:
        raise RulePackError(f"无法读取文件（{exc.strerror}）", file=path) from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        place = f"第 {m.group(1)} 行" if m else None
        raise RulePackError(
            f"TOML 语法错误（{exc}）", file=path, place=place, hint="请检查引号、括号和等号是否成对、完整。"
        ) from exc


def _bad(path: Path, text: str, needle: str, message: str, hint: str = "") -> RulePackError:
    line = _line_of(text, needle) if needle else None
    return RulePackError(message, file=path, place=f"第 {line} 行" if line else None, hint=hint or None)


def _parse_field(raw: dict[str, Any], path: Path, text: str, sheet_id: str) -> FieldSpec:
    code = raw.get("code")
    if not isinstance(code, str) or not FIELD_CODE.match(code):
        raise _bad(path, text, f'"{code}"' if code else "[[field]]",
                   f"字段代码“{code}”无效", "字段代码须为小写英文字母、数字和下划线，例如 birth_date。")
    unknown = set(raw) - FIELD_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise _bad(path, text, f"{key} =", f"字段 {code} 有未知的键“{key}”",
                   f"可用的键：{', '.join(sorted(FIELD_KEYS))}。")
    ftype = raw.get("type", "text")
    if ftype not in FIELD_TYPES:
        raise _bad(path, text, f'"{ftype}"', f"字段 {code} 的类型“{ftype}”未知",
                   f"可用的类型：{', '.join(FIELD_TYPES)}。")
    if "label" not in raw:
        raise _bad(path, text, f'"{code}"', f"字段 {code} 缺少 label（中文字段名）", "请加上 label = \"中文名\"。")
    table = raw.get("table")
    if ftype in ("code", "codes") and not table:
        raise _bad(path, text, f'"{code}"', f"代码型字段 {code} 没有指定代码表", "请加上 table = \"代码表名\"。")
    if ftype == "yesno":
        table = table or "yesno"
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise _bad(path, text, "aliases", f"字段 {code} 的 aliases 应为字符串列表")
    try:
        return FieldSpec(
            code=code,
            label=str(raw["label"]),
            type=ftype,
            required=bool(raw.get("required", False)),
            derived=bool(raw.get("derived", False)),
            table=table,
            max_length=raw.get("max_length"),
            min=raw.get("min"),
            max=raw.get("max"),
            pattern=raw.get("pattern"),
            aliases=tuple(aliases),
            width=raw.get("width"),
            default=None if raw.get("default") is None else str(raw.get("default")),
            example=None if raw.get("example") is None else str(raw.get("example")),
            note=str(raw.get("note", "")),
            confidence=str(raw.get("confidence", "C")),
            source=str(raw.get("source", "")),
            variants=tuple(raw.get("variants", ())),
        )
    except (TypeError, ValueError) as exc:
        raise _bad(path, text, f'"{code}"', f"字段 {code} 的定义有误（{exc}）") from exc


def _load_sheet(path: Path) -> SheetSpec:
    data, text = _read_toml(path)
    head = data.get("sheet")
    if not isinstance(head, dict):
        raise RulePackError("缺少 [sheet] 段", file=path, hint="每个工作表定义文件须以 [sheet] 段开头（id、name、category）。")
    unknown = set(head) - SHEET_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise _bad(path, text, f"{key} =", f"[sheet] 段有未知的键“{key}”", f"可用的键：{', '.join(sorted(SHEET_KEYS))}。")
    for key in ("id", "name", "category"):
        if key not in head:
            raise RulePackError(f"[sheet] 段缺少 {key}", file=path, place="[sheet]")
    records = head.get("records", "many")
    if records not in ("one", "many"):
        raise _bad(path, text, "records", f"records 应为 \"one\" 或 \"many\"，实际为“{records}”")
    raw_fields = data.get("field", [])
    if not isinstance(raw_fields, list) or not raw_fields:
        raise RulePackError("没有任何 [[field]] 字段定义", file=path)
    fields = [_parse_field(f, path, text, head["id"]) for f in raw_fields]
    seen: set[str] = set()
    for f in fields:
        if f.code in seen:
            raise _bad(path, text, f'"{f.code}"', f"字段代码 {f.code} 重复", "同一工作表内字段代码必须唯一。")
        seen.add(f.code)
    return SheetSpec(
        id=str(head["id"]),
        name=str(head["name"]),
        category=int(head["category"]),
        order=int(head.get("order", head["category"] * 10)),
        records=records,
        fields=fields,
        aliases=tuple(head.get("aliases", ())),
        new_teacher=bool(head.get("new_teacher", False)),
        note=str(head.get("note", "")),
        confidence=str(head.get("confidence", "C")),
        file=str(path),
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulePackError(f"无法读取代码表（{exc.strerror}）", file=path) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RulePackError("代码表不是 UTF-8 编码", file=path, hint="请用 UTF-8 编码保存该 CSV 文件。") from exc
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for lineno, row in enumerate(reader, start=2):
        if None in row:
            raise RulePackError("该行的列数多于表头", file=path, place=f"第 {lineno} 行",
                                hint="含逗号的值请用英文双引号括起来。")
        row["__line__"] = str(lineno)
        rows.append(row)
    return rows


def _load_table(path: Path, meta: dict[str, Any], existing: CodeTable | None = None) -> CodeTable:
    rows = _read_csv(path)
    entries: dict[str, CodeEntry] = dict(existing.entries) if existing else {}
    for row in rows:
        code = (row.get("code") or "").strip()
        name = (row.get("name") or "").strip()
        if not code or not name:
            raise RulePackError("代码或名称为空", file=path, place=f"第 {row['__line__']} 行",
                                hint="代码表的每一行都须有 code 和 name 两列。")
        if code in entries and not existing:
            raise RulePackError(f"代码 {code} 重复", file=path, place=f"第 {row['__line__']} 行")
        aliases = tuple(a.strip() for a in (row.get("aliases") or "").split("|") if a.strip())
        # Other names a table carries in columns of their own (GB/T 4762 简称, GB/T 2659 letter codes).
        aliases += tuple(v.strip() for c in ALIAS_COLUMNS if (v := row.get(c) or "").strip())
        selectable = (row.get("selectable") or "").strip().lower() not in ("0", "false", "no", "否")
        entries[code] = CodeEntry(code=code, name=name, parent=(row.get("parent") or "").strip() or None,
                                  aliases=aliases, note=(row.get("note") or "").strip(), selectable=selectable)
    table_id = path.name.removesuffix(".add.csv").removesuffix(".csv")
    table = CodeTable(
        id=table_id,
        title=str(meta.get("title", existing.title if existing else table_id)),
        entries=entries,
        source=str(meta.get("source", existing.source if existing else "")),
        confidence=str(meta.get("confidence", existing.confidence if existing else "C")),
        strip_suffix=str(meta.get("strip_suffix", existing.strip_suffix if existing else "")),
        historical=dict(existing.historical) if existing else {},
        file=str(path),
    )
    return table


def _load_tables(codes_dir: Path, tables: dict[str, CodeTable]) -> None:
    meta_path = codes_dir / "tables.toml"
    meta: dict[str, Any] = {}
    if meta_path.exists():
        meta, _ = _read_toml(meta_path)
    for path in sorted(codes_dir.glob("*.csv")):
        if path.name.endswith(".add.csv") or path.name.endswith(".historical.csv"):
            continue
        tmeta = meta.get(path.stem, {})
        old = tables.get(path.stem)
        if old and not tmeta:  # an overlay replacing a table keeps its title unless it gives a new one
            tmeta = {"title": old.title, "source": old.source, "confidence": old.confidence,
                     "strip_suffix": old.strip_suffix}
        tables[path.stem] = _load_table(path, tmeta)
    for path in sorted(codes_dir.glob("*.add.csv")):
        tid = path.name.removesuffix(".add.csv")
        if tid not in tables:
            raise RulePackError(f"要追加代码的代码表“{tid}”不存在", file=path,
                                hint="追加文件名须为 已有代码表名.add.csv。")
        tables[tid] = _load_table(path, meta.get(tid, {}), tables[tid])
    for path in sorted(codes_dir.glob("*.historical.csv")):
        tid = path.name.removesuffix(".historical.csv")
        if tid not in tables:
            raise RulePackError(f"旧称对照所属的代码表“{tid}”不存在", file=path)
        for row in _read_csv(path):
            alias, code = (row.get("alias") or "").strip(), (row.get("code") or "").strip()
            if code not in tables[tid].entries:
                raise RulePackError(f"代码 {code} 不在代码表 {tid} 中", file=path, place=f"第 {row['__line__']} 行")
            tables[tid].historical[fold_name(alias)] = code
    for tid, tmeta in meta.items():
        if tid in tables and isinstance(tmeta, dict):
            t = tables[tid]
            t.title = str(tmeta.get("title", t.title))
            t.source = str(tmeta.get("source", t.source))
            t.confidence = str(tmeta.get("confidence", t.confidence))
            t.strip_suffix = str(tmeta.get("strip_suffix", t.strip_suffix))
            t._index = None


def _load_rules(path: Path) -> list[RuleDef]:
    data, text = _read_toml(path)
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise RulePackError("rule 应写成 [[rule]] 数组", file=path)
    out: list[RuleDef] = []
    search_from = 0
    for raw in raw_rules:
        rid = raw.get("id")
        line = _line_of(text, f'"{rid}"', search_from) if rid else _line_of(text, "[[rule]]", search_from)
        if line:
            search_from = line
        place = f"第 {line} 行" if line else None
        if not isinstance(rid, str) or not RULE_ID.match(rid):
            raise RulePackError(f"规则编号“{rid}”无效", file=path, place=place,
                                hint="规则编号须为大写英文字母、数字和连字符，例如 ID-CHECKSUM。")
        kind = raw.get("kind")
        if not isinstance(kind, str) or not kind:
            raise RulePackError(f"规则 {rid} 缺少 kind（检查类型）", file=path, place=place)
        severity = raw.get("severity", "error")
        if severity not in SEVERITIES:
            raise RulePackError(f"规则 {rid} 的 severity“{severity}”无效", file=path, place=place,
                                hint="severity 只能是 error 或 warning。")
        fields = raw.get("fields", [])
        if isinstance(fields, str):
            fields = [fields]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise RulePackError(f"规则 {rid} 的 fields 应为字段代码列表", file=path, place=place)
        params = {k: v for k, v in raw.items() if k not in RULE_KEYS}
        out.append(RuleDef(
            id=rid, kind=kind, sheet=str(raw.get("sheet", "*")), fields=tuple(fields), severity=severity,
            when=raw.get("when") or None, message=str(raw.get("message", "")), hint=str(raw.get("hint", "")),
            params=params, source=str(raw.get("source", "")), file=str(path), line=line,
        ))
    return out


def _generated_rules(sheets: dict[str, SheetSpec]) -> list[RuleDef]:
    rules: list[RuleDef] = []

    def add(rid: str, sheet: SheetSpec, f: FieldSpec, **params: Any) -> None:
        kind, severity, message, hint = GENERATED[rid]
        rules.append(RuleDef(id=rid, kind=kind, sheet=sheet.id, fields=(f.code,), severity=severity,
                             message=message, hint=hint, params=params, source="字段规格", file=sheet.file,
                             generated=True))

    for sheet in sheets.values():
        for f in sheet.input_fields:
            if f.required:
                add("REQUIRED", sheet, f)
            if f.is_coded:
                add("CODE-UNKNOWN", sheet, f)
            if f.type in ("date", "month", "year"):
                add("DATE-INVALID", sheet, f)
            if f.type in ("int", "decimal"):
                add("NUMBER-INVALID", sheet, f)
            if f.max_length:
                add("LENGTH-MAX", sheet, f, max=f.max_length)
            if f.min is not None or f.max is not None:
                add("NUMBER-RANGE", sheet, f, min=f.min, max=f.max)
            if f.pattern:
                add("PATTERN", sheet, f, pattern=f.pattern)
    return rules


def _check_references(pack: RulePack) -> None:
    """Every table a field names and every field a rule names must exist."""
    for sheet in pack.sheets.values():
        for f in sheet.fields:
            if f.table and f.table not in pack.tables:
                text = Path(sheet.file).read_text(encoding="utf-8") if sheet.file else ""
                raise _bad(Path(sheet.file), text, f'"{f.table}"',
                           f"字段 {sheet.id}.{f.code} 引用的代码表“{f.table}”不存在",
                           f"请在 codes/ 下提供 {f.table}.csv，或改用已有的代码表。")
    for rule in pack.rules:
        if rule.generated:
            continue
        if rule.sheet != "*" and rule.sheet not in pack.sheets:
            raise RulePackError(f"规则 {rule.id} 指向的工作表“{rule.sheet}”不存在", file=rule.file,
                                place=f"第 {rule.line} 行" if rule.line else None,
                                hint=f"可用的工作表：{', '.join(pack.sheets)}。")
        targets = [pack.sheets[rule.sheet]] if rule.sheet != "*" else list(pack.sheets.values())
        for fcode in rule.fields:
            if not any(s.has_field(fcode) for s in targets):
                raise RulePackError(f"规则 {rule.id} 引用的字段“{fcode}”在工作表 {rule.sheet} 中不存在",
                                    file=rule.file, place=f"第 {rule.line} 行" if rule.line else None,
                                    hint="请检查字段代码的拼写（见 tmis rules list）。")


def _apply_overlay(pack: RulePack, overlay_dir: Path) -> None:
    if not overlay_dir.is_dir():
        raise RulePackError("省级定制包目录不存在", file=overlay_dir,
                            hint="请检查 config.toml 中 [rules] overlay 的路径。")
    manifest = overlay_dir / "overlay.toml"
    if not manifest.exists():
        raise RulePackError("缺少 overlay.toml", file=overlay_dir, hint="定制包目录中须有 overlay.toml（含 [overlay] 段）。")
    data, text = _read_toml(manifest)
    head = data.get("overlay", {})
    pack.layers.append(str(head.get("name", overlay_dir.name)))
    sheets_dir = overlay_dir / "sheets"
    if sheets_dir.is_dir():
        for path in sorted(sheets_dir.glob("*.toml")):
            sheet = _load_sheet(path)
            pack.sheets[sheet.id] = sheet
    for raw in data.get("field", []):
        sheet_id = raw.pop("sheet", None)
        after = raw.pop("after", None)
        if sheet_id not in pack.sheets:
            raise _bad(manifest, text, f'"{sheet_id}"', f"要增加字段的工作表“{sheet_id}”不存在",
                       f"可用的工作表：{', '.join(pack.sheets)}。")
        spec = _parse_field(raw, manifest, text, sheet_id)
        sheet = pack.sheets[sheet_id]
        if sheet.has_field(spec.code):
            sheet.fields[[f.code for f in sheet.fields].index(spec.code)] = spec
        elif after:
            codes = [f.code for f in sheet.fields]
            if after not in codes:
                raise _bad(manifest, text, f'"{after}"', f"after 指定的字段“{after}”不在工作表 {sheet_id} 中")
            sheet.fields.insert(codes.index(after) + 1, spec)
        else:
            sheet.fields.append(spec)
    codes_dir = overlay_dir / "codes"
    if codes_dir.is_dir():
        _load_tables(codes_dir, pack.tables)
    rules_dir = overlay_dir / "rules"
    if rules_dir.is_dir():
        for path in sorted(rules_dir.glob("*.toml")):
            for rule in _load_rules(path):
                pack.rules = [r for r in pack.rules if not (r.id == rule.id and not r.generated)]
                pack.rules.append(rule)
    # Checked after the overlay's own fields and rules are in, so that it can name them; generated ids
    # (REQUIRED, CODE-UNKNOWN, …) are valid too, alone or as one field's instance 'ID@sheet.field'.
    for rid in head.get("disable", []):
        base_id, _, target = str(rid).partition("@")
        if base_id not in GENERATED and not any(r.id == base_id for r in pack.rules):
            raise _bad(manifest, text, f'"{rid}"', f"要停用的规则“{rid}”不存在",
                       "请用 tmis rules list 查看规则编号。")
        if target:
            sheet_id, _, fcode = target.partition(".")
            if sheet_id not in pack.sheets or not pack.sheets[sheet_id].has_field(fcode):
                raise _bad(manifest, text, f'"{rid}"', f"要停用的规则“{rid}”指向的字段 {target} 不存在",
                           "写法为 规则编号@工作表.字段代码，例如 REQUIRED@basic.health_status。")
        pack.disabled.add(str(rid))
    for key, value in data.get("kinds", {}).items():
        pack.kinds[key] = value
    pack.settings.update(data.get("settings", {}))


def load_pack(core_dir: Path, overlay_dir: Path | None = None) -> RulePack:
    """The rule pack in force: core_dir (pack.toml, sheets/, codes/, rules/) with an optional overlay."""
    core_dir = Path(core_dir)
    manifest = core_dir / "pack.toml"
    if not manifest.exists():
        raise RulePackError("规则包缺少 pack.toml", file=core_dir, hint="请检查 config.toml 中 [rules] core 的路径。")
    data, text = _read_toml(manifest)
    head = data.get("pack", {})
    sheets: dict[str, SheetSpec] = {}
    for path in sorted((core_dir / "sheets").glob("*.toml")):
        sheet = _load_sheet(path)
        if sheet.id in sheets:
            raise RulePackError(f"工作表编号 {sheet.id} 重复（另见 {sheets[sheet.id].file}）", file=path)
        sheets[sheet.id] = sheet
    tables: dict[str, CodeTable] = {}
    if (core_dir / "codes").is_dir():
        _load_tables(core_dir / "codes", tables)
    rules: list[RuleDef] = []
    for path in sorted((core_dir / "rules").glob("*.toml")):
        rules.extend(_load_rules(path))
    pack = RulePack(
        name=str(head.get("name", "core")),
        version=str(head.get("version", "0")),
        template_version=str(head.get("template_version", head.get("version", "0"))),
        sheets=sheets,
        tables=tables,
        rules=rules,
        kinds={k: dict(v) for k, v in data.get("kinds", {}).items()},
        layers=[str(head.get("name", "core"))],
        settings=dict(data.get("settings", {})),
    )
    if overlay_dir:
        _apply_overlay(pack, Path(overlay_dir))
    seen: dict[str, RuleDef] = {}
    for rule in pack.rules:
        if rule.id in seen and rule.id not in GENERATED:
            other = seen[rule.id]
            raise RulePackError(f"规则编号 {rule.id} 重复（另见 {other.where}）", file=rule.file,
                                place=f"第 {rule.line} 行" if rule.line else None)
        seen[rule.id] = rule
    pack.rules = _generated_rules(pack.sheets) + pack.rules
    for kind, spec in pack.kinds.items():
        if spec.get("sheets") == "all":
            spec["sheets"] = [s.id for s in pack.ordered_sheets()]
        for sid in spec.get("sheets", []):
            if sid not in pack.sheets:
                raise _bad(manifest, text, f'"{sid}"', f"模板种类 {kind} 引用的工作表“{sid}”不存在")
    _check_references(pack)
    return pack


def load_pack_from_config(config: Any) -> RulePack:
    """The pack named by a loaded Config ([rules] core and overlay)."""
    return load_pack(config.rules_core, config.rules_overlay)
