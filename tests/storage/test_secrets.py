"""Request secrets: encrypted at rest, never in the database file in clear, gone after erase."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from storage.database import Database
from storage.errors import SecretsUnavailable, SecretUnreadable
from storage.requests import get_request, transition_request
from storage.secrets import SecretBox, erase_secret, erase_stale_secrets, load_secret, store_secret
from tests.storage.samples import retry_request

PLAINTEXT = "Zq8#authinfo-77"  # a Hostway authInfo: 6-16 characters
FERNET_TOKEN = re.compile(rb"gAAAAA[A-Za-z0-9_=-]{20,}")


async def _request(db: Database) -> int:
    return await retry_request(db)


def _database_bytes(db: Database) -> bytes:
    """Every byte SQLite keeps for the database: the file and its write-ahead log."""
    path = Path(db.url.database or "")
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_the_plaintext_never_reaches_the_database_file_and_erase_leaves_nothing(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = SecretBox.generate_key()
    box = SecretBox(key)
    request_id = await _request(sqlite_db)
    async with sqlite_db.session() as session:
        await store_secret(session, request_id=request_id, value=PLAINTEXT, box=box)

    stored = _database_bytes(sqlite_db)
    tokens = FERNET_TOKEN.findall(stored)
    assert tokens, "the encrypted secret should be in the file we read"
    assert PLAINTEXT.encode() not in stored
    assert PLAINTEXT not in caplog.text
    async with sqlite_db.session() as session:
        assert await load_secret(session, request_id=request_id, box=box) == PLAINTEXT
        request = await get_request(session, request_id=request_id)
        assert request is not None and request.has_secret

    async with sqlite_db.session() as session:
        assert await erase_secret(session, request_id=request_id)
        assert await load_secret(session, request_id=request_id, box=box) is None
    erased = _database_bytes(sqlite_db)  # the WAL too: emptied after an erase
    assert PLAINTEXT.encode() not in erased
    fernet = Fernet(key)
    for token in FERNET_TOKEN.findall(erased):  # secure_delete: not even the old bytes remain
        with pytest.raises(InvalidToken):
            fernet.decrypt(token)


async def test_without_a_key_nothing_is_stored_and_the_reason_is_a_sentence(db: Database) -> None:
    request_id = await _request(db)
    with pytest.raises(SecretsUnavailable) as caught:
        async with db.session() as session:
            await store_secret(session, request_id=request_id, value=PLAINTEXT, box=SecretBox(None))
    assert caught.value.message.startswith("Secrets can't be stored: set TRANSFERBOT_SECRET_KEY")
    assert PLAINTEXT not in caught.value.message
    async with db.session() as session:
        request = await get_request(session, request_id=request_id)
        assert request is not None and not request.has_secret
        assert await load_secret(session, request_id=request_id, box=SecretBox("x" * 20)) is None


async def test_a_changed_key_says_so_instead_of_crashing(db: Database) -> None:
    request_id = await _request(db)
    async with db.session() as session:
        await store_secret(
            session, request_id=request_id, value=PLAINTEXT, box=SecretBox(SecretBox.generate_key())
        )
    async with db.session() as session:
        with pytest.raises(SecretUnreadable) as caught:
            await load_secret(
                session, request_id=request_id, box=SecretBox(SecretBox.generate_key())
            )
    assert "TRANSFERBOT_SECRET_KEY" in caught.value.message
    assert PLAINTEXT not in str(caught.value) and caught.value.__cause__ is None


def test_a_passphrase_derives_the_same_key_each_time_and_hides_it() -> None:
    passphrase = "correct horse battery staple"
    token = SecretBox(passphrase).encrypt(PLAINTEXT)
    assert SecretBox(passphrase).decrypt(token) == PLAINTEXT
    with pytest.raises(SecretUnreadable):
        SecretBox(passphrase + "!").decrypt(token)
    assert passphrase not in repr(SecretBox(passphrase))
    with pytest.raises(SecretsUnavailable, match="at least 16 characters"):
        SecretBox("short")


async def test_secrets_of_finished_requests_are_swept(db: Database) -> None:
    box = SecretBox(SecretBox.generate_key())
    finished, waiting = await _request(db), await _request(db)
    async with db.session() as session:
        for request_id in (finished, waiting):
            await store_secret(session, request_id=request_id, value=PLAINTEXT, box=box)
        await transition_request(
            session, request_id=finished, from_states=["pending"], to_state="rejected"
        )
        assert await erase_stale_secrets(session) == 1
        assert await load_secret(session, request_id=finished, box=box) is None
        assert await load_secret(session, request_id=waiting, box=box) == PLAINTEXT
