"""What every panel shares: background work, the periodic refresh, progress bars, messages.

Panels call the core from threads so that a save, a deployment or a cancel never blocks the
kernel; these threads only ever set widget values, which ipykernel sends from any thread.
"""

from __future__ import annotations

import contextlib
import html
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ipywidgets as w

from modelshelf.core.errors import ModelshelfError
from modelshelf.core.progress import Progress
from modelshelf.core.sizes import format_size

log = logging.getLogger(__name__)

# Seconds between two redraws of a progress bar: the core reports every file and chunk, and
# each redraw is a message to the browser.
_PROGRESS_EVERY = 0.1


def error_text(exc: BaseException) -> str:
    """One line for the panel: our own errors are written for users, others get their type."""
    if isinstance(exc, ModelshelfError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def message_html(text: str, kind: str = "info") -> str:
    """A one-line coloured message (``info``, ``ok``, ``error`` or ``busy``)."""
    colours = {"info": "inherit", "ok": "#2e7d32", "error": "#c62828", "busy": "#1565c0"}
    colour = colours.get(kind, "inherit")
    return f'<span style="color: {colour}; white-space: pre-wrap">{html.escape(text)}</span>'


def pre_html(text: str, max_height: str = "16em") -> str:
    """Preformatted, escaped text in a scrolling block (logs, answers, tracebacks)."""
    style = f"max-height: {max_height}; overflow: auto; margin: 0; font-size: 90%"
    return f'<pre style="{style}">{html.escape(text)}</pre>'


def set_options(select: w.Select | w.Dropdown, options: Sequence[tuple[str, Any]]) -> bool:
    """Give a selection new options, keeping the selected value if it is still offered.

    ipywidgets selects the first option whenever options change; the periodic refresh must
    not move the user's selection, so the old value is put back. Observers see the
    intermediate change: callers hold their panel's ``quiet()``. Returns True when the
    selected value ended up different.
    """
    wanted = tuple((str(label), value) for label, value in options)
    current = tuple((str(label), value) for label, value in _pairs(select.options))
    if current == wanted:
        return False
    previous = select.value
    select.options = wanted
    values = [value for _, value in wanted]
    if previous in values:
        select.value = previous
    elif previous is None:
        select.index = None
    return select.value != previous


def _pairs(options: Any) -> list[tuple[Any, Any]]:
    # Options may be plain values, (label, value) pairs or a mapping, as ipywidgets allows.
    if isinstance(options, dict):
        return list(options.items())
    return [o if isinstance(o, tuple) and len(o) == 2 else (o, o) for o in options]


def close_tree(widget: w.Widget) -> None:
    """Close a widget and everything inside it (Widget.close only closes its own comm)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()


def close_owned(owned: list[Any]) -> None:
    """Close the managers a panel made itself (and empty the list); a failure is logged and
    the others are still closed, since the panel goes away anyway."""
    for thing in owned:
        try:
            thing.close()
        except Exception:
            log.warning("could not close %r", thing, exc_info=True)
    owned.clear()


class Tasks:
    """Runs the core's long calls (save, deploy, cancel, ...) in threads, one per call.

    ``done`` is called in the same thread with the result, ``failed`` with the exception;
    nothing escapes the thread, so a failure is always shown in the panel.
    """

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(
        self,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None],
        name: str = "modelshelf-task",
    ) -> threading.Thread:
        def target() -> None:
            try:
                result = work()
            except Exception as exc:
                failed(exc)
            else:
                done(result)

        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    @property
    def busy(self) -> bool:
        with self._lock:
            return any(t.is_alive() for t in self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every running call to end; False if some still run after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [t for t in self._threads if t.is_alive()]
            if not alive:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            alive[0].join(remaining)


class Poller:
    """Calls ``tick`` every ``interval`` seconds in a daemon thread until stopped.

    The thread waits on an Event rather than sleeping, so ``stop()`` returns at once.
    """

    def __init__(self, tick: Callable[[], None], interval: float, name: str) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            # Panels show their own refresh errors; anything else is a bug, logged, and the
            # refresh goes on so one bad round does not freeze the panel for good.
            try:
                self._tick()
            except Exception:
                log.exception("the periodic refresh of %s failed", self._thread.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(5.0)


class ProgressBar:
    """A FloatProgress and a label fed by the core's progress callback (from any thread)."""

    def __init__(self) -> None:
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="50%"))
        self.label = w.Label("")
        self.widget = w.HBox([self.bar, self.label])
        self.widget.layout.display = "none"
        self._last = 0.0

    def start(self, text: str) -> None:
        self.bar.value = 0.0
        self.bar.bar_style = "info"
        self.label.value = text
        self.widget.layout.display = None
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        """The ProgressCallback: throttled, except that the last report always shows."""
        now = time.monotonic()
        finished = progress.done_bytes >= progress.total_bytes and (
            progress.done_files >= progress.total_files
        )
        if not finished and now - self._last < _PROGRESS_EVERY:
            return
        self._last = now
        total = progress.total_bytes
        self.bar.value = progress.done_bytes / total if total else 1.0
        self.label.value = (
            f"{progress.phase}: {format_size(progress.done_bytes)} / {format_size(total)}, "
            f"{progress.done_files} / {progress.total_files} files"
        )

    def finish(self, ok: bool) -> None:
        if ok:
            self.bar.value = 1.0
        self.bar.bar_style = "success" if ok else "danger"


class Panel(w.VBox):
    """Base of the three panels: a status line, ``refresh()``, the optional periodic refresh
    and ``close()`` stopping it. Subclasses implement :meth:`_read` and :meth:`_show`."""

    def __init__(self, children: Sequence[w.Widget] = ()) -> None:
        super().__init__(children=list(children))
        self.tasks = Tasks()
        # Background threads (the poller and tasks) and the kernel's own thread all redraw;
        # this keeps one redraw from interleaving with another.
        self._view_lock = threading.RLock()
        self._owned: list[Any] = []
        self._local = threading.local()
        self._poller: Poller | None = None

    def run_task(
        self,
        button: w.Button,
        output: w.HTML,
        busy: str,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        name: str,
    ) -> None:
        """Run ``work`` (a call into the core) off the kernel's thread.

        ``button`` is disabled meanwhile and ``busy`` shows in ``output``; then ``done``
        gets the result (after a refresh, so it may select what the work made), or
        ``output`` shows the error.
        """
        button.disabled = True
        output.value = message_html(busy, "busy")

        def finished(result: Any) -> None:
            button.disabled = False
            self.refresh()
            done(result)

        def failed(exc: BaseException) -> None:
            button.disabled = False
            output.value = message_html(error_text(exc), "error")
            self.refresh()

        self.tasks.run(work, finished, failed, name=name)

    def _start_polling(self, auto_refresh: bool, interval: float) -> None:
        """Start the periodic refresh; subclasses call it last, once the panel is drawn."""
        if auto_refresh and self._poller is None:
            self._poller = Poller(self._auto_tick, interval, f"{type(self).__name__}-refresh")
            self._poller.start()

    @property
    def auto_refreshing(self) -> bool:
        return self._poller is not None and self._poller.running

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """While redrawing, this thread's selection changes are not the user's choices.

        Thread-local, so that a user's click on the kernel thread is never ignored while the
        background refresh redraws.
        """
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth

    @property
    def is_quiet(self) -> bool:
        """True while this thread redraws (observers then ignore selection changes)."""
        return getattr(self._local, "depth", 0) > 0

    def refresh(self) -> None:
        """Re-read the core and redraw; errors (e.g. an unreachable store) are shown."""
        try:
            state = self._read()
        except Exception as exc:
            self._refresh_failed(exc)
            return
        with self._view_lock, self.quiet():
            self._show(state)

    def _auto_tick(self) -> None:
        if self.comm is None:  # closed without close() being called on us: stop quietly
            if self._poller is not None:
                self._poller.stop()
            return
        self.refresh()

    def _read(self) -> Any:
        raise NotImplementedError

    def _show(self, state: Any) -> None:
        raise NotImplementedError

    def _refresh_failed(self, exc: BaseException) -> None:
        raise NotImplementedError

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Wait for the panel's background operations (save, deploy, ...) to end."""
        return self.tasks.wait(timeout)

    def close(self) -> None:
        """Stop the periodic refresh, close the widgets and whatever the panel opened itself."""
        if self._poller is not None:
            self._poller.stop()
        for child in self.children:
            close_tree(child)
        super().close()
        close_owned(self._owned)
