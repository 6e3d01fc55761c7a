#!/usr/bin/python3
"""bytes_jsonl.py - turns JSONL documents ({"id", "text"}) into byte-level token ids: each UTF-8 byte b
becomes id b+3 (0-2 are left for unk/BOS/EOS), vocabulary 259. Real documents, real lengths, and a
decoding anyone can check: `bytes_jsonl.py --decode` maps ids back to text."""
import json, sys
if len(sys.argv) > 1 and sys.argv[1] == "--decode":
    for line in sys.stdin:
        r = json.loads(line)
        print(json.dumps({"id": r["id"], "text": bytes(i - 3 for i in r["ids"]).decode()}))
else:
    for line in sys.stdin:
        r = json.loads(line)
        print(json.dumps({"id": r["id"], "ids": [b + 3 for b in r["text"].encode()]}))
