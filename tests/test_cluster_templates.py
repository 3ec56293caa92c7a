"""Site templates shared by cluster workers through a real Redis: the first worker to learn a version
publishes it, a worker that learned at the same moment adopts it, every worker archives a version once
before naming it, and an expired version is learned again under the next number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crawler.cluster.connection import connect
from crawler.cluster.templates import SharedTemplate, WorkerTemplates, template_key
from extract.article import extract_article
from tests.conftest import REPO
from tests.redis_fixture import redis_server_fixture  # noqa: F401 - the redis_url fixture

DEMO = REPO / "morgue" / "demo_site"


def _pages() -> list[tuple[bytes, str]]:
    """The demo site's articles: one publisher's template."""
    return [(p.read_bytes().replace(b"{{BASE}}", b""), f"http://demo.test/{p.relative_to(DEMO)}")
            for p in sorted(DEMO.glob("*/20*/*/*.html"))]


def _teach(worker: WorkerTemplates, pages: list[tuple[bytes, str]]) -> Any:
    """Extract pages as a worker does (through the template it has, teaching while it has none)."""
    learned = None
    for html, url in pages:
        template = worker.template_dict()
        result = extract_article(html, url, template=worker.template, learn=worker.learner.wants())
        assert result is not None
        extraction = result.to_dict()
        learned = worker.observe(extraction) or learned
        if template is not None:
            assert extraction.get("template") or extraction.get("fallback")
    return learned


def test_two_workers_learning_at_once_end_up_with_one_version(redis_url: str) -> None:
    server = connect(redis_url)
    pages = _pages()
    first = WorkerTemplates(SharedTemplate(server, "demo"))
    second = WorkerTemplates(SharedTemplate(server, "demo"))
    assert first.template_dict() is None and second.template_dict() is None  # both start learning
    won = _teach(first, pages[:6])
    assert won is not None and won.version == 1
    # the second learned from other pages without looking again in between: its version loses
    second.shared._seen = (float("inf"), None, 0)  # its last look said: no template yet
    assert _teach(second, pages[6:12]) is None
    assert second.template is not None
    assert second.template.to_dict() == first.template.to_dict()  # the first one's, adopted
    assert second.learner.learned_now == []  # its own never becomes a version anywhere
    assert second.template_dict() == first.template_dict()
    # each worker archives a version once, before the first extraction that names it
    assert second.to_archive(second.template_dict()) is not None
    assert second.to_archive(second.template_dict()) is None
    assert second.to_archive(None) is None
    # a third worker starting later takes the site's version as it is
    third = WorkerTemplates(SharedTemplate(server, "demo"))
    assert third.template_dict() == first.template_dict()


def test_an_expired_version_is_learned_again_under_the_next_number(redis_url: str) -> None:
    server = connect(redis_url)
    pages = _pages()
    worker = WorkerTemplates(SharedTemplate(server, "demo", first_version=4))  # the index holds v1-v3
    assert _teach(worker, pages[:6]).version == 4
    server.hset(template_key("demo"), "learned_at", "2020-01-01T00:00:00+00:00")
    later = WorkerTemplates(SharedTemplate(server, "demo"))
    assert later.template_dict() is None  # expired: the site's current pages teach
    assert _teach(later, pages[:6]).version == 5
    assert int(server.hget(template_key("demo"), "version")) == 5


def test_an_unreadable_shared_template_is_learned_again(redis_url: str, tmp_path: Path) -> None:
    server = connect(redis_url)
    server.hset(template_key("demo"), mapping={"version": "2", "template": "{not json",
                                                "learned_at": "2026-01-01T00:00:00+00:00"})
    worker = WorkerTemplates(SharedTemplate(server, "demo"))
    assert worker.template_dict() is None
    assert _teach(worker, _pages()[:6]).version == 3
