"""The offline, deterministic, Polygon-compatible simulated market (library, REST app, flat files)."""

from .config import ApiFaults, DataFaults, EdgeConfig, SimConfig
from .market import SimMarket

__all__ = ["ApiFaults", "DataFaults", "EdgeConfig", "SimConfig", "SimMarket"]
