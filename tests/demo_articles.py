"""What the bundled demo site holds: its article pages and a word only each one's body contains."""

ARTICLES: dict[str, str] = {
    "/news/2026/11/harbour-dredging.html": "bathymetric",
    "/news/2026/11/lighthouse-keeper-cottage.html": "Fresnel",
    "/news/2026/11/council-budget-leak.html": "",  # paywalled: body truncated
    "/news/2026/11/ferry-timetable-chaos.html": "turbocharger",  # answers 500 once, then 200
    "/news/2026/11/bathing-water-report.html": "enterococci",
    "/news/2026/11/partnerstadt-besuch.html": "Galionsfigur",  # German
    "/sport/2026/11/rowing-regatta.html": "Mewstone",
    "/culture/2026/11/shanty-festival.html": "Knørrin",
    "/sport/2026/11/harbour-fc-cup-run.html": "Polglase",
    "/culture/2026/11/scrimshaw-exhibition.html": "scrimshaw",
    "/culture/2026/10/bookshop-closes.html": "Pengelly",  # home page links it via a 301 from /old/
    "/news/2026/10/storm-ingrid-anniversary.html": "Penhallow",  # only in the gzipped sitemap
    "/news/2026/11/oyster-beds-return.html": "cultch",  # only on the news section page
    "/sport/2026/10/sea-swim-record.html": "jellyfish",  # only on the sport section page
}
DISALLOWED = "/private/2026/11/editorial-meeting-notes.html"
