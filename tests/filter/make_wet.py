#!/usr/bin/env python3
"""make_wet.py - writes a WET file for a WARC file made by make_warc.py, in Common Crawl's layout (stdlib only).

usage: make_wet.py WARC OUT MODE [--bad-utf8] [--empty]
MODE: plain | gzip-records (one gzip member per record, as CC's .warc.wet.gz)
For every HTTP 200 text/html response (and resource) record of WARC, one conversion record: WARC-Type
conversion, WARC-Target-URI and WARC-Date of the page, a new WARC-Record-ID, WARC-Refers-To naming the
response record, WARC-Block-Digest (sha1, base32), Content-Type text/plain, exact Content-Length; its
text is the page's text by Python's html.parser (script/style dropped, blank lines squeezed), standing
in for Common Crawl's own extractor. A warcinfo record comes first. Prints "URI<TAB>RESPONSE-ID" per page
to stdout. --bad-utf8 / --empty add a conversion record with invalid UTF-8 / an empty block."""
import base64, gzip, hashlib, html.parser, re, sys, uuid

class Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.skip = [], 0
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"): self.skip += 1
        if tag in ("p", "div", "br", "li", "h1", "h2", "h3", "tr", "pre", "title"): self.out.append("\n")
    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip: self.skip -= 1
    def handle_data(self, d):
        if not self.skip: self.out.append(d)

def page_text(body, charset="utf-8"):
    p = Text()
    p.feed(body.decode(charset, "replace"))
    lines = [re.sub(r"\s+", " ", l).strip() for l in "".join(p.out).split("\n")]
    return "\n".join(l for l in lines if l)

def warc_records(data):
    i = 0
    while True:
        j = data.find(b"WARC/", i)
        if j < 0: return
        h_end = data.index(b"\r\n\r\n", j)
        head = data[j:h_end].decode()
        hdr = dict(l.split(": ", 1) for l in head.split("\r\n")[1:])
        n = int(hdr["Content-Length"])
        yield hdr, data[h_end + 4:h_end + 4 + n]
        i = h_end + 4 + n

def record(hdrs, block):
    digest = "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode()
    head = "WARC/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in hdrs) + \
           "WARC-Block-Digest: %s\r\nContent-Length: %d\r\n\r\n" % (digest, len(block))
    return head.encode() + block + b"\r\n\r\n"

def main():
    warc, out, mode = sys.argv[1:4]
    flags = sys.argv[4:]
    data = open(warc, "rb").read()
    recs = [record([("WARC-Type", "warcinfo"), ("WARC-Date", "2024-03-10T00:00:00Z"),
                    ("WARC-Filename", out), ("WARC-Record-ID", "<urn:uuid:%s>" % uuid.UUID(int=1 << 100)),
                    ("Content-Type", "application/warc-fields")],
                   b"Software-Info: make_wet.py\r\nExtracted-Date: Sun, 10 Mar 2024 00:00:00 GMT\r\n")]
    k = 0
    for hdr, block in warc_records(data):
        t = hdr.get("WARC-Type")
        if t == "response":
            head, _, body = block.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            if " 200 " not in lines[0] + " ": continue
            ct = [l.split(": ", 1)[1] for l in lines[1:] if l.lower().startswith("content-type:")]
            if not ct or not ct[0].startswith("text/html"): continue
        elif t == "resource":
            body = block
            if not hdr.get("Content-Type", "").startswith("text/html"): continue
        else:
            continue
        k += 1
        text = page_text(body).encode()
        recs.append(record([("WARC-Type", "conversion"), ("WARC-Target-URI", hdr["WARC-Target-URI"]),
                            ("WARC-Date", hdr["WARC-Date"]), ("WARC-Record-ID", "<urn:uuid:%s>" % uuid.UUID(int=(1 << 101) + k)),
                            ("WARC-Refers-To", hdr["WARC-Record-ID"]), ("Content-Type", "text/plain")], text))
        print("%s\t%s" % (hdr["WARC-Target-URI"], hdr["WARC-Record-ID"]))
    extra = []
    if "--bad-utf8" in flags: extra.append(b"caf\xe9 latin-1 bytes in a WET record")
    if "--empty" in flags: extra.append(b"")
    for j, block in enumerate(extra):
        recs.append(record([("WARC-Type", "conversion"), ("WARC-Target-URI", "http://test.example/extra/%d" % j),
                            ("WARC-Date", "2024-03-09T00:00:00Z"), ("WARC-Record-ID", "<urn:uuid:%s>" % uuid.UUID(int=(1 << 102) + j)),
                            ("Content-Type", "text/plain")], block))
    with open(out, "wb") as f:
        if mode == "plain":
            f.write(b"".join(recs))
        elif mode == "gzip-records":
            for r in recs: f.write(gzip.compress(r, mtime=0))
        else:
            sys.exit("unknown mode " + mode)

main()
