#!/usr/bin/env bash
# Installs the Debian 12 packages vmesh needs to build, test, run the demo and
# benchmark, if any is missing. Idempotent; needs root (or sudo) only when
# something has to be installed.
set -eu
pkgs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev libjansson-dev libjose-dev libyaml-dev
      libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libtss2-dev libcmocka-dev
      openssl jose curl nginx-light haproxy wrk stunnel4 swtpm swtpm-tools tpm2-tools
      gnuplot-nox iproute2 procps python3 chromium
      strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins
      iputils-ping tcpdump
      podman runc catatonit containernetworking-plugins iptables python3-yaml
      prometheus systemd)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
