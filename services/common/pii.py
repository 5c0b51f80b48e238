"""Personal data: encryption at rest, blind indexes for matching, masking for display.

ID numbers are stored encrypted (Fernet, key derived from ONESTOP_PII_KEY) and matched by
an HMAC of their normalised form, so de-duplication never needs the clear value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"onestop-pii", info=purpose).derive(
        secret.encode("utf-8")
    )


class PiiCipher:
    def __init__(self, secret: str):
        if not secret:
            raise ValueError("ONESTOP_PII_KEY is empty")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"encryption")))
        self._hmac_key = _derive(secret, b"blind-index")

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong ONESTOP_PII_KEY or damaged value") from exc

    def blind_index(self, value: str) -> str:
        normalised = "".join(value.split()).upper()
        return hmac.new(self._hmac_key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()


def mask_email(address: str | None) -> str | None:
    """z***@example.cn: the first character of the mailbox and the domain."""
    if not address:
        return address
    local, at, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if at else "***"


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * len(digits)


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    if len(name) == 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_id_number(id_number: str | None) -> str | None:
    if not id_number:
        return id_number
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def phone_tail(phone: str | None, length: int = 4) -> str | None:
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-length:] if len(digits) >= length else None
