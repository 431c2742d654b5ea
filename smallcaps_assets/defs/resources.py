"""The resources the assets ask for by name."""

from __future__ import annotations

import dagster as dg

from ..resources import PolygonResource

resources = dg.Definitions(resources={"polygon": PolygonResource()})
