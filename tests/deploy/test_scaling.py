"""Workers between a minimum and a maximum: a real deployment under real HTTP load, driven
through a scale-up and a scale-down, every answer checked against what the model did."""

from __future__ import annotations

import http.client
import itertools
import json
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from deploy_helpers import managed, write_model

from modelshelf import Shelf
from modelshelf.core.errors import ModelInUseError

pytestmark = pytest.mark.timeout(240)

# A model on a device that takes one call at a time per process (so one worker answers ~50
# requests/s however many wait), which writes down every call it answers.
DEVICE = """\
import os
import threading
import time

DEVICE = threading.Lock()


def load(model_dir):
    return {calls!r}


def predict(calls, data):
    with DEVICE:
        time.sleep(0.02)
    with open(calls, "a") as fh:
        fh.write(f"{{data['id']}} {{os.getpid()}}\\n")
    return {{"id": data["id"], "pid": os.getpid()}}
"""

# The first worker to load creates the marker and loads at once; any other takes 3 s.
SLOW_SECOND_LOAD = """\
import os
import time


def load(model_dir):
    try:
        os.close(os.open({marker!r}, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        time.sleep(3)
    return os.getpid()


def predict(pid, data):
    return {{"pid": pid}}
"""


class Load:
    """Clients each on its own keep-alive connection, sending as soon as answered (or after
    ``pause``), every request with its own id; what each one got back, kept by id."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ids = itertools.count()
        self.answers: dict[int, tuple[int, dict]] = {}
        self.failures: list[tuple[int, str]] = []
        self.closed = 0  # answers that ended their connection (Connection: close)
        self._threads: list[tuple[threading.Thread, threading.Event]] = []

    def add(self, clients: int, pause: float = 0.0) -> list[threading.Event]:
        stops = []
        for _ in range(clients):
            stop = threading.Event()
            thread = threading.Thread(target=self._client, args=(stop, pause), daemon=True)
            thread.start()
            self._threads.append((thread, stop))
            stops.append(stop)
        return stops

    def _client(self, stop: threading.Event, pause: float) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not stop.is_set():
                n = next(self.ids)
                try:
                    answer = client.post("/invocations", json={"id": n})
                except httpx.HTTPError as exc:  # refused, cut off, timed out: all failures
                    self.failures.append((n, repr(exc)))
                    continue
                body = answer.json() if answer.status_code == 200 else {"text": answer.text}
                self.answers[n] = (answer.status_code, body)
                self.closed += answer.headers.get("connection") == "close"
                if pause:
                    stop.wait(pause)

    def stop(self, stops: list[threading.Event]) -> None:
        for stop in stops:
            stop.set()
        for thread, stop in self._threads:
            if stop in stops:
                thread.join(60)


class Watch:
    """The deployment's census of workers, read every 50 ms in a thread."""

    def __init__(self, deployment) -> None:
        self.deployment = deployment
        self.seen: list[tuple[int, int, int]] = []  # (serving, starting, retiring)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            census = self.deployment.census()
            if census is not None:
                self.seen.append((census.serving, census.starting, census.retiring))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def until_serving(deployment, serving: int, timeout: float = 90.0) -> None:
    """Wait until ``serving`` workers serve and none is starting or stopping."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        census = deployment.census()
        if census is not None and (census.serving, census.running, census.retiring) == (
            serving, serving, 0,
        ):  # fmt: skip
            return
        time.sleep(0.05)
    raise AssertionError(f"not {serving} workers serving after {timeout:g} s: {census}")


def until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def shelf(tmp_path):
    store = Shelf(tmp_path / "store")
    yield store
    store.close()


def test_workers_scale_up_and_down_under_load_and_every_request_is_answered_once(shelf, tmp_path):
    calls = tmp_path / "calls.txt"
    shelf.save(
        "device", write_model(tmp_path / "device", {"serve.py": DEVICE.format(calls=str(calls))})
    )
    with managed(shelf, scale_up_after=1.0, scale_down_after=2.0) as manager:
        deployment = manager.deploy("device", min_workers=1, max_workers=3)
        assert deployment.status == "ready", deployment.logs()
        watch = Watch(deployment)
        assert deployment.describe()["workers"] == 1
        load = Load(deployment.url)

        # One client that pauses between requests: its idle keep-alive connection is held by
        # whichever worker accepted it, through the scale-up.
        sleepy = load.add(1, pause=0.5)
        steady = load.add(2)  # back to back: two requests in flight at all times
        busy = load.add(6)  # with the others, more than three workers' worth: the maximum
        until_serving(deployment, 3)
        card = dict(deployment.refresh().fields())
        assert card["workers"] == "3 (1 to 3)"
        assert deployment.describe()["workers"] == 3
        assert deployment.describe()["max_workers"] == 3
        # The supervisor, multiprocessing's resource tracker, and the three workers.
        assert deployment.live().processes == 2 + 3
        # The clients connected before the others started were spread over them.
        serving = set(deployment.census().pids)
        until(lambda: serving <= {pid for _, (_, body) in list(load.answers.items())
                                  if (pid := body.get("pid"))})  # fmt: skip
        # The deployed version stays leased while its workers come and go.
        with pytest.raises(ModelInUseError, match="deployment device"):
            shelf.delete("device:1")

        # Two clients left, both sending all along: down to two workers; then one: down to the
        # minimum, while it goes on sending.
        load.stop([*busy, *sleepy])
        until_serving(deployment, 2)
        load.stop(steady[:1])
        until_serving(deployment, 1)
        answered = len(load.answers)
        until(lambda: len(load.answers) >= answered + 20)  # served by the one left
        load.stop(steady[1:])
        watch.close()
        log = deployment.logs()

        # Every request was answered, once, by its own answer, and the model answered each
        # exactly once: nothing was refused, cut off, retried or answered twice.
        assert load.failures == []
        assert all(status == 200 for status, _ in load.answers.values()), [
            a for a in load.answers.values() if a[0] != 200
        ][:3]
        assert all(body["id"] == n for n, (_, body) in load.answers.items())
        made = Counter(line.split()[0] for line in calls.read_text().splitlines())
        assert set(made) == {str(n) for n in load.answers}
        assert set(made.values()) == {1}
        pids = Counter(str(body["pid"]) for _, body in load.answers.values())
        assert len(pids) >= 3, pids
        assert load.closed > 0  # connections moved (rebalanced, or ended by a retiring worker)

        # Never more than the maximum running, never fewer than the minimum serving once up.
        assert watch.seen and all(serving + starting <= 3 for serving, starting, _ in watch.seen)
        assert all(serving >= 1 for serving, _, _ in watch.seen)
        assert max(serving for serving, _, _ in watch.seen) == 3
        assert re.search(r"scaling up from 1 to \d workers: .* requests in flight", log), log
        assert "scaling down from 3 to 2 workers: at most 2 requests in flight" in log, log
        assert "scaling down from 2 to 1 workers: at most 1 request in flight" in log, log
        assert "retiring" in log and "stopped: it had answered everything it accepted" in log
        card = dict(deployment.refresh().fields())
        assert card["workers"] == "1 (1 to 3)"
        assert deployment.live().processes == 2 + 1


def test_a_worker_started_beside_a_serving_one_takes_requests_only_once_loaded(shelf, tmp_path):
    marker = tmp_path / "first-load"
    source = SLOW_SECOND_LOAD.format(marker=str(marker))
    shelf.save("slow-second", write_model(tmp_path / "slow-second", {"serve.py": source}))
    with managed(shelf) as manager:
        deployment = manager.deploy("slow-second", workers=2)
        assert deployment.status == "ready", deployment.logs()
        # Ready: the first worker answers /ping 200; the second starts once it serves, and
        # takes 3 s to load.
        assert deployment.census().serving == 1

        def fresh(_: int) -> tuple[int, dict]:
            # A connection each: the kernel hands each to whichever worker accepts.
            answer = httpx.post(deployment.url + "/invocations", json={}, timeout=30)
            return answer.status_code, answer.json()

        with ThreadPoolExecutor(8) as pool:
            early = list(pool.map(fresh, range(40)))
        # None waited for a model still loading, none got 503: only the loaded worker took them.
        assert {status for status, _ in early} == {200}
        until_serving(deployment, 2)
        with ThreadPoolExecutor(8) as pool:
            later = list(pool.map(fresh, range(200)))
        assert {status for status, _ in later} == {200}
        assert len({body["pid"] for _, body in early + later}) == 2  # both serve now
        assert "Application startup complete" in deployment.logs()


def test_a_retiring_worker_answers_the_next_request_of_each_idle_keep_alive_connection(
    shelf, tmp_path
):
    # uvicorn's own shutdown closes idle keep-alive connections at once: a client sending on
    # one just then (http.client never looks before it sends) has its request fail.
    calls = tmp_path / "calls.txt"
    model = write_model(tmp_path / "device", {"serve.py": DEVICE.format(calls=str(calls))})
    shelf.save("device", model)
    with managed(shelf, scale_up_after=0.5, scale_down_after=1.5) as manager:
        deployment = manager.deploy("device", min_workers=1, max_workers=2)
        load = Load(deployment.url)
        busy = load.add(4)
        until_serving(deployment, 2)
        # An idle keep-alive connection to each worker (the kernel hands a new connection to
        # whichever worker accepts first: open them until both have one).
        host, port = deployment.url.removeprefix("http://").split(":")
        held: dict[int, http.client.HTTPConnection] = {}
        for n in range(200):
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            status, pid, close = post(connection, {"id": -1 - n})
            assert status == 200
            # Keep one kept alive to each (under this load a busy worker may end one).
            if close == "close" or held.setdefault(pid, connection) is not connection:
                connection.close()
            if len(held) == 2:
                break
        assert len(held) == 2
        load.stop(busy)

        # Idle now: one worker retires. Each connection is kept open (a request each second,
        # under uvicorn's 5 s keep-alive timeout) until it has; then each gets one more.
        def retired() -> bool:
            census = deployment.census()
            return census.retiring > 0 or census.pids != sorted(held)

        ended: set[int] = set()  # the workers whose answer ended their connection
        for n in itertools.count():
            assert n < 300, deployment.logs()
            last = retired()
            if last or n % 10 == 0:
                for pid, connection in held.items():
                    if pid not in ended:
                        status, answered_by, close = post(connection, {"id": -1000 - n})
                        assert (status, answered_by) == (200, pid)  # the same worker, always
                        if close == "close":
                            ended.add(pid)
            if last:
                break
            time.sleep(0.1)
        # The retiring worker answered, and ended that connection; the other kept its own.
        assert len(ended) == 1
        until_serving(deployment, 1)
        for connection in held.values():
            connection.close()
        # (Its log counts the connections still open when it began draining: none, if the
        # request came between its slot's retiring and its next tick, a tenth of a second.)
        assert "end after their next answer" in deployment.logs()


def post(connection: http.client.HTTPConnection, body: dict) -> tuple[int, int, str | None]:
    """POST /invocations on ``connection``: status, the answering pid, its Connection header."""
    connection.request("POST", "/invocations", json.dumps(body),
                       {"Content-Type": "application/json"})  # fmt: skip
    answer = connection.getresponse()
    data = json.loads(answer.read())
    return answer.status, data["pid"], answer.getheader("connection")
