"""Where the shipped files live: the core rule pack, the default config and the templates."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
CORE_RULES_DIR = PROJECT_ROOT / "rules" / "core"
OVERLAYS_DIR = PROJECT_ROOT / "rules" / "overlays"
TEMPLATES_DIR = PROJECT_ROOT / "templates"
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"
