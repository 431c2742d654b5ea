"""The intraday detectors by family, each registered once in ``registry.py``.

Every detector is ``find(frames: ChunkFrames, p: <its params>) -> DataFrame | None``; the exact rule,
defaults and evidence of each are in docs/events.md.
"""
