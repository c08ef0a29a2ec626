"""The range of workers a deployment may run, and the autoscaler's decisions from samples of
the requests in flight (fed here as the supervisor feeds them, ten a second)."""

from __future__ import annotations

import pytest

from modelshelf.core.deploy.scaling import (
    SAMPLE_EVERY,
    Autoscaler,
    ScalingPolicy,
    WorkerRange,
)
from modelshelf.core.errors import DeploymentError


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({}, (1, 1)),
        ({"workers": 3}, (3, 3)),
        ({"min_workers": 2}, (2, 2)),
        ({"max_workers": 4}, (1, 4)),
        ({"min_workers": 2, "max_workers": 5}, (2, 5)),
    ],
)
def test_the_range_asked_for(asked, expected):
    span = WorkerRange.of(**asked)
    assert (span.min, span.max) == expected
    assert span.scales == (expected[0] != expected[1])


@pytest.mark.parametrize(
    ("asked", "fragment"),
    [
        ({"workers": 2, "max_workers": 3}, "not both"),
        ({"min_workers": 4, "max_workers": 2}, "min_workers (4) is more than max_workers (2)"),
        ({"workers": 0}, "workers must be a whole number from 1 to 64, not 0"),
        ({"max_workers": 65}, "max_workers must be a whole number from 1 to 64"),
        ({"min_workers": True}, "min_workers must be a whole number"),
        ({"workers": "2"}, "not '2'"),
        ({"max_workers": 3, "mode": "async"}, "give it workers=N"),
    ],
)
def test_a_range_that_cannot_be_served_says_why(asked, fragment):
    with pytest.raises(DeploymentError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        WorkerRange.of(**asked)


def test_an_async_deployment_may_still_run_a_fixed_number():
    assert WorkerRange.of(workers=3, mode="async") == WorkerRange(3, 3)


def test_the_label_shows_workers_now_and_the_range():
    assert WorkerRange(1, 4).label(2) == "2 (1 to 4)"
    assert WorkerRange(1, 4).label() == "1 (1 to 4)"
    assert WorkerRange(3, 3).label(3) == "3"


@pytest.mark.parametrize("bad", [0, -1.0, True, "3s"])
def test_windows_and_target_must_be_positive_numbers(bad):
    with pytest.raises(DeploymentError, match="must be a number above 0"):
        ScalingPolicy.checked(WorkerRange(1, 2), bad, 1.0, 1.0)
    with pytest.raises(DeploymentError, match="target_in_flight"):
        ScalingPolicy.checked(WorkerRange(1, 2), 1.0, 1.0, bad)


def test_the_policy_travels_in_the_server_config():
    policy = ScalingPolicy.checked(WorkerRange(2, 5), 1.5, 20.0, 2.0)
    assert ScalingPolicy.from_config({"workers": 2, "scaling": policy.to_config()}) == policy
    # A config written before ranges existed holds only the number of workers.
    assert ScalingPolicy.from_config({"workers": 3}).workers == WorkerRange(3, 3)


class Feed:
    """Samples fed to an autoscaler every SAMPLE_EVERY seconds, with its decisions."""

    def __init__(self, policy: ScalingPolicy, workers: int) -> None:
        self.now = 0.0
        self.workers = workers
        self.scaler = Autoscaler(policy, self.now)
        self.decisions: list[tuple[float, int, str]] = []

    def run(self, seconds: float, in_flight: int) -> None:
        """``seconds`` of samples of ``in_flight``, following each decision as made."""
        for _ in range(round(seconds / SAMPLE_EVERY)):
            self.now = round(self.now + SAMPLE_EVERY, 6)
            self.scaler.observe(self.now, in_flight)
            decision = self.scaler.decide(self.now, self.workers)
            if decision is not None:
                self.decisions.append((self.now, decision.workers, decision.why))
                self.workers = decision.workers


def policy(low: int = 1, high: int = 4, up: float = 3.0, down: float = 30.0) -> ScalingPolicy:
    return ScalingPolicy.checked(WorkerRange(low, high), up, down, 1.0)


def test_queueing_for_the_whole_window_adds_the_workers_it_needs_in_one_step():
    feed = Feed(policy(up=3.0), workers=1)
    feed.run(5.0, in_flight=1)  # one client, back to back: nothing queues
    assert feed.decisions == []
    feed.run(2.3, in_flight=3)  # queueing, but for less than 80 % of the 3 s window
    assert feed.decisions == []
    feed.run(1.0, in_flight=3)
    [(at, workers, why)] = feed.decisions
    assert workers == 3 and 5.0 + 2.3 < at <= 5.0 + 2.6
    assert "requests in flight on average over the last 3 s" in why
    assert "(3.0 over the last 1 s), more than 1 per worker 8" in why


def test_never_above_the_maximum():
    feed = Feed(policy(high=4, up=1.0), workers=1)
    feed.run(10.0, in_flight=40)
    assert [workers for _, workers, _ in feed.decisions] == [4]


def test_a_burst_shorter_than_the_window_adds_nothing():
    feed = Feed(policy(up=3.0), workers=1)
    for _ in range(5):
        feed.run(0.5, in_flight=8)
        feed.run(2.5, in_flight=0)
    assert feed.decisions == []


def test_idle_for_the_down_window_returns_to_the_minimum_never_below():
    feed = Feed(policy(low=2, high=4, up=1.0, down=5.0), workers=2)
    feed.run(2.0, in_flight=16)
    assert feed.workers == 4
    feed.run(4.9, in_flight=0)  # idle, but not for 5 s since the last decision
    assert feed.workers == 4
    feed.run(1.0, in_flight=0)
    assert feed.workers == 2  # the minimum, not 0
    assert "at most 0 requests in flight over the last 5 s" in feed.decisions[-1][2]
    feed.run(30.0, in_flight=0)
    assert feed.workers == 2 and len(feed.decisions) == 2


def test_down_only_to_what_the_peak_of_the_window_needs():
    feed = Feed(policy(up=1.0, down=3.0), workers=1)
    feed.run(2.0, in_flight=4)
    assert feed.workers == 4
    # The load drops to two clients, whose requests are sometimes both in flight.
    for _ in range(20):
        feed.run(0.2, in_flight=2)
        feed.run(0.3, in_flight=1)
    assert feed.workers == 2


def test_a_fixed_number_never_scales():
    feed = Feed(policy(low=2, high=2, up=0.5, down=0.5), workers=2)
    feed.run(3.0, in_flight=50)
    feed.run(3.0, in_flight=0)
    assert feed.decisions == []


def test_a_peak_between_samples_keeps_the_workers_it_needed():
    feed = Feed(policy(up=1.0, down=2.0), workers=1)
    feed.run(2.0, in_flight=3)
    assert feed.workers == 3
    # One request in flight at each sample, but two at once in between, now and then.
    for _ in range(10):
        feed.run(0.4, in_flight=1)
        feed.now = round(feed.now + SAMPLE_EVERY, 6)
        feed.scaler.observe(feed.now, 1, peak=2)
    assert feed.workers == 2


def test_a_load_that_ends_client_by_client_is_followed_down_in_one_window():
    feed = Feed(policy(up=1.0, down=5.0), workers=1)
    feed.run(2.0, in_flight=16)
    assert feed.workers == 4
    for clients in (8, 4, 2, 1):  # the clients stop one after another
        feed.run(0.2, in_flight=clients)
    stopped = feed.now
    feed.run(10.0, in_flight=0)
    # Down as each step leaves the window, each decision within a sample of the last.
    assert [w for _, w, _ in feed.decisions] == [4, 2, 1]
    assert all(stopped + 4.0 < at <= stopped + 5.05 for at, _, _ in feed.decisions[1:])
