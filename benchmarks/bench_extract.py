"""Plain trafilatura against morgue on the shared extraction corpus, side by side, in the same run.

Usage: python benchmarks/bench_extract.py [--corpus PATH] [--sets a,b] [--limit N] [--leaks] [--layers]
       python benchmarks/bench_extract.py --sites [--sites-dir PATH] [--learn N] [--curve]

``--sites`` measures site-level extraction on ``shared/sites/``: each site and period is one crawl, in
page order. morgue-site extracts the first pages with the full pipeline (the teacher), learns the site's
template (``extract.template_learner``), extracts the later pages through it, and at the end re-extracts
the first pages with it, as a crawl does; single-page morgue and plain trafilatura run on the same pages.
CPU per page is compared with ``trafilatura.extract(with_metadata=True)``. ``--curve`` adds F1 against
the number of pages the template was learned from.

``--layers`` adds rows for morgue with no boilerplate layer and with each layer alone (structure, phrase;
"repeated" needs a site's history and "rule" a seed, so the corpus cannot exercise them), to show what
each layer buys on its own.

Both extractors get the same decoded page text and URL; CPU time (process_time) per page is measured
around each call only. Scoring is ``extract.evaluate``, which implements corpus/README.md exactly.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extract import extract_article  # noqa: E402
from extract.article import _parse, extract_with_layers  # noqa: E402
from extract.decode import decode_html  # noqa: E402
from extract.evaluate import f1_of, leaked_appeals, same_title, score_page  # noqa: E402
from extract.metadata import extract_metadata, page_sources  # noqa: E402
from extract.template import MIN_PAGES  # noqa: E402
from extract.template_learner import extract_site  # noqa: E402
from extract.template_meta import read_learned  # noqa: E402

SETS = ("scrapinghub", "fundus", "wcxb")


def default_corpus() -> Path:
    shared = os.environ.get("MORGUE_SHARED")
    base = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared"
    return base / "corpus"


def load_pages(corpus: Path, name: str, limit: int | None = None):
    """Yield (meta, decoded html) for one set, in a stable order."""
    for i, meta_path in enumerate(sorted((corpus / name).glob("*.json"))):
        if limit is not None and i >= limit:
            break
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        raw = gzip.decompress(meta_path.with_name(meta_path.name[: -len(".json")] + ".html.gz").read_bytes())
        yield meta, decode_html(raw)


def run_trafilatura(html: str, url: str) -> str:
    return trafilatura.extract(html, url=url) or ""


def run_morgue(html: str, url: str) -> str:
    result = extract_article(html, url)
    return result.text if result else ""


def morgue_fields(html: str, url: str) -> dict:
    """Single-page morgue's whole result (title, authors, dates... beside the text)."""
    result = extract_article(html, url)
    return result.to_dict() if result else {}


def trafilatura_title(html: str, url: str) -> str | None:
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    return doc.title if doc is not None else None


def layer_runner(layers: frozenset[str]):
    def run(html: str, url: str) -> str:
        result = extract_with_layers(html, url, layers=layers)
        return result.text if result else ""
    return run


RUNNERS = {"trafilatura": run_trafilatura, "morgue": run_morgue}


def default_sites() -> Path:
    return default_corpus().parent / "sites"


def load_site_pages(sites: Path):
    """{(site, period): [(meta, html)]} in page-id order, for every set under ``sites``."""
    groups: dict[tuple[str, str], list] = {}
    for set_dir in sorted(p for p in sites.iterdir() if p.is_dir()):
        for meta, html in load_pages(sites, set_dir.name):
            groups.setdefault((meta["site"], str(meta["period"])), []).append((meta, html))
    return groups


def crawl_site(pages: list, min_pages: int) -> tuple[list[str], float, dict]:
    """morgue-site on one site's pages, as a crawl (``extract.template_learner.extract_site``): texts
    after the end-of-crawl re-extraction, CPU seconds, and the learner's counts."""
    start = time.process_time()
    results, learner = extract_site([(html, meta["url"]) for meta, html in pages], min_pages)
    cpu = time.process_time() - start
    t = learner.template
    info = {"template": t.version if t else None, "learned": learner.learned_now,
            "fallbacks": learner.fallbacks, "fitted": learner.fitted,
            "why_not": learner.why_not, "drop": len(t.drop) if t else 0,
            "through": sum(bool(r.get("template")) for r in results)}
    info["results"] = results
    return [r.get("text", "") for r in results], cpu, info


def template_cost(pages: list) -> None:
    """CPU of a page that fits its site's template, against trafilatura on the same pages: what a long
    crawl of one site tends to once the template is learned; and of the metadata step alone on the
    fitted pages, with the learned sources against the full metadata extraction."""
    ours = theirs = 0.0
    fitted: list = []
    for html, url, versions in pages:
        start = time.process_time()
        for template in reversed(versions):
            result = extract_article(html, url, template=template)
            if result is not None and result.template:
                fitted.append((html, url, template))
                break
        ours += time.process_time() - start
        start = time.process_time()
        trafilatura.extract(html, url=url, with_metadata=True)
        theirs += time.process_time() - start
    if pages:
        print(f"pages of sites with a template ({len(pages)}, {len(fitted)} fit): through the template "
              f"{1000 * ours / len(pages):.1f} ms/page, trafilatura.extract(with_metadata=True) "
              f"{1000 * theirs / len(pages):.1f} ms/page: {ours / max(theirs, 1e-9):.2f}x")
    learned = full = 0.0
    read = 0
    for html, url, template in fitted:
        tree = _parse(html, None)
        start = time.process_time()
        extract_metadata(tree, url)
        full += time.process_time() - start
        start = time.process_time()
        sources = page_sources(tree)
        known, _ = read_learned(tree, sources, template.meta)
        extract_metadata(tree, url, sources=sources, known=known)
        learned += time.process_time() - start
        read += len(known)
    if fitted:
        print(f"metadata of the {len(fitted)} fitted pages: from the learned sources "
              f"{1000 * learned / len(fitted):.2f} ms/page ({read} fields read from them), full metadata "
              f"extraction {1000 * full / len(fitted):.2f} ms/page: {learned / max(full, 1e-9):.2f}x")


def metadata_scores(groups: dict, site_results: dict, single: dict) -> None:
    """Title against the ground truth (the only metadata it has), and for authors, published date and
    lead (no ground truth) how many pages have one and how many agree with single-page morgue."""
    titles = {"trafilatura": 0, "morgue": 0, "morgue-site": 0}
    n = 0
    have = {k: {"morgue": 0, "morgue-site": 0} for k in ("authors", "published", "description")}
    agree = dict.fromkeys(have, 0)
    for key, pages in sorted(groups.items()):
        for i, (meta, _) in enumerate(pages):
            n += 1
            ours, alone = site_results[key][i], single[key][i]
            titles["trafilatura"] += same_title(meta["title"], single[key][i].get("_traf_title"))
            titles["morgue"] += same_title(meta["title"], alone.get("title"))
            titles["morgue-site"] += same_title(meta["title"], ours.get("title"))
            for field in have:
                have[field]["morgue"] += bool(alone.get(field))
                have[field]["morgue-site"] += bool(ours.get(field))
                agree[field] += ours.get(field) == alone.get(field)
    print("titles equal to the ground truth's: " + ", ".join(f"{k} {v} of {n}" for k, v in titles.items()))
    for field, counts in have.items():
        print(f"{field} (no ground truth): pages with one: morgue {counts['morgue']}, morgue-site "
              f"{counts['morgue-site']}; morgue-site equal to single-page morgue on {agree[field]} of {n}")


def bench_sites(sites: Path, min_pages: int, show_leaks: bool, curve: bool) -> None:
    groups = load_site_pages(sites)
    print(f"{'site':12} {'period':6} {'extractor':12} {'pages':>5} {'F1':>6} {'prec':>6} {'recall':>6} "
          f"{'leaks':>5} {'ms/page':>8}  template")
    totals: dict[str, list] = {"trafilatura": [], "morgue": [], "morgue-site": []}
    leaks_total = {k: 0 for k in totals}
    cpu_total = {"trafilatura+md": 0.0, "morgue-site": 0.0, "morgue": 0.0}
    by_period: dict[str, dict[str, list]] = {}
    through_template: list = []
    site_results: dict = {}
    single: dict = {}
    for (site, period), pages in sorted(groups.items()):
        texts: dict[str, list[str]] = {"trafilatura": [], "morgue": []}
        cpu = {"trafilatura+md": 0.0, "morgue": 0.0}
        single[site, period] = []
        for meta, html in pages:
            texts["trafilatura"].append(run_trafilatura(html, meta["url"]))
            t1 = time.process_time()
            trafilatura.extract(html, url=meta["url"], with_metadata=True)
            t2 = time.process_time()
            fields = morgue_fields(html, meta["url"])
            t3 = time.process_time()
            texts["morgue"].append(fields.get("text", ""))
            single[site, period].append({**fields, "_traf_title": trafilatura_title(html, meta["url"])})
            cpu["trafilatura+md"] += t2 - t1
            cpu["morgue"] += t3 - t2
        texts["morgue-site"], cpu["morgue-site"], info = crawl_site(pages, min_pages)
        site_results[site, period] = info["results"]
        if info["learned"]:
            through_template.extend((html, meta["url"], info["learned"]) for meta, html in pages)
        for key in ("trafilatura", "morgue", "morgue-site"):
            scores = [score_page(m["body"], t) for (m, _), t in zip(pages, texts[key], strict=True)]
            leaked = [bool(leaked_appeals(m["body"], t)) for (m, _), t in zip(pages, texts[key], strict=True)]
            if show_leaks:
                for (m, _), t in zip(pages, texts[key], strict=True):
                    if leaked_appeals(m["body"], t):
                        print(f"  [{key}] {m['id']}: {leaked_appeals(m['body'], t)[:3]}")
            totals[key].extend(scores)
            by_period.setdefault(period, {}).setdefault(key, []).extend(scores)
            leaks_total[key] += sum(leaked)
            f1, p, r = f1_of(scores)
            ms = 1000 * cpu["trafilatura+md" if key == "trafilatura" else key] / len(pages)
            note = ""
            if key == "morgue-site":
                note = (f"v{info['template']}, {info['drop']} furniture paths, {info['through']} pages "
                        f"through a template, {info['fallbacks']} fallbacks"
                        if info["template"] else f"none: {info['why_not']}")
            print(f"{site:12} {period:6} {key:12} {len(pages):5d} {f1:6.3f} {p:6.3f} {r:6.3f} "
                  f"{sum(leaked):5d} {ms:8.1f}  {note}")
        for key in cpu_total:
            cpu_total[key] += cpu[key]
    print()
    for period, per in sorted(by_period.items()):
        print(f"period {period}: " + "  ".join(f"{k} {f1_of(v)[0]:.3f}" for k, v in per.items()))
    n = len(totals["morgue"])
    for key, scores in totals.items():
        f1, p, r = f1_of(scores)
        print(f"all sites    {key:12} {n:5d} pages F1 {f1:.3f} P {p:.3f} R {r:.3f} leaks {leaks_total[key]}")
    print(f"CPU per page: morgue-site {1000 * cpu_total['morgue-site'] / n:.1f} ms, morgue "
          f"{1000 * cpu_total['morgue'] / n:.1f} ms, trafilatura.extract(with_metadata=True) "
          f"{1000 * cpu_total['trafilatura+md'] / n:.1f} ms; morgue-site / trafilatura = "
          f"{cpu_total['morgue-site'] / cpu_total['trafilatura+md']:.2f}x")
    metadata_scores(groups, site_results, single)
    template_cost(through_template)
    if curve:
        print("\nF1 against the number of pages the template is learned from (all sites and periods):")
        for k in (2, 3, 4, 5, 6, 8):
            scores = []
            for pages in groups.values():
                texts, _, _ = crawl_site(pages, k)
                scores.extend(score_page(m["body"], t) for (m, _), t in zip(pages, texts, strict=True))
            print(f"  learned from {k} pages: F1 {f1_of(scores)[0]:.3f}")
LAYER_RUNNERS = {
    "no-layers": layer_runner(frozenset()),
    "structure": layer_runner(frozenset({"structure"})),
    "phrase": layer_runner(frozenset({"phrase"})),
}


def bench_set(corpus: Path, name: str, limit: int | None, show_leaks: bool,
              runners: dict = RUNNERS) -> dict[str, dict[str, float]]:
    scores = {k: [] for k in runners}
    leaks = {k: 0 for k in runners}
    cpu = {k: 0.0 for k in runners}
    pages = 0
    for meta, html in load_pages(corpus, name, limit):
        pages += 1
        for key, run in runners.items():
            start = time.process_time()
            text = run(html, meta["url"])
            cpu[key] += time.process_time() - start
            scores[key].append(score_page(meta["body"], text))
            leaked = leaked_appeals(meta["body"], text)
            leaks[key] += bool(leaked)
            if show_leaks and leaked:
                print(f"  [{key}] {name}/{meta['id']}: {leaked[:3]}")
    out = {}
    for key in runners:
        f1, p, r = f1_of(scores[key])
        out[key] = {
            "f1": f1,
            "precision": p,
            "recall": r,
            "leak": leaks[key] / max(pages, 1),
            "leaks": leaks[key],
            "ms": 1000 * cpu[key] / max(pages, 1),
            "pages": pages,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--leaks", action="store_true", help="print each leaking page's appeal sentences")
    parser.add_argument("--layers", action="store_true", help="also measure each boilerplate layer alone")
    parser.add_argument("--sites", action="store_true", help="site-level: learned templates on shared/sites")
    parser.add_argument("--sites-dir", type=Path, default=None)
    parser.add_argument("--learn", type=int, default=MIN_PAGES, help="pages a template is learned from")
    parser.add_argument("--curve", action="store_true", help="with --sites: F1 against pages learned from")
    args = parser.parse_args()
    if args.sites:
        sites = args.sites_dir or default_sites()
        if not sites.is_dir():
            sys.exit(f"sites not found: {sites} (set MORGUE_SHARED or --sites-dir)")
        run_morgue("<html><body><p>warm up</p></body></html>", "https://example.test/")
        bench_sites(sites, args.learn, args.leaks, args.curve)
        return
    if not args.corpus.is_dir():
        sys.exit(f"corpus not found: {args.corpus} (set MORGUE_SHARED or --corpus)")
    # Warm up both (imports, lazy tables) so the first page does not carry one-off costs.
    run_trafilatura("<html><body><p>warm up</p></body></html>", "https://example.test/")
    run_morgue("<html><body><p>warm up</p></body></html>", "https://example.test/")
    print(
        f"{'set':12} {'extractor':12} {'pages':>5} {'F1':>6} {'prec':>6} {'recall':>6} {'leak%':>6} "
        f"{'ms/page':>8}"
    )
    for name in args.sets.split(","):
        runners = {**RUNNERS, **LAYER_RUNNERS} if args.layers else RUNNERS
        res = bench_set(args.corpus, name, args.limit, args.leaks, runners)
        for key, m in res.items():
            print(
                f"{name:12} {key:12} {m['pages']:5d} {m['f1']:6.3f} {m['precision']:6.3f} {m['recall']:6.3f} "
                f"{100 * m['leak']:6.1f} {m['ms']:8.1f}"
            )
        t, m = res["trafilatura"], res["morgue"]
        print(
            f"{name:12} {'ratio':12} {'':5} {m['f1'] - t['f1']:+6.3f} {'':6} {'':6} "
            f"{m['leaks']:>3d}/{t['leaks']:<2d} {m['ms'] / max(t['ms'], 1e-9):7.2f}x"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
