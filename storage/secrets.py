"""Request secrets (a new authInfo) at rest: Fernet-encrypted, kept only until the action ran.

The key comes from configuration (TRANSFERBOT_SECRET_KEY), resolved by the bot: either a
Fernet key (``SecretBox.generate_key()``; used as is) or any other passphrase of at least
16 characters, from which a Fernet key is derived with HKDF-SHA256 (fixed salt and info,
so the same passphrase always gives the same key). Prefer a generated Fernet key: HKDF
adds no work factor, so a passphrase is only as strong as it is long and random.
"""

from __future__ import annotations

import base64
import binascii
import logging

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage._dialect import dialect_insert
from storage.database import checkpoint_after_commit
from storage.errors import SecretsUnavailable, SecretUnreadable
from storage.models import FINISHED_REQUEST_STATES, ActionRequest, RequestSecret
from storage.types import utc_now

__all__ = [
    "MIN_PASSPHRASE_LENGTH",
    "SecretBox",
    "erase_secret",
    "erase_stale_secrets",
    "load_secret",
    "store_secret",
]

logger = logging.getLogger(__name__)

MIN_PASSPHRASE_LENGTH = 16
_HKDF_SALT = b"transferbot/request-secrets"
_HKDF_INFO = b"transferbot request secrets v1"


def _fernet_key(key: str) -> bytes:
    """``key`` itself when it is a Fernet key, else one derived from it as a passphrase."""
    try:
        if len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key) == 44:
            return key.encode("ascii")
    except (binascii.Error, UnicodeEncodeError, ValueError):
        pass
    if len(key) < MIN_PASSPHRASE_LENGTH:
        raise SecretsUnavailable(
            "TRANSFERBOT_SECRET_KEY is too short: use a Fernet key or a passphrase of at least "
            f"{MIN_PASSPHRASE_LENGTH} characters."
        )
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived)


class SecretBox:
    """Encrypts and decrypts request secrets; without a key it refuses to store any."""

    __slots__ = ("_fernet",)

    def __init__(self, key: str | SecretStr | None) -> None:
        if isinstance(key, SecretStr):
            key = key.get_secret_value()
        key = (key or "").strip()
        self._fernet = Fernet(_fernet_key(key)) if key else None

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key, for TRANSFERBOT_SECRET_KEY."""
        return Fernet.generate_key().decode("ascii")

    @property
    def available(self) -> bool:
        return self._fernet is not None

    def __repr__(self) -> str:
        return f"SecretBox({'key set' if self._fernet else 'no key'})"

    def encrypt(self, plaintext: str) -> str:
        if self._fernet is None:
            raise SecretsUnavailable()
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        if self._fernet is None:
            raise SecretsUnavailable(
                "Secrets can't be read: set TRANSFERBOT_SECRET_KEY to the key they were "
                "stored with."
            )
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable() from None


async def store_secret(
    session: AsyncSession, *, request_id: int, value: str, box: SecretBox
) -> None:
    """Keep ``value`` encrypted for the request (replacing any earlier one); marks has_secret.

    Raises SecretsUnavailable, storing nothing, when no key is configured.
    """
    token = box.encrypt(value)
    now = utc_now()
    stmt = dialect_insert(session, RequestSecret).values(
        request_id=request_id, token=token, created_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[col(RequestSecret.request_id)], set_={"token": token, "created_at": now}
    )
    await session.execute(stmt)
    await session.execute(
        update(ActionRequest)
        .where(col(ActionRequest.id) == request_id)
        .values(has_secret=True)
        .execution_options(synchronize_session=False)
    )


async def load_secret(session: AsyncSession, *, request_id: int, box: SecretBox) -> str | None:
    """The request's secret in clear, or None if none is stored (or it was erased)."""
    token = await session.scalar(
        select(col(RequestSecret.token)).where(col(RequestSecret.request_id) == request_id)
    )
    if token is None:
        return None
    return box.decrypt(token)


async def erase_secret(session: AsyncSession, *, request_id: int) -> bool:
    """Forget the request's secret (once its action ran, whatever the outcome).

    On SQLite the write-ahead log, which still holds the row's old page, is emptied into the
    (secure_delete) database file once the session commits.
    """
    result = await session.execute(
        delete(RequestSecret).where(col(RequestSecret.request_id) == request_id)
    )
    erased = bool(result.rowcount == 1)  # type: ignore[attr-defined]
    if erased:
        checkpoint_after_commit(session)
    return erased


async def erase_stale_secrets(session: AsyncSession) -> int:
    """Erase secrets of requests that are finished (a safety net after crashes); the count."""
    finished = select(col(ActionRequest.id)).where(
        col(ActionRequest.state).in_(sorted(s.value for s in FINISHED_REQUEST_STATES))
    )
    result = await session.execute(
        delete(RequestSecret).where(col(RequestSecret.request_id).in_(finished.scalar_subquery()))
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        checkpoint_after_commit(session)
        logger.info("erased %d secret(s) of finished requests", count)
    return count
