"""robots.txt, obeyed as Scrapy does, plus a report of what it forbade.

Scrapy's RobotsTxtMiddleware only counts refusals (``robotstxt/forbidden``); an archivist needs to know
*which* articles a site keeps out of the archive, so this subclass also keeps their URLs for the crawl
summary and the ``crawls`` row.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.robotstxt import RobotParser

from crawler.session import session_for

__all__ = ["RobotsReport", "RobotsOffsite", "note_blocked"]

#: How many blocked URLs a crawls row keeps (the count is always complete).
MAX_LISTED = 200


class RobotsOffsite:
    """Lets the robots.txt request of another host (a requisite's CDN) past the offsite filter.

    RobotsTxtMiddleware fetches a host's robots.txt when a request for that host reaches it, i.e. after
    that request passed OffsiteMiddleware (``allow_offsite``). Its own robots.txt request has no such
    flag, so for an offsite host it was dropped and Scrapy then treated the host as having no robots.txt:
    a CDN's Disallow lines went unread. Runs just before OffsiteMiddleware (50)."""

    def process_request(self, request: Request, spider: object = None) -> None:
        if request.meta.get("dont_obey_robotstxt") and request.url.endswith("/robots.txt"):
            request.meta.setdefault("allow_offsite", True)


class RobotsReport(RobotsTxtMiddleware):
    """RobotsTxtMiddleware that remembers the URLs it refused, per crawl."""

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        try:
            super().process_request_2(rp, request)
        except IgnoreRequest:
            note_blocked(self.crawler, request.url, requisite=request.meta.get("morgue_role") == "requisite")
            raise


def note_blocked(crawler: Crawler, url: str, *, requisite: bool) -> None:
    """One URL robots.txt kept out, for the summary and the ``crawls`` row (a requisite's listed apart:
    a CDN's robots.txt)."""
    session = session_for(crawler)
    blocked = session.robots_blocked
    if requisite:
        blocked = session.requisites_blocked
        session.count("requisites_blocked")
    if url not in blocked and len(blocked) < MAX_LISTED:
        blocked.append(url)
