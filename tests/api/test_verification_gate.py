"""At most a setting's number of verifications run at once; the next waits briefly, then is told to come back."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.gate import Busy, Gate
from core.runtime import Runtime
from tests.signer.bombs import with_stream, zeros

PDF = {"Content-Type": "application/pdf"}


def test_a_turn_is_waited_for_then_refused() -> None:
    async def main() -> None:
        gate = Gate(1, 0.2, "verifications")
        async with gate.turn():
            start = time.monotonic()
            with pytest.raises(Busy) as refused:
                async with gate.turn():
                    pass
            assert 0.15 < time.monotonic() - start < 1
            assert refused.value.status == 503
            assert refused.value.extensions == {"retry_after": 1}
        async with gate.turn():  # given back, so free again
            pass

    anyio.run(main)


def test_a_waiter_gets_the_turn_given_back_within_the_wait() -> None:
    async def main() -> None:
        gate = Gate(1, 2.0, "verifications")
        order: list[str] = []

        async def holder() -> None:
            async with gate.turn():
                order.append("first")
                await anyio.sleep(0.1)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(holder)
            await anyio.sleep(0.01)
            async with gate.turn():
                order.append("second")
        assert order == ["first", "second"]

    anyio.run(main)


def test_without_waiting_a_busy_verifier_answers_503_on_both_routes(runtime: Runtime) -> None:
    runtime.settings.signer.max_concurrent_verifications = 1
    runtime.settings.signer.verification_wait_seconds = 0
    bomb = with_stream(zeros(4 * 1024**3))  # keeps a verifying child busy for most of a second
    answers: list[int] = []
    with TestClient(create_app(runtime)) as client:
        running = threading.Thread(
            target=lambda: answers.append(client.post("/api/v1/verify", content=bomb, headers=PDF).status_code)
        )
        running.start()
        gate = client.app.state.verifications  # type: ignore[attr-defined]
        deadline = time.monotonic() + 30
        while gate.running == 0 and time.monotonic() < deadline:  # the bomb holds the one turn, however slow
            time.sleep(0.01)
        assert gate.running == 1
        api = client.post("/api/v1/verify", content=b"%PDF-1.7\n", headers=PDF)
        page = client.post("/verify", files={"file": ("a.pdf", b"%PDF-1.7\n", "application/pdf")})
        running.join()
    assert answers == [422]
    for busy in (api, page):
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
    assert api.json()["type"] == "/problems/busy"
    assert api.json()["detail"] == "as many verifications as may run at once (1) are running; retry in a moment"
    assert "验证服务正忙" in page.text  # the page says so in its own words
