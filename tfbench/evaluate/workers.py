"""Scoring clips in parallel worker processes, with the result of one process.

:func:`score_in_workers` hands each clip job to a pool of ``workers`` processes (``spawn``:
a fresh interpreter each, safe whatever the caller's threads did). A worker decodes the
clip, runs every metric and returns what a single-process run would have written (the
cache entries, failures, tracebacks, notices) instead of writing it. The parent replays
those returns **in job order**, so ``clips/``, ``per_clip.csv``, ``failures.jsonl`` and
``result.json`` are byte-for-byte what one process gives, and every write happens in the
process that holds the output lock: a storage error stops the run, Ctrl-C prints its one
line, a rerun resumes from the per-clip cache, exactly as without workers.

At most ``2 * workers`` clips are in flight (decoded ahead while the parent writes), so
memory is bounded per worker, not by the number of clips. Each worker loads the metrics'
networks once (the loaders are memoised per process) and uses ``cores // workers`` torch
threads. See docs/evaluate.md ("Workers").
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections import deque
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from tfbench.evaluate.jobs import ClipJob
    from tfbench.evaluate.runner import Runner


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a scheduler's allocation)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def score_in_workers(runner: "Runner", jobs: list["ClipJob"], workers: int, advance: Callable[[str], None]) -> None:
    """Score ``jobs`` with ``runner``'s metrics in ``workers`` processes; replay the results in order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, usable_cores() // workers)
    setup = pickle.dumps({
        "metrics": runner.metrics, "out": runner.out, "info": runner.info, "fps": runner.policy["fps"],
        "max_length_diff": runner.policy["max_length_diff"], "resize_pred": runner.policy["resize_pred"],
    })
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(setup, threads))
    pending: deque = deque()
    try:
        upcoming = iter(jobs)
        with _main_not_reimported():  # the first submissions start the processes
            for job in upcoming:
                pending.append((job, pool.submit(_score, job)))
                if len(pending) >= 2 * workers:
                    break
        while pending:
            job, future = pending.popleft()
            _replay(runner, future.result())
            advance(job.clip_id)
            following = next(upcoming, None)
            if following is not None:
                pending.append((following, pool.submit(_score, following)))
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):  # Ctrl-C, storage error: stop now
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def can_pickle_metrics(metrics: list) -> bool:
    """Workers rebuild the metrics from a pickle: classes defined in the caller's ``__main__`` cannot be."""
    return all(type(metric).__module__ != "__main__" for metric in metrics)


@contextmanager
def _main_not_reimported() -> Iterator[None]:
    """``spawn`` runs the caller's ``__main__`` script again in every worker unless it is
    guarded by ``if __name__ == "__main__"``; workers need nothing from it, so it is hidden
    while they start (a script calling ``tfbench.evaluate`` needs no guard)."""
    main = sys.modules["__main__"]
    saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.pop("__spec__", None)
        main.__dict__.update(saved)


def _replay(runner: "Runner", done: dict) -> None:
    """Do in the parent, in order, what the worker's single-process run would have done."""
    from tfbench.fsutil import append_text_atomic

    for line in done["notices"]:
        runner.notify(line)
    runner.corrupt_entries += done["corrupt"]
    for clip_id, metric_id, key, score, notes, seconds in done["stored"]:
        runner.cache.store(clip_id, metric_id, key, score, notes, seconds)
    for text in done["tracebacks"]:
        append_text_atomic(runner.out / "tracebacks.log", text)
    runner.failures.extend(done["failures"])
    runner.scored_now += done["scored_now"]
    runner.from_cache += done["from_cache"]


# ---------------------------------------------------------------------- in the worker

_RUNNER = None


def _start(setup: bytes, threads: int) -> None:
    """Worker initialiser: thread counts first (before numpy/torch load), Ctrl-C left to the parent."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool and prints the one line
    global _RUNNER
    _RUNNER = _deferred_runner(pickle.loads(setup))
    if "torch" in sys.modules:  # imported while unpickling: too late for the environment variable
        sys.modules["torch"].set_num_threads(threads)
    if "cv2" in sys.modules:
        sys.modules["cv2"].setNumThreads(threads)


def _deferred_runner(setup: dict) -> "Runner":
    """A Runner whose writes are recorded for the parent instead of made."""
    from tfbench.evaluate.cache import ScoreCache
    from tfbench.evaluate.runner import Runner

    class DeferredCache(ScoreCache):
        def store(self, clip_id, metric_id, key, score, notes, seconds) -> None:
            runner.recorded["stored"].append((clip_id, metric_id, key, score, dict(notes), seconds))

    class DeferredRunner(Runner):
        def _log_traceback(self, clip_id, metric, error) -> None:
            import traceback

            self.recorded["tracebacks"].append(f"--- clip {clip_id} metric {metric}\n" + "".join(traceback.format_exception(error)))

    runner = DeferredRunner(
        setup["metrics"], setup["out"], setup["info"], fps=setup["fps"], max_length_diff=setup["max_length_diff"],
        resize_pred=setup["resize_pred"], progress=False, notify=lambda line: runner.recorded["notices"].append(line),
    )
    runner.cache = DeferredCache(runner.out, runner._corrupt_entry)
    return runner


def _score(job: "ClipJob") -> dict:
    """Score one job in this worker; return what to replay (a StorageError propagates to the parent)."""
    runner = _RUNNER
    runner.recorded = {"stored": [], "tracebacks": [], "notices": []}
    runner.failures, runner.scored_now, runner.from_cache, runner.corrupt_entries = [], 0, 0, 0
    try:
        runner._score(job)
    except Exception as error:  # noqa: BLE001 — as Runner.run: never lose the run
        runner._fail(job, None, "score", error)
    return {**runner.recorded, "failures": runner.failures, "scored_now": runner.scored_now,
            "from_cache": runner.from_cache, "corrupt": runner.corrupt_entries}
