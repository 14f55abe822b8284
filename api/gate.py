"""A bound on costly work running at once: each verification is a child process of up to the verifier's memory
limit, so how many run together is what bounds the memory a flood of uploads can take. A caller waits briefly for
its turn, then is told to come back (503 with Retry-After) rather than queueing without end."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from core.errors import DomainError


class Busy(DomainError):
    status = 503
    problem = "busy"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)


class Gate:
    """At most ``limit`` holders at once; others wait up to ``wait`` seconds, then get Busy."""

    def __init__(self, limit: int, wait: float, work: str) -> None:
        self._slots = anyio.Semaphore(limit)
        self._limit = limit
        self._wait = wait
        self._work = work

    @property
    def running(self) -> int:
        """How many hold a turn now."""
        return self._limit - int(self._slots.value)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if not await self._acquired():
            raise Busy(
                f"as many {self._work} as may run at once ({self._limit}) are running; retry in a moment",
                retry_after=max(1, math.ceil(self._wait)),
            )
        try:
            yield
        finally:
            self._slots.release()

    async def _acquired(self) -> bool:
        try:
            self._slots.acquire_nowait()
            return True
        except anyio.WouldBlock:
            pass
        with anyio.move_on_after(self._wait):
            await self._slots.acquire()
            return True
        return False
