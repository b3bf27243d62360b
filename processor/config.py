"""The one configuration file: defaults, TMIS_* overrides, validation with the file, key and what was expected."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from processor.errors import ConfigError
from processor.paths import CORE_RULES_DIR

SECRETS = {"TMIS_SMTP_PASSWORD": "smtp_password", "TMIS_IMAP_PASSWORD": "imap_password",
           "TMIS_SIGNING_KEY": "signing_key"}
SECRET_KEYS = {"password", "smtp_password", "signing_key", "secret"}


def _choice(*allowed: str):
    def check(v: Any) -> str | None:
        return None if v in allowed else "、".join(f'"{a}"' for a in allowed) + " 之一"
    return check


def _positive(v: Any) -> str | None:
    return None if v > 0 else "大于 0 的数"


def _port(v: Any) -> str | None:
    return None if 0 < v < 65536 else "1～65535 之间的端口号"


def _iso_date_or_empty(v: Any) -> str | None:
    if v == "":
        return None
    try:
        date.fromisoformat(v)
    except ValueError:
        return "YYYY-MM-DD 格式的日期或空字符串"
    return None


def _province(v: Any) -> str | None:
    return None if v == "" or re.fullmatch(r"\d{2}0000", v) else "以 0000 结尾的 6 位省级代码或空字符串"


REVIEW_LEVELS = ("county", "city", "province")  # bottom-up: the order a record climbs


def _review_levels(v: Any) -> str | None:
    wanted = "由 \"county\"、\"city\"、\"province\" 自下而上组成、不重复、至少一项的列表，例如 [\"county\", \"city\"]"
    if not v or any(x not in REVIEW_LEVELS for x in v) or len(set(v)) != len(v):
        return wanted
    return None if list(v) == sorted(v, key=REVIEW_LEVELS.index) else wanted


def _clock_or_empty(v: Any) -> str | None:
    if v == "":
        return None
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", v)
    return None if m and int(m.group(1)) < 24 and int(m.group(2)) < 60 else "HH:MM 格式的时刻（如 \"07:00\"）或空字符串"


def _log_level(v: Any) -> str | None:
    return None if v in ("DEBUG", "INFO", "WARNING", "ERROR") else "DEBUG、INFO、WARNING、ERROR 之一"


def _yearly_deadlines(v: Any) -> str | None:
    wanted = "每项为“月-日 名称”的列表，例如 [\"03-31 上一年度信息更新\", \"09-30 上半年信息更新\"]"
    for item in v:
        m = re.fullmatch(r"(\d{2})-(\d{2})(\s+\S.*)?", str(item).strip())
        try:
            if m is None:
                raise ValueError
            date(2024, int(m.group(1)), int(m.group(2)))  # a leap year: 02-29 is a real day
        except ValueError:
            return wanted
    return None


def _dated_deadlines(v: Any) -> str | None:
    for item in v:
        m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(\s+\S.*)?", str(item).strip())
        try:
            if m is None:
                raise ValueError
            date.fromisoformat(m.group(1))
        except ValueError:
            return "每项为“年-月-日 名称”的列表，例如 [\"2027-01-15 寒假前补报\"]，或空列表"
    return None


def _remind_days(v: Any) -> str | None:
    days = [x if isinstance(x, int) and not isinstance(x, bool) else int(x) if str(x).isdigit() else -1 for x in v]
    ok = all(0 <= x <= 366 for x in days) and len(set(days)) == len(days)
    return None if ok else "截止日前的天数（0～366 的整数，不重复）组成的列表，例如 [14, 3]，或空列表（不提醒）"


# section → key → (type, default, extra check)
SCHEMA: dict[str, dict[str, tuple[type, Any, Any]]] = {
    "instance": {
        "name": (str, "教师管理信息系统", None),
        "province": (str, "", _province),
        "state_dir": (str, "var", None),
        "inbox": (str, "inbox", None),
        "outbox": (str, "outbox", None),
    },
    "database": {"url": (str, "", None)},
    "rules": {"core": (str, "", None), "overlay": (str, "", None)},
    "intake": {
        "stable_seconds": (float, 2.0, lambda v: None if v >= 0 else "不小于 0 的秒数"),
        "rescan_seconds": (float, 30.0, _positive),
        "accept_mode": (str, "row", _choice("row", "all")),
        "max_file_mb": (float, 300, _positive),
        "max_uncompressed_mb": (float, 3000, _positive),
        "max_rows": (int, 1_100_000, _positive),
        "max_cells": (int, 60_000_000, _positive),
        "max_parse_mb": (float, 1024, _positive),
        "parse_seconds": (float, 120.0, _positive),
        "parallel_min_mb": (float, 2.0, None),
    },
    "check": {"max_findings": (int, 50_000, _positive), "today": (str, "", _iso_date_or_empty)},
    "mail": {
        "enabled": (bool, False, None),
        "smtp_host": (str, "127.0.0.1", None),
        "smtp_port": (int, 25, _port),
        "smtp_user": (str, "", None),
        "starttls": (bool, False, None),
        "tls": (bool, False, None),
        "from_address": (str, "tmis@example.edu.cn", None),
        "listen": (bool, True, None),
        "listen_host": (str, "127.0.0.1", None),
        "listen_port": (int, 8025, _port),
        "imap_host": (str, "", None),
        "imap_port": (int, 993, _port),
        "imap_security": (str, "ssl", _choice("ssl", "starttls", "plain")),
        "imap_user": (str, "", None),
        "imap_folder": (str, "INBOX", None),
        "imap_done_folder": (str, "", None),
        "poll_seconds": (float, 60.0, _positive),
        "maildir": (str, "", None),
        "admin_address": (str, "", None),
        "digest_hour": (int, 7, lambda v: None if -1 <= v <= 23 else "0～23 之间的整点，或 -1（不自动发送）"),
        "max_attempts": (int, 8, _positive),
        "retry_seconds": (float, 60.0, _positive),
        "max_message_mb": (float, 50, _positive),
        "zip_max_files": (int, 50, _positive),
        "zip_max_mb": (float, 500, _positive),
        "zip_max_ratio": (float, 200, _positive),
    },
    "logging": {"level": (str, "INFO", _log_level)},
    "review": {
        "levels": (list, ["county"], _review_levels),
        "sheet_valid_days": (int, 30, _positive),
        "issue_time": (str, "07:00", _clock_or_empty),
    },
    "numbering": {"scheme": (str, "jiangxi", _choice("jiangxi"))},
    "workflows": {
        "sheet_valid_days": (int, 30, _positive),
        "status_change_levels": (list, ["county"], _review_levels),
    },
    "reports": {
        "monthly_day": (int, 25, lambda v: None if 1 <= v <= 28 else "1～28 之间的日期"),
        "unit": (str, "", lambda v: None if v == "" or re.fullmatch(r"\d{6}", v) else "6 位单位代码或空字符串"),
        "schedule": (bool, True, None),
    },
    "workers": {
        "name": (str, "", None),
        "heartbeat_seconds": (float, 5.0, _positive),
        "stalled_seconds": (float, 60.0, _positive),
        "poll_seconds": (float, 5.0, _positive),
        "claim_grace_seconds": (float, 120.0, _positive),
        "analyze_seconds": (float, 30.0, _positive),
    },
    "deadlines": {
        "yearly": (list, ["03-31 上一年度信息更新", "09-30 上半年信息更新"], _yearly_deadlines),
        "dates": (list, [], _dated_deadlines),
        "remind_days": (list, [14, 3], _remind_days),
        "remind_hour": (int, 8, lambda v: None if 0 <= v <= 23 else "0～23 之间的整点"),
    },
    "credits": {"rules": (str, "", None)},
    "exchange": {
        "profiles": (str, "", None),
        "chunk_rows": (int, 20_000, _positive),
        "worker_mb": (float, 8.0, None),
    },
}

TYPE_NAMES = {str: "字符串", int: "整数", float: "数字", bool: "true 或 false", list: "列表"}


@dataclass
class Config:
    """A loaded, validated configuration. Paths are absolute."""

    path: Path | None
    values: dict[str, dict[str, Any]]
    secrets: dict[str, str] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Any:
        return self.values[section][key]

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def _path(self, raw: str) -> Path:
        p = Path(raw).expanduser()
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    @property
    def state_dir(self) -> Path:
        return self._path(self.values["instance"]["state_dir"])

    @property
    def inbox(self) -> Path:
        return self._path(self.values["instance"]["inbox"])

    @property
    def outbox(self) -> Path:
        return self._path(self.values["instance"]["outbox"])

    @property
    def database_url(self) -> str:
        url = self.values["database"]["url"]
        return url or f"sqlite:///{self.state_dir / 'tmis.db'}"

    @property
    def rules_core(self) -> Path:
        raw = self.values["rules"]["core"]
        return self._path(raw) if raw else CORE_RULES_DIR

    @property
    def rules_overlay(self) -> Path | None:
        raw = self.values["rules"]["overlay"]
        if not raw:
            return None
        p = self._path(raw)
        if not p.exists() and not Path(raw).is_absolute():
            from processor.paths import PROJECT_ROOT

            shipped = (PROJECT_ROOT / raw).resolve()
            if shipped.exists():
                return shipped
        return p

    @property
    def today(self) -> date:
        raw = self.values["check"]["today"]
        return date.fromisoformat(raw) if raw else date.today()


def _line_of_key(text: str, section: str, key: str) -> int | None:
    current = None
    for i, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        m = re.match(r"^\[([^\]]+)\]$", s)
        if m:
            current = m.group(1).strip()
            continue
        if current == section and re.match(rf"^{re.escape(key)}\s*=", s):
            return i
    return None


def _coerce(value: Any, typ: type) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typ is int and isinstance(value, bool):
        raise TypeError
    if not isinstance(value, typ):
        raise TypeError
    return value


def _coerce_env(raw: str, typ: type) -> Any:
    if typ is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError
    if typ is int:
        return int(raw)
    if typ is float:
        return float(raw)
    if typ is list:  # TMIS_REVIEW_LEVELS="county,city"
        return [part.strip() for part in re.split(r"[,，\s]+", raw) if part.strip()]
    return raw


def load_config(path: str | Path | None = None, *, environ: dict[str, str] | None = None,
                required: bool = False) -> Config:
    """Load config.toml (or defaults when it does not exist and not required), apply TMIS_* overrides."""
    env = os.environ if environ is None else environ
    if path is None and env.get("TMIS_CONFIG"):
        path = env["TMIS_CONFIG"]
        required = True
    cfg_path = Path(path) if path is not None else Path("config.toml")
    values = {s: {k: (list(spec[1]) if isinstance(spec[1], list) else spec[1]) for k, spec in keys.items()}
              for s, keys in SCHEMA.items()}
    text = ""
    if cfg_path.exists():
        try:
            text = cfg_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError("配置文件不是 UTF-8 编码", file=cfg_path, hint="请用 UTF-8 编码保存。") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            raise ConfigError(f"TOML 语法错误（{exc}）", file=cfg_path, place=f"第 {m.group(1)} 行" if m else None,
                              hint="字符串须加英文双引号，例如 accept_mode = \"row\"。") from exc
        for section, content in data.items():
            if not isinstance(content, dict):
                line = next((i for i, ln in enumerate(text.splitlines(), 1)
                             if re.match(rf"^\s*{re.escape(section)}\s*=", ln)), None)
                home = [s for s, keys in SCHEMA.items() if section in keys]
                raise ConfigError(f"配置项 {section} 不在任何配置段中", file=cfg_path,
                                  place=f"第 {line} 行" if line else None,
                                  hint=f"请把它写到 [{home[0]}] 下面。" if home else "请删除它，或写到所属的配置段下面。")
            if section not in SCHEMA:
                line = next((i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == f"[{section}]"), None)
                raise ConfigError(f"未知的配置段 [{section}]", file=cfg_path, place=f"第 {line} 行" if line else None,
                                  hint=f"可用的配置段：{'、'.join(SCHEMA)}。")
            for key, value in content.items():
                line = _line_of_key(text, section, key)
                place = f"第 {line} 行 [{section}] {key}" if line else f"[{section}] {key}"
                if key.lower() in SECRET_KEYS or "password" in key.lower():
                    raise ConfigError("机密不能写在配置文件中", file=cfg_path, place=place,
                                      hint="请删除该键，改用环境变量 TMIS_SMTP_PASSWORD 或 TMIS_SIGNING_KEY。")
                if key not in SCHEMA[section]:
                    raise ConfigError(f"未知的配置项 {key}", file=cfg_path, place=place,
                                      hint=f"[{section}] 可用的键：{'、'.join(SCHEMA[section])}。")
                typ, _default, check = SCHEMA[section][key]
                try:
                    value = _coerce(value, typ)
                except TypeError:
                    raise ConfigError(f"值 {_toml(value)} 的类型不对，应为{TYPE_NAMES[typ]}", file=cfg_path, place=place,
                                      hint=f"例如 {key} = {_example(typ, _default)}。") from None
                problem = check(value) if check else None
                if problem:
                    raise ConfigError(f"值 {_toml(value)} 无效，应为{problem}", file=cfg_path, place=place,
                                      hint=f"默认值为 {key} = {_example(typ, _default)}。")
                if section == "database" and key == "url" and _url_password(value):
                    raise ConfigError("数据库密码不能写在配置文件中", file=cfg_path, place=place,
                                      hint="请从 url 中删去密码，改用环境变量 TMIS_DATABASE_URL 给出完整地址，"
                                           "或把密码写在 PostgreSQL 的 ~/.pgpass 中。")
                values[section][key] = value
    elif required:
        raise ConfigError("找不到配置文件", file=cfg_path,
                          hint="请用 --config 指定正确的路径，或先运行 tmis init 目录 创建实例。")
    for section, keys in SCHEMA.items():
        for key, (typ, _default, check) in keys.items():
            name = f"TMIS_{section.upper()}_{key.upper()}"
            if name not in env:
                continue
            try:
                value = _coerce_env(env[name], typ)
            except ValueError:
                raise ConfigError(f"值 \"{env[name]}\" 无效，应为{TYPE_NAMES[typ]}", file=f"环境变量 {name}",
                                  hint=_ENV_HINT) from None
            problem = check(value) if check else None
            if problem:
                raise ConfigError(f"值 \"{env[name]}\" 无效，应为{problem}", file=f"环境变量 {name}", hint=_ENV_HINT)
            values[section][key] = value
    secrets = {key: env[name] for name, key in SECRETS.items() if env.get(name)}
    return Config(path=cfg_path.resolve() if cfg_path.exists() else None, values=values, secrets=secrets)


_ENV_HINT = "请改正该环境变量，或删除它以使用配置文件中的值。"


def _url_password(url: str) -> bool:
    """True when a database URL carries a password (user:password@host)."""
    return bool(re.match(r"^[\w+.-]+://[^/@:]*:[^/@]+@", url))


def _toml(value: Any) -> str:
    """A value as it is written in TOML (strings in double quotes, true/false)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _example(typ: type, default: Any) -> str:
    if typ is str:
        return f'"{default}"'
    if typ is bool:
        return "true" if default else "false"
    if typ is list:
        return "[" + ", ".join(_toml(v) for v in default) + "]"
    return str(default)
