"""Sealing: authenticated encryption of what the database must hold but not show.

A reader of every table, system column, dead row and file of the database, without the
deployment's secret key, must not pair a person with a choice or a comment (DESIGN.md §4,
docs/privacy.md). What a row written next to a person's traces has to say is sealed here:
AES-256-GCM under a key derived from the secret with HKDF (one key per purpose), a random
96-bit nonce per seal, and the row's identity as associated data, so a sealed value moved to
another row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE = 12
# A sealed text column starts with this (a control character no keypad types), so rows
# written before sealing, and markers, read as they are.
TEXT_PREFIX = "\x1es1:"


class Unsealable(Exception):
    """A sealed value that does not open under this key (another key, or tampered)."""


class Sealer:
    def __init__(self, secret: bytes, purpose: str) -> None:
        assert secret, "a secret key is needed to seal"
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"grassroots-sealing-v1",
            info=purpose.encode(),
        ).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, context: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plain, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode())
        except InvalidTag as e:
            raise Unsealable(context) from e

    def seal_text(self, plain: str, context: str) -> str:
        """A text sealed for a TEXT column."""
        sealed = self.seal(plain.encode("utf-8", "surrogatepass"), context)
        return TEXT_PREFIX + base64.b64encode(sealed).decode("ascii")

    def open_text(self, stored: str, context: str) -> str:
        """A TEXT column's value opened; one that was never sealed is returned as it is."""
        if not stored.startswith(TEXT_PREFIX):
            return stored
        raw = base64.b64decode(stored[len(TEXT_PREFIX) :])
        return self.open(raw, context).decode("utf-8", "surrogatepass")


class Keys:
    """The sealers of one deployment, one per purpose, from its secret key."""

    def __init__(self, secret: bytes) -> None:
        self.ballots = Sealer(secret, "ballots")
        self.comments = Sealer(secret, "comments")
        self.inbound = Sealer(secret, "inbound")
        self._writers = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"grassroots-sealing-v1", info=b"writers"
        ).derive(secret)

    def writer(self, identity: str) -> str:
        """Who wrote a comment, as a keyed hash kept only inside the sealed comment: enough
        to count distinct writers in a batch, nothing without the key."""
        return hmac.new(self._writers, identity.encode(), hashlib.sha256).hexdigest()

    def code_tag(self, code: str) -> str:
        """A pending comment's code as a keyed hash: looked up without opening every row."""
        return hmac.new(self._writers, f"code:{code}".encode(), hashlib.sha256).hexdigest()
