"""Per-host politeness across the whole cluster: at most N downloads at once and a minimum gap between
their starts, for each host, whichever worker sends them.

Before a download, the middleware takes a lease in Redis (one Lua script: drop expired leases, check the
count, check the delay key, add the lease, set the delay key with ``PX``). When the host is busy it waits
without blocking the reactor (a Twisted deferLater) and tries again. The lease is
returned when the response or error comes back; leases of a worker that died expire after the download
timeout. Scrapy's own per-worker delay and AutoThrottle are turned off in cluster workers: the limits here
are the cluster-wide ones.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

from crawler.cluster.frontier import PREFIX

__all__ = ["ClusterPoliteness", "LEASE_META"]

LEASE_META = "morgue_host_lease"

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local delay = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return {-1, 0} end
local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then return {wait, 0} end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
if delay > 0 then redis.call('SET', KEYS[2], '1', 'PX', delay) end
return {0, now}
"""

#: With MORGUE_CLUSTER_LEASE_HEADER on, each request carries the moment (Redis clock, ms since the epoch)
#: its lease was granted, so a site's own log can check the spacing the cluster enforced, apart from the
#: transit time of each request (which no crawler controls).
LEASE_HEADER = "X-Morgue-Lease-Granted"


async def _sleep(seconds: float) -> None:
    """Wait without blocking the reactor, whichever reactor runs the crawl."""
    from twisted.internet import reactor

    await maybe_deferred_to_future(deferLater(reactor, seconds))


class ClusterPoliteness:
    """Downloader middleware: a cluster-wide per-host lease around every download."""

    def __init__(self, server: Any, *, concurrency: int, delay: float, lease: float, poll: float,
                 stats: Any = None, lease_header: bool = False) -> None:
        self.server = server
        self.concurrency = concurrency
        self.delay_ms = int(delay * 1000)
        self.lease_ms = int(lease * 1000)
        self.poll = poll
        self.stats = stats
        self.lease_header = lease_header
        self._acquire = server.register_script(_ACQUIRE)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ClusterPoliteness:
        settings = crawler.settings
        enabled = settings.getbool("MORGUE_CLUSTER_POLITENESS_ENABLED")
        if not settings.get("MORGUE_CLUSTER_URL") or not enabled:
            raise NotConfigured("not a cluster worker")
        from crawler.cluster.connection import connect

        return cls(connect(settings.get("MORGUE_CLUSTER_URL")),
                   concurrency=settings.getint("MORGUE_CLUSTER_HOST_CONCURRENCY"),
                   delay=settings.getfloat("MORGUE_CLUSTER_HOST_DELAY"),
                   lease=settings.getfloat("DOWNLOAD_TIMEOUT") + 30,
                   poll=settings.getfloat("MORGUE_CLUSTER_HOST_POLL", 0.02), stats=crawler.stats,
                   lease_header=settings.getbool("MORGUE_CLUSTER_LEASE_HEADER"))

    @staticmethod
    def _keys(host: str) -> list[str]:
        return [f"{PREFIX}host:{host}:active", f"{PREFIX}host:{host}:next"]

    async def process_request(self, request: Request) -> None:
        host = (urlsplit(request.url).hostname or "").lower()
        if LEASE_META in request.meta:  # a retry or redirect copied the meta of a finished download
            del request.meta[LEASE_META]
        token = uuid.uuid4().hex
        waited = False
        while True:
            wait, granted = (int(v) for v in self._acquire(
                keys=self._keys(host), args=[token, self.concurrency, self.delay_ms, self.lease_ms]))
            if wait == 0:
                break
            waited = True
            await _sleep(self.poll if wait < 0 else min(wait / 1000, 1.0))
        if waited and self.stats is not None:
            self.stats.inc_value("morgue/cluster/politeness_waits")
        request.meta[LEASE_META] = (host, token)
        if self.lease_header:
            request.headers[LEASE_HEADER] = str(granted)

    def _release(self, request: Request) -> None:
        lease = request.meta.pop(LEASE_META, None)
        if lease is not None:
            host, token = lease
            self.server.zrem(self._keys(host)[0], token)

    def process_response(self, request: Request, response: Response) -> Response:
        self._release(request)
        return response

    def process_exception(self, request: Request, exception: BaseException) -> None:
        self._release(request)
        return None
