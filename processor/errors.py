"""Errors a user can act on: each renders as one Chinese line naming the file, the place and the fix."""

from __future__ import annotations

from pathlib import Path


class TmisError(Exception):
    """A problem the user can fix. ``str()`` is one line: file, place, what is wrong, how to fix it."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        place: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.place = place
        self.hint = hint

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.place) if p]
        head = "：".join(parts)
        text = f"{head}：{self.message}" if head else self.message
        if self.hint:
            text = f"{text.rstrip('。')}。{self.hint}"
        return text.replace("\n", " ")


class ConfigError(TmisError):
    """The configuration file or a TMIS_* variable is wrong."""

    exit_code = 2


class RulePackError(TmisError):
    """A rule-pack file (field specification, code table, rule, overlay) is wrong."""

    exit_code = 2


class InputError(TmisError):
    """An input file or argument cannot be read, recognised or used, or the command refuses it (exit code 2)."""

    exit_code = 2


class StoreError(TmisError):
    """The database cannot be reached or is not at the expected schema."""

    exit_code = 2
