"""The frontier's Redis scripts against a real redis-server: pop into in-flight, ack, requeue the dead."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crawler.cluster.connection import connect
from crawler.cluster.frontier import Frontier, seed_from_json, seed_to_json, worker_id
from crawler.cluster.indexer import writer_of
from morgue.seeds import Seed
from tests.conftest import REPO
from tests.redis_fixture import redis_server_fixture  # noqa: F401 - the redis_url fixture


def test_pop_moves_to_in_flight_and_dead_workers_work_is_requeued(redis_url: str) -> None:
    f = Frontier(connect(redis_url))
    assert f.add("s", "fp1", b"req-1", 5)
    assert f.add("s", "fp2", b"req-2", 1)
    assert not f.add("s", "fp1", b"req-1-again", 5)  # seen
    token, data = f.pop("s", "w1")  # type: ignore[misc]
    assert data == b"req-1"  # best priority first
    assert f.queued("s") == 1 and f.pending("s") == 2
    f.heartbeat("w1", 30)
    assert f.reap("s") == {}  # alive: nothing moves
    f.server.delete(f.alive_key("w1"))  # the heartbeat expired
    assert f.reap("s") == {"w1": 1}
    assert f.queued("s") == 2 and f.pending("s") == 2
    token, data = f.pop("s", "w2")  # type: ignore[misc]
    assert data == b"req-1"  # requeued with its priority
    f.ack("s", "w2", token)
    assert f.pending("s") == 1
    assert not f.start_round("s")  # work left: the seen-set stays
    f.pop("s", "w2")
    assert f.requeue("s", "w2", force=True) == 1


_REGISTER = """
import sys
from crawler.cluster.connection import connect
from crawler.cluster.frontier import Frontier, worker_id
Frontier(connect(sys.argv[1])).heartbeat(worker_id(), 0.3)
print(worker_id(), flush=True)
sys.stdin.read()
"""


def test_a_worker_of_this_machine_is_judged_by_its_process_not_its_heartbeat(redis_url: str) -> None:
    """A worker whose heartbeat is late while its process runs (a reactor held up by extraction, a loaded
    machine) keeps its requests; one whose process is gone (even before it was waited for) loses them at
    once, whatever its heartbeat says; a process that merely reuses a dead worker's pid is not it."""
    f = Frontier(connect(redis_url))
    other = subprocess.Popen([sys.executable, "-c", _REGISTER, redis_url], cwd=REPO, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert other.stdout is not None
        worker = other.stdout.readline().strip()
        assert worker.endswith(f"-{other.pid}")
        f.add("s", "fp1", b"req-1", 1)
        assert f.pop("s", worker) is not None
        while f.alive(worker):  # the 0.3 s heartbeat expires; the process goes on
            time.sleep(0.05)
        assert f.reap("s") == {}
        assert f.pending("s") == 1 and f.queued("s") == 0
        f.heartbeat(worker, 30)  # a heartbeat in Redis says nothing once the process is gone
        other.kill()
        while Path(f"/proc/{other.pid}/stat").exists() and "Z" not in _state(other.pid):
            time.sleep(0.05)
        assert f.reap("s") == {worker: 1}  # not yet waited for (a zombie): dead all the same
        assert f.queued("s") == 1
    finally:
        other.kill()
        other.wait()
    me = worker_id()
    f.server.hset("morgue:workers", me, "1")  # a worker that started at boot and died: this pid is reused
    assert f.pop("s", me) is not None
    assert f.reap("s") == {me: 1}
    f.heartbeat(me, 30)
    assert f.pop("s", me) is not None
    f.server.delete(f.alive_key(me))
    assert f.reap("s") == {}  # registered by this very process: alive


def test_the_indexer_takes_a_killed_writer_for_dead_before_it_is_waited_for() -> None:
    """An .open file's writer on this machine is dead once its process is (a zombie included), so the
    indexer finishes its file; a writer elsewhere is unknown here (the heartbeat decides)."""
    from archive.warc_writer import file_host
    from crawler.cluster.indexer import default_alive

    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert default_alive(file_host(), other.pid) is True
        other.kill()
        while Path(f"/proc/{other.pid}/stat").exists() and "Z" not in _state(other.pid):
            time.sleep(0.05)
        assert default_alive(file_host(), other.pid) is False
    finally:
        other.wait()
    assert default_alive(file_host(), other.pid) is False
    assert default_alive("elsewhere", other.pid) is None


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_seed_round_trip_and_writer_names() -> None:
    seed = Seed(name="x", sitemaps=["https://e.example/s.xml"], every=timedelta(hours=2),
                since=datetime(2026, 1, 2, tzinfo=UTC), extract={"drop": [".ad"]})
    assert seed_from_json(seed_to_json(seed)) == seed
    assert writer_of("morgue-20261129012123982-00001-vm_1-16935.warc.gz.open") == ("vm_1", 16935)
    assert writer_of("other.warc.gz") is None


class QueryBlindFingerprinter:
    """A custom fingerprinter (REQUEST_FINGERPRINTER_CLASS) that ignores query strings."""

    def fingerprint(self, request: Any) -> bytes:
        return hashlib.sha1(request.url.split("?")[0].encode()).digest()


def test_enqueued_start_requests_are_fingerprinted_as_the_workers_do(tmp_path: Path, redis_url: str) -> None:
    """The seen-set must hold what the workers' dupefilter computes, or a custom fingerprinter makes the
    workers fetch every start URL a second time."""
    from scrapy import Request

    from crawler.cluster.worker import enqueue_seeds

    seed = Seed(name="blind", sitemaps=["http://127.0.0.1:9/sitemap.xml?from=feed"])
    overrides = {"REQUEST_FINGERPRINTER_CLASS": f"{__name__}.QueryBlindFingerprinter"}
    [result] = enqueue_seeds(redis_url, [seed], tmp_path, overrides)
    assert result.queued == 1
    seen = Frontier(connect(redis_url)).server.smembers(Frontier.seen_key("blind"))
    expected = QueryBlindFingerprinter().fingerprint(Request("http://127.0.0.1:9/sitemap.xml")).hex()
    assert {m.decode() if isinstance(m, bytes) else m for m in seen} == {expected}


def test_several_seeds_are_enqueued_in_one_call(tmp_path: Path, redis_url: str) -> None:
    """run-due --cluster queues every due site at once (the index is read once for all of them)."""
    from crawler.cluster.worker import enqueue_seeds

    seeds = [Seed(name=name, sitemaps=[f"http://127.0.0.1:9/{name}.xml"]) for name in ("one", "two", "three")]
    results = enqueue_seeds(redis_url, seeds, tmp_path)
    assert [(r.site, r.queued) for r in results] == [("one", 1), ("two", 1), ("three", 1)]
    frontier = Frontier(connect(redis_url))
    assert {s: frontier.queued(s) for s in ("one", "two", "three")} == {"one": 1, "two": 1, "three": 1}
