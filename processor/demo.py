"""`tmis demo`: a demo province with real division codes, filled workbooks with realistic mistakes, one run."""

from __future__ import annotations

import csv
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from processor import samples
from processor.errors import InputError, TmisError

DATA_DIR = Path(__file__).resolve().parent / "data"
UNITS_CSV = DATA_DIR / "demo_units.csv"
MARKER = ".tmis-demo"
PROVINCE = "360000"
INSTANCE_NAME = "教师管理信息系统（江西演示省）"

# Mistakes a school makes, with how often each appears in a school that makes mistakes at all.
SCHOOL_MISTAKES = (
    "id_as_float", "id_checksum", "id_15", "birth_mismatch", "sex_mismatch", "month_ambiguous", "unknown_code",
    "old_ethnic", "missing_required", "bianzhi_form", "school_before_work", "work_age14", "duplicate_person",
    "orphan_record", "formula_text",
)
# Valid but messy input every school may show: must never be reported.
HARMLESS = ("date_serial", "month_text", "fullwidth", "code_forms")


@dataclass
class School:
    """A school of the demo province as the units file lists it."""

    code: str
    name: str
    county_code: str
    county: str
    city: str


@dataclass
class DemoFile:
    """One file dropped into the inbox and why it is there."""

    name: str
    school: School | None
    scenario: str  # clean | mistakes | xls | csv | resend | not-a-spreadsheet | new-teachers
    teachers: int = 0
    injected: list[samples.Injected] = field(default_factory=list)


@dataclass
class DemoResult:
    """What the demo made and what the pipeline did with it."""

    directory: Path
    config_path: Path
    files: list[DemoFile]
    summary: Any  # processor.intake.RunSummary
    notes: list[str]
    database: str
    unit_count: int
    officer_count: int
    mail: list[str] = field(default_factory=list)  # what the mailed file became (summary lines)
    review: Any = None  # processor.review.demo.ReviewDemo
    transfer: Any = None  # processor.workflows.demo.TransferDemo
    credits: Any = None  # processor.credits.demo.CreditsDemo
    reports: list[tuple[str, list[Path]]] = field(default_factory=list)  # (title, files) of the province's reports


def load_units(path: Path = UNITS_CSV) -> list[tuple[str, str, str]]:
    """(代码, 名称, 上级代码) rows of the demo province."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r["代码"], r["名称"], r["上级代码"]) for r in csv.DictReader(fh)]


def demo_schools(count: int, rows: list[tuple[str, str, str]] | None = None) -> list[School]:
    """The first `count` schools of the demo province (more are added under the counties when asked)."""
    rows = rows if rows is not None else load_units()
    names = {c: n for c, n, _ in rows}
    schools = []
    for code, name, parent in rows:
        if len(code) == 10:
            schools.append(School(code, name, parent, names[parent], names[parent[:4] + "00"]))
    counties = [c for c, _, _ in rows if len(c) == 6 and not c.endswith("00")]
    k = 0
    used = {s.code for s in schools}
    while len(schools) < count:
        county = counties[k % len(counties)]
        k += 1
        seq = 100 + k
        code = f"21{county[:2]}{int(county[2:4]):02d}{seq:04d}"
        if code in used:
            continue
        used.add(code)
        prefix = names[county] if not names[county].endswith("区") else names[county[:4] + "00"] + names[county]
        schools.append(School(code, f"{prefix}第{samples._cn_num(k + 1)}实验小学", county, names[county],
                              names[county[:4] + "00"]))
    return schools[:count]


def _officers(rng: random.Random, rows: list[tuple[str, str, str]], schools: list[School]) -> list[list[Any]]:
    """Officers with real-looking names and example e-mail addresses: admin units and every demo school."""
    out: list[list[Any]] = []
    school_codes = {s.code for s in schools}
    for code, _name, _parent in rows:
        if len(code) == 10 and code not in school_codes:
            continue
        roles = ["系统管理员", "信息管理员"] + (["信息查询员"] if len(code) == 6 else [])
        for n, role in enumerate(roles, start=1):
            sex = rng.choice("12")
            person = samples.random_name(rng, sex, rare_rate=0)
            mobile = f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}"
            out.append([code, person, role, f"u{code}.{n}@demo.example.edu.cn", mobile])
    return out


def write_units_file(path: Path, rows: list[tuple[str, str, str]], schools: list[School],
                     seed: int) -> tuple[int, int]:
    """The 单位 + 人员 workbook `tmis units import` reads; returns the numbers of units and officers."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "单位"
    ws.append(["代码", "名称", "上级代码"])
    school_codes = {s.code for s in schools}
    listed = [r for r in rows if len(r[0]) != 10 or r[0] in school_codes]
    for school in schools:
        if school.code not in {r[0] for r in rows}:
            listed.append((school.code, school.name, school.county_code))
    for code, name, parent in listed:
        ws.append([code, name, parent or None])
    for row in ws.iter_rows():
        for cell in row:
            cell.number_format = "@"
    officers = _officers(random.Random(seed), listed, schools)
    wo = wb.create_sheet("人员")
    wo.append(["单位代码", "姓名", "角色", "邮箱", "手机"])
    for row in officers:
        wo.append(row)
    for row in wo.iter_rows():
        for cell in row:
            cell.number_format = "@"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return len(listed), len(officers)


def _reset(directory: Path, force: bool) -> None:
    """Refuse to touch a folder that is not an earlier demo; with force, clear an earlier demo."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise InputError("同名文件已存在，不能作为演示目录", file=directory, hint="请用 --dir 换一个目录。")
    if not any(directory.iterdir()):
        return
    if not (directory / MARKER).exists():
        raise InputError("该目录不是空目录，也不是 tmis demo 建立的演示目录，未作任何改动", file=directory,
                        hint="请用 --dir 指定一个新目录或空目录。")
    if not force:
        raise InputError("演示目录已存在，未作任何改动", file=directory,
                        hint="如要清空后重新演示，请加 --force；或用 --dir 指定另一个目录。")
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _configure(config_path: Path) -> None:
    text = config_path.read_text(encoding="utf-8")
    text = text.replace('province = ""', f'province = "{PROVINCE}"', 1)
    text = text.replace('name = "教师管理信息系统（演示省）"', f'name = "{INSTANCE_NAME}"', 1)
    config_path.write_text(text, encoding="utf-8")


def _pick_mistakes(rng: random.Random) -> list[tuple[str, int]]:
    kinds = rng.sample(SCHOOL_MISTAKES, rng.randint(1, 4))
    plan = [(k, rng.choice((1, 1, 2, 3))) for k in kinds]
    plan += [(k, 1) for k in rng.sample(HARMLESS, rng.randint(0, 2))]
    return plan


def _informal_name(school: School, rng: random.Random) -> str:
    short = school.name.removeprefix(school.city)
    return rng.choice((f"{short}教师信息（终稿）.xlsx", f"{school.code}{short}.xlsx", f"{short}-教师信息采集.xlsx",
                       f"教师信息采集表{school.code}.xlsx"))


class XlsConversion:
    """An .xlsx → .xls conversion by LibreOffice running in the background while other files are made."""

    def __init__(self, src: Path, out_dir: Path) -> None:
        self.src = src
        self.out_dir = out_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.profile = tempfile.mkdtemp(prefix="tmis-soffice-")
        soffice = shutil.which("soffice") or shutil.which("libreoffice")
        if soffice is None:
            return
        try:
            self.proc = subprocess.Popen(
                [soffice, f"-env:UserInstallation=file://{self.profile}", "--headless", "--norestore",
                 "--convert-to", "xls:MS Excel 97", "--outdir", str(out_dir), str(src)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        except OSError:
            self.proc = None

    def result(self, timeout: float = 120) -> Path | None:
        """The .xls written, or None (no LibreOffice, or it failed or took too long)."""
        try:
            if self.proc is None:
                return None
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
            out = self.out_dir / (self.src.stem + ".xls")
            return out if self.proc.returncode == 0 and out.exists() else None
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def make_inbox_files(inbox: Path, work: Path, pack: Any, schools: list[School], *, seed: int, today: date,
                     notes: list[str], tick: Callable[[str], None] | None = None, xls: bool = True) -> list[DemoFile]:
    """Fill a workbook for every school (most clean, many with mistakes) plus the special cases.

    One school sends .xls (converted by LibreOffice when present; xls=False skips that), one a GB18030
    CSV, one the new-teachers workbook; the first .xlsx is sent twice; a PDF lands in the inbox too."""
    from processor.workbook.template import template_file_name

    rng = random.Random(seed)
    taken: set[str] = set()
    cache = samples.TemplateCache(pack)
    conversion: tuple[XlsConversion, DemoFile, Path] | None = None
    files: list[DemoFile] = []
    special = list(range(len(schools)))
    rng.shuffle(special)
    roles = {"xls": special[0] if len(schools) > 0 and xls else None, "csv": special[1] if len(schools) > 1 else None,
             "new-teachers": special[2] if len(schools) > 2 else None}
    role_of = {v: k for k, v in roles.items() if v is not None}
    first_xlsx: Path | None = None
    for i, school in enumerate(schools):
        info = samples.SchoolInfo(code=school.code, name=school.name, city=school.city, county=school.county,
                                  county_code=school.county_code, stage=samples.school_stage(school.code))
        role = role_of.get(i)
        n = rng.randint(4, 8) if role == "new-teachers" else rng.randint(8, 30)
        people = samples.generate_people(n, seed=seed * 1000 + i, school=info, today=today, taken_ids=taken,
                                         detail=role != "new-teachers" and role != "csv")
        if role == "csv":
            name = f"{school.name}_基本信息_{school.code}.csv"
            samples.write_csv(inbox / name, people, pack=pack, seed=seed + i)
            files.append(DemoFile(name, school, "csv", n))
            if tick:
                tick(name)
            continue
        kind = "new-teachers" if role == "new-teachers" else "teachers"
        with_mistakes = role != "new-teachers" and rng.random() < 0.45
        plan = _pick_mistakes(rng) if with_mistakes else [(k, 1) for k in rng.sample(HARMLESS, rng.randint(0, 1))]
        official = template_file_name(pack, kind, school.code, school.name)
        name = official if rng.random() < 0.7 else _informal_name(school, rng)
        target = (work if role == "xls" else inbox) / name
        injected = samples.write_workbook(target, people, pack=pack, kind=kind, unit_code=school.code,
                                          unit_name=school.name, mistakes=plan, seed=seed + i,
                                          code_style=rng.choice(("mixed", "code-name", "code-name", "name")),
                                          template_cache=cache)
        scenario = role or ("mistakes" if any(x.expects_finding for x in injected) else "clean")
        entry = DemoFile(name, school, scenario, n, injected)
        if role == "xls":
            conversion = (XlsConversion(target, inbox), entry, target)
        elif first_xlsx is None and kind == "teachers":
            first_xlsx = target
        files.append(entry)
        if tick:
            tick(name)
    if first_xlsx is not None:
        resend = inbox / f"{first_xlsx.stem}（重发）{first_xlsx.suffix}"
        shutil.copyfile(first_xlsx, resend)
        first = next(f for f in files if f.name == first_xlsx.name)
        files.append(DemoFile(resend.name, first.school, "resend", first.teachers))
    if conversion is not None:
        job, entry, target = conversion
        xls = job.result()
        if xls is None:
            notes.append(f"未找到可用的 LibreOffice（soffice），跳过 .xls 示例：{entry.school.name if entry.school else ''}"
                         "改为提交 .xlsx。")
            shutil.move(str(target), inbox / entry.name)
            entry.scenario = "mistakes" if any(x.expects_finding for x in entry.injected) else "clean"
        else:
            entry.name = xls.name
    junk = inbox / "东湖区教师培训通知（扫描件）.pdf"
    junk.write_bytes(b"%PDF-1.4\n% tmis demo: a scanned notice, not a spreadsheet\n%%EOF\n")
    files.append(DemoFile(junk.name, None, "not-a-spreadsheet"))
    return files


def run_demo(directory: Path, *, schools: int = 50, seed: int = 2026, force: bool = False,
             today: date | None = None, console: Any = None, xls: bool = True) -> DemoResult:
    """Make the demo instance, fill the inbox, run the pipeline once; returns what happened.

    The instance is made by the same code as `tmis init`, the units loaded as `tmis units import` does,
    and the inbox processed as `tmis run --once` does."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from processor.cli.instance import init_instance
    from processor.intake import Intake
    from processor.rulepack.loader import load_pack_from_config
    from processor.store.db import mask_url, open_store, session_scope
    from processor.units import import_units

    console = console or Console()
    directory = directory.expanduser().resolve()
    today = today or date.today()
    if schools < 1:
        raise InputError("学校数至少为 1", hint="例如 tmis demo --schools 50。")
    _reset(directory, force)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text("tmis demo\n", encoding="utf-8")
    config, _made = init_instance(directory, force=True)
    _configure(config.path)
    from processor.config import load_config

    config = load_config(config.path, required=True)
    notes: list[str] = []
    rows = load_units()
    chosen = demo_schools(schools, rows)
    units_file = directory / "演示省单位与人员.xlsx"
    unit_count, officer_count = write_units_file(units_file, rows, chosen, seed)
    engine = open_store(config)
    with session_scope(engine) as session:
        result = import_units(session, units_file, "demo")
    if result.errors:
        first = result.errors[0]
        raise TmisError(f"演示单位导入失败：{first.message}", file=units_file)
    pack = load_pack_from_config(config)
    work = directory / "生成的样例"
    work.mkdir(exist_ok=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("生成各校填报的工作簿", total=len(chosen))
        files = make_inbox_files(config.inbox, work, pack, chosen, seed=seed, today=today, notes=notes,
                                 tick=lambda _name: progress.advance(task), xls=xls)
        waiting = len(list(config.inbox.iterdir()))
        run_task = progress.add_task("处理收件目录（tmis run --once）", total=waiting)
        intake = Intake(config, engine=engine, pack=pack)

        def on_progress(total: int, _outcome: Any) -> None:
            progress.update(run_task, total=max(total, waiting), advance=1)

        summary = intake.run_once(progress=on_progress)
    mail = mail_one_file(config, engine, pack, files, work, seed=seed, today=today)
    from processor.review.demo import run_review_demo

    review = run_review_demo(config, engine, pack, intake, work)
    from processor.workflows.demo import run_transfer_demo

    transfer = run_transfer_demo(config, engine, pack, intake, work)
    from processor.credits.demo import run_credits_demo

    credits = run_credits_demo(config, engine, pack, intake, work)
    reports = render_reports(config, engine, pack, today)
    shutil.rmtree(work, ignore_errors=True)
    return DemoResult(directory=directory, config_path=config.path, files=files, summary=summary, notes=notes,
                      database=mask_url(config.database_url), unit_count=unit_count, officer_count=officer_count,
                      mail=mail, review=review, reports=reports, transfer=transfer, credits=credits)


def render_reports(config: Any, engine: Any, pack: Any, today: date) -> list[tuple[str, list[Path]]]:
    """The province's reports of this month, from the store as the demo left it: (title, files) each;
    the monthly report also issues the signed monthly forms to the cities."""
    from processor.reports.runs import TITLES, make_report

    month = f"{today:%Y-%m}"
    out = []
    for kind in ("monthly", "summary", "bulletin"):
        figures, files = make_report(kind, config, engine, pack, PROVINCE, month, actor="demo")
        out.append((TITLES[kind], list(files)))
        if kind == "monthly" and figures.get("forms"):
            out.append(("月报填报表（发给各设区市）", [Path(f) for f in figures["forms"]]))
        for d in figures.get("deadlines") or [] if kind == "monthly" else []:  # [deadlines] in config.toml
            out.append((f"截止日“{d['name']}”（{d['due']}，{d['days_text']}）：{d['behind']} 所学校尚未完成"
                        f"（未报送 {d['not_submitted']} 所，记录未生效 {d['not_effective']} 所），名单见月报表的“截止日未完成学校”表",
                        [p for p in files if p.suffix == ".xlsx"]))
    return out


def mail_one_file(config: Any, engine: Any, pack: Any, files: list[DemoFile], work: Path, *, seed: int,
                  today: date) -> list[str]:
    """One school's 系统管理员 mails its new teachers (as if received by the SMTP receiver): the message goes
    through the mail spool and intake like real mail; the reply waits in the outgoing queue (mail is off)."""
    from email.message import EmailMessage

    from processor.mail.intake import MailIntake

    sender_file = next((f for f in files if f.scenario in ("clean", "mistakes") and f.school), None)
    if sender_file is None or sender_file.school is None:
        return []
    school = sender_file.school
    info = samples.SchoolInfo(code=school.code, name=school.name, city=school.city, county=school.county,
                              county_code=school.county_code, stage=samples.school_stage(school.code))
    people = samples.generate_people(3, seed=seed * 7919 + 1, school=info, today=today, detail=False)
    name = f"{school.name}_新任教师.xlsx"
    path = work / "mail.xlsx"
    samples.write_workbook(path, people, pack=pack, kind="new-teachers", unit_code=school.code, unit_name=school.name,
                           mistakes=[], seed=seed)
    address = f"u{school.code}.1@demo.example.edu.cn"  # the school's 系统管理员 in the demo units file
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = address, config.get("mail", "from_address"), "新任教师信息报送"
    msg["Message-ID"] = f"<demo-{seed}-{school.code}@demo.example.edu.cn>"
    msg.set_content("附件是本校新任教师的信息，请查收。")
    msg.add_attachment(path.read_bytes(), maintype="application",
                       subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=name)
    intake = MailIntake(config, engine, pack)
    intake.spool.put(msg.as_bytes(), source="smtp", envelope_from=address)
    results = intake.process_waiting()
    lines = []
    for result in results:
        for f in result.files:
            lines.append(f"  {school.name}的系统管理员（{address}）发来邮件“新任教师信息报送”，附件 {f.name} → "
                         f"{f.status_name}")
        if result.reply_id:
            lines.append(f"  给发件人的回复（附回执或错误报告）已放入发件队列（编号 {result.reply_id}）；"
                         "[mail] enabled = true 时由 tmis run 发出。")
    return lines


SPECIAL_LABELS = {"xls": "旧版 Excel（.xls）", "csv": "GB18030 编码的 CSV（旧系统导出，无模板元数据）",
                  "resend": "重复提交", "not-a-spreadsheet": "不是表格的文件", "new-teachers": "新任教师表"}
STATUS_ORDER = ("accepted", "partial", "rejected", "unreadable", "duplicate", "recovered", "failed")
STATUS_LABELS = {"accepted": "已接收", "partial": "部分接收", "rejected": "退回", "unreadable": "无法识别",
                 "duplicate": "重复提交", "recovered": "补完归档", "failed": "内部错误已隔离"}


def summary_lines(result: DemoResult) -> list[str]:
    """The Chinese summary printed at the end of `tmis demo`."""
    from processor.intake import candidates

    config_path = result.config_path
    root = result.directory
    outcomes = result.summary.outcomes
    counts = result.summary.counts()
    lines = [f"演示完成：{root}", ""]
    senders = {f.school.code for f in result.files if f.school}
    lines.append(f"演示省：江西省（{PROVINCE}）及下属 11 个设区市的部分县区，{len(senders)} 所学校投放了文件；"
                 f"导入单位 {result.unit_count} 个、管理员 {result.officer_count} 名。")
    lines.append("")
    lines.append(f"处理结果（共 {len(outcomes)} 个文件）：")
    for status in STATUS_ORDER:
        if counts.get(status):
            lines.append(f"  {STATUS_LABELS[status]}：{counts[status]}")
    rows = sum(o.rows for o in outcomes)
    stored = sum(o.stored for o in outcomes)
    errors = sum(o.errors for o in outcomes)
    warnings = sum(o.warnings for o in outcomes)
    lines.append(f"  数据行 {rows} 行，入库 {stored} 行；错误 {errors} 条，警告 {warnings} 条。")
    special = [f for f in result.files if f.scenario in SPECIAL_LABELS]
    if special:
        by_name = {o.original_name: o for o in outcomes}
        lines.append("")
        lines.append("特别安排的文件：")
        for f in special:
            o = by_name.get(f.name)
            status = STATUS_LABELS.get(o.status, o.status) if o else "未处理"
            lines.append(f"  {SPECIAL_LABELS[f.scenario]}：{f.name} → {status}")
    lines.append("")
    state = root / "var"
    outbox = root / "outbox"
    by_school: dict[str, list[Any]] = {}
    for o in outcomes:
        by_school.setdefault(o.unit_code or "_未识别", []).append(o)
    lines.append(f"给学校的回执与错误报告（输出目录 {outbox}/<学校代码>/）：")
    shown = 0
    for code in sorted(by_school):
        folder = outbox / code
        if not folder.is_dir():
            continue
        statuses = "、".join(STATUS_LABELS.get(o.status, o.status) for o in by_school[code])
        if shown < 8:
            lines.append(f"  {folder}/（{statuses}）")
        shown += 1
    if shown > 8:
        lines.append(f"  ……共 {shown} 个学校目录")
    unrecognised = outbox / "_未识别"
    if unrecognised.is_dir():
        lines.append(f"  无法识别学校的文件，说明放在 {unrecognised}/")
    lines.append("")
    archive = state / "archive"
    quarantine = state / "quarantine"
    archived = sum(1 for p in archive.rglob("*") if p.is_file()) if archive.is_dir() else 0
    quarantined = [p for p in quarantine.rglob("*") if p.is_file() and not p.name.endswith(".reason.txt")] \
        if quarantine.is_dir() else []
    if result.mail:
        lines.append("邮件报送（经邮件缓存 var/mail/spool/ 与同一套校验入库流程）：")
        lines.extend(result.mail)
        lines.append("")
    lines.append(f"收到的原始文件已归档：{archive}/（{archived} 个文件，重复提交的在 duplicates/ 下）")
    lines.append(f"隔离区：{quarantine}/（{len(quarantined)} 个文件，各附 .reason.txt 说明原因）")
    lines.append(f"数据库：{result.database}")
    left = candidates(root / "inbox")
    lines.append(f"收件目录：{root / 'inbox'}/（剩余 {len(left)} 个文件）")
    for note in result.notes:
        lines.append(f"说明：{note}")
    if result.review is not None:
        from processor.review.demo import summary_lines as review_lines

        lines.extend(review_lines(result.review, config_path))
    if result.transfer is not None:
        from processor.workflows.demo import summary_lines as transfer_lines

        lines.extend(transfer_lines(result.transfer, config_path))
    if result.credits is not None:
        from processor.credits.demo import summary_lines as credit_lines

        lines.extend(credit_lines(result.credits, config_path))
    if result.reports:
        lines.append("省级报表（由库中数据生成，每个数字可追溯）：")
        for title, paths in result.reports:
            if len(paths) > 2:
                lines.append(f"  {title}：共 {len(paths)} 份，在 {outbox}/<市代码>/ 下")
            else:
                lines.append(f"  {title}：{outbox / PROVINCE}/ 下的 {'、'.join(p.name for p in paths)}")
    lines.append("")
    cfg = f"--config {config_path}"
    example = next((f for f in result.files if f.scenario == "mistakes" and f.school), None)
    lines.append("接下来可以试试：")
    lines.append(f"  tmis units show {PROVINCE} {cfg}          查看演示省的单位树与人员")
    if example is not None:
        lines.append(f"  tmis template teachers --unit {example.school.code} --out 模板.xlsx {cfg}   "
                     "为一所学校生成官方模板")
        lines.append(f"  ls {outbox / example.school.code}/          看看{example.school.name}收到的错误报告")
    lines.append(f"  tmis check <已填好的工作簿.xlsx> {cfg}     只校验不入库")
    if result.mail:
        lines.append(f"  tmis mail queue {cfg}               查看等待发出的回复邮件")

    lines.append(f"  tmis report monthly --month {date.today():%Y-%m} --unit {PROVINCE} {cfg}   生成本月的月报表（.xlsx 与 .pdf）")
    lines.append(f"  tmis report summary --month {date.today():%Y-%m} --unit {PROVINCE} {cfg}   生成工作总结 PDF")
    lines.append(f"  cp <工作簿> {root / 'inbox'}/ && tmis run --once {cfg}   再投放一份文件并处理")
    lines.append("  tmis demo --force                     清空后重新演示")
    return lines
