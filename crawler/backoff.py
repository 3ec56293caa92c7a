"""Back-off on 429 and 5xx: slow the whole host down, not just retry the one request.

Scrapy's RetryMiddleware re-queues a failed request at once, and AutoThrottle never raises a delay because
of an error status. A site answering 429 or 503 is asking us to slow down, so this middleware doubles the
host's download-slot delay (at least ``MORGUE_BACKOFF_BASE`` seconds, at most ``MORGUE_BACKOFF_MAX``,
longer if the server sends ``Retry-After``). The retry that RetryMiddleware schedules then waits for the
slot like any other request. Successes halve the delay back towards the configured one, at most once per
delay period: the answers to requests sent before the back-off must not undo it at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

__all__ = ["BackOff", "retry_after_seconds"]

logger = logging.getLogger(__name__)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class BackOff:
    """Per-host exponential back-off on the statuses RetryMiddleware retries."""

    def __init__(self, crawler: Crawler, *, base: float, maximum: float, codes: set[int]) -> None:
        self.crawler = crawler
        self.base = base
        self.maximum = maximum
        self.codes = codes
        self._normal: dict[str, float] = {}
        self._changed_at: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackOff:
        settings = crawler.settings
        if not settings.getbool("MORGUE_BACKOFF_ENABLED"):
            raise NotConfigured("MORGUE_BACKOFF_ENABLED is off")
        codes = {int(c) for c in settings.getlist("RETRY_HTTP_CODES")}
        return cls(crawler, base=settings.getfloat("MORGUE_BACKOFF_BASE"),
                   maximum=settings.getfloat("MORGUE_BACKOFF_MAX"), codes=codes)

    def _slot(self, request: Request) -> tuple[str, object | None]:
        engine = self.crawler.engine
        if engine is None:
            return "", None
        downloader = engine.downloader
        key = downloader.get_slot_key(request)
        return key, downloader.slots.get(key)

    def process_response(self, request: Request, response: Response) -> Response:
        key, slot = self._slot(request)
        if slot is None:
            return response
        self._normal.setdefault(key, slot.delay)  # type: ignore[attr-defined]
        current: float = slot.delay  # type: ignore[attr-defined]
        if response.status in self.codes:
            wanted = max(current * 2, self.base)
            after = retry_after_seconds(response.headers.get(b"Retry-After", b"").decode("latin-1"))
            if after is not None:
                wanted = max(wanted, after)
            slot.delay = min(wanted, self.maximum)  # type: ignore[attr-defined]
            self._changed_at[key] = monotonic()
            self.crawler.stats.inc_value(f"morgue/backoff/{response.status}")
            logger.info("%s answered %s: waiting %.1fs between its requests", key, response.status,
                        slot.delay)  # type: ignore[attr-defined]
        elif response.status < 400 and current > self._normal[key]:
            if monotonic() - self._changed_at.get(key, 0.0) >= current:
                slot.delay = max(self._normal[key], current / 2)  # type: ignore[attr-defined]
                self._changed_at[key] = monotonic()
        return response
