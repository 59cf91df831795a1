#!/usr/bin/env python3
"""Replace one section of docs/BENCHMARKS.md (between <!-- bench:NAME --> and
<!-- /bench:NAME -->) with the text on stdin, creating it if missing."""
import sys, re, os
name, path = sys.argv[1], sys.argv[2]
body = sys.stdin.read().rstrip() + "\n"
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\nWritten by `make bench` (bench/run.sh). Ratios and medians are what to read: these machines are shared and noisy.\n"
block = f"{start}\n{body}{end}"
if start in text and end in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda m: block, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(path, "w").write(text)
