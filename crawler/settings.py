"""Default Scrapy settings for archiving crawls: polite, no HTTP cache, every exchange to WARC."""

from __future__ import annotations

from archive.ingest import MAX_EXTRACT_BYTES
from morgue import __version__

BOT_NAME = "morgue"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Politeness: identify ourselves, obey robots.txt, adapt to the server, back off on errors.
# USER_AGENT is rebuilt from MORGUE_CONTACT_URL (crawler.runner.crawl_settings) unless set explicitly:
# operators should point it at a page saying who runs the archive and how to reach them.
MORGUE_CONTACT_URL = "https://github.com/morgue-archive/morgue"
USER_AGENT = f"morgue/{__version__} (+{MORGUE_CONTACT_URL})"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
DOWNLOAD_TIMEOUT = 60
DOWNLOAD_MAXSIZE = 64 * 1024 * 1024
DOWNLOAD_WARNSIZE = 16 * 1024 * 1024
REDIRECT_MAX_TIMES = 10
# A body shorter than its Content-Length is archived as received (flagged "dataloss", noted as truncated
# in the capture row, not extracted) instead of being dropped unseen.
DOWNLOAD_FAIL_ON_DATALOSS = False
# Failures named by kind for the crawl summary (crawler/faults.py): Scrapy's decompression and redirect
# middlewares replaced by subclasses at the same places, a reporter next to the engine (after retries).
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.faults.ReportingHttpCompression": 590,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.faults.ReportingRedirect": 600,
    "crawler.faults.FaultReport": 50,
}

# Pages served from a cache never reach the downloader, so they would never be archived.
HTTPCACHE_ENABLED = False
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # needs the asyncio reactor (see TWISTED_REACTOR); it warned on every crawl
LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
# Twisted's default reactor (epoll on Linux), not Scrapy's asyncio default: measured on loopback with 200 KB
# pages, the asyncio reactor adds ~16 ms to every download (17.6 ms vs 1.2 ms median latency), which at 2
# requests per host capped a crawl at ~15 pages/s. Nothing in morgue needs asyncio.
TWISTED_REACTOR = None

ADDONS = {"crawler.addon.MorgueAddon": 0}

# Per-response costs of Scrapy's that a crawl of many small responses (a page's requisites) pays for nothing
# (benchmarks/bench_crawl.py --requisites; cProfile of the crawl process): CONCURRENT_ITEMS (100) starts that
# many cooperative tasks for every response, though a callback here yields one item or a few requests; the
# generator-return check re-parses a callback's source with ast whenever its bound-method cache misses
# (every response: a new bound method each time); DownloaderStats serializes every request and response to
# count their bytes (stats nothing in morgue reads).
CONCURRENT_ITEMS = 4
WARN_ON_GENERATOR_RETURN_VALUE = False
DOWNLOADER_STATS = False
# Scrapy's default disk queue, naming each request's callback without inspecting the whole spider each time.
SCHEDULER_DISK_QUEUE = "crawler.queues.PickleLifoDiskQueue"

# morgue's own settings (see crawler/addon.py for the components they configure).
MORGUE_DATA = "morgue-data"
MORGUE_WARC_ENABLED = True
MORGUE_WARC_MAX_SIZE = 1_000_000_000
MORGUE_WARC_PREFIX = "morgue"
MORGUE_WARC_GZIP_LEVEL = 4  # zlib level per record: 4 is ~45% cheaper than 6 for ~5% more disk (9: warcio's)
MORGUE_OPERATOR = ""
MORGUE_EXTRACT_WORKERS = None  # None: one per CPU core; 0: extract in the crawling process
MORGUE_EXTRACT_TASKS_PER_WORKER = 0  # >0: a fresh worker pool after this many pages per worker; 0: never
# Pages larger than this (decoded HTML bytes) are archived but not extracted ("too_large").
MORGUE_EXTRACT_MAX_BYTES = MAX_EXTRACT_BYTES  # 8 MiB, as reindex and import use
MORGUE_PROGRESS_INTERVAL = 5.0
# Page requisites (crawler/requisites.py; which pages: the seed's `requisites`): at most this many per page
# or style sheet, each at most MAX_SIZE bytes (larger ones are not archived, and reported), @import and
# url() followed this many style sheets deep.
MORGUE_REQUISITES_PER_PAGE = 150
MORGUE_REQUISITES_MAX_SIZE = 10 * 1024 * 1024
MORGUE_REQUISITES_DEPTH = 3
# Connections per host for requisites, in a download slot of their own beside the pages' (0: as many as
# CONCURRENT_REQUESTS_PER_DOMAIN); a browser opens up to 6 per host for a page's requisites.
MORGUE_REQUISITES_CONCURRENCY = 6
# Who fetches requisites: "process", a fetcher process of its own on kept-alive connections
# (crawler/requisite_fetcher.py: ~1 CPU-ms each against ~6 in Scrapy's path, measured by
# benchmarks/bench_crawl.py --requisites), handing redirects, retried statuses and truncated bodies back to
# Scrapy; or "scrapy", every one through Scrapy's downloader. Cluster workers always use Scrapy's.
MORGUE_REQUISITES_FETCHER = "process"
# Per-host back-off on 429/5xx (crawler/backoff.py): delay doubles from BASE up to MAX, honours Retry-After.
MORGUE_BACKOFF_ENABLED = True
MORGUE_BACKOFF_BASE = 1.0
MORGUE_BACKOFF_MAX = 120.0
# Child sitemaps whose lastmod in their index shows they hold nothing the crawl wants are not fetched
# (crawler/lastmod.py); the margin (seconds) allows for date-only lastmods, missing zones and clock skew.
# False: every child is fetched (the behaviour before lastmods were read; benchmarks/bench_sitemaps.py).
MORGUE_SITEMAP_LASTMOD = True
MORGUE_SITEMAP_LASTMOD_MARGIN = 2 * 86400
# Resumable crawls: Scrapy's JOBDIR under DATA/jobs/<site>/, kept when a crawl is interrupted.
MORGUE_RESUME = True
# Off in cluster workers: they write WARC files only and `morgue index` files them (crawler/cluster/).
MORGUE_INDEX_ENABLED = True
# Cluster workers (crawler/cluster/, `morgue worker --cluster`): seconds without work anywhere in the
# cluster before a worker ends, heartbeat TTL (a worker silent this long is dead and its in-flight
# requests are requeued), how often an idle crawler looks at the shared queue. The per-host limits
# MORGUE_CLUSTER_HOST_CONCURRENCY / MORGUE_CLUSTER_HOST_DELAY default to CONCURRENT_REQUESTS_PER_DOMAIN
# and DOWNLOAD_DELAY, enforced across all workers.
MORGUE_CLUSTER_URL = None
MORGUE_CLUSTER_IDLE = 10.0
MORGUE_CLUSTER_HEARTBEAT = 30.0
MORGUE_CLUSTER_POLL = 0.5
# A cluster worker closes its WARC file after this many seconds open (0: only at MORGUE_WARC_MAX_SIZE and
# at the end), so that `morgue index --follow` files its pages this soon after they were fetched.
MORGUE_CLUSTER_WARC_MAX_AGE = 30.0
MORGUE_CLUSTER_POLITENESS_ENABLED = True
MORGUE_CLUSTER_HOST_POLL = 0.02
MORGUE_CLUSTER_LEASE_HEADER = False  # send X-Morgue-Lease-Granted (for checking politeness in tests)
