"""How many worker processes a deployment runs: the range asked for, and the autoscaler.

The autoscaler decides from one figure its workers give away for nothing: the requests in
flight (received, not yet answered) on each, which the supervisor samples ten times a second
from shared memory (worker_slots.py). As Knative's autoscaler does with concurrency, it
wants ``ceil(in flight / target_in_flight)`` workers, within the range:

- up, when more requests than the workers' target were in flight for most (80 %) of the
  last ``scale_up_after`` seconds (requests have been queueing that long, not in one
  burst), to as many workers as the window's mean or the last second's, whichever is
  higher, want (a load that started within the window gets its workers in one step);
- down, when even the *peak* over the last ``scale_down_after`` seconds (the most requests
  in flight at a sample, or on one worker between two) wants fewer (the deployment has
  been that idle).

A scale-up needs a whole window of samples taken after the last decision, so the workers
it started are given time to show their effect; a scale-down one taken after the last
scale-up.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from modelshelf.core.errors import DeploymentError

MAX_WORKERS = 64
SAMPLE_EVERY = 0.1  # seconds between two samples of the requests in flight
LATEST = 1.0  # seconds of samples that size a scale-up, once one is due
SUSTAINED = 0.8  # the share of the up window requests must queue in: not one burst
_NOW, _PEAK = 1, 2  # a sample is (time, in flight then, peak since the one before)


@dataclass(frozen=True)
class WorkerRange:
    """The fewest and the most worker processes a deployment may run."""

    min: int = 1
    max: int = 1

    @classmethod
    def of(
        cls,
        workers: int | None = None,
        min_workers: int | None = None,
        max_workers: int | None = None,
        *,
        mode: str = "realtime",
    ) -> WorkerRange:
        """The range asked for: ``workers=N`` is N to N; ``min_workers`` alone is fixed too,
        ``max_workers`` alone starts from 1. DeploymentError when it cannot be served."""
        if workers is not None and (min_workers is not None or max_workers is not None):
            raise DeploymentError(
                "give either workers=N (a fixed number) or min_workers/max_workers (a range "
                "the deployment scales in), not both"
            )
        for label, value in (("workers", workers), ("min_workers", min_workers),
                             ("max_workers", max_workers)):  # fmt: skip
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 1 <= value <= MAX_WORKERS
            ):
                raise DeploymentError(
                    f"{label} must be a whole number from 1 to {MAX_WORKERS}, not {value!r}"
                )
        if workers is not None:
            low = high = workers
        else:
            low = min_workers if min_workers is not None else 1
            high = max_workers if max_workers is not None else low
        if low > high:
            raise DeploymentError(
                f"min_workers ({low}) is more than max_workers ({high}): the range must not "
                "be empty"
            )
        if mode == "async" and low != high:
            raise DeploymentError(
                "an async deployment answers 202 at once and runs its queue in the background, "
                "so it has no requests in flight to scale on: give it workers=N"
            )
        return cls(low, high)

    @property
    def scales(self) -> bool:
        return self.min != self.max

    def clamp(self, workers: int) -> int:
        return max(self.min, min(self.max, workers))

    def label(self, now: int | None = None) -> str:
        """``"2 (1 to 4)"``: the workers running now (else the fewest), and the range."""
        now = self.min if now is None else now
        return f"{now} ({self.min} to {self.max})" if self.scales else str(now)


@dataclass(frozen=True)
class ScalingPolicy:
    """A deployment's range and when its autoscaler moves within it."""

    workers: WorkerRange = WorkerRange()
    scale_up_after: float = 3.0  # seconds of queueing before workers are added
    scale_down_after: float = 30.0  # seconds of idleness before workers are stopped
    target_in_flight: float = 1.0  # requests in flight per worker aimed at

    @classmethod
    def checked(cls, workers: WorkerRange, up: float, down: float, target: float) -> ScalingPolicy:
        """The policy, DeploymentError for a window or target that cannot work."""
        for label, value in (("scale_up_after", up), ("scale_down_after", down),
                             ("target_in_flight", target)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise DeploymentError(f"{label} must be a number above 0, not {value!r}")
        return cls(workers, float(up), float(down), float(target))

    def to_config(self) -> dict[str, Any]:
        """The server config's ``scaling`` (serve.py)."""
        return {
            "min_workers": self.workers.min,
            "max_workers": self.workers.max,
            "scale_up_after": self.scale_up_after,
            "scale_down_after": self.scale_down_after,
            "target_in_flight": self.target_in_flight,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScalingPolicy:
        """From a server config; one written before ranges existed has only ``workers``."""
        scaling = config.get("scaling")
        if not scaling:
            return cls(WorkerRange(config["workers"], config["workers"]))
        return cls(
            WorkerRange(scaling["min_workers"], scaling["max_workers"]),
            scaling["scale_up_after"],
            scaling["scale_down_after"],
            scaling["target_in_flight"],
        )


@dataclass(frozen=True)
class Decision:
    """Run ``workers`` workers, because ``why``."""

    workers: int
    why: str


class Autoscaler:
    """Decides the number of workers from samples of the requests in flight."""

    def __init__(self, policy: ScalingPolicy, now: float) -> None:
        self.policy = policy
        # Windows hold only samples taken after these: an up decision needs a whole window
        # after any decision (the workers it started must show their effect first); a down
        # decision one after the last up (stopping workers never lowers what is in flight,
        # so a load that ended step by step is followed down in one window).
        self._up_since = self._down_since = now
        longest = max(policy.scale_up_after, policy.scale_down_after)
        self._samples: deque[tuple[float, int, int]] = deque(
            maxlen=int(longest / SAMPLE_EVERY) + 64
        )

    def observe(self, now: float, in_flight: int, peak: int | None = None) -> None:
        """One sample: ``in_flight`` requests on all the workers at ``now``, and ``peak``,
        the most seen at once since the last sample (default: ``in_flight``)."""
        self._samples.append((now, in_flight, in_flight if peak is None else max(peak, in_flight)))

    def decide(self, now: float, workers: int) -> Decision | None:
        """How many workers to run instead of ``workers``, if not as many."""
        policy = self.policy
        if not policy.workers.scales:
            return None
        target = policy.target_in_flight
        if now - self._up_since >= policy.scale_up_after:
            window = self._window(now, policy.scale_up_after)
            queued = sum(1 for n in window if n > workers * target)
            if window and queued >= SUSTAINED * len(window):
                # As many workers as the window's mean load needs, or the last second's
                # when higher (a load that began within the window counts in full).
                mean = _mean(window)
                latest = _mean(self._window(now, min(LATEST, policy.scale_up_after)))
                wanted = policy.workers.clamp(math.ceil(max(mean, latest) / target))
                if wanted > workers:
                    self._down_since = now
                    return self._decided(now, wanted, (
                        f"{mean:.1f} requests in flight on average over the last "
                        f"{policy.scale_up_after:g} s ({latest:.1f} over the last "
                        f"{min(LATEST, policy.scale_up_after):g} s), more than "
                        f"{target:g} per worker {queued / len(window):.0%} of the time"
                    ))  # fmt: skip
        if now - self._down_since >= policy.scale_down_after:
            peak = max(self._window(now, policy.scale_down_after, _PEAK), default=0)
            wanted = policy.workers.clamp(math.ceil(peak / target))
            if wanted < workers:
                return self._decided(now, wanted, (
                    f"at most {peak} request{'' if peak == 1 else 's'} in flight over the last "
                    f"{policy.scale_down_after:g} s, for a target of {target:g} per worker"
                ))  # fmt: skip
        return None

    def restart(self, now: float) -> None:
        """Start the windows again from ``now`` (a worker came or went otherwise)."""
        self._up_since = self._down_since = now

    def _decided(self, now: float, workers: int, why: str) -> Decision:
        self._up_since = now
        return Decision(workers, why)

    def _window(self, now: float, seconds: float, figure: int = _NOW) -> list[int]:
        """The samples' ``figure`` (in flight then, or the peak before) over ``seconds``."""
        start = now - seconds
        return [sample[figure] for sample in self._samples if sample[0] >= start]


def _mean(samples: list[int]) -> float:
    return sum(samples) / len(samples) if samples else 0.0
