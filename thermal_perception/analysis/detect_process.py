"""The core detectors and tracker in a worker process, for the offline analysis.

Detection (~10 ms per 640x512 frame, much of it Python) on a thread of the analysis shares the
GIL with the reading and correction of the frames; in its own process it runs on the second
core. :class:`DetectionProcess` starts a worker (``spawn`` context: a fresh interpreter, so
OpenCV's thread settings are safe to change there) that builds a
:class:`~thermal_perception.analysis.detect.CoreDetector` from the same parameters. The
temperature images of the detection frames travel through a ring of preallocated
shared-memory slots (one per image in flight, allocated once per image size); small messages
(sequence number, slot, time step, GSD, ego-motion) go over a queue, and the results (records
with track ids, and the reported tracks' image velocities for predicting the frames between)
come back in submission order. At most ``slots`` images are in flight: :meth:`submit` blocks
for a free slot (backpressure).

The worker ignores SIGINT (the parent stops it), ends when its parent dies, and
:meth:`close` joins it (terminating it if it does not end) and unlinks the shared memory.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import signal
import sys
import threading
from collections.abc import Iterator
from multiprocessing import shared_memory
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thermal_perception.analysis.detect import DetectionRecord, Tracked

SLOTS = 3  # temperature images in flight
POLL_S = 0.05  # how often a blocked wait looks whether the worker is still alive, s
START_TIMEOUT_S = 120.0  # the worker's imports and detector setup
STOP_TIMEOUT_S = 5.0
OK, ERROR, SKIPPED, READY = "ok", "error", "skipped", "ready"


def _worker(values: dict[str, Any], requests: Any, results: Any) -> None:
    """Worker process: detection requests in, results out, in order; ``None`` stops it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    import cv2

    from thermal_perception.analysis.detect import CoreDetector

    cv2.setNumThreads(1)  # as the analysis: one core for this process's loops
    try:
        detector = CoreDetector(values)
    except Exception as exc:
        results.put((ERROR, -1, f"{type(exc).__name__}: {exc}", None))
        return
    results.put((READY, -1, None, None))
    parent = mp.parent_process()
    attached: dict[str, shared_memory.SharedMemory] = {}
    failed = False
    try:
        while True:
            try:
                message = requests.get(timeout=0.5)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    return
                continue
            if message is None:
                return
            seq, name, slot, shape, dt_s, gsd_m, ego = message
            if failed:
                results.put((SKIPPED, seq, None, None))
                continue
            try:
                if name not in attached:
                    for old in attached.values():
                        with contextlib.suppress(BufferError):
                            old.close()
                    attached = {name: shared_memory.SharedMemory(name=name)}
                ring = np.ndarray((SLOTS, *shape), np.float32, buffer=attached[name].buf)
                found = detector(ring[slot], dt_s, gsd_m, ego)
                del ring
                tracked = [(r.row(), vx, vy) for r, vx, vy in detector.tracked] \
                    if detector.tracking else []
                results.put((OK, seq, [r.row() for r in found], tracked))
            except Exception as exc:
                failed = True
                results.put((ERROR, seq, f"{type(exc).__name__}: {exc}", None))
    finally:
        for shm in attached.values():
            with contextlib.suppress(BufferError):
                shm.close()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start spawned processes without re-running the parent's ``__main__`` script: the
    worker needs nothing from it, and a script without an ``if __name__ == "__main__"``
    guard would otherwise run again in the worker (spawn imports the main module by path or
    name, unless it has neither)."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None
             and k in main.__dict__}
    try:
        if main is not None:
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) for the block, then deliver it as it would have been: making
    a queue's named semaphores, or freeing them, must not be cut in the middle (a semaphore
    made but not yet registered for cleanup stays in /dev/shm for good). A Python handler
    runs in the main thread between bytecodes, so a recording one defers it whatever thread
    the signal landed on. Elsewhere than the main thread (no handler can be set): no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt
        elif caught and previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGINT)


class DetectionProcess:
    """CoreDetector with tracking in a worker process (see the module docstring).

    Parameters
    ----------
    values : the detector node's parameter values, as for ``CoreDetector``.

    Raises RuntimeError from :meth:`wait_ready`, :meth:`submit` and :meth:`result` when the
    worker died or could not build its detector.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self._closed = False
        self._shm: shared_memory.SharedMemory | None = None
        self._ring: NDArray[np.float32] | None = None
        self._free: list[int] = []
        self._slot_of: dict[int, int] = {}  # in flight: sequence number -> slot
        self._done: dict[int, tuple[str, Any, Any]] = {}
        self._next = 0
        self._ready = False
        self._stopping = False
        with sigint_deferred():  # Ctrl-C now would leave semaphores nobody frees
            ctx = mp.get_context("spawn")
            self._requests = ctx.Queue()
            self._results = ctx.Queue()
            self._process = ctx.Process(target=_worker,
                                        args=(values, self._requests, self._results),
                                        name="tp-detection", daemon=True)
            try:
                with _main_module_hidden():
                    self._process.start()
            except BaseException:
                self.close()
                raise

    # -- worker side ----------------------------------------------------------------------

    def _receive(self, timeout_s: float | None) -> bool:
        """Take one message from the worker (waiting up to ``timeout_s``; None: until one
        comes); False when none came."""
        if self._closed:
            raise RuntimeError("the detection process is closed")
        waited = 0.0
        while True:
            try:
                status, seq, found, tracked = self._results.get(timeout=POLL_S) \
                    if timeout_s != 0 else self._results.get_nowait()
                break
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError(f"the detection process ended (exit code "
                                       f"{self._process.exitcode})") from None
                waited += POLL_S
                if timeout_s is not None and waited >= timeout_s:
                    return False
        if status == READY:
            self._ready = True
        elif seq < 0:  # the detector could not be built
            raise RuntimeError(f"the detection process could not start: {found}")
        else:
            self._free.append(self._slot_of.pop(seq))
            self._done[seq] = (status, found, tracked)
        return True

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until the worker has built its detector."""
        waited = 0.0
        while not self._ready:
            if not self._receive(POLL_S):
                waited += POLL_S
                if waited >= timeout_s:
                    raise RuntimeError(f"the detection process did not start in {timeout_s} s")

    def submit(self, temperature_c: NDArray[np.float32], dt_s: float, gsd_m: float | None,
               ego_shift_px: tuple[float, float]) -> int:
        """Queue detection on ``temperature_c`` (deg C, copied into a slot; blocks while all
        slots are in flight); returns its sequence number for :meth:`result`."""
        shape = tuple(temperature_c.shape)
        if self._ring is None or self._ring.shape[1:] != shape:
            while self._slot_of:  # the old ring is in use until its images are done
                self._receive(None)
            self._release_ring()
            size = SLOTS * int(np.prod(shape)) * 4
            self._shm = shared_memory.SharedMemory(create=True, size=max(size, 1))
            self._ring = np.ndarray((SLOTS, *shape), np.float32, buffer=self._shm.buf)
            self._free = list(range(SLOTS))
        while not self._free:
            self._receive(None)
        slot = self._free.pop()
        np.copyto(self._ring[slot], temperature_c)
        seq, self._next = self._next, self._next + 1
        self._slot_of[seq] = slot
        # The first put() starts the queue's feeder thread, which holds two of its semaphores
        # until it ends; Ctrl-C between the thread's start and its registration for joining
        # would leave close() unable to wait for it (the semaphores then outlive close()).
        with sigint_deferred():
            self._requests.put((seq, self._shm.name, slot, shape, float(dt_s), gsd_m,
                                (float(ego_shift_px[0]), float(ego_shift_px[1]))))
        return seq

    def result(self, seq: int, block: bool = True
               ) -> tuple[str, list[DetectionRecord] | str | None, list[Tracked]] | None:
        """Result of request ``seq``: ("ok", records, tracked tracks), ("error", message, [])
        or ("skipped", None, []) after an error; None when not ready and not ``block``."""
        while seq not in self._done:
            if not self._receive(None if block else 0.0) and not block:
                return None
        status, found, tracked = self._done.pop(seq)
        if status != OK:
            return status, found, []
        return (status, [DetectionRecord(*row) for row in found],
                [(DetectionRecord(*row), vx, vy) for row, vx, vy in tracked])

    # -- shutdown -------------------------------------------------------------------------

    def _release_ring(self) -> None:
        self._ring = None
        if self._shm is not None:
            with contextlib.suppress(BufferError):
                self._shm.close()
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()
            self._shm = None

    def stop(self) -> None:
        """Ask the worker to end after the requests already sent (without waiting: its
        interpreter's exit takes ~0.1 s; :meth:`close` waits for it)."""
        if self._closed:
            return
        if not self._stopping and self._process.is_alive():
            self._stopping = True
            with contextlib.suppress(Exception), sigint_deferred():  # as in submit()
                self._requests.put(None)

    def close(self) -> None:
        """Stop the worker (terminated when it does not end in time) and free everything this
        object made: the shared memory, and the queues' pipes, feeder thread and semaphores.
        Safe to call more than once.

        With the ``spawn`` context each queue holds named POSIX semaphores (``/dev/shm/sem.mp-*``)
        that multiprocessing unlinks only when their lock objects are garbage collected; the
        process object keeps the queues as its arguments. Both are therefore dropped here, so
        the semaphores go now, not at some later collection.
        """
        if self._closed:
            return
        with sigint_deferred():  # a half-done close leaves semaphores and memory behind
            self._close()

    def _close(self) -> None:
        try:
            if self._process.is_alive():
                self.stop()
                self._process.join(STOP_TIMEOUT_S)
                if self._process.is_alive():
                    self._process.terminate()
                    self._process.join(STOP_TIMEOUT_S)
                if self._process.is_alive():
                    self._process.kill()
                    self._process.join(STOP_TIMEOUT_S)
            for q in (self._requests, self._results):
                q.close()
                # At most SLOTS + 1 small messages are unread: far less than a pipe holds, so
                # the feeder thread flushes them and ends (it never blocks on a dead reader).
                q.join_thread()
            with contextlib.suppress(ValueError):  # ValueError: still running after kill
                self._process.close()
        finally:
            self._closed = True
            self._release_ring()
            self._slot_of.clear()
            self._done.clear()
            del self._process, self._requests, self._results
