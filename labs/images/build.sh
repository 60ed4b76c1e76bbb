#!/usr/bin/env bash
# Build baleia's lab images (hello-world, busybox, debian, nginx, registry) as Docker "docker-archive" tars,
# reproducibly and without a registry, cache them, and optionally load them into baleia.
#
#   labs/images/build.sh [--load] [--rebuild] [--verbose] [NAME...]     (NAME: hello-world busybox debian nginx registry)
#
# Every layer is a plain directory tree turned into a deterministic tar. The Debian layers are built the way
# `docker build` builds a RUN step: an overlay filesystem is mounted over the layers below, a command runs
# chrooted in it, and what lands in the overlay's upper directory (with overlay whiteouts converted to the
# `.wh.` files of the image format) is the new layer. See labs/images/README.md.
set -euo pipefail
shopt -s inherit_errexit nullglob
umask 022
export LC_ALL=C

SELF=$(readlink -f -- "${BASH_SOURCE[0]}")
HERE=${SELF%/*}
WORKSPACE=$(cd -- "$HERE/../.." && pwd)

readonly ALL_IMAGES=(hello-world busybox debian nginx registry)
readonly SUITE=bookworm
readonly DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly RECIPE_LABEL=labs/images/build.sh
# File dates in the layers are clamped to this instant and it is every image's "created" date, so the same
# inputs give the same bytes. It is part of every cache key. 2025-01-01T00:00:00Z.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}

# What the labs use inside debian containers (layer 2 of debian, nginx and registry), and the own layers of
# nginx and registry.
readonly DEBIAN_TOOLS=(iproute2 iputils-ping procps net-tools curl ca-certificates less nano)
readonly TOOLS_RUN="apt-get update && apt-get install -y --no-install-recommends ${DEBIAN_TOOLS[*]} && apt-get clean && rm -rf /var/lib/apt/lists/*"
readonly NGINX_RUN="apt-get update && apt-get install -y --no-install-recommends nginx && apt-get clean && rm -rf /var/lib/apt/lists/* && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log"
readonly REGISTRY_RUN="apt-get update && apt-get install -y --no-install-recommends docker-registry && apt-get clean && rm -rf /var/lib/apt/lists/*"
# The registry's /etc/docker/registry/config.yml: the official registry:2 image's (blobs in /var/lib/registry),
# plus deleting (so a lab can show it), and without the htpasswd auth section of Debian's default (which would
# make every client log in; the labs push anonymously).
readonly REGISTRY_CONFIG='version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3'

case $(uname -m) in
    x86_64) OCI_ARCH=amd64 OCI_VARIANT='' DEB_ARCH=amd64 ;;
    aarch64 | arm64) OCI_ARCH=arm64 OCI_VARIANT=v8 DEB_ARCH=arm64 ;;
    *) echo "build.sh: error: unsupported machine $(uname -m) (x86_64 and aarch64 are)" >&2; exit 1 ;;
esac
readonly OCI_ARCH OCI_VARIANT DEB_ARCH

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'build.sh: warning: %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
    cat <<EOF
usage: labs/images/build.sh [--load] [--rebuild] [--verbose] [NAME...]

Builds the lab images as docker-archive tars (default: all of ${ALL_IMAGES[*]}),
reusing cached archives and layers when their inputs have not changed.

  --load      run "\${BALEIA:-baleia} load -i ARCHIVE" for each image (BALEIA=${BALEIA:-baleia})
  --rebuild   ignore the cache for the named images and their layers
  --verbose   show the output of debootstrap, apt-get and cargo as they run

Without --load the archive paths are printed, one per line.
Cache: \${BALEIA_IMAGE_CACHE:-/var/cache/baleia/images} (now: $CACHE)
EOF
}

sha256_of() { local sum; sum=$(sha256sum -- "$1"); printf '%s\n' "${sum%% *}"; }
sha256_str() { local sum; sum=$(sha256sum); printf '%s\n' "${sum%% *}"; }
human_size() { numfmt --to=si --suffix=B --format='%.1f' "$1"; }
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# ---------------------------------------------------------------------------------------------------------
# Host set-up: tools, apt mirror, scratch space.

# need_cmds CMD:PACKAGE... -- install the Debian packages that provide missing commands.
need_cmds() {
    local pair missing=()
    for pair; do command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}"); done
    ((${#missing[@]})) || return 0
    log "installing host packages: ${missing[*]}"
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends "${missing[@]}" >&2
    fi
}

# apt_candidate PACKAGE -- the version apt would install; refreshes the host's package lists once if unknown.
apt_candidate() {
    local v
    v=$(apt-cache policy "$1" | awk '/^  Candidate:/ {print $2}')
    if [[ -z $v || $v == '(none)' ]]; then
        log "apt does not know $1; running apt-get update"
        apt-get update >&2
        v=$(apt-cache policy "$1" | awk '/^  Candidate:/ {print $2}')
    fi
    [[ -n $v && $v != '(none)' ]] || die "no installable version of $1 in the host's apt sources"
    printf '%s\n' "$v"
}

# apt_closure_versions PACKAGE... -- "name version" for the packages and everything they depend on, as the
# host's apt sees it: the part of a Debian layer's cache key that changes when the archive publishes updates.
apt_closure_versions() {
    local pkgs versions p attempt
    for attempt in 1 2; do
        mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
            --no-breaks --no-replaces --no-enhances "$@" 2>/dev/null | grep -v -e '^ ' -e '^<' | sort -u)
        versions=$(apt-cache policy "${pkgs[@]}" | awk '/^[^ ]/ {sub(/:$/, "", $1); p = $1} /^  Candidate:/ {print p, $2}')
        for p; do
            if [[ $'\n'$versions$'\n' != *$'\n'"$p "[!\(]* ]]; then
                ((attempt == 1)) || die "no installable version of $p in the host's apt sources"
                apt_candidate "$p" >/dev/null # runs apt-get update, or dies with a clear message
                continue 2
            fi
        done
        break
    done
    sort <<<"$versions"
}

# host_apt_uri SUITE -- first http(s) URI of a "deb" source for SUITE with component main, in the order apt
# reads /etc/apt/sources.list, sources.list.d/*.list (one-line format) and *.sources (deb822).
host_apt_uri() {
    local suite=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        if [[ $f == *.sources ]]; then
            awk -v suite="$suite" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && \
                        (" " comps " ") ~ / main / && tolower(enabled) != "no" && uri != "") { print uri; found = 1; exit }
                    types = suites = comps = enabled = uri = ""
                }
                /^[ \t]*$/ { flush(); next }
                /^#/ || /^[ \t]/ { next }
                {
                    key = tolower($1); sub(/^[^:]*:[ \t]*/, ""); gsub(/[ \t]+/, " ")
                    if (key == "types:") types = $0
                    else if (key == "uris:") { split($0, u, " "); uri = u[1] }
                    else if (key == "suites:") suites = $0
                    else if (key == "components:") comps = $0
                    else if (key == "enabled:") enabled = $0
                }
                END { if (!found) flush() }' "$f"
        else
            awk -v suite="$suite" '
                { sub(/#.*/, "") }
                $1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    if ($(i + 1) != suite) next
                    for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; exit }
                }' "$f"
        fi
    done | grep -m1 -E '^https?://' || true
}

# Mirrors come from the host's apt configuration (never from this file); without one, debootstrap uses its
# built-in default and the image keeps the sources.list debootstrap writes.
MIRRORS_RESOLVED=0
resolve_mirrors() {
    ((MIRRORS_RESOLVED)) && return 0
    MIRROR_MAIN=$(host_apt_uri "$SUITE")
    MIRROR_UPDATES=$(host_apt_uri "$SUITE-updates")
    MIRROR_SECURITY=$(host_apt_uri "$SUITE-security")
    MIRROR_MAIN=${MIRROR_MAIN%/} MIRROR_UPDATES=${MIRROR_UPDATES%/} MIRROR_SECURITY=${MIRROR_SECURITY%/}
    if [[ -n $MIRROR_MAIN ]]; then
        log "Debian mirror (from the host's apt sources): $MIRROR_MAIN"
    else
        warn "no '$SUITE main' http(s) source in the host's apt configuration; debootstrap uses its default mirror"
        MIRROR_UPDATES='' MIRROR_SECURITY=''
    fi
    MIRRORS_RESOLVED=1
}

# debian_sources KEYRING -- the deb822 /etc/apt/sources.list.d/debian.sources the debian image ships.
debian_sources() {
    local keyring=$1 suites=$SUITE
    para() {
        printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$1" "$2"
        [[ -z $keyring ]] || printf 'Signed-By: %s\n' "$keyring"
    }
    [[ -n $MIRROR_MAIN ]] || return 0
    if [[ -n $MIRROR_UPDATES && $MIRROR_UPDATES == "$MIRROR_MAIN" ]]; then suites+=" $SUITE-updates"; fi
    para "$MIRROR_MAIN" "$suites"
    if [[ -n $MIRROR_UPDATES && $MIRROR_UPDATES != "$MIRROR_MAIN" ]]; then echo; para "$MIRROR_UPDATES" "$SUITE-updates"; fi
    if [[ -n $MIRROR_SECURITY ]]; then echo; para "$MIRROR_SECURITY" "$SUITE-security"; fi
}

# release_index_id URI SUITE -- the SHA256 of SUITE's main Packages index, from the Release file the host's
# apt last downloaded: it names exactly the package set debootstrap will install from.
release_index_id() {
    local uri=$1 suite=$2 name f
    [[ -n $uri ]] || { echo unknown; return 0; }
    name=${uri#*://}
    name=${name//\//_}
    for f in "/var/lib/apt/lists/${name}_dists_${suite}_InRelease" "/var/lib/apt/lists/${name}_dists_${suite}_Release"; do
        [[ -r $f ]] || continue
        awk -v want="main/binary-$DEB_ARCH/Packages" '
            /^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $3 == want { print $1; found = 1; exit }
            END { if (!found) print "unknown" }' "$f"
        return 0
    done
    echo unknown
}

# Scratch space lives in the cache directory (same file system, so finished files are renamed into place).
WORK=''
cleanup() {
    local rc=$? mp
    if [[ -n $WORK && -d $WORK ]]; then
        # Mounts are made in private mount namespaces and vanish with them; this is a last line of defence.
        while read -r mp; do umount -l -- "$mp" 2>/dev/null || true; done < <(
            awk -v w="$WORK/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r)
        rm -rf --one-file-system -- "$WORK"
    fi
    if ((rc != 0)); then printf 'build.sh: failed (exit %d); nothing half-built was left in %s\n' "$rc" "$CACHE" >&2; fi
    exit "$rc"
}

# scratch NAME -- a fresh directory under WORK
scratch() { mktemp -d "$WORK/$1.XXXXXX"; }

# run_logged LABEL COMMAND... -- run an external command, its output in a log shown only on failure.
run_logged() {
    local label=$1 logf
    shift
    logf=$(mktemp "$WORK/log.XXXXXX")
    if ((VERBOSE)); then
        "$@" 2>&1 | tee "$logf" >&2 || die "$label failed"
    elif ! "$@" >"$logf" 2>&1; then
        tail -n 40 -- "$logf" >&2
        die "$label failed (last lines of its output above)"
    fi
}

# in_mount_ns FUNCTION ARG... -- run one of this script's ns_* functions in a private mount namespace, so
# that every mount it makes disappears when it exits, whatever happens.
in_mount_ns() { unshare --mount --propagation private -- "$BASH" "$SELF" __ns "$@"; }

# ---------------------------------------------------------------------------------------------------------
# Layer trees and tars.

# tar_layer DIR OUT -- the deterministic tar of DIR's contents: entries "bin", "bin/sh", ... sorted by name,
# numeric owners kept, file dates clamped to SOURCE_DATE_EPOCH, no atime/ctime/xattrs, no PID in pax names.
tar_layer() {
    local dir=$1 out=$2 top=()
    mapfile -d '' -t top < <(find "$dir" -mindepth 1 -maxdepth 1 -printf '%P\0' | sort -z)
    ((${#top[@]})) || top=(--files-from=/dev/null)
    tar --create --file="$out" --directory="$dir" --sort=name --format=posix \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner --no-xattrs --no-acls --no-selinux \
        -- "${top[@]}"
}

# unpack_layer TAR DIR -- a layer tar back to a directory usable as an overlay lower dir: whiteout files
# become overlay whiteouts (0:0 character devices), ".wh..wh..opq" becomes the opaque xattr.
unpack_layer() {
    local tarfile=$1 dir=$2 f
    tar --extract --file="$tarfile" --directory="$dir" --numeric-owner --same-owner --preserve-permissions
    while IFS= read -r -d '' f; do
        setfattr -n trusted.overlay.opaque -v y -- "${f%/*}"
        rm -f -- "$f"
    done < <(find "$dir" -name '.wh..wh..opq' -print0)
    while IFS= read -r -d '' f; do
        rm -f -- "$f"
        f=${f%/*}/${f##*/.wh.}
        rm -rf --one-file-system -- "$f"
        mknod -- "$f" c 0 0
    done < <(find "$dir" -name '.wh.*' -print0)
}

# overlay_to_layer UPPER LOWER... -- turn an overlay upper dir into an image layer tree, in place: a whiteout
# (0:0 character device) becomes an empty ".wh.NAME"; an opaque directory gets ".wh..wh..opq", but only if
# a lower dir has that directory (overlayfs also marks every directory it creates opaque; for those the
# marker would hide nothing).
overlay_to_layer() {
    local upper=$1 f rel lower
    shift
    while IFS= read -r -d '' f; do
        [[ $(stat -c %t:%T -- "$f") == 0:0 ]] || die "unexpected device node in a layer: ${f#"$upper"}"
        rm -f -- "$f"
        : >"${f%/*}/.wh.${f##*/}"
    done < <(find "$upper" -type c -print0)
    while IFS= read -r -d '' f; do
        rel=${f#"$upper"}
        if [[ $(getfattr --only-values --absolute-names -h -n trusted.overlay.redirect -- "$f" 2>/dev/null) ]]; then
            die "overlay redirect on $rel; redirect_dir must be off"
        fi
        [[ $(getfattr --only-values --absolute-names -h -n trusted.overlay.opaque -- "$f" 2>/dev/null) == y ]] || continue
        for lower; do
            if [[ -e $lower$rel || -L $lower$rel ]]; then
                : >"$f/.wh..wh..opq"
                break
            fi
        done
    done < <(find "$upper" -mindepth 1 -type d -print0)
}

# clean_rootfs ROOT -- what must not go into a Debian layer: apt lists and caches, logs, backups, temp files.
clean_rootfs() {
    local r=$1
    [[ -n $r && -d $r/var ]] || die "clean_rootfs: $r is not a root file system"
    rm -rf --one-file-system -- "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin \
        "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/archives/partial/* \
        "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r"/var/cache/ldconfig/aux-cache \
        "$r"/tmp/* "$r"/tmp/.[!.]* "$r"/var/tmp/* "$r"/var/tmp/.[!.]* "$r"/root/.cache
    find "$r/var/log" -xdev -type f -delete
}

# ns_debootstrap ROOT DEBS_CACHE [MIRROR] -- (in a private mount namespace) debootstrap minbase into ROOT.
ns_debootstrap() {
    local root=$1 debs=$2 mirror=${3-}
    debootstrap --variant=minbase --arch="$DEB_ARCH" --cache-dir="$debs" "$SUITE" "$root" ${mirror:+"$mirror"}
}

# ns_overlay_run DIR LOWERDIRS SCRIPT -- (in a private mount namespace) mount DIR/merged = overlay of
# LOWERDIRS (top first) with upper DIR/upper, run SCRIPT chrooted in it with /proc, a minimal /dev, host DNS
# and no service starts, clean up, unmount.
ns_overlay_run() {
    local d=$1 lowers=$2 script=$3 m=$1/merged created_resolv=0
    # shellcheck disable=SC2064  # expand now: the trap must unmount this overlay
    trap "umount -R '$m' 2>/dev/null || true" EXIT
    mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$d/upper,workdir=$d/work,redirect_dir=off,metacopy=off,index=off" "$m"
    mount -t proc proc "$m/proc"
    mount -t tmpfs -o mode=0755,nosuid tmpfs "$m/dev"
    mknod -m 666 "$m/dev/null" c 1 3
    mknod -m 666 "$m/dev/zero" c 1 5
    mknod -m 666 "$m/dev/full" c 1 7
    mknod -m 666 "$m/dev/random" c 1 8
    mknod -m 666 "$m/dev/urandom" c 1 9
    mknod -m 666 "$m/dev/tty" c 5 0
    mkdir "$m/dev/pts"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$m/dev/pts"
    ln -s pts/ptmx "$m/dev/ptmx"
    ln -s /proc/self/fd "$m/dev/fd"
    ln -s /proc/self/fd/0 "$m/dev/stdin"
    ln -s /proc/self/fd/1 "$m/dev/stdout"
    ln -s /proc/self/fd/2 "$m/dev/stderr"
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$m/run"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/tmp"
    if [[ ! -e $m/etc/resolv.conf && ! -L $m/etc/resolv.conf ]]; then : >"$m/etc/resolv.conf"; created_resolv=1; fi
    mount --bind /etc/resolv.conf "$m/etc/resolv.conf"
    printf '#!/bin/sh\n# build.sh: no services start while building an image\nexit 101\n' >"$m/usr/sbin/policy-rc.d"
    chmod 0755 "$m/usr/sbin/policy-rc.d"
    # An https mirror needs CA certificates, which minbase lacks: lend apt the host's while building.
    if grep -qs 'https://' "$m/etc/apt/sources.list" "$m"/etc/apt/sources.list.d/*; then
        cp /etc/ssl/certs/ca-certificates.crt "$m/run/build-sh-ca.crt"
        printf 'Acquire::https::CaInfo "/run/build-sh-ca.crt";\n' >"$m/etc/apt/apt.conf.d/00build-sh-ca"
    fi

    chroot "$m" /usr/bin/env -i PATH="$DEFAULT_PATH" HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive \
        SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" /bin/sh -exc "$script"

    rm -f "$m/usr/sbin/policy-rc.d" "$m/etc/apt/apt.conf.d/00build-sh-ca"
    umount "$m/etc/resolv.conf"
    ((created_resolv == 0)) || rm -f "$m/etc/resolv.conf"
    umount "$m/tmp" "$m/run" "$m/dev/pts" "$m/dev" "$m/proc"
    clean_rootfs "$m"
    umount "$m"
    trap - EXIT
}

# overlay_layer TREE SCRIPT PARENT_LAYER... -- build a layer like a Dockerfile RUN step: the parents'
# tars unpacked as overlay lower dirs, SCRIPT run in the merged tree, the upper dir becomes TREE.
overlay_layer() {
    local tree=$1 script=$2 d lowers='' i=0 p
    shift 2
    d=$(scratch overlay)
    for p; do
        ensure_layer "$p"
        mkdir "$d/lower$i"
        unpack_layer "${LAYER_FILE[$p]}" "$d/lower$i"
        lowers=$d/lower$i${lowers:+:$lowers}
        i=$((i + 1))
    done
    mkdir "$d/upper" "$d/work" "$d/merged"
    run_logged "RUN $script" in_mount_ns ns_overlay_run "$d" "$lowers" "$script"
    overlay_to_layer "$d/upper" "$d"/lower*
    rm -rf --one-file-system -- "$tree"
    mv -T -- "$d/upper" "$tree"
    rm -rf --one-file-system -- "$d"
}

# ---------------------------------------------------------------------------------------------------------
# The layers. Each layer NAME has: LAYER_PARENTS[NAME] (the layers below it, bottom first); LAYER_DESC[NAME]
# (its history "created_by"); layer_inputs_NAME, which prints what its bytes depend on besides this script;
# and layer_build_NAME TREE, which fills the empty directory TREE with the layer's files.

declare -A LAYER_PARENTS=([hello]='' [busybox]='' [debian-base]='' [debian-tools]='debian-base' [nginx]='debian-base debian-tools'
    [registry]='debian-base debian-tools')
declare -A LAYER_DESC=(
    [hello]='COPY hello /hello # static binary: cargo rustc --release -p baleia-hello -- -C target-feature=+crt-static'
    [busybox]='ADD busybox-static.deb:/bin/busybox /bin/ # plus a hard link per applet in /bin, /etc/passwd, /etc/group, /root, /tmp, /var/www'
    [debian-base]="debootstrap --variant=minbase $SUITE / # then removed: apt lists and caches, logs, /dev nodes, the host's hostname and resolv.conf"
    [debian-tools]="RUN /bin/sh -c $TOOLS_RUN"
    [nginx]="RUN /bin/sh -c $NGINX_RUN"
    [registry]="RUN /bin/sh -c $REGISTRY_RUN # then COPY config.yml /etc/docker/registry/config.yml (the official image's, deleting enabled, no auth) and mkdir /var/lib/registry"
)

layer_inputs_hello() {
    local f
    echo "rustc: $(rustc -vV | tr '\n' ' ')"
    while IFS= read -r -d '' f; do
        echo "source ${f#"$WORKSPACE"/} $(sha256_of "$f")"
    done < <(find "$HERE/hello" -type f \( -name Cargo.toml -o -name '*.rs' \) -print0 | sort -z)
}

layer_build_hello() {
    local tree=$1 triple target bin linkage
    command -v cargo >/dev/null || die "cargo is needed to build hello-world's /hello (https://rustup.rs)"
    triple=$(rustc -vV | sed -n 's/^host: //p')
    target=$(cd "$WORKSPACE" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
    # --target keeps this build's flags from clobbering target/release/hello of ordinary workspace builds.
    run_logged "cargo rustc (baleia-hello)" env -C "$WORKSPACE" cargo rustc --release -p baleia-hello \
        --bin hello --target "$triple" -- -C target-feature=+crt-static -C relocation-model=static \
        -C opt-level=z -C panic=abort -C codegen-units=1 -C lto=fat -C embed-bitcode=yes -C debuginfo=0 \
        -C strip=symbols
    bin=$target/$triple/release/hello
    linkage=$(ldd "$bin" 2>&1 || true)
    [[ $linkage == *'not a dynamic executable'* || $linkage == *'statically linked'* ]] || die "$bin is not static: $linkage"
    install -m 0755 "$bin" "$tree/hello"
}

layer_inputs_busybox() { echo "busybox-static $(apt_candidate busybox-static)"; }

layer_build_busybox() {
    local tree=$1 d version applet
    version=$(apt_candidate busybox-static)
    d=$(scratch busybox)
    run_logged "apt-get download busybox-static" env -C "$d" apt-get download -o APT::Sandbox::User=root \
        "busybox-static=$version"
    dpkg-deb -x "$d"/busybox-static_*.deb "$d/pkg"
    mkdir -p "$tree/bin" "$tree/etc" "$tree/home" "$tree/root" "$tree/tmp" "$tree/var/www"
    chmod 0700 "$tree/root"
    chmod 1777 "$tree/tmp"
    install -m 0755 "$(find "$d/pkg" -name busybox -type f -path '*bin/busybox' -print -quit)" "$tree/bin/busybox"
    while read -r applet; do
        [[ $applet == busybox ]] || ln "$tree/bin/busybox" "$tree/bin/$applet"
    done < <("$tree/bin/busybox" --list)
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/home:/bin/false' >"$tree/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nobody:x:65534:' >"$tree/etc/group"
    rm -rf --one-file-system -- "$d"
}

layer_inputs_debian_base() {
    resolve_mirrors
    echo "debootstrap $(dpkg-query -W -f='${Version}' debootstrap) --variant=minbase --arch=$DEB_ARCH $SUITE"
    echo "packages index: $(release_index_id "$MIRROR_MAIN" "$SUITE")"
    echo "mirrors: ${MIRROR_MAIN:-default} ${MIRROR_UPDATES:-none} ${MIRROR_SECURITY:-none}"
}

layer_build_debian_base() {
    local tree=$1 keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    resolve_mirrors
    mkdir -p "$CACHE/debs"
    log "debootstrap --variant=minbase $SUITE (a minute or two)"
    run_logged debootstrap in_mount_ns ns_debootstrap "$tree" "$CACHE/debs" "$MIRROR_MAIN"
    find "$tree/dev" -xdev -mindepth 1 -delete
    rm -f "$tree/etc/hostname" "$tree/etc/resolv.conf"
    if [[ -n $MIRROR_MAIN ]]; then
        [[ -e $tree$keyring ]] || keyring=''
        debian_sources "$keyring" >"$tree/etc/apt/sources.list.d/debian.sources"
        rm -f "$tree/etc/apt/sources.list"
    fi
    clean_rootfs "$tree"
}

layer_inputs_debian_tools() { echo "run: $TOOLS_RUN"; apt_closure_versions "${DEBIAN_TOOLS[@]}"; }
layer_build_debian_tools() {
    log "RUN apt-get install ${DEBIAN_TOOLS[*]} (in an overlay over debian-base)"
    overlay_layer "$1" "$TOOLS_RUN" debian-base
}

layer_inputs_nginx() { echo "run: $NGINX_RUN"; apt_closure_versions nginx; }
layer_build_nginx() {
    log "RUN apt-get install nginx (in an overlay over debian-base + debian-tools)"
    overlay_layer "$1" "$NGINX_RUN" debian-base debian-tools
}

layer_inputs_registry() { echo "run: $REGISTRY_RUN"; echo "config.yml: $REGISTRY_CONFIG"; apt_closure_versions docker-registry; }
layer_build_registry() {
    local tree=$1
    log "RUN apt-get install docker-registry (in an overlay over debian-base + debian-tools)"
    # The package's postinst adds a docker-registry system user (adduser; useradd writes SOURCE_DATE_EPOCH's
    # day as its password date in /etc/shadow), enables the init script and systemd unit (symlinks only) and
    # tries to start the service, which policy-rc.d refuses.
    overlay_layer "$tree" "$REGISTRY_RUN" debian-base debian-tools
    [[ -x $tree/usr/bin/docker-registry && -f $tree/etc/docker/registry/config.yml ]] ||
        die "docker-registry did not install /usr/bin/docker-registry and /etc/docker/registry/config.yml"
    printf '%s\n' "$REGISTRY_CONFIG" >"$tree/etc/docker/registry/config.yml"
    chmod 0644 "$tree/etc/docker/registry/config.yml"
    install -d -m 0755 "$tree/var/lib/registry"
}

# Per layer, for this run: its cache key and, once it is built or found in the cache, its tar. Kept in the
# main shell (no $(...) around these functions), so that each layer is keyed and built at most once.
declare -A LAYER_KEY=() LAYER_FILE=()

# key_layer NAME -- set LAYER_KEY[NAME]: sha256 of everything the layer's bytes depend on.
key_layer() {
    local name=$1 p inputs parents=''
    [[ -z ${LAYER_KEY[$name]-} ]] || return 0
    for p in ${LAYER_PARENTS[$name]}; do
        key_layer "$p"
        parents+=" $p=${LAYER_KEY[$p]}"
    done
    inputs=$("layer_inputs_${name//-/_}")
    LAYER_KEY[$name]=$(printf 'layer %s\nscript %s\narch %s\nepoch %s\nparents%s\n%s\n' "$name" "$SCRIPT_ID" \
        "$OCI_ARCH" "$SOURCE_DATE_EPOCH" "$parents" "$inputs" | sha256_str)
}

# ensure_layer NAME -- set LAYER_FILE[NAME] to the layer's tar in the cache, building it (and the layers
# below it) first if it is not there, or always once per run with --rebuild.
ensure_layer() {
    local name=$1 out p d old
    [[ -z ${LAYER_FILE[$name]-} ]] || return 0
    key_layer "$name"
    out=$CACHE/layers/$name-${LAYER_KEY[$name]:0:12}.tar
    if [[ -f $out ]] && ! ((REBUILD)); then
        LAYER_FILE[$name]=$out
        return 0
    fi
    for p in ${LAYER_PARENTS[$name]}; do ensure_layer "$p"; done
    log "building layer $name"
    d=$(scratch "layer-$name")
    mkdir "$d/tree"
    "layer_build_${name//-/_}" "$d/tree"
    tar_layer "$d/tree" "$d/layer.tar"
    mkdir -p "$CACHE/layers"
    if [[ -f $out ]] && ! cmp -s "$out" "$d/layer.tar"; then
        warn "rebuilt layer $name differs from the cached one with the same inputs (not reproducible?); images using it are rebuilt"
        invalidate_images_using "$name"
    fi
    mv -f -- "$d/layer.tar" "$out"
    rm -rf --one-file-system -- "$d"
    for old in "$CACHE/layers/$name"-????????????.tar; do [[ $old == "$out" ]] || rm -f -- "$old"; done
    log "layer $name: $(human_size "$(stat -c %s "$out")") sha256:$(sha256_of "$out" | cut -c1-12)"
    LAYER_FILE[$name]=$out
}

# ---------------------------------------------------------------------------------------------------------
# The images: layers, tags, config and history.

declare -A IMAGE_BASE=([nginx]=debian [registry]=debian)
declare -A IMAGE_LAYERS=([hello-world]=hello [busybox]=busybox [debian]='debian-base debian-tools' [nginx]=nginx [registry]=registry)
declare -A IMAGE_TAGS=([hello-world]='hello-world:latest' [busybox]='busybox:latest' [debian]='debian:latest debian:bookworm' [nginx]='nginx:latest'
    [registry]='registry:2 registry:latest')

# image_config NAME -- the image config's "config" object, merged over its base image's.
image_config() {
    local own base='{}'
    [[ -z ${IMAGE_BASE[$1]-} ]] || base=$(image_config "${IMAGE_BASE[$1]}")
    case $1 in
        hello-world) own='{"Cmd": ["/hello"]}' ;;
        busybox) own='{"Cmd": ["sh"]}' ;;
        debian) own='{"Cmd": ["bash"]}' ;;
        nginx) own='{"Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT"}' ;;
        registry) own='{"Entrypoint": ["/usr/bin/docker-registry", "serve"], "Cmd": ["/etc/docker/registry/config.yml"], "ExposedPorts": {"5000/tcp": {}}}' ;;
    esac
    if [[ -z ${IMAGE_BASE[$1]-} ]]; then
        own=$(jq -c --arg path "PATH=$DEFAULT_PATH" --arg recipe "$RECIPE_LABEL" \
            '{Env: [$path]} + . + {Labels: {"org.baleia.recipe": $recipe}}' <<<"$own")
    fi
    jq -cn --argjson base "$base" --argjson own "$own" '$base * $own'
}

# image_history NAME -- its base image's history, one entry per own layer, then the config-only steps
# (empty_layer), as `docker build` records a Dockerfile.
image_history() {
    local name=$1 base='[]' l steps=() created
    created=$(rfc3339 "$SOURCE_DATE_EPOCH")
    [[ -z ${IMAGE_BASE[$name]-} ]] || base=$(image_history "${IMAGE_BASE[$name]}")
    case $name in
        hello-world) steps=('CMD ["/hello"]') ;;
        busybox) steps=('CMD ["sh"]') ;;
        debian) steps=('CMD ["bash"]') ;;
        nginx) steps=('EXPOSE map[80/tcp:{}]' 'STOPSIGNAL SIGQUIT' 'CMD ["nginx" "-g" "daemon off;"]') ;;
        registry) steps=('ENTRYPOINT ["/usr/bin/docker-registry" "serve"]' 'EXPOSE map[5000/tcp:{}]' 'CMD ["/etc/docker/registry/config.yml"]') ;;
    esac
    [[ -n ${IMAGE_BASE[$name]-} ]] || steps=("LABEL org.baleia.recipe=$RECIPE_LABEL" "${steps[@]}")
    {
        jq -c '.[]' <<<"$base"
        for l in ${IMAGE_LAYERS[$name]}; do
            jq -cn --arg c "$created" --arg by "${LAYER_DESC[$l]}" --arg l "$l" \
                '{created: $c, created_by: $by, comment: ("baleia lab layer " + $l + ", built by labs/images/build.sh")}'
        done
        for l in "${steps[@]}"; do
            jq -cn --arg c "$created" --arg by "$l" '{created: $c, created_by: $by, empty_layer: true}'
        done
    } | jq -sc .
}

# image_all_layers NAME -- layer names, bottom first, including the base image's.
image_all_layers() {
    [[ -z ${IMAGE_BASE[$1]-} ]] || image_all_layers "${IMAGE_BASE[$1]}"
    local own
    read -ra own <<<"${IMAGE_LAYERS[$1]}"
    printf '%s\n' "${own[@]}"
}

# key_image NAME -- set IMAGE_KEY: sha256 over the keys of its layers.
key_image() {
    local l layers keys=''
    mapfile -t layers < <(image_all_layers "$1")
    for l in "${layers[@]}"; do
        key_layer "$l"
        keys+=" $l=${LAYER_KEY[$l]}"
    done
    IMAGE_KEY=$(printf 'image %s\nscript %s\nlayers%s\n' "$1" "$SCRIPT_ID" "$keys" | sha256_str)
}

invalidate_images_using() {
    local img f
    for img in "${ALL_IMAGES[@]}"; do
        image_all_layers "$img" | grep -qx -- "$1" || continue
        for f in "$CACHE/$img"-????????????.tar; do rm -f -- "$f"; done
    done
}

# make_archive OUT TAGS CONFIG HISTORY LAYER_TAR... -- write a docker-archive (Docker 25+ layout, which is
# also an OCI image layout): blobs/sha256/* (config, uncompressed layers, OCI manifest), manifest.json,
# repositories, index.json, oci-layout; itself a deterministic tar.
make_archive() {
    local out=$1 tags=$2 config=$3 history=$4 stage l hex size diff_ids=() oci_layers=() cfg man top repos
    shift 4
    stage=$(scratch archive)
    mkdir -p "$stage/blobs/sha256"
    for l; do
        hex=$(sha256_of "$l")
        size=$(stat -c %s -- "$l")
        ln -f -- "$l" "$stage/blobs/sha256/$hex" 2>/dev/null || cp -- "$l" "$stage/blobs/sha256/$hex"
        diff_ids+=("sha256:$hex")
        oci_layers+=("$(jq -cn --arg d "sha256:$hex" --argjson s "$size" \
            '{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $d, size: $s}')")
    done
    top=${diff_ids[-1]#sha256:}

    jq -jcn --arg arch "$OCI_ARCH" --arg variant "$OCI_VARIANT" --arg created "$(rfc3339 "$SOURCE_DATE_EPOCH")" \
        --argjson config "$config" --argjson history "$history" --args \
        '{architecture: $arch} + (if $variant != "" then {variant: $variant} else {} end)
         + {config: $config, created: $created, history: $history, os: "linux",
            rootfs: {type: "layers", diff_ids: $ARGS.positional}}' "${diff_ids[@]}" >"$stage/config.json"
    [[ $(jq '[.history[] | select(.empty_layer != true)] | length' "$stage/config.json") == "${#diff_ids[@]}" ]] ||
        die "history of $out does not have one entry per layer"
    cfg=$(sha256_of "$stage/config.json")
    size=$(stat -c %s "$stage/config.json")
    mv -- "$stage/config.json" "$stage/blobs/sha256/$cfg"

    printf '%s\n' "${oci_layers[@]}" | jq -jcs --arg c "sha256:$cfg" --argjson s "$size" \
        '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $s}, layers: .}' \
        >"$stage/manifest.oci"
    man=$(sha256_of "$stage/manifest.oci")
    size=$(stat -c %s "$stage/manifest.oci")
    mv -- "$stage/manifest.oci" "$stage/blobs/sha256/$man"

    printf '%s\n' "${diff_ids[@]}" | jq -jcRs --arg c "blobs/sha256/$cfg" --arg tags "$tags" \
        '[{Config: $c, RepoTags: ($tags | split(" ")),
           Layers: [split("\n")[] | select(. != "") | "blobs/sha256/" + ltrimstr("sha256:")]}]' >"$stage/manifest.json"
    repos=$(jq -cn --arg tags "$tags" --arg top "$top" \
        'reduce ($tags | split(" ")[] | capture("^(?<r>.*):(?<t>[^:/]*)$")) as $x ({}; .[$x.r][$x.t] = $top)')
    printf '%s' "$repos" >"$stage/repositories"
    # One index entry (the first tag): an OCI layout with several untagged-by-request entries is ambiguous to
    # tools like skopeo's "oci-archive:FILE"; manifest.json carries all tags.
    jq -jcn --arg m "sha256:$man" --argjson s "$size" --arg tag "${tags%% *}" \
        '($tag | capture("^(?<r>.*):(?<t>[^:/]*)$")) as $x
         | {schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
            manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $s,
              annotations: {"io.containerd.image.name": ("docker.io/" + (if ($x.r | contains("/")) then "" else "library/" end) + $x.r + ":" + $x.t),
                            "org.opencontainers.image.ref.name": $x.t}}]}' >"$stage/index.json"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$stage/oci-layout"

    tar --create --file="$stage.tar" --directory="$stage" --sort=name --format=posix \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX \
        -- blobs index.json manifest.json oci-layout repositories
    mv -f -- "$stage.tar" "$out"
    rm -rf --one-file-system -- "$stage"
}

# build_image NAME -- path of the image's archive, from the cache or built now.
build_image() {
    local name=$1 out l layers=() files=() old
    key_image "$name"
    out=$CACHE/$name-${IMAGE_KEY:0:12}.tar
    if [[ -f $out ]] && ! ((REBUILD)); then
        log "$name: cached"
    else
        log "$name: building"
        mapfile -t layers < <(image_all_layers "$name")
        for l in "${layers[@]}"; do
            ensure_layer "$l"
            files+=("${LAYER_FILE[$l]}")
        done
        make_archive "$WORK/$name.tar" "${IMAGE_TAGS[$name]}" "$(image_config "$name")" "$(image_history "$name")" "${files[@]}"
        mv -f -- "$WORK/$name.tar" "$out"
        for old in "$CACHE/$name"-????????????.tar; do [[ $old == "$out" ]] || rm -f -- "$old"; done
    fi
    BUILT_ARCHIVE=$out
}

describe_archive() {
    local name=$1 archive=$2 manifest
    manifest=$(tar -xOf "$archive" manifest.json)
    printf '    %-20s id %s  %d layer(s)  %s  %s\n' "${IMAGE_TAGS[$name]%% *}" \
        "$(jq -r '.[0].Config | ltrimstr("blobs/sha256/") | .[:12]' <<<"$manifest")" \
        "$(jq '.[0].Layers | length' <<<"$manifest")" "$(human_size "$(stat -c %s "$archive")")" "$archive" >&2
}

# ---------------------------------------------------------------------------------------------------------

main() {
    local load=0 arg names=() name archives=() i
    REBUILD=0 VERBOSE=0
    CACHE=${BALEIA_IMAGE_CACHE:-/var/cache/baleia/images}
    for arg; do
        case $arg in
            --load) load=1 ;;
            --rebuild) REBUILD=1 ;;
            --verbose | -v) VERBOSE=1 ;;
            -h | --help) usage; exit 0 ;;
            -*) usage >&2; die "unknown option $arg" ;;
            *)
                [[ " ${ALL_IMAGES[*]} " == *" $arg "* ]] || die "unknown image '$arg' (known: ${ALL_IMAGES[*]})"
                [[ " ${names[*]} " == *" $arg "* ]] || names+=("$arg")
                ;;
        esac
    done
    ((${#names[@]})) || names=("${ALL_IMAGES[@]}")
    ((EUID == 0)) || die "run as root: debootstrap, chroot and overlay mounts need it (sudo $0 $*)"
    local baleia=${BALEIA:-baleia}
    if ((load)) && ! command -v "$baleia" >/dev/null; then
        die "$baleia not found; set BALEIA=/path/to/baleia (e.g. target/release/baleia)"
    fi

    # Tools for the images asked for.
    local needs=(jq:jq sha256sum:coreutils numfmt:coreutils tar:tar flock:util-linux unshare:util-linux) debian_based=0
    for name in "${names[@]}"; do
        case $name in debian | nginx | registry) debian_based=1 ;; esac
    done
    ((debian_based == 0)) || needs+=(debootstrap:debootstrap getfattr:attr setfattr:attr)
    need_cmds "${needs[@]}"
    ((debian_based == 0)) || resolve_mirrors
    if [[ " ${names[*]} " == *" hello-world "* ]]; then
        command -v cargo >/dev/null || PATH=$PATH:${HOME:-/root}/.cargo/bin
        command -v cargo >/dev/null || die "cargo is needed for hello-world (https://rustup.rs)"
    fi

    mkdir -p "$CACHE"
    CACHE=$(cd "$CACHE" && pwd)
    exec 9>"$CACHE/.lock"
    if ! flock -n 9; then
        log "waiting for another build.sh using $CACHE"
        flock 9
    fi
    SCRIPT_ID=$(sha256_of "$SELF")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    WORK=$(mktemp -d "$CACHE/.build.XXXXXX")

    for name in "${names[@]}"; do
        build_image "$name"
        archives+=("$BUILT_ARCHIVE")
    done

    log "images (cache: $CACHE, ${SECONDS}s):"
    for i in "${!names[@]}"; do describe_archive "${names[$i]}" "${archives[$i]}"; done
    if ((load)); then
        for i in "${!names[@]}"; do
            log "$baleia load -i ${archives[$i]}"
            "$baleia" load -i "${archives[$i]}" || die "loading ${names[$i]} into baleia failed"
        done
    else
        printf '%s\n' "${archives[@]}"
    fi
}

if [[ ${1-} == __ns ]]; then
    shift
    "$@"
    exit
fi
main "$@"
