"""Encryption at rest for secret values and sensitive resource fields.

Values are stored as ``enc:v1:<Fernet token>``. The Fernet key is derived from
``server.encryptionKey`` with PBKDF2-SHA256 (once, at start-up). With no key configured, a random
key is generated into ``<dataDir>/encryption.key`` (mode 0600) and a warning is logged, so nothing is
ever stored in clear.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from magec.errors import ConfigError

log = logging.getLogger(__name__)
PREFIX = "enc:v1:"
_SALT = b"magec-store-v1"


class Cipher:
    def __init__(self, passphrase: str, source: str = "server.encryptionKey") -> None:
        #: where the key came from, named when a stored value does not decrypt under it
        self.source = source
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=_SALT, iterations=100_000)
        derived = kdf.derive(passphrase.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        # a separate key for seals: a seal never reveals anything about the encryption key
        self._seal_key = hmac.new(derived, b"magec-seal-v1", hashlib.sha256).digest()

    def seal(self, text: str) -> str:
        """An HMAC-SHA256 of ``text`` under this server's key: only a holder of the key can make one
        (a backup seals each record, so one edited outside magec is told apart)."""
        return hmac.new(self._seal_key, text.encode(), hashlib.sha256).hexdigest()

    def sealed(self, text: str, seal: object) -> bool:
        """Whether ``seal`` is this server's seal of ``text`` (compared in constant time)."""
        return isinstance(seal, str) and hmac.compare_digest(self.seal(text), seal)

    def encrypt(self, plain: str) -> str:
        return PREFIX + self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, value: str) -> str:
        """Decrypt an ``enc:v1:`` value; other strings are returned unchanged."""
        if not is_encrypted(value):
            return value
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken as e:
            # the usual cause is a second replica (or a moved data dir) with a key of its own: say
            # which key was tried and which one is needed, not only that something failed
            raise ConfigError(
                f"a stored secret cannot be decrypted with {self.source}: this database was written with "
                "another key; set server.encryptionKey (MAGEC_ENCRYPTION_KEY) to that key (every replica "
                "of one database needs the same one)"
            ) from e


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def load_cipher(encryption_key: str, data_dir: Path, *, announce: bool = True) -> Cipher:
    """Cipher from the configured key, or from a generated key file in ``data_dir``.

    ``announce=False`` (a store opened before the server's own, as ``--demo`` creates its
    resources) logs nothing: the server's start says it once — "generated a new encryption key"
    included, when that earlier opening generated it."""
    if encryption_key:
        return Cipher(encryption_key)
    key_file = data_dir / "encryption.key"
    if key_file.exists():
        # tighten a key file written by an older version or copied with a loose umask
        with contextlib.suppress(OSError):
            key_file.chmod(0o600)
        if announce:
            generated = key_file.resolve() in _generated_unsaid
            _generated_unsaid.discard(key_file.resolve())
            log.warning(("generated a new encryption key. " if generated else "") + KEY_IN_DATA_DIR, key_file)
        return Cipher(key_file.read_text().strip(), _from_file(key_file))
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    if announce:
        log.warning("generated a new encryption key. " + KEY_IN_DATA_DIR, key_file)
    else:
        _generated_unsaid.add(key_file.resolve())
    return Cipher(key, _from_file(key_file, generated=True))


#: key files this process generated without saying so yet (``announce=False``): the next
#: announcing load says "generated"
_generated_unsaid: set[Path] = set()


def _from_file(key_file: Path, generated: bool = False) -> str:
    made = "generated just now" if generated else "no server.encryptionKey is configured"
    return f"the key in {key_file} ({made})"


#: the key next to the data it protects: a copy of the data dir (a backup, a volume snapshot)
#: carries the key to decrypt it, so this is said at every start-up, not only the first
KEY_IN_DATA_DIR = (
    "no server.encryptionKey configured: the encryption key lives in the data dir (%s), next to the "
    "secrets it protects, so anyone with a copy of the data dir can read them; set "
    "server.encryptionKey (MAGEC_ENCRYPTION_KEY) from a secret store and keep a backup of it"
)
