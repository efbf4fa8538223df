"""Micro-batching: concurrent single-row requests to the same model become one model call.

One runner per pipeline task takes whatever requests are waiting (waiting up to `max_wait` for company
when the model is idle), stacks their rows, predicts once and hands each request its slice. A batch the
champion predicts quickly (small enough for its compiled trees) is predicted right on the event loop: a hop
to a worker thread would cost more than it saves, since the GIL lets only one of them run anyway. Larger
batches go to a worker thread, and while one is predicted the next gathers, so the batch size follows
the load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from serving.champions import Champion
from serving.observability import BATCH_ROWS


class NoChampion(LookupError):
    """The task has no model loaded (never promoted, or the registry could not be read yet)."""


@dataclass
class _Pending:
    x: np.ndarray
    done: asyncio.Future


class MicroBatcher:
    def __init__(
        self,
        champion_for: Callable[[str, str], Champion | None],
        max_wait_seconds: float,
        max_rows: int,
    ) -> None:
        self.champion_for = champion_for
        self.max_wait = max_wait_seconds
        self.max_rows = max_rows
        self._queues: dict[tuple[str, str], asyncio.Queue[_Pending]] = {}
        self._runners: set[asyncio.Task] = set()

    async def predict(
        self, pipeline: str, task: str, x: np.ndarray
    ) -> tuple[Champion, dict[str, np.ndarray]]:
        """Rows in the champion's column order → (the champion that predicted, one array per output)."""
        if len(x) >= self.max_rows:  # already a batch: straight to the model
            return await self._call(pipeline, task, x)
        key = (pipeline, task)
        q = self._queues.get(key)
        if q is None:
            q = self._queues[key] = asyncio.Queue()
            runner = asyncio.get_running_loop().create_task(self._run(key, q))
            self._runners.add(runner)
        done = asyncio.get_running_loop().create_future()
        q.put_nowait(_Pending(x, done))
        return await done

    async def _call(self, pipeline: str, task: str, x: np.ndarray) -> tuple[Champion, dict[str, np.ndarray]]:
        """One model call: right here when the champion predicts these rows with its compiled trees, in a
        worker thread otherwise."""
        champion = self.champion_for(pipeline, task)
        if champion is None:
            raise NoChampion(f"{pipeline}.{task}")
        BATCH_ROWS.labels(pipeline, task).observe(len(x))
        if champion.quick(len(x)):
            return champion, champion.predict(x)
        return champion, await asyncio.to_thread(champion.predict, x)

    async def _run(self, key: tuple[str, str], q: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = [await q.get()]
            rows = len(batch[0].x)
            deadline = time.monotonic() + self.max_wait
            while rows < self.max_rows:
                if q.empty():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(q.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    item = q.get_nowait()
                batch.append(item)
                rows += len(item.x)
            live = [p for p in batch if not p.done.cancelled()]
            if not live:
                continue
            try:
                x = live[0].x if len(live) == 1 else np.vstack([p.x for p in live])
                champion, outputs = await self._call(*key, x)
            except Exception as exc:  # noqa: BLE001 - handed to each waiting request
                for p in live:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            start = 0
            for p in live:
                n = len(p.x)
                if not p.done.done():
                    p.done.set_result((champion, {k: v[start : start + n] for k, v in outputs.items()}))
                start += n

    async def close(self) -> None:
        for runner in self._runners:
            runner.cancel()
        self._runners.clear()
        self._queues.clear()
