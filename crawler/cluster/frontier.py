"""The cluster's shared state in Redis, per site: queue, seen-set, in-flight requests; seeds; heartbeats.

A request popped from a site's queue moves, in the same Lua script, into the popping worker's in-flight
hash. It leaves that hash only when the worker has finished it (archived, extracted, its links queued).
Every worker refreshes a heartbeat key with a TTL; a live worker moves the in-flight requests of a worker
whose heartbeat expired back into the queue (bypassing the seen-set, which already holds them).

Keys (all under ``morgue:``): ``seeds`` (hash site -> seed JSON), ``site:<s>:queue`` (zset, scrapy-redis's
PriorityQueue layout), ``site:<s>:seen`` (set of request fingerprints), ``site:<s>:inflight:<w>`` and
``site:<s>:inflight-score:<w>`` (hashes token -> request / priority score), ``site:<s>:holders`` (set of
workers with an in-flight hash), ``site:<s>:round`` (hash: the current round's ``id`` and ``started``),
``alive:<w>`` (heartbeat), ``workers`` (hash worker -> its process's start time), ``tokens`` (counter).

Whether a worker is dead is judged, for a worker on this machine, by its process (its pid runs and
started when the worker registered), and for one elsewhere by its heartbeat. A worker whose reactor is
held up (a long extraction, a machine under load) keeps its requests on its own machine however late its
heartbeat is, so a request is fetched twice only when its worker really died, or when a worker elsewhere
stayed silent for the whole TTL.

A round is one crawl of a site by the cluster, from the enqueue that finds the site idle to the last
request done: its id goes into the workers' warcinfo records, and the indexer keeps a ``crawls`` row per
round (archive.rounds).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.warc_writer import file_host
from morgue.seeds import Seed

__all__ = ["Frontier", "worker_id", "seed_to_json", "seed_from_json", "PREFIX"]

PREFIX = "morgue:"

_POP = """
local r = redis.call('ZPOPMIN', KEYS[1])
if #r == 0 then return false end
local token = tostring(redis.call('INCR', KEYS[5]))
redis.call('HSET', KEYS[2], token, r[1])
redis.call('HSET', KEYS[3], token, r[2])
redis.call('SADD', KEYS[4], ARGV[1])
return {token, r[1]}
"""

# Move a worker's in-flight requests back to the queue, unless its heartbeat is alive (ARGV[2] == '1'
# forces it: the worker itself hands its work back when it stops).
_REQUEUE = """
if ARGV[2] ~= '1' and redis.call('EXISTS', KEYS[5]) == 1 then return -1 end
local data = redis.call('HGETALL', KEYS[2])
local n = 0
for i = 1, #data, 2 do
  local score = redis.call('HGET', KEYS[3], data[i]) or '0'
  redis.call('ZADD', KEYS[1], score, data[i + 1])
  n = n + 1
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
return n
"""

# Work left for a site: queued requests plus every worker's in-flight ones.
_PENDING = """
local n = redis.call('ZCARD', KEYS[1])
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  n = n + redis.call('HLEN', ARGV[1] .. w)
end
return n
"""


def worker_id() -> str:
    """``host-pid``, as the worker's WARC file names end (see archive.warc_writer.file_host)."""
    return f"{file_host()}-{os.getpid()}"


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc: a later process that reuses the
    pid has another), "" where there is no /proc but the pid runs, None when no such process runs (a
    zombie, killed but not yet waited for by its parent, runs no more)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""
        return ""
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # from field 3, the state
    return None if fields[0] in ("Z", "X") else fields[19]  # field 22, starttime


def local_pid(worker: str) -> int | None:
    """The pid of a worker named by ``worker_id`` on this machine; None for one elsewhere."""
    host, _, pid = worker.rpartition("-")
    return int(pid) if host == file_host() and pid.isdigit() else None


def seed_to_json(seed: Seed) -> str:
    data = asdict(seed)
    for key, value in data.items():
        if isinstance(value, timedelta):
            data[key] = {"seconds": value.total_seconds()}
        elif isinstance(value, datetime):
            data[key] = {"datetime": value.isoformat()}
    return json.dumps(data, sort_keys=True)


def seed_from_json(text: str | bytes) -> Seed:
    data = json.loads(text)
    known = {f.name for f in fields(Seed)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            continue
        if isinstance(value, dict) and set(value) == {"seconds"}:
            value = timedelta(seconds=value["seconds"])
        elif isinstance(value, dict) and set(value) == {"datetime"}:
            value = datetime.fromisoformat(value["datetime"])
        values[key] = value
    return Seed(**values)


class Frontier:
    """One Redis connection's view of the cluster (plain redis-py calls; Scrapy-free)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._pop = server.register_script(_POP)
        self._requeue = server.register_script(_REQUEUE)
        self._pending = server.register_script(_PENDING)

    # -- keys -----------------------------------------------------------------------------------------
    @staticmethod
    def queue_key(site: str) -> str:
        return f"{PREFIX}site:{site}:queue"

    @staticmethod
    def seen_key(site: str) -> str:
        return f"{PREFIX}site:{site}:seen"

    @staticmethod
    def inflight_key(site: str, worker: str) -> str:
        return f"{PREFIX}site:{site}:inflight:{worker}"

    @staticmethod
    def score_key(site: str, worker: str) -> str:
        return f"{PREFIX}site:{site}:inflight-score:{worker}"

    @staticmethod
    def holders_key(site: str) -> str:
        return f"{PREFIX}site:{site}:holders"

    @staticmethod
    def alive_key(worker: str) -> str:
        return f"{PREFIX}alive:{worker}"

    # -- seeds ----------------------------------------------------------------------------------------
    def put_seed(self, seed: Seed) -> None:
        self.server.hset(f"{PREFIX}seeds", seed.name, seed_to_json(seed))

    def seeds(self) -> dict[str, Seed]:
        raw = self.server.hgetall(f"{PREFIX}seeds")
        return {k.decode(): seed_from_json(v) for k, v in raw.items()}

    # -- the queue ------------------------------------------------------------------------------------
    def pop(self, site: str, worker: str) -> tuple[str, bytes] | None:
        """The best-priority request of a site, now in ``worker``'s in-flight hash: (token, data)."""
        result = self._pop(keys=[self.queue_key(site), self.inflight_key(site, worker),
                                 self.score_key(site, worker), self.holders_key(site), f"{PREFIX}tokens"],
                           args=[worker])
        if not result:
            return None
        token, data = result
        return token.decode(), data

    def ack(self, site: str, worker: str, token: str) -> None:
        """A request is finished: it leaves the in-flight hash for good."""
        pipe = self.server.pipeline()
        pipe.hdel(self.inflight_key(site, worker), token)
        pipe.hdel(self.score_key(site, worker), token)
        pipe.execute()

    def queued(self, site: str) -> int:
        return int(self.server.zcard(self.queue_key(site)))

    def pending(self, site: str) -> int:
        """Queued plus in flight anywhere in the cluster (a dead worker's count until it is requeued)."""
        return int(self._pending(keys=[self.queue_key(site), self.holders_key(site)],
                                 args=[f"{PREFIX}site:{site}:inflight:"]))

    def requeue(self, site: str, worker: str, *, force: bool = False) -> int:
        """Move ``worker``'s in-flight requests back to the queue if its heartbeat expired (or ``force``);
        returns how many, or -1 when the worker is alive."""
        return int(self._requeue(keys=[self.queue_key(site), self.inflight_key(site, worker),
                                       self.score_key(site, worker), self.holders_key(site),
                                       self.alive_key(worker)], args=[worker, "1" if force else "0"]))

    def reap(self, site: str) -> dict[str, int]:
        """Requeue the in-flight requests of every dead worker of a site: {worker: requests requeued}."""
        done: dict[str, int] = {}
        for raw in self.server.smembers(self.holders_key(site)):
            worker = raw.decode()
            local = self.runs_here(worker)
            if local is True:
                continue  # its process runs: late heartbeats are a busy reactor, not a death
            n = self.requeue(site, worker, force=local is False)
            if n >= 0:
                done[worker] = n
                self.server.hdel(f"{PREFIX}workers", worker)
        return done

    def runs_here(self, worker: str) -> bool | None:
        """Whether a worker of this machine still runs: its pid is alive and is the process that
        registered (``heartbeat``); None for a worker elsewhere, judged by its heartbeat."""
        pid = local_pid(worker)
        if pid is None:
            return None
        started = process_start(pid)
        if started is None:
            return False
        recorded = self.server.hget(f"{PREFIX}workers", worker)
        return recorded is None or recorded.decode() == started

    @staticmethod
    def round_key(site: str) -> str:
        return f"{PREFIX}site:{site}:round"

    def start_round(self, site: str) -> bool:
        """Forget what a finished crawl of the site saw, so a new crawl (a schedule's next run) fetches
        again, and give that crawl a new round id; a no-op while the site still has work queued or in
        flight. True if a new round started."""
        if self.pending(site) == 0:
            now = datetime.now(UTC)
            round_id = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
            pipe = self.server.pipeline()
            pipe.delete(self.seen_key(site), self.round_key(site))
            pipe.hset(self.round_key(site), mapping={"id": round_id,
                                                     "started": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
            pipe.execute()
            return True
        return False

    def current_round(self, site: str) -> tuple[str, str] | None:
        """The site's current round: (id, start time), or None before its first enqueue by this morgue."""
        raw = self.server.hgetall(self.round_key(site))
        if b"id" not in raw:
            return None
        return raw[b"id"].decode(), raw.get(b"started", b"").decode()

    def add(self, site: str, fingerprint: str, data: bytes, priority: int, *,
            dont_filter: bool = False) -> bool:
        """Queue one encoded request unless its fingerprint was seen (the dupefilter's SADD test)."""
        if not dont_filter and not self.server.sadd(self.seen_key(site), fingerprint):
            return False
        self.enqueue(site, data, priority)
        return True

    def enqueue(self, site: str, data: bytes, priority: int) -> None:
        """Queue one encoded request, unfiltered: scrapy-redis's sorted-set layout (score -priority, so
        that the lowest score, the highest priority, pops first)."""
        self.server.zadd(self.queue_key(site), {data: -priority})

    # -- workers --------------------------------------------------------------------------------------
    def heartbeat(self, worker: str, ttl: float) -> None:
        pipe = self.server.pipeline()
        pipe.set(self.alive_key(worker), "1", px=max(1, int(ttl * 1000)))
        pid = local_pid(worker)
        if pid == os.getpid():  # this process: registered with its start time (see runs_here)
            pipe.hset(f"{PREFIX}workers", worker, process_start(pid) or "")
        pipe.execute()

    def alive(self, worker: str) -> bool:
        return bool(self.server.exists(self.alive_key(worker)))

    def leave(self, worker: str) -> None:
        self.server.delete(self.alive_key(worker))
        self.server.hdel(f"{PREFIX}workers", worker)
