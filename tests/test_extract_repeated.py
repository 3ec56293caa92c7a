"""Per-site learning of repeated blocks over several pages of one fake site."""

from pathlib import Path

from extract import block_hash, extract_article, learn_repeated

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
SIGN_OFF = "Reporting by the Valley Courier newsroom. Corrections: write to the desk editor at any time."
RADIO = "Follow the Valley Courier on the radio every Sunday morning for the weekly round-up."


def pages():
    return [(FIXTURES / f"site_page_{n}.html").read_bytes() for n in range(1, 6)]


def test_learns_site_blocks_and_removes_them_without_losing_body():
    first = [extract_article(p) for p in pages()]
    repeated = learn_repeated([r.blocks for r in first])
    assert repeated == {block_hash(SIGN_OFF), block_hash(RADIO)}
    for n, page in enumerate(pages(), start=1):
        before = first[n - 1]
        after = extract_article(page, known_repeated=repeated)
        assert SIGN_OFF not in after.text and RADIO not in after.text
        for k in range(1, 5):
            assert f"Paragraph {k} about" in after.text and f"day {n * 10 + k}," in after.text
        assert {b.reason for b in after.removed} == {"repeated"}
        assert after.blocks == before.blocks  # learning input is taken before repeated-removal


def test_thresholds():
    assert learn_repeated([["a", "b"], ["a"], ["c"]], min_pages=2) == {"a"}
    assert learn_repeated([["a"], ["a"]], min_pages=3) == set()
    ten = [["x"]] * 3 + [["y"]] * 7
    assert learn_repeated(ten, min_pages=3, min_share=0.3) == {"x", "y"}
    assert learn_repeated(ten, min_pages=3, min_share=0.5) == {"y"}
    assert learn_repeated([["a", "a"], ["a"], ["a"]]) == {"a"}  # a page counts once


def test_block_hash_normalises_case_and_space():
    assert block_hash("Sign up  for\nour newsletter") == block_hash("sign up for our NEWSLETTER")
    assert block_hash("a") != block_hash("b")
    assert len(block_hash("x")) == 16
