"""Rule packs as data: field specifications, code tables and validation rules, core plus province overlay."""

from processor.rulepack.loader import load_pack, load_pack_from_config
from processor.rulepack.model import (
    FIELD_TYPES,
    CodeEntry,
    CodeTable,
    FieldSpec,
    RuleDef,
    RulePack,
    SheetSpec,
)

__all__ = [
    "FIELD_TYPES",
    "CodeEntry",
    "CodeTable",
    "FieldSpec",
    "RuleDef",
    "RulePack",
    "SheetSpec",
    "load_pack",
    "load_pack_from_config",
]
