#!/usr/bin/env bash
# libvmesh.so exports its API and nothing else: every symbol in the dynamic
# symbol table is a vmesh_ function or variable declared in include/vmesh
# (module internals such as px_*, cca_rd_*, vmesh_corim__* and test hooks
# stay hidden), every function the headers declare is exported, and the
# library carries its soname.
set -u
[ -f "${VMESH_LIB:-}" ] || { echo "VMESH_LIB not set"; exit 77; }
command -v nm >/dev/null && command -v readelf >/dev/null || { echo "binutils missing"; exit 77; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

nm -D --defined-only "$VMESH_LIB" >"$d/nm" || fail "nm on $VMESH_LIB"
n=$(wc -l <"$d/nm")
[ "$n" -gt 100 ] || fail "only $n exported symbols"
if grep -v ' vmesh_' "$d/nm" >"$d/extra"; then
    fail "exported symbols outside the API: $(head -20 "$d/extra" | tr '\n' ' ')"
fi
echo "ok: $n exported symbols, all vmesh_"
grep -q ' vmesh_corim__\| vmesh_file__' "$d/nm" && fail "internal vmesh_*__ symbols exported"

# What the headers declare (comments and preprocessor lines removed; type
# names excluded) against what the library exports.
python3 - "$VMESH_SRC/include/vmesh" >"$d/declared" <<'PY'
import glob, re, sys
names, types = set(), set()
for h in glob.glob(sys.argv[1] + '/*.h'):
    s = open(h).read()
    s = re.sub(r'/\*.*?\*/', ' ', s, flags=re.S)
    s = re.sub(r'//[^\n]*', ' ', s)
    s = re.sub(r'^[ \t]*#(?:[^\n]*\\\n)*[^\n]*', ' ', s, flags=re.M)
    types.update(re.findall(r'\}\s*(vmesh_\w+)\s*;', s))
    types.update(re.findall(r'typedef\s[^;{]*?\b(vmesh_\w+)\s*;', s))
    names.update(re.findall(r'\b(vmesh_\w+)\s*\(', s))
    names.update(re.findall(r'\bextern\b[^;(]*\b(vmesh_\w+)\s*(?:\[[^\]]*\])?\s*;', s))
print('\n'.join(sorted(names - types)))
PY
awk '{print $3}' "$d/nm" | sed 's/@.*//' | sort -u >"$d/exported"
missing=$(comm -23 "$d/declared" "$d/exported")
[ -z "$missing" ] || fail "declared in include/vmesh but not exported: $(echo $missing)"
extra=$(comm -13 "$d/declared" "$d/exported")
[ -z "$extra" ] || fail "exported but not declared in include/vmesh: $(echo $extra)"
echo "ok: the $(wc -l <"$d/declared") functions and variables of include/vmesh are exactly the exports"

soname=$(readelf -d "$VMESH_LIB" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libvmesh.so.0 ] || fail "soname: '$soname'"
echo "ok: soname $soname"
