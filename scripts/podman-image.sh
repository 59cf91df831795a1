#!/usr/bin/env bash
# Builds the images deploy/k8s refers to, vmesh:0.1.0 and vmesh-rvp-nginx:0.1.0,
# from a build tree and this host's files, with no registry: the vmesh binary,
# /bin/sh, sed, sleep, chown and chmod (the manifests' shell commands), nginx for the RVP image,
# and the shared libraries `ldd` lists for them, assembled into a root file
# system and imported with `podman import` (a FROM-scratch image). For a
# registry and other machines, deploy/Dockerfile builds the same images from
# debian:12-slim.
#
#   scripts/podman-image.sh [--vmesh PATH] [--tag TAG] [--rootfs-only DIR]
#
# --vmesh   the binary (default: build/src/cli/vmesh)
# --tag     image tag (default 0.1.0): vmesh:TAG and vmesh-rvp-nginx:TAG
# --rootfs-only DIR   assemble the root file system in DIR and stop
# Prints the image names it created, one a line. Both images share one root
# file system (about 20 MB plus the binary) and differ in ENTRYPOINT/CMD.
# The uid 10001 (user "vmesh") is the one the manifests run as.
# A binary built with -DVMESH_SANITIZE=ON gets ASAN_OPTIONS=detect_leaks=0 in
# its environment: LeakSanitizer needs ptrace, which containers deny.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
VMESH_IN=$SRC/build/src/cli/vmesh
TAG=0.1.0
ROOTFS_ONLY=
while [ $# -gt 0 ]; do
    case $1 in
        --vmesh) VMESH_IN=$2; shift 2 ;;
        --tag) TAG=$2; shift 2 ;;
        --rootfs-only) ROOTFS_ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "podman-image: unknown option $1 (see --help)" >&2; exit 1 ;;
    esac
done
[ -x "$VMESH_IN" ] || { echo "podman-image: no vmesh binary at $VMESH_IN (build first, or --vmesh PATH)" >&2; exit 1; }
for t in ldd tar; do command -v $t >/dev/null || { echo "podman-image: $t missing" >&2; exit 1; }; done
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || { echo "podman-image: nginx missing (apt-get install nginx-light)" >&2; exit 1; }

if [ -n "$ROOTFS_ONLY" ]; then R=$ROOTFS_ONLY; mkdir -p "$R"; else
    command -v podman >/dev/null || { echo "podman-image: podman missing (apt-get install podman)" >&2; exit 1; }
    R=$(mktemp -d "${TMPDIR:-/tmp}/vmesh-rootfs.XXXXXX"); trap 'rm -rf "$R"' EXIT
fi

# copy FILE: the file at the same path in the root file system, plus the
# libraries ldd lists for it (resolved through symlinks, kept under their names).
copy_file() {
    local f=$1 dest=$R$1
    mkdir -p "$(dirname "$dest")"
    cp -L "$f" "$dest"
}
copy_with_libs() {
    local bin=$1 to=${2:-$1} lib
    mkdir -p "$R$(dirname "$to")"
    cp -L "$bin" "$R$to"
    # "name => /path (addr)" and "/lib64/ld-linux-x86-64.so.2 (addr)"
    for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        [ -e "$R$lib" ] || copy_file "$lib"
    done
}
mkdir -p "$R"/{bin,etc,tmp,usr/local/bin,var/lib/vmesh,srv/rvp/www,run,proc,sys,dev}
chmod 1777 "$R/tmp"
copy_with_libs "$VMESH_IN" /usr/local/bin/vmesh
copy_with_libs /usr/bin/dash /bin/sh
copy_with_libs "$(command -v sed)" /bin/sed
copy_with_libs "$(command -v sleep)" /bin/sleep
copy_with_libs "$(command -v chown)" /bin/chown     # the DaemonSet's state-owner init container
copy_with_libs "$(command -v chmod)" /bin/chmod
copy_with_libs "$NGINX" /usr/sbin/nginx
# glibc's resolver loads NSS modules at run time (ldd does not see them):
# files for /etc/hosts (hostAliases), dns for the pod's resolv.conf.
for m in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2 \
         /lib/x86_64-linux-gnu/libresolv.so.2; do
    [ -e "$m" ] && copy_file "$m"
done
ln -sf /usr/local/bin/vmesh "$R/bin/vmesh"
cat > "$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
vmesh:x:10001:10001:vmesh:/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat > "$R/etc/group" <<'EOF'
root:x:0:
vmesh:x:10001:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$R/etc/nsswitch.conf"
# nginx opens these before reading -c (compiled-in defaults); the ConfigMap's
# configuration then moves everything to /tmp.
mkdir -p "$R/var/log/nginx" "$R/var/lib/nginx" "$R/etc/nginx"
chown -R 10001:10001 "$R/var/lib/vmesh" "$R/srv/rvp/www" "$R/var/lib/nginx" "$R/var/log/nginx"
[ -n "$ROOTFS_ONLY" ] && { echo "$R"; exit 0; }

env_change=()
if nm -D "$VMESH_IN" 2>/dev/null | grep -q __asan_init || grep -qa __asan_init "$VMESH_IN"; then
    env_change=(--change "ENV=ASAN_OPTIONS=detect_leaks=0")
fi
tar -C "$R" --numeric-owner -cf "$R.tar" .
trap 'rm -rf "$R" "$R.tar"' EXIT
podman import -q "${env_change[@]}" --change 'ENV=PATH=/usr/local/bin:/usr/sbin:/usr/bin:/bin' --change 'USER=10001:10001' \
    --change 'ENTRYPOINT=["/usr/local/bin/vmesh"]' --change 'CMD=["--help"]' \
    "$R.tar" "localhost/vmesh:$TAG" >/dev/null
# The RVP image: the same files, nginx as the entry point (a Containerfile,
# since `podman import --change` splits "daemon off;" at the space).
printf '%s\n' "FROM localhost/vmesh:$TAG" 'ENTRYPOINT ["/usr/sbin/nginx"]' \
    'CMD ["-c", "/etc/vmesh-rvp/nginx.conf", "-g", "daemon off;"]' > "$R.containerfile"
trap 'rm -rf "$R" "$R.tar" "$R.containerfile"' EXIT
podman build -q --pull=never -f "$R.containerfile" -t "localhost/vmesh-rvp-nginx:$TAG" "$R/etc" >/dev/null
echo "localhost/vmesh:$TAG"
echo "localhost/vmesh-rvp-nginx:$TAG"
