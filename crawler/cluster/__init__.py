"""Scale-out crawling on scrapy-redis: a shared frontier in Redis, many crawl workers, one indexer.

- ``frontier``: the Redis keys of a site's queue, seen-set and per-worker in-flight hashes, with the Lua
  scripts that move a request atomically between them (so a worker that dies loses nothing).
- ``scheduler`` / ``dupefilter``: scrapy-redis's Scheduler and RFPDupeFilter, subclassed for Scrapy 2.19
  (the crawler's request fingerprinter, per-site keys, acknowledgement when the engine finishes a request).
- ``politeness``: per-host concurrency and delay enforced in Redis, across every worker.
- ``worker``: the supervisor that runs one Scrapy crawler per site with queued work; ``enqueue_seeds``.
- ``indexer``: ``morgue index [--follow]``, the single writer of the SQLite index (no Scrapy, no Redis).
"""
