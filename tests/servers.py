"""Run an ASGI app on a free loopback port inside the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def serve_asgi(app: object, port: int | None = None) -> AsyncIterator[str]:
    """Yield the base URL while uvicorn serves `app` (on `port`, else a free one); lifespan
    events run as in production."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        # Start-up migrates a fresh schema; on a loaded machine that can take a while.
        async with asyncio.timeout(60):
            while not server.started:
                if task.done():
                    task.result()  # raise what stopped it
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
