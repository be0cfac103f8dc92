"""One worker of examples/fastapi_relay.py, driven through stdin.

Each stdin line is ``METHOD PATH [JSON BODY]``; the worker answers with one
line ``STATUS JSON``. The app's lifespan (tables, database, relay) runs for
the whole session, and the event loop keeps running between requests, so
the relay hears the other worker meanwhile.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys

import httpx


async def serve() -> None:
    example = importlib.import_module("examples.fastapi_relay")
    transport = httpx.ASGITransport(app=example.app)
    async with example.app.router.lifespan_context(example.app), httpx.AsyncClient(
        transport=transport, base_url="http://worker"
    ) as client:
        print("ready", flush=True)
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            method, path, *body = line.strip().split(" ", 2)
            response = await client.request(
                method, path, json=json.loads(body[0]) if body else None
            )
            answer = response.json() if response.content else None
            print(response.status_code, json.dumps(answer), flush=True)


if __name__ == "__main__":
    asyncio.run(serve())
