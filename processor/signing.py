"""Signed metadata for the workbooks tmis issues and takes back (return sheets, report forms, requests).

A payload is a JSON-able dict; its canonical form (sorted keys, no spaces, UTF-8) is signed with
HMAC-SHA256 under the key from the environment variable TMIS_SIGNING_KEY. Only this module knows how."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from processor.errors import TmisError

KEY_ENV = "TMIS_SIGNING_KEY"


class SigningKeyMissing(TmisError):
    """TMIS_SIGNING_KEY is not set (or empty)."""


def signing_key(env: dict[str, str] | None = None) -> bytes:
    """The signing key from TMIS_SIGNING_KEY; raises SigningKeyMissing with a one-line Chinese reason."""
    value = (env if env is not None else os.environ).get(KEY_ENV, "")
    if not value.strip():
        raise SigningKeyMissing(f"没有设置签名密钥：请在环境变量 {KEY_ENV} 中设置一个足够长的随机字符串"
                                f"（例如 python3 -c \"import secrets; print(secrets.token_hex(32))\" 的输出）")
    return value.encode("utf-8")


def canonical(payload: Any) -> bytes:
    """The bytes that are signed: JSON with sorted keys and no insignificant whitespace."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def digest(payload: Any) -> str:
    """SHA-256 (hex) of the canonical form: the hash of one listed item (a record version, a row)."""
    return hashlib.sha256(canonical(payload)).hexdigest()


def sign(payload: Any, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the canonical form of ``payload``."""
    return hmac.new(key, canonical(payload), hashlib.sha256).hexdigest()


def verify(payload: Any, signature: str, key: bytes) -> bool:
    """Whether ``signature`` is the HMAC of ``payload`` under ``key`` (constant-time comparison)."""
    if not isinstance(signature, str) or not signature:
        return False
    return hmac.compare_digest(sign(payload, key), signature.strip().lower())
