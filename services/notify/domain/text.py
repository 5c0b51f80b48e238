"""Text rules: SMS segments, masking of addresses and names, redaction of gateway answers,
and case codes as people type them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.pii import mask_email, mask_name, mask_phone

# Runs of 7+ digits (phones with or without +86, landlines) and mobiles written 138-1234-5678.
_PHONE_LIKE = re.compile(r"(?<!\d)(?:\+?\d{7,}|1\d{2}[- ]\d{4}[- ]\d{4})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")
_CASE_CODE = re.compile(r"^\d{6}\d{6}[A-Z]{2}\d{4}[0-9A-Z]$")


class MessageTooLong(ValueError):
    """An SMS longer than the segments the policy allows: a template or data problem."""


@dataclass(frozen=True)
class SmsPolicy:
    """Chinese SMS are UCS-2: 70 characters fit one message; a longer text is sent as one
    concatenated message whose parts carry 67 characters each (the rest is the header
    that joins them). We never cut a text into separate messages; above `max_segments`
    parts it is refused."""

    signature: str
    single: int = 70
    multipart: int = 67
    max_segments: int = 4

    def text(self, body: str) -> str:
        return f"{self.signature}{body}"

    def segments(self, text: str) -> int:
        length = len(text)
        if length <= self.single:
            return 1
        count = -(-length // self.multipart)
        if count > self.max_segments:
            raise MessageTooLong(
                f"SMS of {length} characters needs {count} segments; at most {self.max_segments} "
                f"({self.max_segments * self.multipart} characters) are allowed"
            )
        return count


def mask_token(value: str | None) -> str | None:
    if not value:
        return value
    return value[:4] + "***" if len(value) > 6 else "***"


def mask_address(channel: str, address: str | None) -> str | None:
    """What the delivery log may show of an address."""
    if channel == "sms":
        return mask_phone(address)
    if channel == "email":
        return mask_email(address)
    if channel == "wechat":
        return mask_token(address)
    return address  # inbox ids are opaque references, not contact details


def mask_person(name: str | None) -> str | None:
    return mask_name(name)


def redact(text: str | None, limit: int = 300) -> str | None:
    """A gateway's answer made safe to keep: phone numbers and e-mail addresses masked."""
    if text is None:
        return None
    text = _PHONE_LIKE.sub(lambda match: mask_phone(match.group(0)) or "***", text)
    text = _EMAIL.sub(lambda match: f"{match.group(1)}***@{match.group(2)}", text)
    return text[:limit]


def canonical_case_code(text: str) -> str | None:
    """`140106261123lb00427` or `140106-261123-LB-0042-7` → the dashed form; None if malformed.
    The check character is intake's to verify; a wrong one simply matches no message."""
    compact = re.sub(r"[\s-]", "", text or "").upper()
    if not _CASE_CODE.match(compact):
        return None
    return f"{compact[:6]}-{compact[6:12]}-{compact[12:14]}-{compact[14:18]}-{compact[18]}"
