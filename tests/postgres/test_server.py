"""Proves the fixture: a real server answers on the URL it yields."""

from __future__ import annotations

import asyncio

import asyncpg


def test_server_answers_select_1(postgres_url: str) -> None:
    async def query() -> tuple[int, str]:
        connection = await asyncpg.connect(postgres_url)
        try:
            one = await connection.fetchval("select 1")
            database = await connection.fetchval("select current_database()")
        finally:
            await connection.close()
        return one, database

    assert asyncio.run(query()) == (1, "ormar_signals")
