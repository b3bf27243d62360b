"""Files that are not our templates, made here with the programs that make them in the wild (LibreOffice,
openpyxl, xlwt, msoffcrypto-tool) or byte by byte where no program makes them (an OLE2 file whose sector
chain loops, like PhpSpreadsheet's oleloop.xls): each ends with one clear Chinese answer naming it, under a
memory cap, with nothing of the parsers' own output on the terminal; and a payroll, which looks like ours
without being ours, is refused as foreign. The wider corpus of other projects' test files is run by hand
(docs/foreign-files.md)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from external import require_uno
from libreoffice import soffice_convert
from pipeline_helpers import SCHOOL_A, Env, make_env, people, workbook

from processor.cli import main
from processor.errors import InputError
from processor.intake import Intake
from processor.readers import read_workbook

MEMORY_CAP = 1024 * 1024 * 1024  # address space of the whole worker process, interpreter included

NOT_OURS = "文件中没有可识别的信息采集表，未做任何校验"
NOT_OURS_RUN = "文件中没有可以识别的教师信息工作表"  # the same, as the quarantine reason says it
PASSWORD = "文件设置了打开密码，无法读取"
NOT_A_WORKBOOK = "不是电子表格（无法识别的 Office 文件）"
PARSER_NOISE = ("panicked", "RUST_BACKTRACE", "Traceback", "stack backtrace", "memory allocation")

# `tmis check` on every file given, in one process: exit code, standard output and error, seconds, as JSON.
CHECK_ALL = """
import json, sys, time
from click.testing import CliRunner
from processor.cli import main
out = []
for path in sys.argv[2:]:
    started = time.monotonic()
    r = CliRunner().invoke(main, ["check", path, "--config", sys.argv[1]])
    out.append({"file": path, "code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr,
                "exception": None if r.exception is None or isinstance(r.exception, SystemExit) else repr(r.exception),
                "seconds": time.monotonic() - started})
print(json.dumps(out, ensure_ascii=False))
"""


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _capped_run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """A subprocess with at most MEMORY_CAP of address space and RUST_BACKTRACE=1 (as a developer's shell has)."""
    env = dict(os.environ, RUST_BACKTRACE="1")
    return subprocess.run(args, capture_output=True, text=True, timeout=600, preexec_fn=_capped, env=env,
                          **kwargs)  # type: ignore[call-overload]


@pytest.fixture
def env(runner: CliRunner, tmp_path: Path, unit_workbook: Path) -> Env:
    result = runner.invoke(main, ["init", str(tmp_path / "实例")])
    assert result.exit_code == 0, result.output
    return make_env(tmp_path / "实例" / "config.toml", unit_workbook)


def _ole_loop(path: Path) -> Path:
    """A 1.5 KB OLE2 compound file whose directory chain points back at itself (sector 1 → 1 → …), as in
    PhpSpreadsheet's oleloop.xls: olefile sees an empty file; calamine follows the chain and allocates
    without end."""
    free, end, fat_sector = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    header = bytearray(512)
    header[0:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<IIIIIIIII", header, 40, 0, 1, 1, 0, 4096, end, 0, end, 0)
    struct.pack_into("<109I", header, 76, 0, *[free] * 108)
    fat = struct.pack("<128I", fat_sector, 1, *[free] * 126)
    directory = bytearray(512)
    root = "Root Entry".encode("utf-16-le") + b"\0\0"
    directory[0:len(root)] = root
    struct.pack_into("<HBB", directory, 64, len(root), 5, 1)
    for entry in range(4):
        struct.pack_into("<III", directory, 128 * entry + 68, free, free, free)
    struct.pack_into("<II", directory, 116, end, 0)
    path.write_bytes(bytes(header) + fat + bytes(directory))
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """File name → (file, what `tmis check` answers): what schools send that is not a template."""
    import msoffcrypto.format.ooxml
    from openpyxl.styles import PatternFill

    from processor.config import load_config
    from processor.paths import DEFAULT_CONFIG
    from processor.rulepack.loader import load_pack_from_config
    from processor.samples import SchoolInfo, generate_people, write_workbook

    folder = tmp_path_factory.mktemp("made")
    out = folder / "files"
    out.mkdir()
    payroll = _payroll(folder / "2025年工资表.xlsx")
    files: dict[str, tuple[Path, str]] = {}

    def keep(name: str, src: Path, answer: str) -> None:
        shutil.copy(src, out / name)
        files[name] = (out / name, answer)

    keep("2025年工资表.xlsx", payroll, NOT_OURS)
    keep("工资表_改名.xlsx", soffice_convert(payroll, "xls", folder / "lo"), NOT_OURS)  # an .xls named .xlsx
    keep("工资表_改名.xls", soffice_convert(payroll, "ods", folder / "lo"), NOT_OURS)  # an .ods named .xls
    keep("旧系统导出.xls", _ole_loop(folder / "loop.xls"), NOT_A_WORKBOOK)
    template = folder / "一中.xlsx"
    write_workbook(template, generate_people(2, seed=3, school=SchoolInfo(code=SCHOOL_A[0], name=SCHOOL_A[1])),
                   pack=load_pack_from_config(load_config(DEFAULT_CONFIG, environ={})), kind="teachers", unit_code=SCHOOL_A[0],
                   unit_name=SCHOOL_A[1], mistakes=[], seed=3)
    with template.open("rb") as plain, (folder / "加密.xlsx").open("wb") as locked:
        msoffcrypto.format.ooxml.OOXMLFile(plain).encrypt("123456", locked)
    keep("加密.xlsx", folder / "加密.xlsx", PASSWORD)
    data = template.read_bytes()
    (folder / "损坏.xlsx").write_bytes(data[: len(data) // 2])  # a mail attachment cut off half way
    keep("损坏.xlsx", folder / "损坏.xlsx", "文件已损坏或不完整，无法打开")
    (folder / "附件.xls").write_bytes("Attachment f:\\附件\\工资表.xls not found!".encode("gbk"))
    keep("附件.xls", folder / "附件.xls", NOT_OURS)
    (folder / "名单.csv").write_bytes("学校,姓名,人数\r\n一中,王建国,12\r\n".encode("gbk"))
    keep("名单.csv", folder / "名单.csv", NOT_OURS)
    stretched = openpyxl.load_workbook(payroll)
    stretched["1月"].cell(row=1_048_576, column=16_384).fill = PatternFill("solid", fgColor="FFFF00")
    stretched.save(folder / "拉伸.xlsx")
    keep("工资表_整表格式.xlsx", folder / "拉伸.xlsx", NOT_OURS)  # used range A1:XFD1048576, a few values
    return files


def test_check_answers_every_foreign_file_with_one_chinese_line_under_a_memory_cap(
        env: Env, made: dict[str, tuple[Path, str]]) -> None:
    files = [str(path) for path, _ in made.values()]
    done = _capped_run([sys.executable, "-c", CHECK_ALL, str(env.config_path), *files])
    assert done.returncode == 0, done.stderr[-3000:]
    assert not any(noise in done.stderr for noise in PARSER_NOISE), done.stderr[-3000:]
    for item in json.loads(done.stdout):
        name = Path(item["file"]).name
        assert item["exception"] is None, (name, item["exception"])
        assert item["code"] == 2, (name, item["code"], item["stdout"][-500:])
        first = item["stderr"].splitlines()[0]
        assert first.startswith(f"错误：{item['file']}：{made[name][1]}"), first
        assert not any(noise in item["stderr"] + item["stdout"] for noise in PARSER_NOISE), name


def test_run_once_answers_every_foreign_file_and_still_processes_a_good_one(
        env: Env, made: dict[str, tuple[Path, str]]) -> None:
    for name, (path, _) in made.items():
        shutil.copy(path, env.inbox / name)
    workbook(env, env.inbox / "一中_教师信息.xlsx", people(3, seed=7, school=SCHOOL_A))
    old = time.time() - 600
    for p in env.inbox.iterdir():
        os.utime(p, (old, old))
    done = _capped_run([sys.executable, "-c", "from processor.cli import main; main()", "run", "--once",
                        "--config", str(env.config_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert not any(noise in done.stderr + done.stdout for noise in PARSER_NOISE), done.stderr[-3000:]
    assert done.stdout.strip() == (f"处理完成：共 {len(made) + 1} 个文件（接收 1，部分接收 0，退回 0，"
                                   f"无法识别 {len(made)}，重复 0）。"), done.stdout
    assert list(env.inbox.iterdir()) == [] and list((env.state / "processing").iterdir()) == []
    reasons = {p.name.split("__", 1)[1].removesuffix(".reason.txt"): p.read_text(encoding="utf-8")
               for p in (env.state / "quarantine").glob("*.reason.txt")}
    assert sorted(reasons) == sorted(made)
    for name, text in reasons.items():
        said = NOT_OURS_RUN if made[name][1] == NOT_OURS else made[name][1]
        assert f"隔离原因：{name}：{said}" in text, (name, text)


def test_a_refused_ole_file_is_not_parsed_again_to_quarantine_it(env: Env) -> None:
    """The looping OLE2 file makes calamine allocate without end: the guard refuses it, and the quarantine
    step must not hand it to calamine again for its metadata (it did, and took the service down)."""
    _ole_loop(env.inbox / "工资表.xls")
    workbook(env, env.inbox / "一中_教师信息.xlsx", people(2, seed=8, school=SCHOOL_A))
    old = time.time() - 600
    for p in env.inbox.iterdir():
        os.utime(p, (old, old))
    done = _capped_run([sys.executable, "-c", "from processor.cli import main; main()", "run", "--once",
                        "--config", str(env.config_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "处理完成：共 2 个文件（接收 1，部分接收 0，退回 0，无法识别 1，重复 0）。"
    reason = next((env.state / "quarantine").glob("*__工资表.xls.reason.txt")).read_text(encoding="utf-8")
    assert f"工资表.xls：{NOT_A_WORKBOOK}" in reason
    assert not any(noise in done.stderr for noise in PARSER_NOISE)


def test_the_looping_ole_file_does_exhaust_calamine(tmp_path: Path) -> None:
    """What the guard protects the worker from: calamine itself, under the cap, dies on this file."""
    loop = _ole_loop(tmp_path / "工资表.xls")
    done = _capped_run([sys.executable, "-c", "import sys; from python_calamine import CalamineWorkbook;"
                        "CalamineWorkbook.from_path(sys.argv[1])", str(loop)])
    assert done.returncode != 0
    assert "memory allocation" in done.stderr or "capacity overflow" in done.stderr


PAYROLL_HEADERS = ["序号", "工号", "姓名", "性别", "身份证号码", "部门", "岗位", "基本工资", "岗位工资", "薪级工资",
                   "绩效工资", "乡镇工作补贴", "应发合计", "养老保险", "职业年金", "医疗保险", "住房公积金", "个人所得税",
                   "实发工资", "银行卡号", "备注"]
PAYROLL_PEOPLE = [("0101", "王建国", "男", "360102197805123514", "语文组", "专技十级", 3120, 1850),
                  ("0102", "刘芳", "女", "360102198511042322", "数学组", "专技十一级", 2860, 1720),
                  ("0107", "陈晓东", "男", "360103199203150538", "总务处", "管理九级", 2590, 1630)]


def _payroll(path: Path) -> Path:
    """A school's payroll as county finance offices lay it out: a title row, one sheet a month, a total row."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for month in range(1, 13):
        ws = wb.create_sheet(f"{month}月")
        ws.append([f"南昌市第一中学 2025 年 {month} 月教职工工资发放表"])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(PAYROLL_HEADERS))
        ws.append(PAYROLL_HEADERS)
        for n, (no, name, sex, idn, dept, post, base, grade) in enumerate(PAYROLL_PEOPLE, start=1):
            merit, allowance = 2100, 300 if n == 3 else 0
            gross = base + 700 + grade + merit + allowance
            pension, annuity, medical, fund = round(gross * 0.08), round(gross * 0.04), round(gross * 0.02), 1180
            tax = 35 if n == 1 else 0
            ws.append([n, no, name, sex, idn, dept, post, base, 700, grade, merit, allowance, gross, pension, annuity,
                       medical, fund, tax, gross - pension - annuity - medical - fund - tax,
                       f"6217 0000 1234 56{n:02d}", "补发上月绩效" if month == 3 and n == 2 else None])
        ws.append(["合计"])
    wb.save(path)
    return path


def test_payroll_workbook_is_refused_as_foreign_not_checked_as_a_template(tmp_path: Path, env: Env) -> None:
    data = read_workbook(_payroll(tmp_path / "2025年工资表.xlsx"), env.pack)
    assert data.blocks == []
    assert [(f.sheet, f.rule) for f in data.findings] == [(f"{m}月", "SHEET-UNKNOWN") for m in range(1, 13)]
    first = data.findings[0]
    assert first.message == "无法识别工作表“1月”属于哪一类信息，该表未被读取"
    assert first.hint.startswith("表头中只有“姓名”、“性别”、“身份证号码”、“备注”与模板相同，不足以认定是哪一张信息表。")


def test_payroll_in_the_inbox_is_quarantined_naming_what_was_expected(tmp_path: Path, env: Env) -> None:
    _payroll(env.inbox / "2025年工资表.xlsx")
    summary = Intake(env.config, engine=env.engine, pack=env.pack).run_once()
    [outcome] = summary.outcomes
    assert outcome.status == "unreadable"
    assert outcome.message.startswith("2025年工资表.xlsx：文件中没有可以识别的教师信息工作表（无法识别工作表“1月”")
    assert "本系统只接收教师信息采集表：工作表应为“基本信息”、“学习经历”、“工作经历”等" in outcome.message
    assert "缺少必填字段" not in outcome.message


def test_xls_sent_as_xlsx_is_read_by_its_real_format_with_a_warning(tmp_path: Path, env: Env) -> None:
    filled = tmp_path / "一中_教师信息.xlsx"
    workbook(env, filled, people(3, seed=9, school=SCHOOL_A))
    as_xls = soffice_convert(filled, "xls", tmp_path / "lo")
    renamed = tmp_path / "一中_教师信息_改名.xlsx"
    as_xls.rename(renamed)
    data = read_workbook(renamed, env.pack)
    assert data.format == "xls"
    assert [b.spec.id for b in data.blocks][:1] == ["basic"]
    assert sum(1 for _ in data.blocks[0].iter_rows()) == 3
    warning = data.findings[0]
    assert (warning.rule, warning.severity, warning.value) == ("FILE-WRONG-EXTENSION", "warning", ".xlsx")
    assert warning.message == ("文件“一中_教师信息_改名.xlsx”的扩展名是 .xlsx，但内容实际是 Excel 97-2003 工作簿（.xls）；"
                               "已按实际格式读取")


@pytest.mark.parametrize(("name", "real"), [("工资表_改名.xlsx", "xls"), ("工资表_改名.xls", "ods")])
def test_renamed_workbooks_are_read_not_called_corrupt(name: str, real: str, env: Env,
                                                       made: dict[str, tuple[Path, str]]) -> None:
    data = read_workbook(made[name][0], env.pack)
    assert data.format == real
    assert [f.rule for f in data.findings][:1] == ["FILE-WRONG-EXTENSION"]
    assert [f.rule for f in data.findings[1:]] == ["SHEET-UNKNOWN"] * 12


def _lo_password(src: Path, target: Path, filter_name: str) -> Path:
    """`src` saved by a real LibreOffice with the open password 123456 (tests/lo_password.py, UNO)."""
    require_uno()
    helper = Path(__file__).with_name("lo_password.py")
    subprocess.run(["/usr/bin/python3", str(helper), str(src), str(target), filter_name, "123456"], check=True,
                   capture_output=True, timeout=300)
    assert target.exists(), f"LibreOffice produced no {target.name}"
    return target


@pytest.mark.parametrize(("name", "filter_name"), [("工资表_加密.ods", "calc8"), ("工资表_加密.xls", "MS Excel 97")])
def test_libreoffice_files_with_an_open_password_are_said_to_have_one(
        name: str, filter_name: str, tmp_path: Path, env: Env) -> None:
    locked = _lo_password(_payroll(tmp_path / "工资表.xlsx"), tmp_path / name, filter_name)
    with pytest.raises(InputError) as err:
        read_workbook(locked, env.pack)
    assert (err.value.file, err.value.message) == (name, PASSWORD)
    assert "密码" in (err.value.hint or "")


def test_encrypted_xlsx_is_said_to_have_an_open_password(env: Env, made: dict[str, tuple[Path, str]]) -> None:
    with pytest.raises(InputError) as err:
        read_workbook(made["加密.xlsx"][0], env.pack)
    assert err.value.message == PASSWORD
    assert "密码" in (err.value.hint or "")


def test_sheet_stretched_to_the_last_row_by_one_formatted_cell_is_read(tmp_path: Path, env: Env) -> None:
    from openpyxl.styles import PatternFill

    filled = tmp_path / "一中_教师信息.xlsx"
    workbook(env, filled, people(2, seed=10, school=SCHOOL_A))
    wb = openpyxl.load_workbook(filled)
    wb["基本信息"].cell(row=1_048_576, column=16_384).fill = PatternFill("solid", fgColor="FFFF00")
    wb.save(filled)
    code = ("import sys, resource; from processor.config import load_config;"
            "from processor.rulepack.loader import load_pack_from_config; from processor.readers import read_workbook;"
            "d = read_workbook(sys.argv[2], load_pack_from_config(load_config(sys.argv[1])));"
            "b = [x for x in d.blocks if x.spec.id == 'basic'][0];"
            "print(sum(1 for _ in b.iter_rows()), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    done = _capped_run([sys.executable, "-c", code, str(env.config_path), str(filled)])
    assert done.returncode == 0, done.stderr[-2000:]
    rows, _peak_kb = done.stdout.split()
    assert rows == "2"


def test_unrecognised_csv_is_named_as_the_school_sent_it(env: Env) -> None:
    (env.inbox / "1783_test.csv").write_text("学校,人数\n一中,12\n", encoding="utf-8")
    summary = Intake(env.config, engine=env.engine, pack=env.pack).run_once()
    [outcome] = summary.outcomes
    assert outcome.status == "unreadable"
    assert "无法识别工作表“1783_test”属于哪一类信息" in outcome.message
    assert "__" not in outcome.message
    notice = outcome.report_path.read_text(encoding="utf-8")
    reason = next((env.state / "quarantine").glob("*.reason.txt")).read_text(encoding="utf-8")
    for text in (notice, reason):
        assert "“1783_test”" in text and "__1783_test" not in text


def _heavy_xls(path: Path) -> Path:
    """A sound .xls of 200,000 distinct text cells (xlwt, as old exporters write them): calamine needs about
    240 MB of address space to read it, the interpreter alone about 150 MB."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("花名册")
    for r in range(8000):
        row = sheet.row(r)
        for c in range(25):
            row.write(c, f"第{r}行{c}列")
    book.save(str(path))
    return path


def test_an_xls_needing_more_memory_than_the_ceiling_is_refused_and_the_worker_goes_on(
        env: Env, made: dict[str, tuple[Path, str]]) -> None:
    _heavy_xls(env.inbox / "花名册.xls")
    shutil.copy(made["工资表_改名.xlsx"][0], env.inbox / "旧表.xls")  # a LibreOffice .xls
    workbook(env, env.inbox / "一中_教师信息.xlsx", people(2, seed=11, school=SCHOOL_A))
    old = time.time() - 600
    for p in env.inbox.iterdir():
        os.utime(p, (old, old))
    done = subprocess.run([sys.executable, "-c", "from processor.cli import main; main()", "run", "--once",
                           "--config", str(env.config_path)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TMIS_INTAKE_MAX_PARSE_MB="190", RUST_BACKTRACE="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "处理完成：共 3 个文件（接收 1，部分接收 0，退回 0，无法识别 2，重复 0）。"
    reasons = {p.name.split("__", 1)[1]: p.read_text(encoding="utf-8")
               for p in (env.state / "quarantine").glob("*.reason.txt")}
    assert "花名册.xls：文件结构异常，无法在 190 MB 的内存上限内读取" in reasons["花名册.xls.reason.txt"]
    assert f"旧表.xls：{NOT_OURS_RUN}" in reasons["旧表.xls.reason.txt"]  # a payroll .xls passes the trial
    assert not any(noise in done.stderr for noise in PARSER_NOISE), done.stderr[-3000:]


def test_what_the_parser_writes_to_standard_error_goes_to_the_log_not_the_terminal() -> None:
    code = ("import logging, os, sys; logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format='%(message)s');"
            "from processor.readers.quiet import rust_stderr_to_log\n"
            "with rust_stderr_to_log('工资表.xls'):\n"
            "    os.write(2, b\"thread '<unnamed>' panicked at src/cfb.rs:1:1: capacity overflow\\n\")\n"
            "print('RUST_BACKTRACE=' + os.environ['RUST_BACKTRACE'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, RUST_BACKTRACE="full"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        "工资表.xls: the parser wrote to standard error: thread '<unnamed>' panicked at src/cfb.rs:1:1: capacity overflow",
        "RUST_BACKTRACE=0"]


def test_each_parse_logs_only_what_was_written_during_it_nested_and_after_a_failed_one_too() -> None:
    code = ("import logging, os, sys; logging.basicConfig(stream=sys.stdout, level=logging.DEBUG, format='%(message)s');"
            "from processor.readers.quiet import rust_stderr_to_log\n"
            "try:\n"
            "    with rust_stderr_to_log('a.xls'):\n"
            "        os.write(2, b'panicked: first\\n')\n"
            "        raise ValueError('parse failed')\n"
            "except ValueError:\n"
            "    print('caught')\n"
            "with rust_stderr_to_log('b.xls'):\n"
            "    with rust_stderr_to_log('b.xls / Sheet1'):\n"
            "        os.write(2, b'inner\\n')\n"
            "    os.write(2, b'outer\\n')\n"
            "with rust_stderr_to_log('c.xls'):\n"
            "    pass\n"
            "with rust_stderr_to_log('d.xls'):\n"
            "    os.write(2, b'x\\n')\n"
            "os.write(2, b'terminal\\n')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "terminal\n"
    assert done.stdout.splitlines() == [
        "a.xls: the parser wrote to standard error: panicked: first",
        "caught",
        "b.xls / Sheet1: the parser wrote to standard error: inner",
        "b.xls: the parser wrote to standard error: outer",
        "d.xls: the parser wrote to standard error: x"]


def test_a_mailed_looping_xls_is_answered_as_unreadable_without_being_parsed_under_a_memory_cap(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mail_helpers import free_port, thunderbird_message
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from processor.mail.spool import Spool
    from processor.store.models import Submission

    officer = "zhangwei@ncyz.edu.cn"  # 南昌市第一中学's 系统管理员
    data = _ole_loop(tmp_path / "旧系统导出.xls").read_bytes()
    Spool(env.config.state_dir).put(thunderbird_message(officer, "旧系统导出.xls", data, msgid="<loop-1@ncyz.edu.cn>"),
                                    source="smtp", envelope_from=officer)
    for key, value in {"TMIS_MAIL_ENABLED": "true", "TMIS_MAIL_LISTEN": "false", "TMIS_MAIL_DIGEST_HOUR": "-1",
                       "TMIS_MAIL_SMTP_PORT": str(free_port())}.items():
        monkeypatch.setenv(key, value)  # the reply waits: nothing listens on that port
    done = _capped_run([sys.executable, "-c", "from processor.cli import main; main()", "run", "--once",
                        "--config", str(env.config_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    with Session(env.engine) as session:
        subs = session.scalars(select(Submission)).all()
        assert [(s.original_name, s.status, s.channel, s.sender) for s in subs] == [
            ("旧系统导出.xls", "unreadable", "mail", officer)]
