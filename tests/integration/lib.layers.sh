#!/usr/bin/env bash
# The map of the code (docs/ARCHITECTURE.md §13) against the code: every
# module includes only headers of modules on its own floor or below, the
# module include graph has no cycle, private headers stay in their folder,
# and every src/ folder is on the map.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
exec python3 - "$ROOT" <<'PY'
import os, re, sys
root = sys.argv[1]
doc = open(os.path.join(root, "docs/ARCHITECTURE.md")).read()
sec = doc.split("## 13. Map of the code", 1)
if len(sec) != 2:
    sys.exit("lib.layers: docs/ARCHITECTURE.md has no '## 13. Map of the code' section")
floor = {}   # header name -> floor
folder_of = {}
for line in sec[1].splitlines():
    m = re.match(r"\|\s*(\d+)\s*\|([^|]*)\|", line)
    if not m:
        continue
    for f in re.findall(r"`([a-z0-9_/]+)`", m.group(2)):
        name = f.rsplit("/", 1)[-1]
        floor[name] = int(m.group(1))
        folder_of[name] = f
if len(floor) < 10:
    sys.exit("lib.layers: could not read the floor table (%d modules)" % len(floor))
src = os.path.join(root, "src")
bad = []
edges = {}
seen_folders = set()
for dirpath, dirs, files in os.walk(src):
    rel = os.path.relpath(dirpath, src)
    cfiles = [f for f in files if f.endswith((".c", ".h"))]
    if rel == "." or not cfiles:
        continue
    mod = rel.rsplit("/", 1)[-1]
    seen_folders.add(rel)
    if mod not in floor or folder_of[mod] != rel:
        bad.append("src/%s is not on the map (docs/ARCHITECTURE.md §13)" % rel)
        continue
    for f in cfiles:
        text = open(os.path.join(dirpath, f), errors="replace").read()
        for h in re.findall(r'#include\s+"vmesh/([a-z0-9_]+)\.h"', text):
            if h == mod:
                continue
            if h not in floor:
                bad.append("src/%s/%s includes vmesh/%s.h, a header of no module on the map" % (rel, f, h))
                continue
            edges.setdefault(mod, set()).add(h)
            if floor[h] > floor[mod]:
                bad.append("src/%s/%s (floor %d) includes vmesh/%s.h (floor %d): a call upwards"
                           % (rel, f, floor[mod], h, floor[h]))
        for h in re.findall(r'#include\s+"([a-z0-9_/.]*_int\.h)"', text):
            if "/" in h and os.path.dirname(h) != rel:
                bad.append("src/%s/%s includes the private header %s of another folder" % (rel, f, h))
# cycles
state = {}
def dfs(n, path):
    state[n] = 1
    for m in sorted(edges.get(n, ())):
        if state.get(m) == 1:
            bad.append("include cycle: " + " -> ".join(path + [n, m]))
        elif m not in state:
            dfs(m, path + [n])
    state[n] = 2
for n in sorted(edges):
    if n not in state:
        dfs(n, [])
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("lib.layers: %d modules, %d folders, %d include edges, no upward call, no cycle"
      % (len(floor), len(seen_folders), sum(len(v) for v in edges.values())))
PY
