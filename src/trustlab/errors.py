"""User-facing errors.

Every expected failure (bad config, bad data, missing file) raises a :class:`TrustlabError`
subclass whose message is one line naming what is wrong and how to fix it. The CLI prints the
message and exits with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TrustlabError(Exception):
    """An expected, user-facing failure: one clear line, exit code 2."""

    exit_code = 2


class ConfigError(TrustlabError):
    """A config file, key or value is wrong."""


class DataError(TrustlabError):
    """A dataset is missing, malformed or unreadable."""


class NotFoundError(TrustlabError):
    """A registered name, run directory or checkpoint does not exist."""


class TrainingDivergedError(TrustlabError):
    """The loss became NaN or inf."""


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest option, or '' when none is close."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
