"""Storage: tables, the async database, migrations, and small query modules by subject.

Query functions take an ``AsyncSession`` first and keyword-only arguments after it; the
caller owns the unit of work (``async with db.session() as session: ...``).
"""

from __future__ import annotations

from storage.database import DEFAULT_DATABASE_URL, Database
from storage.errors import DatabaseUnavailable, SecretsUnavailable, SecretUnreadable, StorageError
from storage.migrate import upgrade_database

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Database",
    "DatabaseUnavailable",
    "SecretUnreadable",
    "SecretsUnavailable",
    "StorageError",
    "upgrade_database",
]
