"""Encrypting check secrets at rest with a key derived from the server's secret key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from tocsin.config import get_settings


def _fernet() -> Fernet:
    material = hashlib.sha256(b"tocsin check secrets\x00" + get_settings().secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(material.digest()))


def seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def unseal(ciphertext: str) -> str | None:
    """None when the secret key changed since it was stored: the check then fails naming the
    secret, instead of sending garbage to the target."""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return None
