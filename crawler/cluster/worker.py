"""Cluster workers and the enqueuer: the Python API behind ``morgue worker`` and ``morgue crawl --cluster``.

A worker is one process with one Scrapy crawler per site that has queued work (a seed is stored in Redis
by whoever enqueues it, so workers need no seed files). A supervisor loop in the reactor refreshes the
worker's heartbeat, requeues the in-flight requests of dead workers, starts a crawler for any site with
queued work and none running here, and ends the process once the cluster has had no work for
``MORGUE_CLUSTER_IDLE`` seconds (never with ``forever``).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.misc import build_from_crawler, load_object

from archive.datadir import DataDir
from crawler.cluster.connection import connect, redact
from crawler.cluster.frontier import PREFIX, Frontier, worker_id
from crawler.cluster.spider import ClusterNewsSpider, read_known_pages, start_requests_for
from crawler.runner import crawl_settings
from morgue.seeds import Seed

__all__ = ["cluster_settings", "enqueue_seeds", "due_in_cluster", "run_worker", "WorkerResult",
           "EnqueueResult"]

logger = logging.getLogger("morgue")

SCHEDULER = "crawler.cluster.scheduler.ClusterScheduler"


def cluster_settings(seed: Seed, data_dir: Path, url: str, worker: str,
                     overrides: Mapping[str, Any] | None = None, *, log_level: str = "WARNING",
                     round_: tuple[str, str] | None = None) -> Settings:
    """A worker's settings for one site: ``crawl_settings`` plus the shared scheduler and politeness,
    no index writes, no JOBDIR (the frontier in Redis is the resumable state); ``round_`` (id, start) is
    the site's current round, named in the worker's warcinfo records."""
    settings = crawl_settings(seed, data_dir, {"MORGUE_RESUME": False, **dict(overrides or {})},
                              log_level=log_level)
    # The site's politeness limits, enforced across the cluster instead of per process.
    if settings.get("MORGUE_CLUSTER_HOST_CONCURRENCY") is None:
        settings.set("MORGUE_CLUSTER_HOST_CONCURRENCY", settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
    if settings.get("MORGUE_CLUSTER_HOST_DELAY") is None:
        settings.set("MORGUE_CLUSTER_HOST_DELAY", settings.getfloat("DOWNLOAD_DELAY"))
    fixed = {
        "MORGUE_CLUSTER_URL": url, "MORGUE_CLUSTER_WORKER": worker, "MORGUE_INDEX_ENABLED": False,
        # above the runner's settings, which Scrapy 2.19 applies to a Crawler at equal priority
        "MORGUE_SITE": seed.name, "MORGUE_DATA": str(data_dir),
        "SCHEDULER": SCHEDULER, "JOBDIR": None, "CLOSESPIDER_PAGECOUNT": 0,
        "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False,
        "MORGUE_CLUSTER_ROUND": round_[0] if round_ else None,
        "MORGUE_CLUSTER_ROUND_STARTED": round_[1] if round_ else None,
    }
    for key, value in fixed.items():
        settings.set(key, value, priority=100)
    return settings  # crawler.addon adds the politeness middleware when MORGUE_CLUSTER_URL is set


@dataclass
class EnqueueResult:
    site: str
    queued: int
    new_round: bool


def enqueue_seeds(url: str, seeds: Sequence[Seed], data_dir: Path,
                  overrides: Mapping[str, Any] | None = None) -> list[EnqueueResult]:
    """Store each seed in Redis and queue its start requests (through the site's seen-set). A site whose
    previous crawl has finished starts a new round: its seen-set is cleared first."""
    frontier = Frontier(connect(url))
    data = DataDir(data_dir)
    known = read_known_pages(data.db_path, logger)  # once for all seeds: it reads every capture row
    results = []
    for seed in seeds:
        settings = cluster_settings(seed, data_dir, url, worker_id(), overrides)
        crawler = Crawler(ClusterNewsSpider, settings)
        spider = ClusterNewsSpider.from_crawler(crawler, seed=seed)
        # the workers' dupefilter uses the configured fingerprinter (crawler.request_fingerprinter exists
        # only once a crawl starts): the same one here, or a custom one would fetch start URLs twice
        fingerprinter = build_from_crawler(load_object(settings["REQUEST_FINGERPRINTER_CLASS"]), crawler)
        frontier.put_seed(seed)
        new_round = frontier.start_round(seed.name)
        queued = 0
        for request in start_requests_for(spider, known, data.warc_dir):
            encoded = pickle.dumps(request.to_dict(spider=spider), protocol=-1)  # scrapy-redis's format
            if frontier.add(seed.name, fingerprinter.fingerprint(request).hex(), encoded, request.priority,
                            dont_filter=request.dont_filter):
                queued += 1
        frontier.server.hset(f"{PREFIX}enqueued", seed.name, datetime.now(UTC).isoformat())
        results.append(EnqueueResult(seed.name, queued, new_round))
        logger.info("%s: queued %d start requests in %s", seed.name, queued, redact(url))
    return results


def due_in_cluster(url: str, seeds: Sequence[Seed], now: datetime | None = None) -> list[tuple[Seed, str]]:
    """Each seed with why it is or is not due: a site is due when the cluster holds no work for it and
    its last enqueue (``morgue:enqueued``) is at least ``every`` ago. The index's rows of cluster rounds
    are filed by ``morgue index`` whenever it runs, so the schedule of a cluster is read from Redis."""
    frontier = Frontier(connect(url))
    now = now or datetime.now(UTC)
    raw = frontier.server.hgetall(f"{PREFIX}enqueued")
    last = {k.decode(): datetime.fromisoformat(v.decode()) for k, v in raw.items()}
    out = []
    for seed in seeds:
        if frontier.pending(seed.name):
            out.append((seed, "running"))
        elif seed.name not in last or last[seed.name] + seed.every <= now:
            out.append((seed, "due"))
        else:
            out.append((seed, f"next at {(last[seed.name] + seed.every).isoformat(timespec='seconds')}"))
    return out


@dataclass
class WorkerResult:
    worker: str
    crawls: list[dict[str, Any]] = field(default_factory=list)
    requeued: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c["reason"] == "finished" for c in self.crawls)


def run_worker(url: str, data_dir: Path, *, overrides: Mapping[str, Any] | None = None,
               forever: bool = False, idle: float | None = None, sites: Sequence[str] = (),
               log_level: str = "WARNING") -> WorkerResult:
    """Take work from the cluster until it has none for ``idle`` seconds (or forever); blocks."""
    from scrapy.utils.reactor import install_reactor
    from twisted.internet import task

    data = DataDir(data_dir).check(create=True)
    frontier = Frontier(connect(url))
    me = worker_id()
    base = Settings()
    base.setmodule("crawler.settings", priority="project")
    base.set("LOG_LEVEL", log_level, priority="project")
    base.setdict(dict(overrides or {}), priority="cmdline")
    if base["TWISTED_REACTOR"]:  # None: Twisted's default reactor, installed by the import below
        install_reactor(base["TWISTED_REACTOR"])
    from twisted.internet import reactor

    process = CrawlerProcess(base)
    ttl = base.getfloat("MORGUE_CLUSTER_HEARTBEAT")
    idle_for = base.getfloat("MORGUE_CLUSTER_IDLE") if idle is None else idle
    result = WorkerResult(worker=me)
    running: dict[str, Crawler] = {}
    state = {"last_busy": time.monotonic(), "stopping": False}

    def finished(_: Any, site: str, crawler: Crawler) -> None:
        running.pop(site, None)
        stats = crawler.stats.get_stats() if crawler.stats else {}
        result.crawls.append({"site": site, "reason": str(stats.get("finish_reason", "not started")),
                              "summary": dict(stats.get("morgue/summary") or {}),
                              "acknowledged": int(stats.get("morgue/cluster/acknowledged", 0))})

    def start_site(seed: Seed) -> None:
        settings = cluster_settings(seed, data.path, url, me, overrides, log_level=log_level,
                                    round_=frontier.current_round(seed.name))
        crawler = Crawler(ClusterNewsSpider, settings)
        running[seed.name] = crawler
        process.crawl(crawler, seed=seed).addBoth(finished, seed.name, crawler)

    def tick() -> None:
        frontier.heartbeat(me, ttl)
        busy = bool(running)
        for name, seed in frontier.seeds().items():
            if sites and name not in sites:
                continue
            for dead, n in frontier.reap(name).items():
                if n:
                    logger.warning("%s: worker %s is gone; requeued its %d unfinished requests",
                                   name, dead, n)
                result.requeued[dead] = result.requeued.get(dead, 0) + n
            if frontier.pending(name):
                busy = True
            if name not in running and not state["stopping"] and frontier.queued(name):
                start_site(seed)
        if busy:
            state["last_busy"] = time.monotonic()
        elif not forever and time.monotonic() - state["last_busy"] >= idle_for and not state["stopping"]:
            state["stopping"] = True
            reactor.callLater(0, reactor.stop)

    loop = task.LoopingCall(tick)
    reactor.callWhenRunning(loop.start, min(1.0, ttl / 3))
    reactor.addSystemEventTrigger("before", "shutdown", lambda: state.update(stopping=True))
    try:
        process.start(stop_after_crawl=False)
    finally:
        if loop.running:
            loop.stop()
        frontier.leave(me)
    return result
