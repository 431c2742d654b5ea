"""Is the pipeline late? Judged only while something is meant to keep the lake current.

A lake filled by ``smallcaps materialize`` or the demo is historical: its newest partition is weeks
or years old, and that is not a fault. Dagster's freshness policies and a wall-clock check would
both call it late forever. So lateness is judged only while the ``daily_close`` schedule or the
``pipeline_automation`` sensor is running: then every asset should hold the latest completed
session (``checks.expected_latest_session``: today after 20:30 ET, else the session before).

The ``pipeline_freshness`` sensor (``defs/automation.py``) runs :func:`judge`; nothing here adds a
step to a materialisation run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from . import lake
from .asset_names import DAILY
from .checks import expected_latest_session

# The instigators that promise a current lake; their names are defined in defs/automation.py.
WATCHERS = ("daily_close", "pipeline_automation")


@dataclass(frozen=True)
class Verdict:
    judged: bool  # False: nothing keeps the lake current, so it is historical and never late
    watchers: tuple[str, ...]  # the running schedule / sensor that made it judged
    session: dt.date | None  # the latest completed session every asset should hold
    late: tuple[str, ...]  # assets without that session's partition

    def summary(self) -> str:
        if not self.judged:
            return (
                f"not judged: neither {' nor '.join(WATCHERS)} is running, so the lake is historical "
                "and never late"
            )
        if self.late:
            return f"late: {len(self.late)} asset(s) lack {self.session}: {', '.join(self.late)}"
        return (
            f"on time: all {len(DAILY)} daily assets hold {self.session} ({', '.join(self.watchers)} running)"
        )


def judge(
    running: Iterable[str],
    now: dt.datetime | None = None,
    assets: Iterable[str] = DAILY,
    root: str | None = None,
) -> Verdict:
    """The verdict for ``assets`` given the names of the instigators now ``running``."""
    watchers = tuple(sorted(set(running) & set(WATCHERS)))
    if not watchers:
        return Verdict(judged=False, watchers=(), session=None, late=())
    session = expected_latest_session(now)
    late = tuple(a for a in assets if not lake.partition_exists(a, session, root))
    return Verdict(judged=True, watchers=watchers, session=session, late=late)
