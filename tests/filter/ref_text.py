#!/usr/bin/python3
"""ref_text.py FILE.html - the reference extractor for tests/filter/t_extract.sh: Python's own
html.parser, printing all text outside script/style/head with whitespace collapsed to single spaces.
spindle extract keeps a subset of it (boilerplate dropped), so each of its lines must occur here."""
import html.parser, re, sys

INLINE = {"a", "b", "i", "em", "strong", "code", "span", "samp", "var", "kbd", "tt", "small", "sup", "sub",
          "abbr", "cite", "q", "u", "s", "font", "dfn", "acronym", "big", "mark", "time", "bdi", "bdo", "wbr"}

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.out = []
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        if tag not in INLINE:
            self.out.append(" ")
    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title") and self.skip:
            self.skip -= 1
        if tag not in INLINE:
            self.out.append(" ")
    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)

p = P()
p.feed(open(sys.argv[1], encoding=sys.argv[2] if len(sys.argv) > 2 else "utf-8", errors="replace").read())
print(re.sub(r"\s+", " ", "".join(p.out).replace("\u00a0", " ")).strip())
