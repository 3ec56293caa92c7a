"""Connecting to the cluster's Redis, with errors a user can act on."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from morgue.errors import MorgueError

__all__ = ["connect", "redact"]


def redact(url: str) -> str:
    """The URL without its password, for logs and warcinfo records."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect(url: str) -> Any:
    """A redis-py client for ``redis://HOST:PORT/DB`` (bytes replies: queued requests are binary)."""
    try:
        import redis
    except ImportError:  # pragma: no cover - depends on the install
        raise MorgueError("--cluster needs the redis and scrapy-redis packages: "
                          "pip install 'morgue[cluster]'") from None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise MorgueError(f"--cluster {url!r}: write a Redis URL such as redis://127.0.0.1:6379/0")
    try:
        client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10,
                                      retry_on_timeout=True)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise MorgueError(f"cannot reach Redis at {redact(url)}: {exc}") from None
    return client
