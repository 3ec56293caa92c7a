"""``morgue extract PATH...``: run the article extractor on local HTML files (a thin layer over extract/).

The crawler and ``reindex`` call the same ``extract_article``; ``--seed`` applies a site's ``[extract]``
rules and ``--site`` (with ``--data``) its learned repeated blocks, so a page can be explained exactly as
the crawl would have cut it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from extract import SiteRules, extract_article
from extract.metadata import canonical_link
from extract.template import Template
from morgue.commands.options import data_option, open_data
from morgue.errors import MorgueError


def _site_knowledge(data_dir: Path | None, site: str) -> tuple[dict[str, str], Template | None, str]:
    """hash → text of a site's learned blocks, its active template, and what to say about the template,
    read from the index without writing to it."""
    from archive.index import Index
    from archive.site_templates import template_rows

    data = open_data(data_dir)
    if not data.db_path.exists():
        raise MorgueError(f"no index at {data.db_path}: crawl the site first, or leave out --site")
    index = Index(data.db_path, readonly=True)
    try:
        rows = index.db.query("SELECT hash, text FROM site_blocks WHERE site = ?", [site])
        blocks = {row["hash"]: row["text"] for row in rows}
        templates = template_rows(index, site)
    finally:
        index.db.conn.close()
    active = next((r for r in templates if r["status"] == "active"), None)
    if active is not None:
        return blocks, Template.from_dict(json.loads(active["template"])), ""
    none = next((r for r in templates if r["status"] == "none"), None)
    return blocks, None, f"no template: {none['note']}" if none else "no template learned"


def _rules(seed_path: Path | None) -> SiteRules | None:
    if seed_path is None:
        return None
    from morgue.seeds import load_seed_file

    seed = load_seed_file(seed_path)
    return SiteRules.from_mapping(seed.extract) if seed.extract else None


@click.command("extract")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--url", default=None, help="URL of the page (default: the page's canonical link).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line.")
@click.option("--explain", is_flag=True, help="List every removed block and why it was removed.")
@click.option("--site", default=None,
              help="Use this site's learned repeated blocks and template (from --data's index).")
@click.option("--seed", "seed_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Apply this seed file's [extract] drop/keep rules.")
@data_option
def extract_command(paths: tuple[Path, ...], url: str | None, as_json: bool, explain: bool,
                    site: str | None, seed_path: Path | None, data_dir: Path | None) -> None:
    """Extract the article text (without appeals and other boilerplate) from HTML files."""
    rules = _rules(seed_path)
    known, template, no_template = _site_knowledge(data_dir, site) if site else ({}, None, "")
    if site and explain:
        click.echo(f"# site {site}: {len(known)} learned repeated block(s)", err=as_json)
        for h, text in known.items():
            click.echo(f"- {h}: {text[:120]}", err=as_json)
        click.echo(f"# site {site}: {f'template v{template.version}' if template else no_template}",
                   err=as_json)
    failed = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            click.echo(f"error: {path}: cannot read ({exc.strerror or exc})", err=True)
            failed += 1
            continue
        result = extract_article(data, url or canonical_link(data), rules=rules, known_repeated=known,
                                 template=template)
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
            if template is not None:
                name = f"{site}'s template v{template.version}"
                how = (f"through {name}" if result.template else
                       f"by the full pipeline: {name} does not fit ({result.fallback.split(': ', 1)[-1]})")
            else:
                how = "by the full pipeline" + (f" ({no_template})" if site else "")
            click.echo(f"# {path}: extracted {how}", err=as_json)
            for name, source in (result.metadata_from or {}).items():
                click.echo(f"# {path}: {name} from {source}", err=as_json)
            click.echo(f"# {path}: {len(result.removed)} block(s) removed", err=as_json)
            for block in result.removed:
                click.echo(f"- [{block.reason}] {block.detail}: {block.text[:120]}", err=as_json)
    if failed:
        raise SystemExit(1)
