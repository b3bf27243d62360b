"""Helpers shared by the pipeline tests (intake, ingest, crash): an instance with units, sample workbooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from processor import samples
from processor.cli import main
from processor.config import Config, load_config
from processor.rulepack.loader import load_pack_from_config
from processor.store.db import make_engine
from processor.store.models import RecordVersion, Submission, Teacher

SCHOOL_A = ("3601020001", "南昌市第一中学")
SCHOOL_B = ("3601020002", "南昌市豫章小学")
SCHOOL_C = ("3601030001", "南昌市西湖区朝阳小学")
SCHOOL_D = ("3602220001", "浮梁县第一中学")
COUNTY = ("360102", "东湖区")


@dataclass
class Env:
    """An instance folder with the Jiangxi units imported: its config, rule pack and database engine."""

    config_path: Path
    config: Config
    pack: Any
    engine: Engine

    @property
    def inbox(self) -> Path:
        return self.config.inbox

    @property
    def outbox(self) -> Path:
        return self.config.outbox

    @property
    def state(self) -> Path:
        return self.config.state_dir

    def reload(self, **environ: str) -> Env:
        """The same instance with TMIS_* overrides (e.g. TMIS_INTAKE_ACCEPT_MODE="all")."""
        import os

        env = dict(os.environ)
        env.update(environ)
        self.config = load_config(self.config_path, environ=env, required=True)
        return self

    def count(self, model: Any, *where: Any) -> int:
        with Session(self.engine) as s:
            return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def submissions(self) -> list[Submission]:
        with Session(self.engine) as s:
            return list(s.scalars(select(Submission).order_by(Submission.id)))

    def versions(self, *where: Any) -> list[RecordVersion]:
        with Session(self.engine) as s:
            return list(s.scalars(select(RecordVersion).where(*where).order_by(RecordVersion.id)))

    def teachers(self) -> list[Teacher]:
        with Session(self.engine) as s:
            return list(s.scalars(select(Teacher).order_by(Teacher.id)))


def make_env(config_path: Path, unit_workbook: Path) -> Env:
    """Import the unit tree into the instance and open its store."""
    result = CliRunner().invoke(main, ["units", "import", str(unit_workbook), "--config", str(config_path)])
    assert result.exit_code == 0, result.output
    config = load_config(config_path, required=True)
    return Env(config_path, config, load_pack_from_config(config), make_engine(config.database_url))


def people(n: int, seed: int, school: tuple[str, str] = SCHOOL_A, taken: set[str] | None = None) -> list[Any]:
    info = samples.SchoolInfo(code=school[0], name=school[1])
    return samples.generate_people(n, seed=seed, school=info, taken_ids=taken)


def workbook(env: Env, path: Path, persons: list[Any], school: tuple[str, str] = SCHOOL_A,
             mistakes: list[tuple[str, int]] | None = None, seed: int = 1, kind: str = "teachers") -> list[Any]:
    """A filled official template for the school; returns the injected mistakes."""
    return samples.write_workbook(path, persons, pack=env.pack, kind=kind, unit_code=school[0],
                                  unit_name=school[1], mistakes=mistakes or [], seed=seed)
