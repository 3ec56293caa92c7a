"""When each site is due: its seed's ``every``, its last run in the ``crawls`` table, and saved crawl state.

``morgue schedule`` shows this plan and ``morgue run-due`` runs what it says is due, once, for cron or a
systemd timer. The rules:

- a site never crawled is due now;
- a site whose last run was interrupted and left a saved job (``DATA/jobs/<site>/``) is due now, so the
  crawl resumes;
- otherwise a site is due ``every`` after its last run *started* (so a slow crawl does not drift the
  schedule), whatever that run's result: a site that is down is retried at its normal pace, not hammered.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from morgue.seeds import Seed

__all__ = ["SitePlan", "last_runs", "plan", "parse_stamp", "job_dir", "has_saved_job"]


def job_dir(data_dir: Path, site: str) -> Path:
    """Where Scrapy keeps a site's pending requests and seen fingerprints (JOBDIR) between runs."""
    return data_dir / "jobs" / site


def has_saved_job(data_dir: Path, site: str) -> bool:
    """Whether an interrupted crawl of ``site`` left state to resume from."""
    return (job_dir(data_dir, site) / "requests.seen").exists()


def parse_stamp(text: str | None) -> datetime | None:
    """A ``crawls`` timestamp (``2026-11-29T10:00:00Z``) as an aware datetime."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class SitePlan:
    """One site's place in the schedule."""

    seed: Seed
    last: dict[str, Any] | None
    next_due: datetime
    due: bool
    resumable: bool

    @property
    def last_started(self) -> datetime | None:
        return parse_stamp(self.last.get("started_at")) if self.last else None

    @property
    def result(self) -> str:
        if not self.last:
            return "never run"
        if not self.last.get("finished_at"):
            return "running or crashed"
        return str(self.last.get("status") or "?")

    def to_dict(self) -> dict[str, Any]:
        from morgue.durations import format_duration

        last = dict(self.last) if self.last else None
        return {"site": self.seed.name, "every": format_duration(self.seed.every), "last_run": last,
                "result": self.result, "next_due": self.next_due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "due": self.due, "resumable": self.resumable}


def last_runs(db_path: Path) -> dict[str, dict[str, Any]]:
    """The latest ``crawls`` row of every site (empty if there is no index yet)."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT * FROM crawls WHERE id IN (SELECT max(id) FROM crawls GROUP BY site)").fetchall()
    except sqlite3.OperationalError:  # an index created before any crawl table existed
        return {}
    finally:
        conn.close()
    return {row["site"]: dict(row) for row in rows}


def plan(seeds: list[Seed], data_dir: Path, now: datetime | None = None) -> list[SitePlan]:
    """Every seed's schedule, in seed order."""
    now = now or datetime.now(UTC)
    runs = last_runs(data_dir / "morgue.db")
    plans = []
    for seed in seeds:
        last = runs.get(seed.name)
        started = parse_stamp(last.get("started_at")) if last else None
        resumable = has_saved_job(data_dir, seed.name)
        if started is None or resumable:
            next_due = now if started is None else min(now, started + seed.every)
        else:
            next_due = started + seed.every
        plans.append(SitePlan(seed=seed, last=last, next_due=next_due, due=next_due <= now,
                              resumable=resumable))
    return plans
