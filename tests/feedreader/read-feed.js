// Read a feed from stdin with node-feedparser and print what a feed reader takes from it, as JSON:
// the feed's meta and each item's id (guid), title, links, dates and summary. Exit 1 with the parser's
// error on stderr if it cannot read the feed.
"use strict";
const FeedParser = require("feedparser");

const parser = new FeedParser({ addmeta: false });
const items = [];
let meta = null;
parser.on("error", (err) => {
  process.stderr.write(`feedparser: ${err.message}\n`);
  process.exit(1);
});
parser.on("meta", (m) => { meta = m; });
parser.on("readable", function () {
  let item;
  while ((item = this.read())) {
    items.push({
      guid: item.guid,
      title: item.title,
      raw_title: item["atom:title"] ? item["atom:title"]["#"] : null,
      link: item.link,
      links: (item["atom:link"] ? [].concat(item["atom:link"]) : []).map((l) => l["@"]),
      summary: item.summary,
      description: item.description,
      pubdate: item.pubdate ? item.pubdate.toISOString() : null,
      date: item.date ? item.date.toISOString() : null,
      categories: item.categories,
      authors: item.author,
    });
  }
});
parser.on("end", () => {
  const when = (d) => (d ? d.toISOString() : null);
  process.stdout.write(JSON.stringify({
    meta: meta && { title: meta.title, link: meta.link, xmlurl: meta.xmlurl, date: when(meta.date),
                    type: meta["#type"], version: meta["#version"] },
    items,
  }));
});
process.stdin.pipe(parser);
