#!/usr/bin/env bash
# Build the assets of the cgroup v2 VM test (tests/tests/cgroup_v2_vm.rs): a Debian kernel and an
# initramfs holding busybox, the baleia binary, the busybox lab image and tests/vm/init.
#
#   tests/vm/build.sh OUTDIR        writes OUTDIR/vmlinuz and OUTDIR/initrd.gz
#
# Environment: BALEIA (the binary to put in the guest; default target/release/baleia, built if missing).
# The kernel package is downloaded once with apt-get and cached in ${BALEIA_VM_CACHE:-/var/cache/baleia/vm}.
# Needs: apt-get, dpkg-deb, cpio, gzip, xz-utils, busybox-static (qemu-system-x86 to run it).
set -euo pipefail
shopt -s nullglob
umask 022
export LC_ALL=C

SELF=$(readlink -f -- "${BASH_SOURCE[0]}")
HERE=${SELF%/*}
WORKSPACE=$(cd -- "$HERE/../.." && pwd)
CACHE=${BALEIA_VM_CACHE:-/var/cache/baleia/vm}

die() { printf 'vm/build.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

[[ $# -eq 1 ]] || die "usage: tests/vm/build.sh OUTDIR"
OUT=$(mkdir -p -- "$1" && cd -- "$1" && pwd)

for tool in apt-get apt-cache dpkg-deb cpio gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y cpio)"
done

WORK=$(mktemp -d)
chmod 755 "$WORK"   # apt-get download runs as _apt
trap 'rm -rf -- "$WORK"' EXIT

# --- kernel: the real package behind the linux-image-<arch> metapackage, cached unpacked -------------
case $(uname -m) in
    x86_64) META=linux-image-amd64 ;;
    *) die "only x86_64 is supported" ;;
esac
mkdir -p -- "$CACHE"
PKG=$(apt-cache depends "$META" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
[[ -n $PKG ]] || die "cannot resolve $META (apt-get update?)"
KDIR=$CACHE/$PKG
if [[ ! -f $KDIR/vmlinuz ]]; then
    log "downloading $PKG"
    rm -rf -- "$KDIR.tmp"
    mkdir -p -- "$KDIR.tmp/deb"
    (cd -- "$WORK" && apt-get download "$PKG" >&2) || die "apt-get download $PKG failed"
    debs=("$WORK"/"$PKG"_*.deb)
    [[ ${#debs[@]} -eq 1 ]] || die "no .deb for $PKG"
    dpkg-deb -x "${debs[0]}" "$KDIR.tmp/deb"
    rm -f -- "${debs[@]}"
    vm=("$KDIR.tmp/deb/boot/vmlinuz-"*)
    [[ ${#vm[@]} -eq 1 ]] || die "no vmlinuz in $PKG"
    cp -- "${vm[0]}" "$KDIR.tmp/vmlinuz"
    cp -- "$KDIR.tmp/deb/boot/config-"* "$KDIR.tmp/config"
    # overlay: built in (=y) or a module without dependencies; keep it uncompressed for busybox insmod.
    if grep -q '^CONFIG_OVERLAY_FS=m' "$KDIR.tmp/config"; then
        ko=("$KDIR.tmp/deb/lib/modules/"*/kernel/fs/overlayfs/overlay.ko*)
        [[ ${#ko[@]} -eq 1 ]] || die "overlay module not found in $PKG"
        case ${ko[0]} in
            *.xz) xz -dc -- "${ko[0]}" >"$KDIR.tmp/overlay.ko" ;;
            *.zst) zstd -dcq -- "${ko[0]}" >"$KDIR.tmp/overlay.ko" ;;
            *.gz) gzip -dc -- "${ko[0]}" >"$KDIR.tmp/overlay.ko" ;;
            *) cp -- "${ko[0]}" "$KDIR.tmp/overlay.ko" ;;
        esac
    fi
    rm -rf -- "$KDIR.tmp/deb" "$KDIR"
    mv -- "$KDIR.tmp" "$KDIR"
fi
cp -- "$KDIR/vmlinuz" "$OUT/vmlinuz"

# --- userspace -------------------------------------------------------------------------------------
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || BUSYBOX=/usr/bin/busybox
[[ -x $BUSYBOX ]] || die "busybox is missing (apt-get install -y busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is not static (apt-get install -y busybox-static)"; fi

BALEIA=${BALEIA:-$WORKSPACE/target/release/baleia}
if [[ ! -x $BALEIA ]]; then
    log "building baleia"
    (cd -- "$WORKSPACE" && cargo build --release -p baleia-engine >&2)
fi
[[ -x $BALEIA ]] || die "no baleia binary at $BALEIA"

IMAGE=$(bash "$WORKSPACE/labs/images/build.sh" busybox 2>/dev/null | tail -n 1)
[[ -f $IMAGE ]] || die "labs/images/build.sh busybox gave no archive"

R=$WORK/root
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,lib,usr/bin,usr/sbin,var/lib,images}
cp -- "$BUSYBOX" "$R/bin/busybox"
for applet in $("$BUSYBOX" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$R/bin/$applet"
done
# Stripped when binutils is there: the guest keeps two copies of the initramfs in RAM for a moment.
strip -o "$R/bin/baleia" -- "$BALEIA" 2>/dev/null || cp -- "$BALEIA" "$R/bin/baleia"
# The shared libraries, the loader at its own path.
ldd "$BALEIA" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i}' | sort -u | while read -r lib; do
    mkdir -p -- "$R$(dirname -- "$lib")"
    cp -L -- "$lib" "$R$lib"
done
cp -- "$IMAGE" "$R/images/busybox.tar"
[[ -f $KDIR/overlay.ko ]] && cp -- "$KDIR/overlay.ko" "$R/lib/overlay.ko"
cp -- "$HERE/init" "$R/init"
chmod 755 "$R/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$R/etc/hosts"
printf 'baleia-vm\n' >"$R/etc/hostname"
: >"$R/etc/resolv.conf"
printf 'ID=baleia-vm\nPRETTY_NAME="baleia cgroup v2 test VM"\n' >"$R/etc/os-release"
printf '::sysinit:/init checks\n' >"$R/etc/inittab"

(cd -- "$R" && find . -print0 | cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >"$OUT/initrd.gz"
log "assets: $OUT/vmlinuz $OUT/initrd.gz ($(du -h "$OUT/initrd.gz" | cut -f1))"
