"""Drives examples/fastapi_app.py through httpx and checks what its receivers did."""

import asyncio
import contextlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, AsyncIterator

import httpx
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_app(database: Path) -> ModuleType:
    os.environ["ALBUMS_DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    spec = importlib.util.spec_from_file_location(
        "fastapi_app", EXAMPLES / "fastapi_app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fastapi_app"] = module
    spec.loader.exec_module(module)
    return module


@contextlib.asynccontextmanager
async def running(example: ModuleType) -> AsyncIterator[httpx.AsyncClient]:
    """The example app through its lifespan, and a client talking to it."""
    transport = httpx.ASGITransport(app=example.app)
    async with example.lifespan(example.app), httpx.AsyncClient(
        transport=transport, base_url="http://test"
    ) as client:
        yield client


def test_requests_leave_one_audit_row_per_change_and_fresh_pages(
    tmp_path: Path,
) -> None:
    example = load_app(tmp_path / "albums.sqlite")

    async def scenario() -> Any:
        async with running(example) as client:
            created = (await client.post("/albums", json={"name": "Venice"})).json()
            album_id = created["id"]
            first_read = (await client.get(f"/albums/{album_id}")).json()
            assert album_id in example.album_pages
            patched = await client.patch(f"/albums/{album_id}", json={"play_count": 60})
            assert patched.status_code == 200
            # post_update dropped the cached page, so this read is fresh.
            assert album_id not in example.album_pages
            second_read = (await client.get(f"/albums/{album_id}")).json()
            deleted = await client.delete(f"/albums/{album_id}")
            assert deleted.status_code == 204
            assert album_id not in example.album_pages
            missing = await client.get(f"/albums/{album_id}")
            audit = (await client.get("/audit")).json()
            return album_id, first_read, second_read, missing.status_code, audit

    album_id, first_read, second_read, missing, audit = asyncio.run(scenario())

    assert first_read["play_count"] == 0
    assert second_read["play_count"] == 60
    assert missing == 404
    assert [(row["event_type"], row["album_id"]) for row in audit] == [
        ("post_save", album_id),
        ("post_update", album_id),
        ("post_delete", album_id),
    ]
    assert '"play_count": 60' in audit[1]["event_log"]


def test_welcome_mail_only_for_a_committed_signup(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    example = load_app(tmp_path / "albums.sqlite")

    async def scenario() -> Any:
        async with running(example) as client:
            album = (await client.post("/albums", json={"name": "Venice"})).json()
            kept = await client.post(
                "/members",
                json={"email": "ann@example.org", "favourite_album": album["id"]},
            )
            refused = await client.post(
                "/members", json={"email": "bob@example.org", "favourite_album": 999}
            )
            members = await example.Member.objects.order_by("id").all()
            return kept.status_code, refused.status_code, [m.email for m in members]

    with caplog.at_level(logging.INFO, logger="fastapi_app"):
        kept, refused, members = asyncio.run(scenario())

    assert (kept, refused) == (201, 404)
    assert members == ["ann@example.org"]
    mails = [r.getMessage() for r in caplog.records if r.name == "fastapi_app"]
    assert mails == ["welcome mail sent to ann@example.org"]
