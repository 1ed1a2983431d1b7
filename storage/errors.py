"""Storage errors: each carries one sentence a person can act on, never a secret."""

from __future__ import annotations

__all__ = ["DatabaseUnavailable", "SecretUnreadable", "SecretsUnavailable", "StorageError"]


class StorageError(Exception):
    """Something the database or the secret store could not do, said in plain words."""

    default_message = "The bot's database could not do that."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class DatabaseUnavailable(StorageError):
    default_message = "The bot's database can't be reached; check TRANSFERBOT_DATABASE_URL."


class SecretsUnavailable(StorageError):
    default_message = (
        "Secrets can't be stored: set TRANSFERBOT_SECRET_KEY to a Fernet key or a passphrase "
        "of at least 16 characters, then ask again."
    )


class SecretUnreadable(StorageError):
    default_message = (
        "The secret stored with this request can't be read with the configured "
        "TRANSFERBOT_SECRET_KEY (was the key changed?); ask for the action again."
    )
