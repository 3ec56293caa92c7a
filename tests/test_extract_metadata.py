"""Metadata: JSON-LD with time zones, author lists, paywall flag, fallbacks to meta tags."""

from pathlib import Path

from extract import extract_article
from extract.metadata import iso_date

FIXTURES = Path(__file__).parent / "fixtures" / "extract"


def test_json_ld_metadata_with_time_zone_and_paywall():
    r = extract_article((FIXTURES / "metadata_jsonld.html").read_bytes())
    assert r.title == "Grève des contrôleurs aériens : des centaines de vols annulés"
    assert r.authors == ["Claire Martin", "Jules Petit"]
    assert r.published == "2024-03-14T06:30:00+01:00"
    assert r.modified == "2024-03-14T09:05:00+01:00"
    assert r.site_name == "Le Quotidien" and r.language == "fr" and r.section == "Économie"
    assert r.tags == ["grève", "aviation"]
    assert r.image == "https://quotidien.example.test/img/greve.jpg"
    assert r.canonical_url == "https://quotidien.example.test/eco/greve-controleurs"
    assert r.description == "Des centaines de vols annulés jeudi."
    assert r.paywalled is True
    assert "réservée aux abonnés" not in r.text
    d = r.to_dict()
    assert d["removed"][0]["reason"] in ("structure", "phrase") and d["extractor"].startswith(
        "morgue-extract/"
    )


def test_paywall_marker_without_json_ld():
    html = (
        "<html><head><title>T</title></head><body><article><h1>Budget vote</h1>"
        + "<p>The budget passed by a narrow margin after a night of negotiations in the chamber.</p>" * 3
        + "<p>Subscribe to continue reading this article.</p></article></body></html>"
    )
    r = extract_article(html)
    assert r.paywalled is True and "Subscribe to continue" not in r.text


def test_free_article_is_not_paywalled():
    r = extract_article((FIXTURES / "donation_hashed.html").read_bytes())
    assert r.paywalled is False and r.authors == [] and r.published is None


def test_iso_dates():
    assert iso_date("2024-05-22T13:47:02+0100") == "2024-05-22T13:47:02+01:00"
    assert iso_date("2024-05-22T12:47:02Z") == "2024-05-22T12:47:02+00:00"
    assert iso_date("2024-05-22 13:47") == "2024-05-22T13:47:00"
    assert iso_date("2024-05-22") == "2024-05-22"
    assert iso_date("yesterday") is None and iso_date(None) is None
