"""Files nobody here wrote (tests/data/foreign/, sources in its README): each ends with one clear Chinese answer
naming it, under a memory cap, with nothing of the parsers' own output on the terminal; and the workbooks that
look like ours without being ours (a payroll) are refused as foreign."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from libreoffice import soffice_convert
from pipeline_helpers import SCHOOL_A, Env, make_env, people, workbook

from processor.cli import main
from processor.intake import Intake
from processor.readers import read_workbook

FOREIGN = Path(__file__).parent / "data" / "foreign"
MEMORY_CAP = 1024 * 1024 * 1024  # address space of the whole worker process, interpreter included

NOT_OURS = "文件中没有可识别的信息采集表，未做任何校验"
NOT_OURS_RUN = "文件中没有可以识别的教师信息工作表"  # the same, as the quarantine reason says it
PASSWORD = "文件设置了打开密码，无法读取"
CORRUPT = "文件已损坏或不完整，无法打开"
# What `tmis check` answers for each file of the corpus (the first line on standard error, after the name).
EXPECTED = {
    "calamine__OOM_alloc2.xls": NOT_OURS,
    "calamine__OOM_alloc3.xls": CORRUPT,
    "calamine__any_sheets.xlsb": NOT_OURS,
    "calamine__biff5_write.xls": NOT_OURS,
    "calamine__covered.ods": NOT_OURS,
    "calamine__issue252.xlsx": CORRUPT,
    "calamine__issue_174.xlsx": NOT_OURS,  # used range A1:XFD1048576 of format-only cells: read, not refused
    "calamine__issue_385.xls": PASSWORD,
    "calamine__issue_530.xlsx": "文件已损坏或不完整，无法打开（缺少工作簿部分）",
    "calamine__issue_594_dos.ods": "工作表“Sheet1”有 999999999 行，超过上限 1100000 行",
    "calamine__issue_666_panic.xlsb": NOT_OURS,
    "calamine__nonstandard-xml-ns-prefix.xlsx": NOT_OURS,
    "calamine__pass_protected.ods": PASSWORD,
    "calamine__ptgexp-truncated-operand.xls": NOT_OURS,
    "calamine__too_small.xls": NOT_OURS,  # a mail client's "Attachment … not found!" text named .xls
    "charset_normalizer__sample-chinese.txt": NOT_OURS,
    "msoffcrypto__example_password.xlsx": PASSWORD,
    "msoffcrypto__rc4cryptoapi_password.xls": PASSWORD,
    "msoffcrypto__xor_password_123456789012345.xls": PASSWORD,
    "phpspreadsheet__RepeatedCells.ods": NOT_OURS,
    "phpspreadsheet__oleloop.xls": "不是电子表格（无法识别的 Office 文件）",
    "python-calamine__password.xls": PASSWORD,
    "roo__encrypted-letmein.ods": PASSWORD,
    "roo__implicit_coordinates.xlsx": NOT_OURS,
    "roo__iso_8859_1.csv": NOT_OURS,
    "roo__no_spreadsheet_file.txt": NOT_OURS,
    "roo__numbers-export.xlsx": NOT_OURS,
    "roo__strict.xlsx": NOT_OURS,
    "roo__type_excel.xlsx": NOT_OURS,  # an .xls named .xlsx: read (with a warning), not "corrupt"
    "roo__type_excelx.ods": NOT_OURS,  # an .xlsx named .ods
    "roo__type_openoffice.xlsx": NOT_OURS,  # an .ods named .xlsx
    "xlrd__biff4_no_format_no_window2.xls": "是 Excel 4.0 或更早版本的旧格式表格，无法读取",
    "xlrd__ragged.xls": NOT_OURS,
    "xlrd__sample.ods": NOT_OURS,
    "xlrd__sample.xlsb": NOT_OURS,
}
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


def test_corpus_is_small_and_every_file_is_expected() -> None:
    files = sorted(p.name for p in FOREIGN.iterdir() if p.name != "README.md")
    assert files == sorted(EXPECTED)
    assert sum(p.stat().st_size for p in FOREIGN.iterdir()) < 3 * 1024 * 1024
    readme = (FOREIGN / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in files)


def test_check_answers_every_foreign_file_with_one_chinese_line_under_a_memory_cap(env: Env) -> None:
    files = [str(FOREIGN / name) for name in sorted(EXPECTED)]
    done = _capped_run([sys.executable, "-c", CHECK_ALL, str(env.config_path), *files])
    assert done.returncode == 0, done.stderr[-3000:]
    assert not any(noise in done.stderr for noise in PARSER_NOISE), done.stderr[-3000:]
    for item in json.loads(done.stdout):
        name = Path(item["file"]).name
        assert item["exception"] is None, (name, item["exception"])
        assert item["code"] == 2, (name, item["code"], item["stdout"][-500:])
        first = item["stderr"].splitlines()[0]
        assert first.startswith(f"错误：{item['file']}：{EXPECTED[name]}"), first
        assert not any(noise in item["stderr"] + item["stdout"] for noise in PARSER_NOISE), name


def test_run_once_answers_every_foreign_file_and_still_processes_a_good_one(env: Env, tmp_path: Path) -> None:
    for name in EXPECTED:
        shutil.copy(FOREIGN / name, env.inbox / name)
    workbook(env, env.inbox / "一中_教师信息.xlsx", people(3, seed=7, school=SCHOOL_A))
    old = time.time() - 600
    for p in env.inbox.iterdir():
        os.utime(p, (old, old))
    done = _capped_run([sys.executable, "-c", "from processor.cli import main; main()", "run", "--once",
                        "--config", str(env.config_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert not any(noise in done.stderr + done.stdout for noise in PARSER_NOISE), done.stderr[-3000:]
    total = len(EXPECTED) + 1
    assert done.stdout.strip().startswith(f"处理完成：共 {total} 个文件（接收 1，"), done.stdout
    assert f"无法识别 {len(EXPECTED)}，" in done.stdout, done.stdout
    assert list(env.inbox.iterdir()) == [] and list((env.state / "processing").iterdir()) == []
    reasons = {p.name.split("__", 1)[1].removesuffix(".reason.txt"): p.read_text(encoding="utf-8")
               for p in (env.state / "quarantine").glob("*.reason.txt")}
    assert sorted(reasons) == sorted(EXPECTED)
    for name, text in reasons.items():
        said = NOT_OURS_RUN if EXPECTED[name] == NOT_OURS else EXPECTED[name]
        assert f"隔离原因：{name}：{said}" in text, (name, text)


def test_a_refused_ole_file_is_not_parsed_again_to_quarantine_it(env: Env) -> None:
    """PhpSpreadsheet's oleloop.xls (1 KB, a cycle in its sector chain) makes calamine allocate without end:
    the guard refuses it, and the quarantine step must not hand it to calamine again for its metadata."""
    shutil.copy(FOREIGN / "phpspreadsheet__oleloop.xls", env.inbox / "工资表.xls")
    workbook(env, env.inbox / "一中_教师信息.xlsx", people(2, seed=8, school=SCHOOL_A))
    old = time.time() - 600
    for p in env.inbox.iterdir():
        os.utime(p, (old, old))
    done = _capped_run([sys.executable, "-c", "from processor.cli import main; main()", "run", "--once",
                        "--config", str(env.config_path)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "处理完成：共 2 个文件（接收 1，部分接收 0，退回 0，无法识别 1，重复 0）。"
    reason = next((env.state / "quarantine").glob("*__工资表.xls.reason.txt")).read_text(encoding="utf-8")
    assert "工资表.xls：不是电子表格（无法识别的 Office 文件）" in reason
    assert not any(noise in done.stderr for noise in PARSER_NOISE)


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


@pytest.mark.parametrize(("name", "real"), [("roo__type_excel.xlsx", "xls"), ("roo__type_openoffice.xlsx", "ods"),
                                            ("roo__type_excelx.ods", "xlsx")])
def test_renamed_foreign_workbooks_are_read_not_called_corrupt(name: str, real: str, env: Env) -> None:
    data = read_workbook(FOREIGN / name, env.pack)
    assert data.format == real
    assert [f.rule for f in data.findings][:1] == ["FILE-WRONG-EXTENSION"]
    assert {f.rule for f in data.findings[1:]} == {"SHEET-UNKNOWN"}


def test_ods_sent_as_xls_is_read_by_its_real_format(tmp_path: Path, env: Env) -> None:
    renamed = tmp_path / "花名册.xls"
    shutil.copy(FOREIGN / "roo__type_openoffice.xlsx", renamed)  # an OpenDocument spreadsheet
    data = read_workbook(renamed, env.pack)
    assert data.format == "ods"
    assert data.findings[0].message == ("文件“花名册.xls”的扩展名是 .xls，但内容实际是 OpenDocument 电子表格（.ods）；"
                                        "已按实际格式读取")


@pytest.mark.parametrize("name", ["roo__encrypted-letmein.ods", "calamine__pass_protected.ods",
                                  "msoffcrypto__xor_password_123456789012345.xls",
                                  "msoffcrypto__rc4cryptoapi_password.xls"])
def test_password_protected_ods_and_xls_are_said_to_have_an_open_password(name: str, env: Env) -> None:
    from processor.errors import InputError

    with pytest.raises(InputError) as err:
        read_workbook(FOREIGN / name, env.pack)
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


def test_an_xls_needing_more_memory_than_the_ceiling_is_refused_and_the_worker_goes_on(env: Env) -> None:
    _heavy_xls(env.inbox / "花名册.xls")
    shutil.copy(FOREIGN / "calamine__biff5_write.xls", env.inbox / "旧表.xls")
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
    assert f"旧表.xls：{NOT_OURS_RUN}" in reasons["旧表.xls.reason.txt"]  # a small .xls passes the trial
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
