"""Run a service call in a thread; hand its progress and result back to Tk through a queue polled with after()."""
from __future__ import annotations

import logging
import queue
import threading
import traceback
from typing import Any, Callable

log = logging.getLogger("ic.gui")


class Worker:
    """``target(emit, cancel_event)`` runs in a daemon thread; callbacks run in the Tk thread.

    on_event(obj) for each emit(obj), then exactly one of on_done(result) / on_error(exc).
    """

    POLL_MS = 40

    def __init__(
        self,
        widget,
        target: Callable[[Callable[[Any], None], threading.Event], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_event: Callable[[Any], None] | None = None,
        name: str = "ic-gui-worker",
    ) -> None:
        self.widget = widget
        self.target = target
        self.on_done, self.on_error, self.on_event = on_done, on_error, on_event
        self.cancel_event = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._after_id: str | None = None
        self.finished = False

    def start(self) -> "Worker":
        self._thread.start()
        self._schedule()
        return self

    @property
    def running(self) -> bool:
        return not self.finished

    def cancel(self) -> None:
        self.cancel_event.set()

    def _run(self) -> None:
        try:
            result = self.target(lambda obj: self._queue.put(("event", obj)), self.cancel_event)
        except BaseException as exc:  # noqa: BLE001 - delivered to the Tk thread, shown as a sentence
            log.debug("worker error: %s", "".join(traceback.format_exception(exc)))
            self._queue.put(("error", exc))
        else:
            self._queue.put(("done", result))

    def _schedule(self) -> None:
        try:
            self._after_id = self.widget.after(self.POLL_MS, self._poll)
        except Exception:  # noqa: BLE001 - the window was closed: stop quietly and let the thread finish
            self.cancel_event.set()
            self.finished = True

    def _poll(self) -> None:
        self._after_id = None
        try:
            while True:
                kind, payload = self._queue.get_nowait()
                if kind == "event":
                    if self.on_event:
                        self.on_event(payload)
                    continue
                self.finished = True
                if kind == "done":
                    if self.on_done:
                        self.on_done(payload)
                elif self.on_error:
                    self.on_error(payload)
                else:
                    raise payload
                return
        except queue.Empty:
            pass
        self._schedule()

    def stop_polling(self) -> None:
        """Called when the owning window closes: cancel the work and stop touching Tk."""
        self.cancel_event.set()
        if self._after_id is not None:
            try:
                self.widget.after_cancel(self._after_id)
            except Exception:  # noqa: BLE001
                pass
            self._after_id = None
        self.finished = True
