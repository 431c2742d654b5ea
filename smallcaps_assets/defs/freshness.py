"""The ``latest_partition_present`` check on every asset (see ``checks.latest_partition_check``)."""

from __future__ import annotations

from ..asset_names import ALL
from ..checks import latest_partition_check

latest_partition_checks = [latest_partition_check(name) for name in ALL]
