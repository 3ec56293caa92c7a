"""Cluster rounds as ``crawls`` rows, so that a site crawled by a cluster shows in ``schedule``, the reading
room and the crawl history like any other.

A round is one crawl of a site by the cluster (crawler.cluster.frontier gives it an id when the site is
queued). Its workers name the round in their warcinfo records (``morgue-round``, ``morgue-round-started``)
and, when their part ends, write what only they know — pages fetched, errors by kind, robots.txt refusals,
unchanged payloads — as a ``metadata`` record (``ROUND_SUMMARY_CONTENT_TYPE``). Filing WARC files
(``archive.ingest``) opens the round's row and extends it with the captures and articles filed and with
each worker's summary, once per summary record; so ``morgue index`` fills the row as files arrive, and
``reindex`` rebuilds it from the WARC files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from archive.index import Index

__all__ = ["ROUND_SUMMARY_CONTENT_TYPE", "RoundTally", "round_crawl_id", "summary_block", "extend_rounds",
           "reset_rounds", "IN_PROGRESS"]

ROUND_SUMMARY_CONTENT_TYPE = "application/vnd.morgue.crawl-summary+json"
#: A round's status until a worker's summary says how its part ended.
IN_PROGRESS = "in progress"
#: Counts a worker's summary adds to its round's row.
_SUMMED = ("pages", "unchanged", "not_modified", "discovery_not_modified", "skipped_known", "rechecked",
           "skipped_before_since", "robots_blocked")
_FILED = ("captures", "new_articles", "new_versions")
_OUTCOME_COLUMN = {"new": "new_articles", "version": "new_versions", "unchanged": "unchanged"}
_MAX_BLOCKED_URLS = 100


def _stamp(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_block(summary: Mapping[str, Any], *, site: str, round_id: str, worker: str,
                  finished: datetime | None) -> bytes:
    """The JSON block of a worker's round summary (its crawl summary, as ``close_session`` makes it)."""
    return json.dumps({"site": site, "round": round_id, "worker": worker,
                       "finished_at": _stamp(finished or datetime.now(UTC)), **summary},
                      default=str).encode("utf-8")


@dataclass
class RoundTally:
    """What one filing pass adds to a round's row."""

    crawl_id: int
    counts: dict[str, int] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # record id -> worker summary

    def add(self, column: str, n: int = 1) -> None:
        self.counts[column] = self.counts.get(column, 0) + n

    def outcome(self, outcome: str) -> None:
        if outcome in _OUTCOME_COLUMN:
            self.add(_OUTCOME_COLUMN[outcome])

    def summary(self, record_id: str, block: bytes) -> str | None:
        """Keep a worker's summary record; the problem, if it does not parse."""
        try:
            data = json.loads(block)
        except (ValueError, UnicodeDecodeError) as exc:
            return f"round summary {record_id} is not JSON: {exc}"
        if not isinstance(data, dict):
            return f"round summary {record_id} is not a JSON object"
        self.summaries[record_id] = data
        return None


def round_crawl_id(index: Index, round_id: str, site: str | None, started: str | None) -> int:
    """The ``crawls`` row of a cluster round, opened on first sight."""
    rows = list(index.db.query("SELECT id FROM crawls WHERE cluster_round = ?", [round_id]))
    if rows:
        return int(rows[0]["id"])
    index.commit()
    row_id = index.db["crawls"].insert({
        "site": site, "started_at": started or None, "status": IN_PROGRESS, "cluster_round": round_id,
        "note": "a cluster round: filed by morgue index from the workers' WARC files",
        **dict.fromkeys((*_SUMMED, *_FILED, "errors"), 0)}).last_pk
    return int(row_id)


def extend_rounds(index: Index, tallies: Mapping[int, RoundTally]) -> None:
    """Add each tally to its round's row: counts, worker summaries not applied before, end and status."""
    for crawl_id, tally in tallies.items():
        rows = list(index.db.query("SELECT * FROM crawls WHERE id = ?", [crawl_id]))
        if not rows:
            continue
        row = rows[0]
        applied = set(json.loads(row.get("cluster_summaries") or "[]"))
        update: dict[str, Any] = {}
        for column, n in tally.counts.items():
            update[column] = (row.get(column) or 0) + n
        errors = json.loads(row.get("errors_by_kind") or "{}")
        blocked = json.loads(row.get("robots_blocked_urls") or "[]")
        finished = row.get("finished_at")
        statuses = [] if row.get("status") in (None, IN_PROGRESS) else [row["status"]]
        for record_id, summary in tally.summaries.items():
            if record_id in applied:
                continue
            applied.add(record_id)
            for column in _SUMMED:
                update[column] = update.get(column, row.get(column) or 0) + int(summary.get(column) or 0)
            for kind, n in json.loads(summary.get("errors_by_kind") or "{}").items():
                errors[kind] = errors.get(kind, 0) + int(n)
            blocked += json.loads(summary.get("robots_blocked_urls") or "[]")
            finished = max(filter(None, [finished, summary.get("finished_at")]))
            statuses.append(str(summary.get("status") or "finished"))
        if statuses:
            update["status"] = next((s for s in statuses if s != "finished"), "finished")
        if finished:
            update["finished_at"] = finished
            start = _parse(row.get("started_at"))
            end = _parse(finished)
            if start and end:
                update["seconds"] = (end - start).total_seconds()
        update["errors_by_kind"] = json.dumps(errors, sort_keys=True)
        update["errors"] = sum(errors.values())
        update["robots_blocked_urls"] = json.dumps(blocked[:_MAX_BLOCKED_URLS])
        update["cluster_summaries"] = json.dumps(sorted(applied))
        index.commit()
        index.db["crawls"].update(crawl_id, update)
    index.commit()


def reset_rounds(index: Index) -> None:
    """Empty the rounds' rows (copied from an old index) before every file is filed again (reindex)."""
    columns = [*_SUMMED, *_FILED]
    index.commit()
    index.db.execute(
        "UPDATE crawls SET " + ", ".join(f"{c} = 0" for c in columns)  # noqa: S608 - fixed names
        + ", errors = 0, errors_by_kind = NULL, robots_blocked_urls = NULL, cluster_summaries = NULL, "
        f"finished_at = NULL, seconds = NULL, status = '{IN_PROGRESS}' WHERE cluster_round IS NOT NULL")


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
