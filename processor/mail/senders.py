"""Who may send: the From address must be an officer's (``tmis units import``); what they send must be for
their own unit or a unit below it. Anything else is quarantined and never answered (no backscatter)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from processor.store.models import Officer, Unit
from processor.units import is_within

ENTITLED_ROLES = ("sysadmin", "manager")


@dataclass
class Verdict:
    """The sender's standing: the units it speaks for, or why it is refused (Chinese reason)."""

    address: str
    units: list[str] = field(default_factory=list)
    officer_names: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def known(self) -> bool:
        return not self.reason

    @property
    def unit(self) -> str | None:
        """The sender's own unit (the first one when an address serves several units)."""
        return self.units[0] if self.units else None


def officers_by_address(session: Session, address: str) -> list[Officer]:
    """Officers whose e-mail address is ``address`` (case-insensitive)."""
    if not address:
        return []
    return list(session.scalars(select(Officer).where(func.lower(Officer.email) == address.lower())
                                .order_by(Officer.unit_code, Officer.id)))


def judge_sender(session: Session, address: str, auth_failures: list[str]) -> Verdict:
    """Known officer, or the reason it is not one."""
    verdict = Verdict(address)
    if auth_failures:
        verdict.reason = f"发件服务器的认证检查未通过（{'，'.join(auth_failures)}），发件人地址可能是伪造的"
        return verdict
    if not address or "@" not in address:
        verdict.reason = "邮件没有可识别的发件人地址"
        return verdict
    found = officers_by_address(session, address)
    if not found:
        verdict.reason = f"发件人 {address} 不是任何单位登记的人员（请用 tmis units import 登记其邮箱）"
        return verdict
    verdict.units = list(dict.fromkeys(o.unit_code for o in found))
    verdict.officer_names = list(dict.fromkeys(o.name for o in found))
    return verdict


def may_send_for(session: Session, verdict: Verdict, unit_code: str) -> bool:
    """True when ``unit_code`` is one of the sender's units or lies below one of them."""
    return any(is_within(session, unit_code, own) for own in verdict.units)


def is_entitled(session: Session, address: str, unit_code: str | None) -> bool:
    """May this address see the identity and phone numbers of ``unit_code`` unmasked? Its own officers
    (any role) and the 系统管理员 / 信息管理员 of the units above it are; everyone else gets them masked."""
    if not unit_code:
        return False
    for officer in officers_by_address(session, address):
        if officer.unit_code == unit_code:
            return True
        if officer.role in ENTITLED_ROLES and session.get(Unit, unit_code) is not None \
                and is_within(session, unit_code, officer.unit_code):
            return True
    return False
