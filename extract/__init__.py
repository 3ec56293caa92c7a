"""Article extraction without the begging: trafilatura plus layered boilerplate removal and metadata.

No Scrapy here: pure functions over (page bytes, URL, site rules), so reindexing and tests need no crawler.
"""

from .article import EXTRACTOR_VERSION, extract_article
from .blocks import block_hash
from .boilerplate.repeated import learn_repeated
from .model import Extraction, RemovedBlock
from .rules import SiteRules

__all__ = [
    "EXTRACTOR_VERSION",
    "Extraction",
    "RemovedBlock",
    "SiteRules",
    "block_hash",
    "extract_article",
    "learn_repeated",
]
