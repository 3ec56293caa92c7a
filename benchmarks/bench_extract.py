"""Plain trafilatura against morgue on the shared extraction corpus, side by side, in the same run.

Usage: python benchmarks/bench_extract.py [--corpus PATH] [--sets a,b] [--limit N] [--leaks] [--layers]

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
from extract.article import extract_with_layers  # noqa: E402
from extract.decode import decode_html  # noqa: E402
from extract.evaluate import f1_of, leaked_appeals, score_page  # noqa: E402

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


def layer_runner(layers: frozenset[str]):
    def run(html: str, url: str) -> str:
        result = extract_with_layers(html, url, layers=layers)
        return result.text if result else ""
    return run


RUNNERS = {"trafilatura": run_trafilatura, "morgue": run_morgue}
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
    args = parser.parse_args()
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
