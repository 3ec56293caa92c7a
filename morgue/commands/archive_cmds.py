"""Commands over the archive of record: show, cite, verify, reindex, export, import, versions, diff,
timemap. Thin click wrappers over ``archive.*``; every failure is one line naming what and where."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from archive.index import Index
from archive.lock import DataDirLock, LockedError
from morgue.commands.options import data_option, extractor_version_option, open_data, reuse_report
from morgue.errors import MorgueError

__all__ = ["show_command", "cite_command", "verify_command", "reindex_command", "export_command",
           "import_command", "versions_command", "diff_command", "timemap_command"]


def _rules_for(seeds_dir: Path) -> Any:
    """Per-site extraction rules from the seed files, as the crawl used them (None when there is none)."""
    from morgue.seeds import load_seed

    cache: dict[str | None, Mapping[str, Any] | None] = {}

    def rules(site: str | None) -> Mapping[str, Any] | None:
        if site not in cache:
            path = seeds_dir / f"{site}.toml"
            cache[site] = load_seed(str(path), seeds_dir).extract if site and path.is_file() else None
        return cache[site]

    return rules


def _seeds_option(fn: Any) -> Any:
    return click.option("--seeds", "seeds_dir", type=click.Path(path_type=Path), default=Path("seeds"),
                        show_default=True, help="Seed files whose [extract] rules re-extraction uses.")(fn)


def _locked(path: Path) -> DataDirLock:
    lock = DataDirLock(path)
    try:
        lock.acquire()
    except LockedError as exc:
        raise MorgueError(str(exc)) from None
    return lock


def _open_index(data_dir: Path | None) -> tuple[Any, Index]:
    data = open_data(data_dir)
    try:
        return data, Index(data.db_path, readonly=True)
    except FileNotFoundError as exc:
        raise MorgueError(str(exc)) from None


# -- show / cite --------------------------------------------------------------------------------------
@click.command("show")
@click.argument("capture_id", metavar="ID")
@data_option
@click.option("--raw", "mode", flag_value="raw", help="The archived HTTP payload, byte for byte as stored.")
@click.option("--decoded", is_flag=True, help="With --raw: undo the Content-Encoding (gzip, br...).")
@click.option("--text", "mode", flag_value="text", help="The extracted article text.")
@click.option("--json", "mode", flag_value="json", help="The capture and article rows as JSON.")
@click.option("--headers", "mode", flag_value="headers", help="The WARC and HTTP headers of the record.")
def show_command(capture_id: str, data_dir: Path | None, mode: str | None, decoded: bool) -> None:
    """Show one capture or article by its 12-character ID (from morgue search or versions), or a text or
    screenshot record an imported file holds beside a page (its ID is listed under the page)."""
    from archive.cite import CiteError, find_capture
    from archive.ingest import decoded_body
    from archive.resources import resource_by_id, resources_of

    data, index = _open_index(data_dir)
    with index:
        try:
            capture, article = find_capture(index, capture_id)
        except CiteError as exc:
            resource = resource_by_id(index.db, capture_id)
            if resource is None:
                raise MorgueError(str(exc)) from None
            _show_resource(data.warc_dir, resource, mode)
            return
        resources = resources_of(index.db, capture["url"])
    if decoded and mode != "raw":
        raise click.BadParameter("--decoded goes with --raw", param_hint="--decoded")
    if mode == "json":
        click.echo(json.dumps({"capture": capture, "article": article}, indent=2, ensure_ascii=False))
        return
    if mode == "text":
        if article is None:
            raise MorgueError(f"capture {capture['id']} ({capture['url']}) is not an article; "
                              "use --raw or --headers")
        click.echo((article["title"] or "") + "\n\n" + article["text"])
        return
    if mode in ("raw", "headers"):
        record = _read_row(data.warc_dir, capture)
        if mode == "headers":
            _echo_warc_headers(capture, record)
            if record.status is not None:
                click.echo(f"\n{record.protocol} {record.status}")
                for name, value in record.http_headers:
                    click.echo(f"{name}: {value}")
            return
        payload = record.payload
        if record.pointer.record_type == "revisit":
            raise MorgueError(f"capture {capture['id']} is a revisit (no payload of its own); its payload is "
                              f"in record {capture['refers_to']}")
        if decoded:
            try:
                payload = decoded_body(record)
            except ValueError as exc:
                raise MorgueError(f"cannot decode capture {capture['id']}: {exc}") from None
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
        return
    title = article["title"] if article else None
    click.echo(click.style(title or capture["url"], bold=True) + f"  [{capture['id']}]")
    click.echo(f"  url:         {capture['url']}")
    if article and article["url"] != capture["url"]:
        click.echo(f"  filed as:    {article['url']}")
    click.echo(f"  captured:    {capture['captured_at']}  (HTTP {capture['status']}, {capture['kind']})")
    if article:
        click.echo(f"  version:     {article['version']}{' (latest)' if article['latest'] else ''}")
        click.echo(f"  published:   {article['published'] or '-'}")
        click.echo(f"  words:       {article['word_count']}")
    click.echo(f"  warc:        {capture['warc_file']} offset {capture['warc_offset']} "
               f"length {capture['warc_length']}")
    click.echo(f"  record:      {capture['record_id']}")
    click.echo(f"  payload:     {capture['payload_digest']}")
    for resource in resources:
        click.echo(f"  {resource['kind'] + ':':<12} {resource['id']}  {resource['url']} "
                   f"({resource['content_type'] or '?'}, {resource['payload_length']} bytes)")


def _read_row(warc_dir: Path, row: Mapping[str, Any]) -> Any:
    """The WARC (or ARC) record an index row points at; a one-line error if it cannot be read."""
    from archive.warc_reader import WarcReadError, read_record

    try:
        return read_record(warc_dir, row["warc_file"], row["warc_offset"])
    except WarcReadError as exc:
        raise MorgueError(str(exc)) from None


def _echo_warc_headers(row: Mapping[str, Any], record: Any) -> None:
    click.echo(f"{row['warc_file']} offset {row['warc_offset']}")
    for name, value in record.warc_headers:
        click.echo(f"{name}: {value}")


def _show_resource(warc_dir: Path, resource: dict[str, Any], mode: str | None) -> None:
    """``morgue show`` of a resource record another tool wrote beside a page (Browsertrix's extracted
    text, screenshots, thumbnails): its description, its headers, or its content as stored."""
    if mode in ("raw", "headers", "text"):
        record = _read_row(warc_dir, resource)
        if mode == "headers":
            _echo_warc_headers(resource, record)
        elif mode == "text" and resource["kind"] != "text":
            raise MorgueError(f"{resource['id']} is a {resource['kind']} ({resource['content_type']}), "
                              "not text; use --raw to write its bytes")
        else:
            sys.stdout.buffer.write(record.payload)
            sys.stdout.buffer.flush()
        return
    if mode == "json":
        click.echo(json.dumps({"resource": resource}, indent=2, ensure_ascii=False))
        return
    click.echo(click.style(f"{resource['kind']} of {resource['target_url']}", bold=True)
               + f"  [{resource['id']}]")
    click.echo(f"  record:      {resource['url']} ({resource['record_type']}, "
               f"{resource['content_type'] or '?'}, {resource['payload_length']} bytes)")
    click.echo(f"  captured:    {resource['captured_at']}")
    click.echo(f"  warc:        {resource['warc_file']} offset {resource['warc_offset']} "
               f"length {resource['warc_length']}")
    click.echo(f"  record id:   {resource['record_id']}")
    click.echo(f"  payload:     {resource['payload_digest']}")
    click.echo("  (morgue show --raw ID writes its content; --headers its WARC headers)")


@click.command("cite")
@click.argument("capture_id", metavar="ID")
@data_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "bibtex", "csl-json"]), default="text",
              show_default=True, help="Citation format.")
def cite_command(capture_id: str, data_dir: Path | None, fmt: str) -> None:
    """A citation and receipt for capture ID: source, capture time, WARC file, offset, record id and the
    sha256 payload digest read from the WARC record (and checked against the payload)."""
    from archive.cite import CiteError, citation_for, render
    from archive.warc_reader import WarcReadError

    data, index = _open_index(data_dir)
    with index:
        try:
            citation = citation_for(index, data.warc_dir, capture_id)
        except (CiteError, WarcReadError) as exc:
            raise MorgueError(str(exc)) from None
    click.echo(render(citation, fmt))


# -- verify / reindex ---------------------------------------------------------------------------------
@click.command("verify")
@data_option
@_seeds_option
@click.option("--repair", is_flag=True,
              help="Finish .open files left by a crash and index missing records (backups kept).")
@click.option("-q", "--quiet", is_flag=True, help="Print problems only.")
def verify_command(data_dir: Path | None, seeds_dir: Path, repair: bool, quiet: bool) -> None:
    """Check every WARC file to the end (gzip members, records, digests, revisit targets) and every index
    row against its record. Files imported from other tools are read as import read them: what they bend
    is listed as deviations; damage is not. Exits 1 if anything is damaged or wrong."""
    from archive.verify import repair_archive, verify_archive

    data = open_data(data_dir)
    lock = DataDirLock(data.path)
    try:
        lock.acquire()
        busy = False
    except LockedError:
        if repair:
            raise MorgueError(f"another morgue process is writing to {data.path}; repair when it has "
                              "finished") from None
        busy = True
    try:
        report = verify_archive(data.warc_dir, data.db_path, include_open=not busy)
        if repair:
            for action in repair_archive(data.path, report, rules_for=_rules_for(seeds_dir)):
                click.echo(f"repaired: {action}")
            report = verify_archive(data.warc_dir, data.db_path)
    finally:
        lock.release()
    for problem in report.problems:
        click.echo(str(problem))
    for line in _deviation_lines(report.deviations):
        click.echo(f"deviation of an imported file: {line}")
    for problem in report.known_damage:
        click.echo(f"damaged since it was imported (its records here were not imported): {problem}")
    if busy and not quiet:
        click.echo("note: a crawl is writing to this archive; files still open were not checked", err=True)
    if not quiet:
        n = len(report.problems)
        foreign = sum(1 for f in report.files if f.foreign)
        dev = len(report.deviations)
        deviations = (f"; {dev} deviation{'s' if dev != 1 else ''} from the format in imported files, "
                      "as they were imported (not damage)") if dev else ""
        imported = f" ({foreign} imported)" if foreign else ""
        known = len(report.known_damage)
        deviations += (f"; {known} unreadable stretch{'es' if known != 1 else ''} in imported files, "
                       "known since their import") if known else ""
        click.echo(f"{len(report.files)} WARC files{imported}, {report.records} records, "
                   f"{report.index_rows} index rows: {n or 'no'} problem{'s' if n != 1 else ''}{deviations}",
                   err=True)
    if report.problems:
        sys.exit(1)


@click.command("reindex")
@data_option
@_seeds_option
@click.option("--reuse", is_flag=True,
              help="File the extractions stored in the WARC files instead of extracting every page again "
                   "(pages without a sound, current one are extracted).")
@extractor_version_option
def reindex_command(data_dir: Path | None, seeds_dir: Path, reuse: bool, extractor_version: str) -> None:
    """Rebuild morgue.db from the WARC files alone (the old index is kept in backups/).

    Every page is extracted again with this morgue's extractor, unless --reuse.
    """
    from archive.ingest import Reuse
    from archive.reindex import reindex

    data = open_data(data_dir)
    if not data.warc_dir.is_dir():
        raise MorgueError(f"no WARC files in {data.warc_dir}: nothing to reindex from")
    lock = _locked(data.path)
    try:
        result = reindex(data.path, rules_for=_rules_for(seeds_dir),
                         reuse=Reuse(extractor_version) if reuse else None)
    finally:
        lock.release()
    s = result.stats
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(s.outcomes.items())) or "no articles"
    click.echo(f"reindexed {s.files} WARC files ({s.records} records): {result.counts['captures']} captures, "
               f"{result.counts['articles']} article versions ({outcomes}), "
               f"{result.counts['renders']} rendered views; extractor {result.extractor}")
    if reuse:
        click.echo(reuse_report(s.reused, s.extracted))
    if result.backup:
        click.echo(f"previous index kept as {result.backup}")
    for problem in s.problems:
        click.echo(f"warning: {problem}", err=True)


# -- export / import ----------------------------------------------------------------------------------
def _bound(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    from datetime import UTC

    from morgue.schedule import parse_stamp

    moment = parse_stamp(value)
    if moment is None:
        raise click.BadParameter(f"{value!r} is not a date (write 2026-11-01 or 2026-11-01T12:00)",
                                 param_hint=name)
    moment = moment.astimezone(UTC)  # captured_at is UTC to the millisecond: so is a bound that says more
    fraction = f".{moment.microsecond // 1000:03d}" if moment.microsecond else ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction


@click.command("export")
@click.option("--wacz", "wacz_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The WACZ file to write.")
@data_option
@click.option("--site", default=None, help="Only captures of this site.")
@click.option("--since", default=None, help="Only captures at or after this UTC date/time (2026-11-01).")
@click.option("--until", default=None, help="Only captures before this UTC date/time.")
@click.option("--title", default=None, help="Title recorded in datapackage.json.")
def export_command(wacz_path: Path, data_dir: Path | None, site: str | None, since: str | None,
                   until: str | None, title: str | None) -> None:
    """Export captures as a WACZ 1.1.1 package (replayable in ReplayWeb.page and pywb)."""
    from archive.wacz import export_wacz
    from morgue import __version__

    data = open_data(data_dir)
    try:
        result = export_wacz(data.path, wacz_path, site=site, since=_bound(since, "--since"),
                             until=_bound(until, "--until"), title=title, software=f"morgue {__version__}")
    except ValueError as exc:
        raise MorgueError(str(exc)) from None
    click.echo(f"wrote {result.path}: {len(result.warc_files)} WARC files, {result.records} records, "
               f"{result.pages} pages")


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@data_option
@_seeds_option
@click.option("--all-pages", is_flag=True,
              help="Try every HTML page as an article (default: only URLs that look like articles).")
@click.option("--dry-run", is_flag=True, help="Check the files and say what would be imported and what "
                                              "is off in them; change nothing.")
def import_command(files: tuple[Path, ...], data_dir: Path | None, seeds_dir: Path, all_pages: bool,
                   dry_run: bool) -> None:
    """Import what other tools archived: WARC files (wget --warc-file, wpull, warcio, Browsertrix...), ARC
    files (.arc, .arc.gz) and WACZ packages. Each file is read as leniently as warcio reads it, what it
    bends is reported with its offset, and it is copied unchanged into the archive's warc/ folder and
    indexed. A file with a record that does not match its digest is refused before anything is imported;
    in a file with cut or corrupt stretches, the records that can be read are imported and the stretches
    reported (the file is still kept byte for byte)."""
    from archive.importer import ImportError_, import_files
    from crawler.discovery import looks_like_article

    article_filter = None if all_pages else looks_like_article
    try:
        if dry_run:
            result = _dry_import(list(files), data_dir, article_filter)
        else:
            data = open_data(data_dir, create=True)
            lock = _locked(data.path)
            try:
                with Index(data.db_path) as index:
                    result = import_files(list(files), data.path, index, rules_for=_rules_for(seeds_dir),
                                          article_filter=article_filter)
            finally:
                lock.release()
    except ImportError_ as exc:
        raise MorgueError(str(exc)) from None
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for line in _deviation_lines(result.deviations):
        click.echo(f"{'deviation' if dry_run else 'warning'}: {line}", err=True)
    for problem in result.damage:
        click.echo(f"damaged: {problem} (what is there is not imported; the file is kept as it is)", err=True)
    n_dev = len(result.deviations)
    deviations = (f"; {n_dev} deviation{'s' if n_dev != 1 else ''} from the WARC/ARC format (listed above; "
                  "the files are kept as they are)") if n_dev else ""
    n_dmg = len(result.damage)
    deviations += (f"; {n_dmg} unreadable stretch{'es' if n_dmg != 1 else ''} (listed above; the records "
                   "around them are imported)") if n_dmg else ""
    if dry_run:
        for plan in result.files:
            state = "already here" if plan.present else f"would be copied to warc/{plan.name}"
            damaged = f", {len(plan.damage)} unreadable stretches" if plan.damage else ""
            click.echo(f"{plan.origin}: {plan.fmt}, {plan.records} records, {plan.captures} captures "
                       f"({plan.new_captures} not yet indexed), {len(plan.deviations)} deviations{damaged}; "
                       f"{state}")
        pages = f", {result.pages} page titles from pages.jsonl" if result.pages else ""
        click.echo(f"dry run: {len(result.files)} file(s) would be imported{pages}{deviations}; "
                   "nothing was changed")
        return
    s = result.stats
    assert s is not None
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(s.outcomes.items())) or "no articles"
    click.echo(f"imported {len(result.files)} file(s) ({len(result.already_present)} already here): "
               f"{s.captures} new captures, {s.skipped} already indexed; articles: {outcomes}{deviations}")


def _dry_import(files: list[Path], data_dir: Path | None, article_filter: Any) -> Any:
    """``import_files`` in a dry run: the index is read (if there is one) but never opened for writing,
    migrated or locked, so the data directory is left exactly as it was."""
    import sqlite3
    from contextlib import closing

    from archive.datadir import DataDir, default_data_dir
    from archive.importer import import_files

    data = DataDir(data_dir or default_data_dir())
    if data.path.exists() and not data.exists() and (
            data.path.is_file() or any(not p.name.startswith(".") for p in data.path.iterdir())):
        data.check(create=False)  # refuses a file, or a folder that is not a data directory
    if not data.db_path.exists():
        return import_files(files, data.path, None, dry_run=True, article_filter=article_filter)
    with closing(sqlite3.connect(f"file:{data.db_path}?mode=ro", uri=True)) as conn:
        def indexed(capture_id: str) -> bool:
            return conn.execute("SELECT 1 FROM captures WHERE id = ?", [capture_id]).fetchone() is not None

        return import_files(files, data.path, None, dry_run=True, indexed=indexed,
                            article_filter=article_filter)


def _deviation_lines(problems: list[Any], per_kind: int = 5) -> list[str]:
    """Each deviation as a line, at most ``per_kind`` of one kind per file, then how many more there are."""
    lines: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for problem in problems:
        key = (problem.file, problem.kind)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= per_kind:
            lines.append(str(problem))
    for (name, kind), count in seen.items():
        if count > per_kind:
            lines.append(f"{name}: {kind}: {count - per_kind} more like the above")
    return lines


# -- versions / diff / timemap ------------------------------------------------------------------------
@click.command("versions")
@click.argument("url")
@data_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
def versions_command(url: str, data_dir: Path | None, as_json: bool) -> None:
    """The archived versions of the article at URL, oldest first."""
    from archive.versions import VersionError, article_versions

    _, index = _open_index(data_dir)
    with index:
        try:
            rows = article_versions(index, url)
        except VersionError as exc:
            raise MorgueError(str(exc)) from None
    for row in rows:
        if as_json:
            keep = ("id", "version", "latest", "url", "captured_at", "title", "published", "modified",
                    "word_count", "text_hash", "warc_file", "warc_offset", "record_id", "payload_digest")
            click.echo(json.dumps({k: row[k] for k in keep}, ensure_ascii=False))
        else:
            click.echo(f"v{row['version']}  {row['id']}  {row['captured_at']}  {row['word_count']} words  "
                       f"{row['title'] or ''}{'  (latest)' if row['latest'] else ''}")


@click.command("diff")
@click.argument("url")
@data_option
@click.option("--from", "from_version", default=None, help="Older version: number or id (default: previous).")
@click.option("--to", "to_version", default=None, help="Newer version: number or id (default: latest).")
def diff_command(url: str, data_dir: Path | None, from_version: str | None, to_version: str | None) -> None:
    """A word-level diff between two versions of the article at URL: [-removed-] {+added+}."""
    from archive.versions import VersionError, diff_versions

    _, index = _open_index(data_dir)
    with index:
        try:
            old, new, _, text = diff_versions(index, url, from_version, to_version)
        except VersionError as exc:
            raise MorgueError(str(exc)) from None
    click.echo(f"--- v{old['version']} {old['id']} {old['captured_at']}")
    click.echo(f"+++ v{new['version']} {new['id']} {new['captured_at']}")
    click.echo(text)


@click.command("timemap")
@click.argument("url")
@data_option
@click.option("--replay-prefix", default=None,
              help="Memento URLs as PREFIX<timestamp>/<url>, e.g. http://localhost:8080/morgue/ for pywb.")
def timemap_command(url: str, data_dir: Path | None, replay_prefix: str | None) -> None:
    """An RFC 7089 Memento TimeMap (link format) of the captures of URL."""
    from archive.memento import timemap

    _, index = _open_index(data_dir)
    with index:
        try:
            click.echo(timemap(index, url, replay_prefix=replay_prefix), nl=False)
        except LookupError as exc:
            raise MorgueError(str(exc)) from None
