"""Scrapy's pickle disk queue (the JOBDIR a resumable crawl keeps), without its per-request cost of naming
the callback: ``Request.to_dict(spider=...)`` finds a callback's name by ``inspect.getmembers`` over the
whole spider, for the callback and again for the errback of every request pushed (a cProfile of a crawl
with page requisites, 3-4 requests per article: ~0.3 ms a request). Here the spider's methods that
requests name are looked up once each; the dict pushed is the one Scrapy builds, so a saved queue reads
back with Scrapy's own ``request_from_dict`` as before.
"""

from __future__ import annotations

from scrapy import Request, squeues
from scrapy.crawler import Crawler

__all__ = ["PickleLifoDiskQueue"]


class _Callbacks:
    """Stands in for the spider in ``Request.to_dict``: only the spider's methods that requests pushed so
    far name, so that Scrapy's look-up walks a handful of attributes, not the spider's every member."""


class PickleLifoDiskQueue(squeues.PickleLifoDiskQueue):  # type: ignore[valid-type, misc]
    """``scrapy.squeues.PickleLifoDiskQueue`` (Scrapy's default) with the callback names cached."""

    def __init__(self, crawler: Crawler, key: str) -> None:
        super().__init__(crawler, key)
        self._callbacks = _Callbacks()

    def push(self, request: Request) -> None:
        try:
            request_dict = request.to_dict(spider=self._callbacks)  # type: ignore[arg-type]
        except ValueError:  # a method not seen yet: Scrapy's own look-up, then remember its name
            request_dict = request.to_dict(spider=self.spider)
            for key in ("callback", "errback"):
                name = request_dict.get(key)
                if isinstance(name, str):
                    setattr(self._callbacks, name, getattr(self.spider, name))
        # past ScrapyRequestQueue.push (which would build the dict again) to the serializing push
        super(squeues.PickleLifoDiskQueue, self).push(request_dict)
