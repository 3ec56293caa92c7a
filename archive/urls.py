"""URL normalisation, so that tracking parameters, fragments and trivial variants collapse to one article."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

__all__ = ["normalize_url", "TRACKING_PARAMS", "same_site"]

TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "_ga", "_gl", "ocid", "cmpid", "cmp", "ito", "icid", "ref", "ref_src", "smid", "sr_share", "ns_mchannel",
    "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "at_medium", "at_campaign", "xtor", "s_cid",
    "trk", "mbid", "share", "guccounter", "guce_referrer", "guce_referrer_sig",
})


def _is_tracking(name: str) -> bool:
    lname = name.lower()
    return lname.startswith(("utm_", "hsa_", "pk_", "mtm_")) or lname in TRACKING_PARAMS


def normalize_url(url: str) -> str:
    """A canonical form: lower-case host, no default port, no fragment, no tracking parameters,
    remaining query parameters sorted (w3lib's canonicalize_url)."""
    url = url.strip()
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host
    if port and not ((parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)):
        netloc = f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    rebuilt = urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", urlencode(query), ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


def same_site(url_a: str, url_b: str) -> bool:
    """Whether two URLs share a host (ignoring a leading www.)."""
    a = (urlsplit(url_a).hostname or "").removeprefix("www.")
    b = (urlsplit(url_b).hostname or "").removeprefix("www.")
    return bool(a) and a == b
