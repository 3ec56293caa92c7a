"""scrapy-redis's RFPDupeFilter on Scrapy 2.19: fingerprints from the crawler's request fingerprinter.

scrapy-redis 0.9.1 hashes its own JSON of (method, canonical URL, body), so requests that Scrapy's
fingerprinter (REQUEST_FINGERPRINTER_IMPLEMENTATION 2.7, ``REQUEST_FINGERPRINTER_CLASS``) tells apart or
merges would be judged differently in a cluster than on one machine. The seen-set is per site and outlives
a worker: ``close`` leaves it alone (scrapy-redis deletes it).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy_redis.dupefilter import RFPDupeFilter

__all__ = ["ClusterDupeFilter"]


class ClusterDupeFilter(RFPDupeFilter):
    def __init__(self, server: Any, key: str, fingerprinter: Any, debug: bool = False) -> None:
        super().__init__(server, key=key, debug=debug)
        self.fingerprinter = fingerprinter

    def request_fingerprint(self, request: Request) -> str:
        return self.fingerprinter.fingerprint(request).hex()

    def close(self, reason: str = "") -> None:
        """The cluster's seen-set is not this worker's to delete."""
