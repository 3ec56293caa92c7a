"""scrapy-redis's PriorityQueue made reliable: a pop moves the request into this worker's in-flight hash.

scrapy-redis pops with ZRANGE+ZREMRANGEBYRANK, so a worker killed between the pop and the archive loses
the request. Here ``pop`` is one Lua script (``Frontier.pop``) and the token it returns rides in the
request's meta until the scheduler acknowledges it (``ClusterScheduler``).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy_redis.queue import PriorityQueue

from crawler.cluster.frontier import Frontier

__all__ = ["ReliableQueue", "TOKEN_META"]

TOKEN_META = "morgue_cluster_token"


class ReliableQueue(PriorityQueue):
    """One site's share of the frontier, as seen by one worker."""

    def __init__(self, server: Any, spider: Any, key: str, serializer: Any = None, *,
                 site: str, worker: str) -> None:
        super().__init__(server, spider, key, serializer)
        self.site = site
        self.worker = worker
        self.frontier = Frontier(server)

    def encode(self, request: Request) -> bytes:
        """The request as queued: without this worker's in-flight token (a redirect or retry copies the
        meta of the request it replaces; the copy gets its own token when popped)."""
        token = request.meta.pop(TOKEN_META, None)
        try:
            return self._encode_request(request)
        finally:
            if token is not None:
                request.meta[TOKEN_META] = token

    def push(self, request: Request) -> None:
        self.frontier.enqueue(self.site, self.encode(request), request.priority)

    def pop(self, timeout: int = 0) -> Request | None:
        popped = self.frontier.pop(self.site, self.worker)
        if popped is None:
            return None
        token, data = popped
        request = self._decode_request(data)
        request.meta[TOKEN_META] = token
        return request

    def ack(self, token: str) -> None:
        self.frontier.ack(self.site, self.worker, token)
