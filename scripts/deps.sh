#!/usr/bin/env bash
# Install what baleia needs on a Debian (bookworm) machine, as root: build tools, the kernel tools the
# engine and labs use, and the third-party tools the tests compare against. Idempotent.
set -euo pipefail

packages=(
  # building
  gcc make pkg-config git ca-certificates
  # the lab images (labs/images/build.sh)
  debootstrap busybox-static jq tar gzip zstd binutils file
  # the tests: skopeo reads our archives, setpriv runs a command as a non-root user, a qemu guest
  # with a pure cgroup v2 hierarchy runs the cgroup v2 checks (this host is hybrid v1)
  skopeo util-linux qemu-system-x86 cpio xz-utils
  # the registry tests and bench/pull.sh: a real registry (distribution v2) on 127.0.0.1, and
  # htpasswd to make the bcrypt password file of its basic-auth variant
  docker-registry apache2-utils
  # the daemon tests drive `baleia daemon` with Debian's docker client (dockerd is never started by
  # them); openssl makes the CA and certificates of the --tlsverify test
  docker.io openssl
  # kernel plumbing the engine and labs show; curl plays the notes' outside client
  iproute2 iptables procps curl bridge-utils tcpdump
  # the lab runner's observations: libpcap-dev to build the pcap crate (capture), tshark to read
  # back the .pcap files it writes (tests), ping for the capture tests' traffic
  libpcap-dev tshark iputils-ping
)
# The book's tests (scripts/test.sh sets BALEIA_BOOK_DEPS): headless Chromium renders a chapter.
[ -z "${BALEIA_BOOK_DEPS:-}" ] || packages+=(chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No service may start because of this install (docker.io would start dockerd, and with it
  # docker0 and its iptables rules): policy-rc.d says no while apt runs.
  policy=/usr/sbin/policy-rc.d
  [ -e "$policy" ] && mv "$policy" "$policy.baleia-saved"
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
  trap 'rm -f "$policy"; [ -e "$policy.baleia-saved" ] && mv "$policy.baleia-saved" "$policy"' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f "$policy"
  [ -e "$policy.baleia-saved" ] && mv "$policy.baleia-saved" "$policy"
  trap - EXIT
fi

# The cgroup v2 guest fetches Debian's kernel package by name: that needs package lists.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  apt-get update -qq
fi

if ! command -v cargo >/dev/null 2>&1; then
  for c in "$HOME/.cargo/bin/cargo" /usr/local/cargo/bin/cargo; do
    [ -x "$c" ] && export PATH="$(dirname "$c"):$PATH" && break
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: no Rust toolchain found. Install one with rustup (Rust 1.85 or newer; Debian's packaged rustc is too old), then run this again." >&2
  exit 1
fi

# The book is built by mdbook 0.5, from crates.io; kept in ~/.cargo/bin once installed.
export PATH="$PATH:$HOME/.cargo/bin"
if [ -n "${BALEIA_BOOK_DEPS:-}" ] && ! mdbook --version 2>/dev/null | grep -q '^mdbook v0\.5\.'; then
  echo "deps: installing mdbook 0.5 from crates.io (a few minutes, once)"
  cargo install --quiet --locked mdbook --version '^0.5'
fi
