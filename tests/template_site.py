"""A generated news site for the site-template tests: many articles in one template, a redesign, and a
site with no common structure. Text is generated from a fixed seed, so every run sees the same pages.

Template "a": the body sits in ``div.story-body.story-<n>#story-<n>`` (per-article digits) beside a
share bar, a related-links box and a photo caption inside it, and a sidebar of teasers outside it.
Template "b" (the redesign): ``main > section.article-text`` with other furniture. Template "hijack"
keeps "a"'s container but moves most body paragraphs out of it (the first two stay inside): a template
that trusted the container would lose the body.
"""

from __future__ import annotations

import random
from pathlib import Path

WORDS = ("harbour council tide ferry quay dredging vote budget fishermen mayor plan survey route pier "
         "storm winter school market bridge harvest rail depot licence crew cargo inquiry museum "
         "archive tenants landlord festival lantern orchard chapel clinic nurses").split()
SHARE = "Share this story on Facebook Twitter Email"
RELATED = ("Ferry timetable changes for winter", "Council approves new harbour lights",
           "Museum reopens its maritime gallery")
CAPTION = "The quay at dawn, seen from the breakwater. Photo: staff photographer"
NEWSLETTER = "Get the morning briefing free in your inbox every day: sign up to our newsletter"


def paragraphs(n: int) -> list[str]:
    """Article ``n``'s body paragraphs (long, distinct, deterministic)."""
    rng = random.Random(n)
    count = 4 + n % 4
    out = []
    for _ in range(count):
        sentences = []
        for _ in range(3):
            words = [rng.choice(WORDS) for _ in range(rng.randint(10, 16))]
            sentences.append(" ".join(words).capitalize() + ".")
        out.append(" ".join(sentences))
    return out


def title(n: int) -> str:
    return f"Harbour report number {n}: the {WORDS[n % len(WORDS)]} question"


def _head(n: int) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title(n)}</title>'
            f'<meta property="og:title" content="{title(n)}">'
            f'<meta property="article:published_time" content="2026-03-{1 + n % 28:02d}T08:00:00+00:00">'
            "</head>")


def _sidebar(n: int) -> str:
    teasers = "".join(f'<li><a href="/news/{m}.html">{title(m)}</a></li>' for m in (n + 1, n + 2, n + 3))
    return f'<aside class="sidebar"><h3>Most read</h3><ul>{teasers}</ul></aside>'


def _share() -> str:
    return ('<div class="share-tools"><a href="https://www.facebook.com/sharer/sharer.php?u=x">Share this '
            'story on Facebook</a> <a href="https://twitter.com/intent/tweet?u=x">Twitter</a> '
            '<a href="mailto:?subject=x">Email</a></div>')


def _related() -> str:
    items = "".join(f'<li><a href="/news/r{i}.html">{t}</a></li>' for i, t in enumerate(RELATED))
    return f'<div class="related-links"><h4>Related</h4><ul>{items}</ul></div>'


def page(n: int, template: str) -> str:
    """Article ``n`` in template "a", "b" or "hijack"."""
    body = paragraphs(n)
    nav = '<header class="masthead"><nav><a href="/">Home</a> <a href="/news/">News</a></nav></header>'
    footer = '<footer class="site-footer"><p>The Harbour Post, Quay Street.</p></footer>'
    if template == "a":
        story = (f'<div class="story-body story-{n}" id="story-{n}">{_share()}'
                 f"{''.join(f'<p>{p}</p>' for p in body[:2])}"
                 f'<figure class="photo"><img src="/img/{n}.jpg" alt=""><figcaption>{CAPTION}</figcaption>'
                 f"</figure>{''.join(f'<p>{p}</p>' for p in body[2:])}{_related()}</div>")
        main = (f'<div class="layout"><article class="story"><h1>{title(n)}</h1>{story}</article>'
                f"{_sidebar(n)}</div>")
    elif template == "b":
        story = (f'<section class="article-text"><p class="standfirst">{body[0]}</p>'
                 f"{''.join(f'<p>{p}</p>' for p in body[1:])}"
                 f'<div class="newsletter-box"><p>{NEWSLETTER}</p><form action="/subscribe"><input '
                 'type="email" name="e"><button>Sign up</button></form></div></section>')
        main = f'<main class="content-v2"><h1 class="headline">{title(n)}</h1>{story}</main>{_sidebar(n)}'
    elif template == "hijack":
        inside = "".join(f"<p>{p}</p>" for p in body[:2])
        outside = "".join(f"<p>{p}</p>" for p in body[2:])
        story = f'<div class="story-body story-{n}" id="story-{n}">{_share()}{inside}</div>'
        main = (f'<div class="layout"><article class="story"><h1>{title(n)}</h1>{story}'
                f'<div class="moved-body">{outside}</div></article>{_sidebar(n)}</div>')
    else:
        raise ValueError(template)
    return f"{_head(n)}<body>{nav}{main}{footer}</body></html>"


def odd_page(n: int) -> str:
    """A page of a site with no common structure: every article in a layout of its own."""
    body = paragraphs(n)
    rng = random.Random(1000 + n)
    html = "".join(f"<p>{p}</p>" for p in body)
    for _ in range(rng.randint(1, 3)):
        tag = rng.choice(("div", "section", "article"))
        html = f'<{tag} class="{rng.choice(WORDS)}-{rng.choice(WORDS)}">{html}</{tag}>'
        html = f"<{rng.choice(('div', 'section'))}>{html}</div>" if rng.random() < 0.3 else html
    html = html.replace("</div></section>", "</div>")
    return f"{_head(n)}<body><header><nav><a href='/'>Home</a></nav></header>{html}</body></html>"


def write_site(root: Path, templates: list[str]) -> list[str]:
    """Article pages /news/<n>.html (template per article as given: "a", "b", "hijack", "odd" or "meta")
    and a home page; returns the paths."""
    (root / "news").mkdir(parents=True, exist_ok=True)
    paths = []
    for n, template in enumerate(templates, start=1):
        path = f"/news/{n}.html"
        html = odd_page(n) if template == "odd" else meta_page(n) if template == "meta" else page(n, template)
        (root / path.lstrip("/")).write_text(html, encoding="utf-8")
        paths.append(path)
    (root / "index.html").write_text("<html><body><p>Home</p></body></html>", encoding="utf-8")
    return paths


def write_sitemap(root: Path, base_url: str, paths: list[str]) -> None:
    urls = "".join(f"<url><loc>{base_url}{p}</loc></url>" for p in paths)
    (root / "sitemap.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"{urls}</urlset>", encoding="utf-8")


FAST = "DOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n"


def write_seed(tmp: Path, base_url: str, name: str = "harbour", settings: str = FAST) -> Path:
    """A seed crawling the site's sitemap (its /news/ pages only), with politeness off for 127.0.0.1."""
    seed = tmp / f"{name}.toml"
    seed.write_text(f'name = "{name}"\nsitemaps = ["{base_url}/sitemap.xml"]\nallow = ["/news/"]\n'
                    f"[settings]\n{settings}", encoding="utf-8")
    return seed


SITE_NAME = "The Harbour Post"


def author(n: int) -> str:
    return ("Ada Quayle", "Ben Tiller", "Cora Marsh", "Dan Ferris")[n % 4]


def published(n: int) -> str:
    return f"2026-04-{1 + n % 28:02d}T07:30:00+00:00"


def lead(n: int) -> str:
    return f"The {WORDS[n % len(WORDS)]} question divides the harbour town, report {n} finds."


def meta_page(n: int, *, jsonld: bool = True, ticker: bool = False) -> str:
    """Article ``n`` of a site whose metadata lives in places a template learns: the headline in an
    ``h1`` that the ``<title>`` repeats (its og:title is the site's name on every page), the author in
    JSON-LD and a meta tag, the date only in the byline's ``<time>``, the lead in meta description and a
    standfirst paragraph. ``jsonld=False`` leaves the JSON-LD out; ``ticker`` puts a "latest" box with
    another ``<time>`` before the article (the first ``<time>`` of the page is then not the article's)."""
    body = paragraphs(n)
    ld = ('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
          f'"author": {{"@type": "Person", "name": "{author(n)}"}}}}</script>') if jsonld else ""
    head = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title(n)} | {SITE_NAME}'
            f'</title><meta property="og:title" content="{SITE_NAME}"><meta name="author" '
            f'content="{author(n)}"><meta name="description" content="{lead(n)}">{ld}</head>')
    box = ('<aside class="ticker"><h3>Latest</h3><p><time datetime="2025-12-24T18:00:00+00:00">Updated '
           'at six</time> <a href="/news/latest.html">Tide tables</a></p></aside>') if ticker else ""
    story = (f'<article class="story"><h1 class="headline">{title(n)}</h1><p class="standfirst">{lead(n)}</p>'
             f'<div class="byline">By <span class="name">{author(n)}</span>, <time class="published" '
             f'datetime="{published(n)}">April {1 + n % 28}</time></div>'
             f'<div class="story-body story-{n}" id="story-{n}">{"".join(f"<p>{p}</p>" for p in body)}'
             "</div></article>")
    nav = '<header class="masthead"><nav><a href="/">Home</a> <a href="/news/">News</a></nav></header>'
    return f'{head}<body>{nav}{box}<div class="layout">{story}{_sidebar(n)}</div></body></html>'
