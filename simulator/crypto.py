"""WeChat/WeCom message signatures and AES message encryption, written from the public spec.

Deliberately independent of wechatpy so that interop tests between bot and simulator compare
two implementations rather than one with itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 32
"""WeChat pads to 32 bytes (PKCS#7 with a 32-byte block), not AES's 16."""
RANDOM_PREFIX_LENGTH = 16


class CryptoError(ValueError):
    """A message that does not decrypt, has a bad padding or a foreign receive id."""


def signature(*parts: str) -> str:
    """SHA-1 of the parts sorted and concatenated (plain `signature` and `msg_signature`)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_signature(expected: str, *parts: str) -> bool:
    """Constant-time comparison of `expected` with the signature of `parts`."""
    return hmac.compare_digest(expected.encode("utf-8"), signature(*parts).encode("utf-8"))


def pkcs7_pad(data: bytes) -> bytes:
    """Pad to a multiple of 32 bytes; always adds 1..32 bytes."""
    amount = BLOCK_SIZE - len(data) % BLOCK_SIZE
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes) -> bytes:
    """Remove the 32-byte PKCS#7 padding, refusing anything malformed."""
    if not data:
        raise CryptoError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= BLOCK_SIZE or data[-amount:] != bytes([amount]) * amount:
        raise CryptoError("bad padding")
    return data[:-amount]


class MessageCrypto:
    """AES-256-CBC as WeChat uses it: key = b64decode(aes_key + "="), iv = key[:16]."""

    def __init__(self, token: str, aes_key: str, receive_id: str) -> None:
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise CryptoError("EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise CryptoError("EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.receive_id = receive_id
        self._key = key

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, xml: str, random_prefix: bytes | None = None) -> str:
        """Base64 of AES(random16 + len(xml) as 4 bytes big-endian + xml + receive_id)."""
        prefix = os.urandom(RANDOM_PREFIX_LENGTH) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_PREFIX_LENGTH:
            raise CryptoError("the random prefix has 16 bytes")
        body = xml.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode("utf-8")
        encryptor = self._cipher().encryptor()
        encrypted = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
        return base64.b64encode(encrypted).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """Inverse of `encrypt`; checks the receive id (app id or corp id)."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except binascii.Error as exc:
            raise CryptoError("Encrypt is not base64") from exc
        if not raw or len(raw) % 16:
            raise CryptoError("ciphertext length is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = pkcs7_unpad(decryptor.update(raw) + decryptor.finalize())
        if len(plain) < RANDOM_PREFIX_LENGTH + 4:
            raise CryptoError("plaintext too short")
        (length,) = struct.unpack(">I", plain[16:20])
        body, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if len(body) != length:
            raise CryptoError("declared length exceeds the plaintext")
        if receive_id.decode("utf-8", "replace") != self.receive_id:
            raise CryptoError("message is for another receive id")
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CryptoError("plaintext is not UTF-8") from exc

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """`msg_signature` covering token, timestamp, nonce and the Encrypt element."""
        return signature(self.token, timestamp, nonce, encrypted)
