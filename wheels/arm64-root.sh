#!/usr/bin/env bash
# An aarch64 userland to run the aarch64 wheel under qemu-user (`make wheels-test`, docs/wheel.md):
# the host distribution's arm64 packages of sqlite3 (the shell, to load the `.so` into) and
# coreutils (a `sleep` to inspect), with what they need, unpacked into ROOT (no install, no
# maintainer scripts), for `qemu-aarch64-static -L ROOT ROOT/usr/bin/sqlite3 ...`.
#
#   wheels/arm64-root.sh ROOT
#
# apt runs with a state of its own beside ROOT (ROOT.apt: its lists and downloads) and a sources
# list of its own naming the host's release on the distribution's arm64 mirror (Debian:
# deb.debian.org, Ubuntu: ports.ubuntu.com), signed by the host's keyring: the machine's apt
# (its architectures, sources, lists) is left as it was, and root is not needed. Made once: ROOT
# holds a stamp with the package list; delete ROOT to make it again.
set -euo pipefail

root=${1:?usage: wheels/arm64-root.sh ROOT}
mkdir -p "$root"
root=$(cd "$root" && pwd)  # apt takes relative paths as relative to /etc/apt
packages="sqlite3 coreutils"
stamp="$root/.made-from"

if [ "$(cat "$stamp" 2>/dev/null)" = "$packages" ]; then
  exit 0
fi

# shellcheck disable=SC1091
. /etc/os-release
codename=${VERSION_CODENAME:-}
case "${ID:-}" in
  debian)
    mirror="http://deb.debian.org/debian"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    suites="$codename $codename-updates"
    ;;
  ubuntu)
    mirror="http://ports.ubuntu.com/ubuntu-ports"
    keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg
    suites="$codename $codename-updates"
    ;;
  *)
    echo "wheels/arm64-root.sh: only Debian and Ubuntu hosts are known (this is ${ID:-unknown});" \
      "unpack an aarch64 sqlite3 and coreutils with their libraries into $root by hand" >&2
    exit 1
    ;;
esac
[ -n "$codename" ] || { echo "wheels/arm64-root.sh: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }
[ -r "$keyring" ] || { echo "wheels/arm64-root.sh: no $keyring to check the packages with" >&2; exit 1; }

apt_dir="$root.apt"
rm -rf "$root" "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/parts" \
  "$apt_dir/preferences.d" "$apt_dir/debs" "$root"
: >"$apt_dir/status"
for suite in $suites; do
  echo "deb [arch=arm64 signed-by=$keyring] $mirror $suite main"
done >"$apt_dir/sources.list"

apt_opts=(
  -o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts="$apt_dir/parts"
  -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$apt_dir/preferences.d"
  -o Dir::State::Lists="$apt_dir/lists" -o Dir::State::status="$apt_dir/status"
  -o Dir::Cache="$apt_dir/cache" -o APT::Sandbox::User="$(id -un)"
  -o Acquire::Languages=none -o Debug::NoLocking=true
)
echo "arm64 packages: apt-get update ($mirror, $suites)"
apt-get "${apt_opts[@]}" -qq --error-on=any update

# What the two need at run time: their Depends and Pre-Depends, recursively (nothing is
# configured, so the rest, such as dpkg's, is only unpacked).
mapfile -t closure < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances $packages | grep -v '^ ' | grep -v '^<' | sort -u)
[ ${#closure[@]} -gt 5 ] || { echo "wheels/arm64-root.sh: apt found no arm64 $packages" >&2; exit 1; }
echo "arm64 packages: ${closure[*]}"
(cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download "${closure[@]}")
for deb in "$apt_dir"/debs/*.deb; do
  dpkg-deb -x "$deb" "$root"
done
# A merged-/usr release ships /lib and /bin only as symlinks made by base-files' setup, which
# nothing here runs: the loader is looked up as /lib/ld-linux-aarch64.so.1.
for d in bin lib sbin; do
  if [ ! -e "$root/$d" ] && [ -d "$root/usr/$d" ]; then ln -s "usr/$d" "$root/$d"; fi
done
for f in lib/ld-linux-aarch64.so.1 usr/bin/sqlite3; do
  [ -e "$root/$f" ] || { echo "wheels/arm64-root.sh: $root/$f is missing" >&2; exit 1; }
done
[ -e "$root/bin/sleep" ] || [ -e "$root/usr/bin/sleep" ] || { echo "wheels/arm64-root.sh: no sleep in $root" >&2; exit 1; }
echo "$packages" >"$stamp"
echo "arm64 userland in $root ($(du -sh "$root" | cut -f1))"
