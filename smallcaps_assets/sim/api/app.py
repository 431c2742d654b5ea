"""The route table and ``create_app``: Starlette routes over the endpoint groups, behind the gateway."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config import ApiFaults
from ..market import SimMarket
from . import aggregates, corporate_actions, news, reference, status, stocks, ticks
from .context import Handler, SimApi
from .gateway import FaultDice, Gateway, RateLimiter
from .params import ApiError
from .wire import error_response, json_response

log = logging.getLogger(__name__)
REQUEST_LOG_ENV = "SMALLCAPS_SIM_REQUEST_LOG"

# Every endpoint, matched in this order (a literal segment before a ``{parameter}`` at the same place).
ROUTES: tuple[tuple[str, Handler], ...] = (
    ("/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}", aggregates.aggs_range),
    ("/v2/aggs/ticker/{ticker}/prev", aggregates.aggs_prev),
    ("/v2/aggs/grouped/locale/us/market/stocks/{date}", aggregates.aggs_grouped),
    ("/v1/open-close/{ticker}/{date}", aggregates.open_close),
    ("/v3/trades/{ticker}", ticks.trades),
    ("/v3/quotes/{ticker}", ticks.quotes),
    ("/v3/reference/tickers/types", reference.ticker_types),
    ("/v3/reference/tickers/{ticker}", reference.ticker_details),
    ("/v3/reference/tickers", reference.tickers),
    ("/v3/reference/exchanges", reference.exchanges),
    ("/v3/reference/conditions", reference.conditions),
    ("/v3/reference/splits", corporate_actions.splits_v3),
    ("/v3/reference/dividends", corporate_actions.dividends_v3),
    ("/v2/reference/news", news.news),
    ("/stocks/v1/splits", corporate_actions.splits_v1),
    ("/stocks/v1/short-interest", stocks.short_interest),
    ("/stocks/v1/short-volume", stocks.short_volume),
    ("/stocks/vX/float", stocks.free_float),
    ("/v1/marketstatus/now", status.market_status_now),
    ("/v1/marketstatus/upcoming", status.market_status_upcoming),
)

# Level 1: about 3x less CPU than the default 6, for bodies about 15% larger.
GZIP_LEVEL = 1


def _route(sim: SimApi, path: str, handler: Handler) -> Route:
    """A GET route running ``handler`` in the thread pool: its body as JSON, an ``ApiError`` as its answer,
    anything else as a 500 (never a stack trace on the wire)."""

    async def endpoint(request: Request) -> Response:
        rid = request.scope.get("sim.request_id") or sim.request_id(request.scope)
        try:
            body = await run_in_threadpool(handler, sim, request, rid)
            return json_response(body, 200, rid)
        except ApiError as err:
            return error_response(err, rid)
        except Exception:
            log.exception("simulated API failed on %s", request.url.path)
            return error_response(ApiError(500, "Internal server error"), rid)

    return Route(path, endpoint, methods=["GET"])


def create_app(
    market: SimMarket,
    *,
    api_keys: set[str] | None = None,
    faults: ApiFaults | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    request_log: str | None = None,
) -> Starlette:
    """The vendor REST API over ``market``.

    ``api_keys``: accepted keys (None: any non-empty key). ``faults``: injected API faults (None or the
    defaults: none). ``clock``: the wall clock for market status and ``/prev`` (default: real UTC time).
    ``request_log`` (default: env ``SMALLCAPS_SIM_REQUEST_LOG``): a file that gets one line
    ``path?query`` (``apiKey`` removed) per request received, to audit what a client asked for.

    ``app.state.sim_api`` holds the endpoints' shared state (``SimApi``) and ``app.state.rate_limiter``
    the per-key token buckets (None without ``faults.rate_limit``).
    """
    request_log = request_log or os.environ.get(REQUEST_LOG_ENV) or None
    sim = SimApi(market, clock)
    routes = [_route(sim, path, handler) for path, handler in ROUTES]
    limiter = (
        RateLimiter(faults.rate_limit, faults.rate_burst)
        if faults is not None and faults.rate_limit is not None
        else None
    )
    gateway = {
        "sim": sim,
        "routes": routes,
        "keys": set(api_keys) if api_keys is not None else None,
        "dice": FaultDice(faults) if faults is not None else None,
        "limiter": limiter,
        "journal": request_log,
    }
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(GZipMiddleware, minimum_size=500, compresslevel=GZIP_LEVEL),
            Middleware(Gateway, **gateway),
        ],
    )
    app.state.sim_api = sim
    app.state.rate_limiter = limiter
    return app
