#!/usr/bin/python3
"""validate.py SCHEMA FILE... - validates JSON or JSONL files against a JSON Schema (Debian's
python3-jsonschema). Prints one line per invalid record ("FILE:LINE: message") and exits 1 if any."""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            for e in validator.iter_errors(json.loads(line)):
                print(f"{path}:{n}: {e.message}")
                bad += 1
sys.exit(1 if bad else 0)
