"""morgue: a news scraper and archiver.

The ``morgue`` package holds the command line, configuration (seed files, data directory) and the demo
site. The work itself lives in three sibling packages: ``crawler`` (Scrapy), ``extract`` (article text and
metadata, no Scrapy) and ``archive`` (WARC files and the SQLite index, no Scrapy).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
