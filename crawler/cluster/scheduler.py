"""scrapy-redis's Scheduler for Scrapy 2.19, with requests acknowledged when the engine is done with them.

The engine keeps every request it downloads in its slot until the response has been archived, the
callback has run, its items have gone through the pipelines (WARC resource record written) and its new
requests are queued; only then does it call ``_Slot.remove_request``. The scheduler wraps that method
(Scrapy 2.19's engine has no signal for it) to take the request out of this worker's in-flight hash, so a
worker killed at any earlier moment leaves the request for another worker.

A crawler works for one round of its site (its id is in the warcinfo records): when a new round is queued
while it waits idle, it takes no more requests and closes, and the worker starts a crawler for the new one.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.misc import load_object
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task

from crawler.cluster.connection import connect
from crawler.cluster.dupefilter import ClusterDupeFilter
from crawler.cluster.frontier import Frontier
from crawler.cluster.queue import TOKEN_META, ReliableQueue

__all__ = ["ClusterScheduler"]

logger = logging.getLogger(__name__)


class ClusterScheduler(Scheduler):
    """One site's requests, shared by every worker through Redis."""

    def __init__(self, crawler: Any, server: Any, dupefilter: ClusterDupeFilter, *, site: str, worker: str,
                 idle: float, poll: float, serializer: Any = None, round_id: str | None = None) -> None:
        super().__init__(server, persist=True, queue_key=Frontier.queue_key(site),
                         queue_cls="crawler.cluster.queue.ReliableQueue", dupefilter=dupefilter,
                         dupefilter_key=Frontier.seen_key(site), serializer=serializer)
        self.crawler = crawler
        self.stats = crawler.stats
        self.site = site
        self.worker = worker
        self.idle = idle
        self.poll = poll
        self.frontier = Frontier(server)
        self.round_id = round_id
        self.max_age = crawler.settings.getfloat("MORGUE_CLUSTER_WARC_MAX_AGE", 0)
        self._round_over = False
        self._idle_since: float | None = None
        self._loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> ClusterScheduler:
        settings = crawler.settings
        server = connect(settings.get("MORGUE_CLUSTER_URL"))
        site = settings.get("MORGUE_SITE") or "unknown"
        dupefilter = ClusterDupeFilter(server, Frontier.seen_key(site), crawler.request_fingerprinter,
                                       debug=settings.getbool("DUPEFILTER_DEBUG"))
        serializer = settings.get("SCHEDULER_SERIALIZER")
        if isinstance(serializer, str):
            serializer = load_object(serializer)
        return cls(crawler, server, dupefilter, site=site, worker=settings.get("MORGUE_CLUSTER_WORKER"),
                   idle=settings.getfloat("MORGUE_CLUSTER_IDLE", 10.0),
                   poll=settings.getfloat("MORGUE_CLUSTER_POLL", 0.5), serializer=serializer,
                   round_id=settings.get("MORGUE_CLUSTER_ROUND"))

    # -- lifecycle ------------------------------------------------------------------------------------
    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.queue = ReliableQueue(self.server, spider, self.queue_key, self.serializer,
                                   site=self.site, worker=self.worker)
        self._hook_engine_slot()
        self.crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)
        self._loop = task.LoopingCall(self._wake_engine)
        self._loop.start(self.poll, now=False)

    def close(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        # Whatever this worker popped and did not finish goes back to the queue for the others.
        handed_back = self.frontier.requeue(self.site, self.worker, force=True)
        if handed_back:
            logger.info("%s: handed %d unfinished requests back to the cluster queue", self.site, handed_back)

    def _hook_engine_slot(self) -> None:
        slot = self.crawler.engine._slot
        remove = slot.remove_request

        def remove_request(request: Request) -> None:
            try:
                remove(request)
            finally:
                token = request.meta.get(TOKEN_META)
                if token is not None:
                    self.queue.ack(token)
                    self.stats.inc_value("morgue/cluster/acknowledged")

        slot.remove_request = remove_request

    def _wake_engine(self) -> None:
        """The engine asks the scheduler for work after each download and every 5 s; requests other
        workers queue meanwhile are noticed sooner this way. Also closes this worker's WARC file once it
        has been open ``MORGUE_CLUSTER_WARC_MAX_AGE`` seconds, so that the indexer, which files closed
        files only, files its pages within that time however slowly the file fills."""
        session = getattr(self.crawler, "_morgue_session", None)  # crawler.session, once it exists
        if self.max_age > 0 and session is not None:
            session.writer.close_if_older(self.max_age)
        if self.round_id is not None and not self._round_over:
            current = self.frontier.current_round(self.site)
            self._round_over = current is not None and current[0] != self.round_id
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None and slot.closing is None and len(self.queue):
            slot.nextcall.schedule()

    def _spider_idle(self, spider: Spider) -> None:
        """Stay open while the site has work anywhere in the cluster (another worker's links, or a dead
        worker's requests about to be requeued), then for ``MORGUE_CLUSTER_IDLE`` seconds more; not once a
        new round has begun (its requests are for a crawler of that round)."""
        if self._round_over:
            return
        if self.frontier.pending(self.site) > 0:
            self._idle_since = None
            raise DontCloseSpider
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.idle:
            raise DontCloseSpider

    # -- requests -------------------------------------------------------------------------------------
    def enqueue_request(self, request: Request) -> bool:
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        self.queue.push(request)
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        if self._round_over:
            return None
        request = self.queue.pop()
        if request is not None:
            self._idle_since = None
            self.stats.inc_value("scheduler/dequeued/redis")
        return request
