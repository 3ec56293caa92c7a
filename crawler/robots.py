"""robots.txt, obeyed as Scrapy does, plus a report of what it forbade.

Scrapy's RobotsTxtMiddleware only counts refusals (``robotstxt/forbidden``); an archivist needs to know
*which* articles a site keeps out of the archive, so this subclass also keeps their URLs for the crawl
summary and the ``crawls`` row.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.robotstxt import RobotParser

from crawler.session import session_for

__all__ = ["RobotsReport"]

#: How many blocked URLs a crawls row keeps (the count is always complete).
MAX_LISTED = 200


class RobotsReport(RobotsTxtMiddleware):
    """RobotsTxtMiddleware that remembers the URLs it refused, per crawl."""

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            blocked = session_for(self.crawler).robots_blocked
            if request.url not in blocked and len(blocked) < MAX_LISTED:
                blocked.append(request.url)
            raise
