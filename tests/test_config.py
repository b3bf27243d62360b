"""The configuration: defaults, validation with one exact line per mistake, TMIS_* overrides, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from processor.cli import main
from processor.config import SCHEMA, load_config
from processor.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    return str(caught.value)


def test_shipped_config_loads_with_the_defaults(tmp_path: Path) -> None:
    from processor.paths import DEFAULT_CONFIG

    config = load_config(DEFAULT_CONFIG, environ={})
    assert config.get("intake", "accept_mode") == "row"
    assert config.state_dir == DEFAULT_CONFIG.parent / "var"
    assert config.database_url == f"sqlite:///{DEFAULT_CONFIG.parent / 'var' / 'tmis.db'}"


def test_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, '[instance]\nname = "演示"\n\n[intake]\naccept_mod = "row"\n')
    assert _error(path) == (
        f"{path}：第 5 行 [intake] accept_mod：未知的配置项 accept_mod。[intake] 可用的键：stable_seconds、"
        "rescan_seconds、accept_mode、max_file_mb、max_uncompressed_mb、max_rows、max_cells、max_parse_mb、parse_seconds、"
        "parallel_min_mb。")


def test_unknown_section_is_named_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[intake]\nmax_rows = 10\n[smtp]\nhost = \"x\"\n")
    assert _error(path) == f"{path}：第 3 行：未知的配置段 [smtp]。可用的配置段：{'、'.join(SCHEMA)}。"


def test_key_outside_any_section_says_where_it_belongs(tmp_path: Path) -> None:
    path = _write(tmp_path, 'state_dir = "data"\n')
    assert _error(path) == f"{path}：第 1 行：配置项 state_dir 不在任何配置段中。请把它写到 [instance] 下面。"


def test_wrong_type_says_what_was_expected(tmp_path: Path) -> None:
    path = _write(tmp_path, '[intake]\nmax_rows = "10000"\n')
    assert _error(path) == f'{path}：第 2 行 [intake] max_rows：值 "10000" 的类型不对，应为整数。例如 max_rows = 1100000。'


def test_true_is_not_a_number(tmp_path: Path) -> None:
    path = _write(tmp_path, "[mail]\nsmtp_port = true\n")
    assert _error(path) == f"{path}：第 2 行 [mail] smtp_port：值 true 的类型不对，应为整数。例如 smtp_port = 25。"


def test_bad_value_lists_the_choices(tmp_path: Path) -> None:
    path = _write(tmp_path, '[intake]\naccept_mode = "rows"\n')
    assert _error(path) == (f'{path}：第 2 行 [intake] accept_mode：值 "rows" 无效，应为"row"、"all" 之一。'
                            '默认值为 accept_mode = "row"。')


def test_bad_province_code(tmp_path: Path) -> None:
    path = _write(tmp_path, '[instance]\nprovince = "360100"\n')
    assert _error(path) == (f'{path}：第 2 行 [instance] province：值 "360100" 无效，应为以 0000 结尾的 6 位省级代码或空字符串。'
                            '默认值为 province = ""。')


def test_secret_in_the_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[mail]\nsmtp_user = "tmis"\nsmtp_password = "123456"\n')
    assert _error(path) == (f"{path}：第 3 行 [mail] smtp_password：机密不能写在配置文件中。"
                            "请删除该键，改用环境变量 TMIS_SMTP_PASSWORD 或 TMIS_SIGNING_KEY。")


def test_database_password_in_the_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, '[database]\nurl = "postgresql+psycopg://tmis:123456@127.0.0.1/tmis"\n')
    assert _error(path) == (f"{path}：第 2 行 [database] url：数据库密码不能写在配置文件中。请从 url 中删去密码，"
                            "改用环境变量 TMIS_DATABASE_URL 给出完整地址，或把密码写在 PostgreSQL 的 ~/.pgpass 中。")


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[intake]\naccept_mode = row\n")
    message = _error(path)
    assert message.startswith(f"{path}：第 2 行：TOML 语法错误（")
    assert message.endswith('）。字符串须加英文双引号，例如 accept_mode = "row"。')


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[intake]\naccept_mode = "row"\nmax_rows = 100\n[mail]\nenabled = false\n')
    config = load_config(path, environ={"TMIS_INTAKE_ACCEPT_MODE": "all", "TMIS_INTAKE_MAX_ROWS": "5000",
                                        "TMIS_MAIL_ENABLED": "yes", "TMIS_DATABASE_URL": "sqlite:///x.db"})
    assert (config.get("intake", "accept_mode"), config.get("intake", "max_rows"), config.get("mail", "enabled"),
            config.database_url) == ("all", 5000, True, "sqlite:///x.db")


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    config = load_config(tmp_path / "none.toml", environ={"TMIS_SMTP_PASSWORD": "pw", "TMIS_SIGNING_KEY": "k"})
    assert config.secrets == {"smtp_password": "pw", "signing_key": "k"}


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    path = _write(tmp_path, "[intake]\nmax_rows = 100\n")
    assert _error(path, {"TMIS_INTAKE_MAX_ROWS": "十万"}) == (
        '环境变量 TMIS_INTAKE_MAX_ROWS：值 "十万" 无效，应为整数。请改正该环境变量，或删除它以使用配置文件中的值。')


def test_environment_value_outside_the_choices(tmp_path: Path) -> None:
    assert _error(tmp_path / "none.toml", {"TMIS_LOGGING_LEVEL": "verbose"}) == (
        '环境变量 TMIS_LOGGING_LEVEL：值 "verbose" 无效，应为DEBUG、INFO、WARNING、ERROR 之一。'
        "请改正该环境变量，或删除它以使用配置文件中的值。")


def test_tmis_config_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[instance]\nstate_dir = "状态"\n')
    config = load_config(environ={"TMIS_CONFIG": str(path)})
    assert config.state_dir == tmp_path / "状态"


def test_missing_file_named_by_tmis_config(tmp_path: Path) -> None:
    missing = tmp_path / "无.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"TMIS_CONFIG": str(missing)})
    assert str(caught.value) == f"{missing}：找不到配置文件。请用 --config 指定正确的路径，或先运行 tmis init 目录 创建实例。"


def test_cli_prints_a_config_error_as_one_line(runner, tmp_path: Path) -> None:
    path = _write(tmp_path, "[intake]\nmax_rows = -1\n")
    result = runner.invoke(main, ["db", "current", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output == (f"错误：{path}：第 2 行 [intake] max_rows：值 -1 无效，应为大于 0 的数。"
                             "默认值为 max_rows = 1100000。\n")
