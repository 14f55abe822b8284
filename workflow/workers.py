"""The background work of the workflow, run inside `sealgate serve`: execute approved requests, deliver the
outbox, warn about overdue steps and expiring certificates, expire seal machines' authorisations and raise the
alarms nobody reports. Every pass claims its rows with locks, so several
service processes may run the workers at once without doing anything twice."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.runtime import Runtime
from workflow import delivery, expiry, physical, sla, wakeup
from workflow.delivery import Delivered
from workflow.execution import Executors, run_pending

log = logging.getLogger(__name__)
BATCH = 20  # approved requests executed in one pass, before the other jobs get theirs


@dataclass
class Workers:
    runtime: Runtime
    executors: Executors
    deliver: Callable[[int], Delivered] | None = None
    interval: float = 0.5
    sla_every: float = 30.0
    _last_sla: float = field(default=0.0, init=False)
    _delivering_apart: bool = field(default=False, init=False)  # a thread of its own sends the outbox

    def once(self) -> bool:
        """One pass of every job (tests call this directly); whether approved requests or due messages may still
        wait, the pass having executed or sent as many as it takes."""
        settings = self.runtime.settings.workflow
        webhook = settings.notification_webhook
        busy = self._execute(recover=True)
        if not self._delivering_apart:
            busy = self._deliver() or busy
        if time.monotonic() - self._last_sla >= self.sla_every:
            self._last_sla = time.monotonic()
            with self.runtime.sessions() as session:
                sla.scan(
                    session,
                    self.runtime.clock.now(),
                    remind_every=dt.timedelta(hours=settings.reminder_hours),
                    webhook=webhook,
                )
            with self.runtime.sessions() as session:
                days = self.runtime.settings.ca.expiry_warning_days
                expiry.scan(session, self.runtime.clock.now(), days, webhook)
            self.machines()
        return busy

    def machines(self) -> None:
        """Authorisations past their window, machines gone silent, stamps without their photo."""
        watch = self.runtime.settings.machines
        webhook = self.runtime.settings.workflow.notification_webhook
        with self.runtime.sessions() as session:
            physical.expire(session, self.runtime.clock.now(), webhook)
        with self.runtime.sessions() as session:
            physical.scan(
                session,
                self.runtime.clock.now(),
                dt.timedelta(minutes=watch.silent_after_minutes),
                dt.timedelta(minutes=watch.photo_within_minutes),
                webhook,
            )

    def run(self, stop: threading.Event) -> None:
        """Passes one after another while approved requests or due messages wait; otherwise a pass every
        ``interval``, or as soon as a request is approved in this process. (Cleared before the pass: an approval
        committed during it starts the next one at once.) Beside it, ``executor_threads`` - 1 threads only
        execute approved requests, so that one request's waits (the database, the disk, the token) do not hold up
        the next, and one thread only sends the outbox, so that sending a batch of deliveries, one round trip after
        another, holds up no sealing (on SQLite, whose one writer at a time would only make threads queue, the pass
        does it all)."""
        helpers = [
            threading.Thread(
                target=self._loop,
                args=(stop, self._execute, wakeup.approved),
                name=f"workflow-executor-{n}",
                daemon=True,
            )
            for n in range(1, self._executor_threads())
        ]
        self._delivering_apart = self.deliver is not None and not self._one_writer()
        if self._delivering_apart:
            helpers.append(
                threading.Thread(
                    target=self._loop, args=(stop, self._deliver, None), name="workflow-deliverer", daemon=True
                )
            )
        for helper in helpers:
            helper.start()
        self._loop(stop, self.once, wakeup.approved)
        for helper in helpers:
            helper.join(timeout=30)

    def _loop(self, stop: threading.Event, work: Callable[[], bool], woken_by: threading.Event | None) -> None:
        """``work`` again at once while it says more waits; otherwise after ``interval``, or when ``woken_by`` is
        set."""
        while not stop.is_set():
            if woken_by is not None:
                woken_by.clear()
            busy = False
            try:
                busy = work()
            except Exception:
                log.exception("a workflow job failed; it runs again")
            if not busy:
                (woken_by or stop).wait(self.interval)

    def _deliver(self) -> bool:
        """A batch of due messages sent; whether more may be due."""
        if self.deliver is None:
            return False
        sent = self.deliver(delivery.BATCH)
        return sent.delivered + sent.retried + sent.dead >= delivery.BATCH

    def _execute(self, *, recover: bool = False) -> bool:
        """A batch of approved requests executed; whether more may wait. The main loop's pass also ``recover``s
        requests a dead process left executing."""
        settings = self.runtime.settings.workflow
        ran = run_pending(
            self.runtime.sessions,
            self.executors,
            self.runtime.clock,
            limit=BATCH,
            together=settings.execute_together,
            webhook=settings.notification_webhook,
            recover=recover,
        )
        return ran.completed + ran.failed >= BATCH

    def _executor_threads(self) -> int:
        """As the settings ask; one on SQLite, whose one writer at a time would only make the threads queue."""
        if self._one_writer():
            return 1
        return self.runtime.settings.workflow.executor_threads

    def _one_writer(self) -> bool:
        return self.runtime.engine.dialect.name == "sqlite"

    def start(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=self.run, args=(stop,), name="workflow-workers", daemon=True)
        thread.start()
        return thread, stop
