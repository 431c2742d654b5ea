"""The simulated vendor REST API: a Starlette ASGI app answering like Polygon.io / Massive.

Everything is computed on request from a ``SimMarket`` (nothing is precomputed per market), so a request
costs O(response): trades and quotes are generated only for the windows a page needs, aggregates read
only the sessions their ``limit`` allows.

Endpoints: ``/v2/aggs`` range, grouped and prev; ``/v1/open-close``; ``/v3/trades`` and ``/v3/quotes``;
``/v3/reference`` tickers (list, details, types), exchanges, conditions, splits, dividends; ``/v2/reference/news``
(one article per simulated catalyst day); ``/stocks/v1`` splits, short-interest, short-volume; ``/stocks/vX/float``;
``/v1/marketstatus`` now and upcoming.

The vendor's conventions it follows (docs/vendor_api.md §2-§3):

- auth through ``apiKey=`` or ``Authorization: Bearer``; 401 bodies for a missing or unknown key;
- ``X-Request-Id`` equals the body's ``request_id``: 32 lowercase hex characters derived from the market's
  config plus method, path and query (never the key), so the same seed and request give byte-identical
  bodies;
- ``next_url`` is absolute (built from the request's own host), carries only ``cursor`` (unpadded
  base64url of a query string) and never the key; when ``cursor`` is present every other parameter but
  ``apiKey`` is ignored; the last page has no ``next_url``;
- empty optional fields are omitted, never null; NaN never reaches JSON; ns timestamps are exact ints;
- bad input answers 400 ``{"status":"ERROR","request_id":…,"error":…}``; unknown routes answer the plain
  text ``404 page not found``.

Choices where the vendor's behaviour is undocumented (docs/vendor_api.md §7), so a client relying on them is warned:

- Aggregates: base aggregates (what ``limit`` counts and ``queryCount`` reports) are second bars for
  ``timespan=second``, minute bars for ``minute``/``hour`` and day bars for ``day`` and longer. A bar is never
  split across pages: a page stops before the first bar whose base aggregates would exceed ``limit`` (a
  single bar wider than ``limit`` is still returned whole, so paging always progresses). ``sort=asc`` pages
  rewrite ``{from}`` to the next bar's ``t`` (as the vendor does); ``sort=desc`` pages rewrite ``{to}`` to the
  ``t`` of the newest base aggregate of the next bar. The cursor is ``base64url("limit=N&sort=S")``, plus
  ``&adjusted=false`` when unadjusted bars were asked for (the vendor would silently fall back to adjusted).
- Aggregate windows are aligned to Eastern Time: intraday windows to 00:00 ET of the session day; ``day``
  multiples to whole days counted from 1970-01-01; weeks start on **Sunday** 00:00 ET (weeks counted from
  Sunday 1969-12-28); months, quarters (Jan/Apr/Jul/Oct) and years on their first day at 00:00 ET. A bar's
  ``t`` is its window start. Grouped-daily and ``/prev`` bars carry ``t`` = 16:00 ET of the session, even on
  early-close days.
- Trades and quotes: ``timestamp=YYYY-MM-DD`` means the ET calendar day; filters apply to
  ``sip_timestamp``; rows are ordered by (``sip_timestamp``, ``sequence_number``); an empty page answers
  ``"results": []``.
- ``limit`` above the documented maximum answers 400 (the vendor may clamp instead).
- 429 answers carry ``Retry-After`` (integer seconds, at least 1).

The package, one module per concern:

- ``app``: the route table (``ROUTES``: path -> handler) and ``create_app``;
- ``gateway``: the middleware in front of the routes (journal, 404, 401, faults, per-key rate limit);
- ``context``: ``SimApi``, the state the handlers share (market, clock, request ids, paging, caches);
- ``params`` and ``filters``: query parsing with the vendor's validation, row filters and sorting;
- ``wire`` and ``times``: JSON bytes and number formats; Eastern-Time day boundaries and units;
- the endpoint groups: ``aggregates``, ``ticks``, ``reference``, ``corporate_actions``, ``news``,
  ``stocks`` and ``status``. A handler is ``(sim, request, request_id) -> body`` and raises ``ApiError``.
"""

from .aggregates import TIMESPANS
from .app import REQUEST_LOG_ENV, ROUTES, create_app
from .context import SimApi
from .gateway import MAX_RATE_LIMIT_KEYS, RATE_LIMIT_MESSAGE, RateLimiter
from .params import ApiError
from .reference import LEGACY_TRADE_CONDITIONS, TICKER_SORTS, TICKER_TYPES
from .times import MAX_MS, MAX_NS, NS, NY

__all__ = [
    "LEGACY_TRADE_CONDITIONS",
    "MAX_MS",
    "MAX_NS",
    "MAX_RATE_LIMIT_KEYS",
    "NS",
    "NY",
    "RATE_LIMIT_MESSAGE",
    "REQUEST_LOG_ENV",
    "ROUTES",
    "TICKER_SORTS",
    "TICKER_TYPES",
    "TIMESPANS",
    "ApiError",
    "RateLimiter",
    "SimApi",
    "create_app",
]
