"""Check kinds: one module per kind, each registering itself by its `kind` name (see base.py)."""

from processor.checks.base import INVALID, REGISTRY, Check, CheckEnv, Chunk, Hit, RuleError, load_kinds

__all__ = ["INVALID", "REGISTRY", "Check", "CheckEnv", "Chunk", "Hit", "RuleError", "load_kinds"]
