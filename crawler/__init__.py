"""morgue's Scrapy project: spiders that discover news articles, and the components that archive every
HTTP exchange to WARC (before decompression) and send article pages to extraction and the index.

Only this package imports Scrapy; it turns Scrapy objects into plain values for ``archive`` and ``extract``.
"""
