#!/usr/bin/env python3
"""make_warc.py - writes WARC test files for tests/filter/t_extract.sh (stdlib only).

usage: make_warc.py OUT MODE SPEC...
MODE: plain | gzip-records (one gzip member per record, as Common Crawl) | gzip-whole
SPEC: KIND:FILE[:CONTENT_TYPE] where KIND is
  response  an HTTP 200 response whose body is FILE (Content-Type header CONTENT_TYPE, default text/html)
  resource  a resource record holding FILE
  request   a request record (to be skipped)
  status404 an HTTP 404 response
  coded     an HTTP 200 response whose body is FILE as it is, sent with "Content-Encoding: CONTENT_TYPE"
            (the third field names the coding here; the Content-Type is text/html)
  truncated a response whose gzip member is cut in half (gzip-records only)
A warcinfo record comes first. Record ids are <urn:uuid:...> derived from the index."""
import gzip, sys, uuid

def record(wtype, uri, body, ctype, idx):
    rid = "<urn:uuid:%s>" % uuid.UUID(int=idx + 1)
    head = ("WARC/1.1\r\nWARC-Type: %s\r\nWARC-Record-ID: %s\r\nWARC-Date: 2024-03-0%dT12:00:00Z\r\n"
            "WARC-Target-URI: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (wtype, rid, 1 + idx % 9, uri, ctype, len(body)))
    return head.encode() + body + b"\r\n\r\n"

def http(status, ctype, body, coding=None):
    reason = {200: "OK", 404: "Not Found"}[status]
    enc = "Content-Encoding: %s\r\n" % coding if coding else ""
    h = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %d\r\nServer: test\r\n\r\n" % (status, reason, ctype, enc, len(body))
    return h.encode() + body

def main():
    out, mode, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    recs = [(record("warcinfo", "", b"software: make_warc.py\r\n", "application/warc-fields", 0), False)]
    for i, spec in enumerate(specs, 1):
        parts = spec.split(":", 2)
        kind, path = parts[0], parts[1]
        ctype = parts[2] if len(parts) > 2 else "text/html"
        body = open(path, "rb").read() if path else b""
        uri = "http://test.example/%d/%s" % (i, path.rsplit("/", 1)[-1])
        if kind in ("response", "truncated"):
            r = record("response", uri, http(200, ctype, body), "application/http; msgtype=response", i)
        elif kind == "coded":
            r = record("response", uri, http(200, "text/html", body, ctype), "application/http; msgtype=response", i)
        elif kind == "status404":
            r = record("response", uri, http(404, ctype, body), "application/http; msgtype=response", i)
        elif kind == "resource":
            r = record("resource", uri, body, ctype, i)
        elif kind == "request":
            r = record("request", uri, b"GET / HTTP/1.1\r\nHost: test.example\r\n\r\n", "application/http; msgtype=request", i)
        else:
            sys.exit("unknown kind " + kind)
        recs.append((r, kind == "truncated"))
    with open(out, "wb") as f:
        if mode == "plain":
            f.write(b"".join(r for r, _ in recs))
        elif mode == "gzip-whole":
            f.write(gzip.compress(b"".join(r for r, _ in recs), mtime=0))
        elif mode == "gzip-records":
            for r, cut in recs:
                z = gzip.compress(r, mtime=0)
                f.write(z[: len(z) // 2] if cut else z)
        else:
            sys.exit("unknown mode " + mode)

main()
