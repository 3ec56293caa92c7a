"""An identical copy of a page morgue already archived, fetched by another tool (``wget --warc-file``)
and imported, is the same version, not a new one: it is extracted as the site's own crawl extracts it
(the site's rules, learned blocks and template), so its text is compared like with like.

Last session's WACZ fixture imported such a copy and sometimes got a spurious third version of the
edited article: an imported page was filed under its bare host name instead of the crawled site, so it
was extracted without the site's template and blocks, and its text differed from the crawl's whenever
those changed what was kept."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import SiteProcess, run_morgue
from tests.test_import import _wget
from tests.test_reindex import EDITED, build_archive


def test_an_identical_copy_from_wget_is_no_new_version(tmp_path: Path) -> None:
    copy = tmp_path / "copy"

    def fetch(site: SiteProcess) -> None:
        work = tmp_path / "wget"
        work.mkdir()
        subprocess.run([_wget(), "-q", "--page-requisites", "--warc-file=" + str(copy), site.url(EDITED)],
                       cwd=work, check=False, timeout=120)

    data, base_url = build_archive(tmp_path, fetch)
    db = data / "morgue.db"

    def versions() -> list[tuple[int, str, str]]:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT version, text_hash, site FROM articles WHERE url = ? "
                                "ORDER BY version",
                                [base_url + EDITED]).fetchall()
        finally:
            conn.close()

    before = versions()
    assert [v for v, _, _ in before] == [1, 2]
    result = run_morgue("import", f"{copy}.warc.gz", "--all-pages", "--data", str(data))
    assert result.code == 0, result.stderr
    assert "articles: 1 unchanged" in result.stdout, result.stdout
    assert versions() == before
    conn = sqlite3.connect(db)
    try:
        imported = conn.execute("SELECT site FROM captures WHERE warc_file = ? AND url = ?",
                                [copy.name + ".warc.gz", base_url + EDITED]).fetchall()
    finally:
        conn.close()
    assert imported == [("gazette",)]  # filed under the crawled site, as the crawl filed the page


