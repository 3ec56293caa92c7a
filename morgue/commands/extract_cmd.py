"""``morgue extract PATH...``: run the article extractor on local HTML files (a thin layer over extract/)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from extract import extract_article
from extract.metadata import canonical_link


@click.command("extract")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", default=None, help="URL of the page (default: the page's canonical link).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
@click.option("--explain", is_flag=True, help="List every removed block and why it was removed.")
def extract_command(paths: tuple[Path, ...], url: str | None, as_json: bool, explain: bool) -> None:
    """Extract the article text (without appeals and other boilerplate) from HTML files."""
    failed = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            click.echo(f"error: {path}: cannot read ({exc.strerror or exc})", err=True)
            failed += 1
            continue
        result = extract_article(data, url or canonical_link(data))
        if result is None:
            click.echo(f"error: {path}: no article found (not HTML, or no article body)", err=True)
            failed += 1
            continue
        if as_json:
            record = {"file": str(path), "url": url or result.canonical_url, **result.to_dict()}
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(f"# {path}: {result.title or '(no title)'}")
            click.echo(result.text)
        if explain:
            click.echo(f"# {path}: {len(result.removed)} block(s) removed", err=as_json)
            for block in result.removed:
                click.echo(f"- [{block.reason}] {block.detail}: {block.text[:120]}", err=as_json)
    if failed:
        raise SystemExit(1)
