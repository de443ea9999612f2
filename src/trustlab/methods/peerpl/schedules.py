"""Schedules of the peer weight xi over training progress p in [0, 1].

The reference's DQN ``--pattern`` options are ``xi * p`` (increasing), ``xi * (1 - p)`` (decreasing) and
``xi * (1 - 2|p - 0.5|)`` (triangle), besides constant xi; its co-training ``Scheduler`` has the same
shapes (``inc``, ``dec``, ``incdec``) inside a window ``[start, end]`` of updates and 0 outside. Here every
schedule takes the window as fractions of training (``start``, ``end``); outside it the weight is 0.

    >>> peer_weight("triangle", 0.2, 0.5)
    0.2
    >>> peer_weight("increasing", 0.2, 0.25)
    0.05
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from trustlab.errors import ConfigError, NotFoundError
from trustlab.registry import Registry

Schedule = Literal["constant", "increasing", "decreasing", "triangle"]  # the config fields' type
SCHEDULES: Registry[Callable[[float], float]] = Registry("peer schedule", listed=False)
SCHEDULES.add("constant", lambda p: 1.0, "xi")
SCHEDULES.add("increasing", lambda p: p, "xi * p")
SCHEDULES.add("decreasing", lambda p: 1.0 - p, "xi * (1 - p)")
SCHEDULES.add("triangle", lambda p: 1.0 - 2.0 * abs(p - 0.5), "xi * (1 - 2|p - 0.5|)")


def check_schedule(name: str, key: str = "method.schedule") -> str:
    """``name`` when it is a schedule, else a ConfigError naming ``key``, with the registry's hint."""
    try:
        SCHEDULES.get(name)
    except NotFoundError as exc:
        raise ConfigError(f"config key '{key}': {exc}") from None
    return name


def peer_weight(schedule: str, xi: float, progress: float, start: float = 0.0, end: float = 1.0) -> float:
    """xi times the schedule's factor at ``progress`` (rescaled to the window ``[start, end]``; 0 outside)."""
    f = SCHEDULES.get(check_schedule(schedule))
    progress = min(max(float(progress), 0.0), 1.0)  # SB3 may overshoot its budget by a vectorised step
    if progress < start or progress > end or end <= start:
        return 0.0
    return float(xi) * f((progress - start) / (end - start))
