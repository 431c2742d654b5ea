"""Benchmarks: ``smallcaps bench sim|detect|ingest|windows`` (``bench/cli.py`` registers them).

Each module times one part of the platform and returns one JSON-serialisable dict; nothing here is a
unit test, and no figure is asserted except by the smoke tests in ``smallcaps_assets_tests/bench``.

- ``sim``: the simulated market, through the library and served over ASGI;
- ``detect``: the intraday detectors over a large day of minute bars;
- ``ingest``: the vendor client ingesting bars from a served simulator;
- ``windows``: the event-window downloader against a served simulator at a rate limit.
"""

from __future__ import annotations

import os
import platform
import sys


def machine_info() -> dict:
    """The machine a figure was measured on."""
    import numpy
    import polars

    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "polars": polars.__version__,
        "numpy": numpy.__version__,
    }
