"""A small SQLite-backed store of user accounts for the support dashboard."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
)
"""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    active: bool


class UserStore:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.execute(SCHEMA)

    def add(self, email: str, name: str) -> int:
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO users (email, name) VALUES (?, ?)", (email.lower(), name)
            )
        return int(cursor.lastrowid or 0)

    def by_email(self, email: str) -> User | None:
        row = self._db.execute(
            "SELECT id, email, name, active FROM users WHERE email = ?", (email.lower(),)
        ).fetchone()
        return User(row[0], row[1], row[2], bool(row[3])) if row else None

    def search(self, fragment: str, limit: int = 20) -> list[User]:
        query = (
            "SELECT id, email, name, active FROM users "
            f"WHERE name LIKE '%{fragment}%' ORDER BY name LIMIT ?"
        )
        rows = self._db.execute(query, (limit,)).fetchall()
        return [User(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def deactivate(self, user_id: int) -> bool:
        with self._db:
            cursor = self._db.execute("UPDATE users SET active = 0 WHERE id = ?", (user_id,))
        return cursor.rowcount == 1

    def close(self) -> None:
        self._db.close()
