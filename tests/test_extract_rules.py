"""Per-site drop/keep rules from a seed file's [extract] table."""

from pathlib import Path

import pytest

from extract import SiteRules, extract_article

PAGE = (Path(__file__).parent / "fixtures" / "extract" / "donation_hashed.html").read_bytes()


def test_drop_rule_css_and_xpath():
    rules = SiteRules.from_mapping(
        {"drop": ["div.zz-91af > p:nth-of-type(2)", "//p[contains(., 'The mayor said')]"]}
    )
    result = extract_article(PAGE, rules=rules)
    assert "14 million euros" not in result.text and "The mayor said" not in result.text
    assert "voted on Tuesday" in result.text
    rule_blocks = [b for b in result.removed if b.reason == "rule"]
    assert len(rule_blocks) == 2 and rule_blocks[1].detail.startswith("drop //p")


def test_keep_rule_protects_a_box():
    rules = SiteRules.from_mapping({"keep": [".f00d9"]})
    result = extract_article(PAGE, rules=rules)
    assert "The day's local news, straight to your inbox every weekday at seven." in result.text
    assert "Your donation keeps" not in result.text  # other boxes still go


@pytest.mark.parametrize(
    "data, message",
    [
        ({"drop": ["p[["]}, "bad extract rule selector"),
        ({"drop": ["//p[("]}, "bad extract rule selector"),
        ({"dropp": ["p"]}, "unknown key"),
        ({"keep": 3}, "must be a list"),
        ({"drop": [""]}, "non-empty"),
        ("drop", "must be a table"),
    ],
)
def test_bad_rules_raise_clear_value_errors(data, message):
    with pytest.raises(ValueError, match=message):
        SiteRules.from_mapping(data)


def test_single_string_is_a_list():
    assert SiteRules.from_mapping({"drop": ".ad"}).drop == [".ad"]
