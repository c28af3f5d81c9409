"""Running jobs: their worker threads, cancel tokens, and what may cancel them.

A job runs the blocking orchestrator in this module's own thread pool, never in pygls'
pool (which also reads stdin) and never on the event loop. A job can be cancelled by
its work-done progress token (`window/workDoneProgress/cancel`), by its id
(`deepthink.cancel`), or all at once (`deepthink.cancel` without an id, and shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from orchestrator.cancel import CancelToken

_log = logging.getLogger(__name__)

MAX_PARALLEL_JOBS = 8
SHUTDOWN_GRACE = 5.0  # seconds cancelled jobs get to wind down before the server exits

T = TypeVar("T")


@dataclass
class Job:
    uri: str
    id: str = field(default_factory=lambda: f"deepthink-{uuid.uuid4()}")
    cancel: CancelToken = field(default_factory=CancelToken)
    task: asyncio.Future[None] | None = None
    progress_token: str | int | None = None  # the job's id, or a token the client created


class Jobs:
    def __init__(self, workers: int = MAX_PARALLEL_JOBS) -> None:
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="deepthink-job")
        self._running: dict[str, Job] = {}

    def start(self, uri: str) -> Job:
        job = Job(uri)
        self._running[job.id] = job
        return job

    def finish(self, job: Job) -> None:
        self._running.pop(job.id, None)

    async def run_in_thread(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def cancel(self, job_id: str, reason: str = "cancelled") -> bool:
        job = self._running.get(job_id)
        if job is None:
            return False
        job.cancel.cancel(reason)
        return True

    def cancel_progress(self, token: str | int, reason: str = "cancelled") -> bool:
        for job in list(self._running.values()):
            if job.progress_token == token:
                job.cancel.cancel(reason)
                return True
        return False

    def cancel_all(self, reason: str = "cancelled") -> int:
        jobs = list(self._running.values())
        for job in jobs:
            job.cancel.cancel(reason)
        return len(jobs)

    async def shutdown(self) -> None:
        """Cancel every job and give them a moment to end their progress cleanly."""
        self.cancel_all("the server is shutting down")
        tasks = [job.task for job in self._running.values() if job.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)
            if pending:
                _log.warning("%d job(s) did not stop within %g s", len(pending), SHUTDOWN_GRACE)
        self.close()

    def close(self) -> None:
        """Cancel whatever still runs and let the threads go; never blocks."""
        self.cancel_all("the server is exiting")
        self._executor.shutdown(wait=False, cancel_futures=True)
