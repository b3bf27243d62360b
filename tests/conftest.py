"""Shared fixtures: databases (SQLite and PostgreSQL), instance folders, the CLI runner.

Fixtures here are generic; a test area adds its own fixtures in its test module unless several areas share them.

- ``store_url``      a fresh, empty database URL, once per backend ("sqlite", "postgresql")
- ``upgraded_url``   ``store_url`` after ``tmis db upgrade`` (all migrations applied)
- ``engine``         an Engine on ``upgraded_url``, disposed after the test
- ``instance``       a ``tmis init`` folder on SQLite; returns its config.toml path
- ``store_instance`` a ``tmis init`` folder whose [database] url is ``upgraded_url`` (both backends)
- ``runner``         a click CliRunner; ``runner.invoke(main, [...])``
- ``unit_workbook``  a realistic 单位/人员 import workbook (Jiangxi: province, 2 cities, 3 counties, 4 schools)
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import Engine

from processor.cli import main
from processor.store.db import make_engine, upgrade

# Where the test PostgreSQL server is: trust authentication, an existing database to connect to for
# CREATE DATABASE. Override with TMIS_TEST_PG_ADMIN (a libpq connection string).
PG_ADMIN_DSN = os.environ.get("TMIS_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")


@pytest.fixture(autouse=True)
def _no_tmis_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no TMIS_* variable of the developer's shell (a test sets the ones it is about)."""
    for name in list(os.environ):
        if name.startswith("TMIS_") and name != "TMIS_TEST_PG_ADMIN":
            monkeypatch.delenv(name)
    # The monthly report's schedule follows the calendar (on or after [reports] monthly_day): a test that
    # runs the service must not find a report made (and mailed) on the 25th. Tests of the schedule turn it on.
    monkeypatch.setenv("TMIS_REPORTS_SCHEDULE", "false")


def _pg_url(admin_dsn: str, database: str) -> str:
    params = conninfo_to_dict(admin_dsn)
    user = params.get("user", "postgres")
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    return f"postgresql+psycopg://{user}@{host}:{port}/{database}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a new, empty database: a SQLite file in tmp_path, or a PostgreSQL database made for this test.

    PostgreSQL unreachable: the test fails when CI=true (CI must test both backends), otherwise it is skipped.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'tmis.db'}"
        return
    name = f"tmis_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = f"PostgreSQL 不可用：{PG_ADMIN_DSN}：{first_line}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield _pg_url(PG_ADMIN_DSN, name)
    finally:
        # FORCE ends sessions a test left open (pooled connections of an engine not yet disposed).
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def upgraded_url(store_url: str) -> str:
    """``store_url`` with every migration applied."""
    upgrade(store_url)
    return store_url


@pytest.fixture
def engine(upgraded_url: str) -> Iterator[Engine]:
    """An engine on the upgraded database (both backends), disposed after the test."""
    eng = make_engine(upgraded_url)
    yield eng
    eng.dispose()


@pytest.fixture
def runner() -> CliRunner:
    """A click CliRunner for ``runner.invoke(main, [...])``."""
    return CliRunner()


def _init(runner: CliRunner, directory: Path) -> Path:
    result = runner.invoke(main, ["init", str(directory)])
    assert result.exit_code == 0, result.output
    return directory / "config.toml"


@pytest.fixture
def instance(runner: CliRunner, tmp_path: Path) -> Path:
    """A fresh `tmis init` folder (SQLite, migrated) in tmp_path; returns the path of its config.toml."""
    return _init(runner, tmp_path / "实例")


@pytest.fixture
def store_instance(runner: CliRunner, tmp_path: Path, upgraded_url: str) -> Path:
    """A `tmis init` folder whose config.toml points at ``upgraded_url`` (runs once per backend)."""
    config = _init(runner, tmp_path / "实例")
    text = config.read_text(encoding="utf-8")
    text, n = re.subn(r'(?m)^url = ""$', f'url = "{upgraded_url}"', text)
    assert n == 1
    config.write_text(text, encoding="utf-8")
    return config


# A realistic unit tree: real GB/T 2260 codes of Jiangxi, 10-digit school codes under the counties.
JIANGXI_UNITS = [
    ("360000", "江西省", ""),
    ("360100", "南昌市", "360000"),
    ("360200", "景德镇市", "360000"),
    ("360102", "东湖区", "360100"),
    ("360103", "西湖区", "360100"),
    ("360222", "浮梁县", "360200"),
    ("3601020001", "南昌市第一中学", "360102"),
    ("3601020002", "南昌市豫章小学", "360102"),
    ("3601030001", "南昌市西湖区朝阳小学", "360103"),
    ("3602220001", "浮梁县第一中学", "360222"),
]
JIANGXI_OFFICERS = [
    ("360000", "刘建华", "系统管理员", "liujh@jxedu.gov.cn", "13907910001"),
    ("360000", "陈静", "信息管理员", "chenj@jxedu.gov.cn", "13907910002"),
    ("360102", "王磊", "信息管理员", "wanglei@dhq.edu.cn", "13807910003"),
    ("3601020001", "张伟", "系统管理员", "zhangwei@ncyz.edu.cn", "13607910004"),
    ("3601020001", "李娜", "信息查询员", "lina@ncyz.edu.cn", ""),
]


def write_unit_workbook(path: Path, units: list[tuple] = JIANGXI_UNITS,
                        officers: list[tuple] | None = JIANGXI_OFFICERS) -> Path:
    """An import workbook as the template lays it out: 单位 (代码, 名称, 上级代码) and 人员 sheets."""
    wb = Workbook()
    ws = wb.active
    ws.title = "单位"
    ws.append(["代码", "名称", "上级代码"])
    for row in units:
        ws.append(list(row))
    if officers is not None:
        people = wb.create_sheet("人员")
        people.append(["单位代码", "姓名", "角色", "邮箱", "手机"])
        for row in officers:
            people.append(list(row))
    wb.save(path)
    return path


@pytest.fixture
def unit_workbook(tmp_path: Path) -> Path:
    """The Jiangxi tree and its officers as an import workbook (for `tmis units import`)."""
    return write_unit_workbook(tmp_path / "单位.xlsx")


@pytest.fixture
def sink():  # noqa: ANN201 - a mail_helpers.Sink
    """A real SMTP server on a free loopback port (aiosmtpd), standing in for the outgoing server's far end."""
    from mail_helpers import Sink, free_port

    server = Sink(free_port()).start()
    yield server
    server.stop()
