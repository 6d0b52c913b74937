#!/usr/bin/env bash
# Run the README's two commands (`make demo`, `make test`) in a fresh Debian root, as a new
# user on a bare machine would: debootstrap, a clone of this checkout's HEAD (committed files
# only), `apt-get install make`, then each command timed, and a short summary.
#
# Usage (as root, from anywhere):  scripts/fresh_root.sh      (or: make fresh-root)
# Environment:
#   DIST=bookworm        Debian release (trixie: Debian 13, a newer QGIS LTR)
#   VARIANT=minbase      debootstrap variant (minbase: what a container image has)
#   DATA=1               bind ../shared/data read-only next to the clone (0: no test data,
#                        `make demo` then uses the sample pair in the repository)
#   STEPS="demo test"    which make targets to run, in order
#   ROOTS=/var/tmp/coreg-fresh-roots   where pristine roots, run roots and logs live
#                        (never inside the repository)
#   MIRROR=http://deb.debian.org/debian
#   KEEP=0               1: keep the run root afterwards (for a look inside)
# The pristine root of each DIST is made once and copied (cp -a) for every run, so later
# runs skip debootstrap; delete $ROOTS/pristine-$DIST-$VARIANT to remake it.
# Nothing of the host goes into the root but /etc/resolv.conf and, when the host's pip is
# told to trust a certificate bundle (PIP_CERT: a network whose HTTPS proxy has its own
# CA), that bundle, given to the root's pip and Python the same way.

# Bash reads a script while it runs it: the braces make it read all of it first, so that
# editing or checking out this file during a (long) run cannot change the run.
{
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
DIST=${DIST:-bookworm}
VARIANT=${VARIANT:-minbase}
DATA=${DATA:-1}
STEPS=${STEPS:-demo test}
ROOTS=${ROOTS:-/var/tmp/coreg-fresh-roots}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEEP=${KEEP:-0}
shared_data=$(cd "$repo/.." && pwd)/shared/data

if [ "$(id -u)" -ne 0 ]; then
    echo "fresh-root: needs root (debootstrap, chroot and mounts)" >&2
    exit 1
fi
ROOTS=$(realpath -m "$ROOTS")
case "$ROOTS/" in
    "$repo"/*) echo "fresh-root: ROOTS=$ROOTS is inside the repository" >&2; exit 1 ;;
esac
mkdir -p "$ROOTS"
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "fresh-root: installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi

stamp=$(date +%Y%m%d-%H%M%S)
pristine=$ROOTS/pristine-$DIST-$VARIANT
root=$ROOTS/run-$DIST-$stamp
logs=$ROOTS/logs/$DIST-$stamp
mkdir -p "$logs"

# 1. The pristine root, made once per DIST.
if [ ! -d "$pristine" ]; then
    echo "fresh-root: debootstrap --variant=$VARIANT $DIST (once; kept in $pristine)"
    rm -rf "$pristine.tmp"
    debootstrap --variant="$VARIANT" "$DIST" "$pristine.tmp" "$MIRROR" \
        >"$ROOTS/debootstrap-$DIST.log" 2>&1 \
        || { echo "fresh-root: debootstrap failed, see $ROOTS/debootstrap-$DIST.log" >&2; exit 1; }
    mv "$pristine.tmp" "$pristine"
fi

# 2. A copy of it for this run, and the mounts, undone on exit whatever happens.
mounted=()
cleanup() {
    local status=$?
    # Processes still running in the root (a stray worker) would keep the mounts busy.
    local pid
    for pid in /proc/[0-9]*; do
        if [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ]; then
            kill -9 "${pid#/proc/}" 2>/dev/null || true
        fi
    done
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
    done
    if grep -q " $root/" /proc/mounts; then
        echo "fresh-root: mounts left under $root; not deleting it" >&2
    elif [ "$KEEP" = 1 ]; then
        echo "fresh-root: run root kept: $root"
    elif [ -d "$root" ]; then
        rm -rf --one-file-system "$root"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "fresh-root: copying $pristine to $root"
cp -a "$pristine" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"

mount_in() {   # mount_in TARGET MOUNT-ARGS...
    mkdir -p "$root$1"
    mount "${@:2}" "$root$1"
    mounted+=("$root$1")
}
mount_in /proc -t proc proc
mount_in /sys -t sysfs -o ro sysfs
mount_in /dev --bind /dev
mount_in /dev/pts -t devpts -o newinstance,ptmxmode=0666 devpts
mount_in /dev/shm -t tmpfs -o mode=1777 tmpfs
mount_in /tmp -t tmpfs -o mode=1777 tmpfs

# 3. A clone of HEAD (committed files only) at /src/coreg, test data beside it at /src/shared.
head=$(git -C "$repo" rev-parse HEAD)
git clone -q --no-hardlinks --no-checkout "file://$repo" "$root/src/coreg"
git -C "$root/src/coreg" checkout -q --detach "$head"
if [ "$DATA" = 1 ]; then
    if [ ! -d "$shared_data" ]; then
        echo "fresh-root: DATA=1 but $shared_data does not exist" >&2
        exit 1
    fi
    mount_in /src/shared/data --bind "$shared_data"
    mount -o remount,bind,ro "$root/src/shared/data"
fi

root_env=(HOME=/root TERM=dumb LANG=C.UTF-8
          PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
    mkdir -p "$root/etc/coreg-fresh-root"
    cp "$PIP_CERT" "$root/etc/coreg-fresh-root/host-ca-bundle.crt"
    root_env+=(PIP_CERT=/etc/coreg-fresh-root/host-ca-bundle.crt
               REQUESTS_CA_BUNDLE=/etc/coreg-fresh-root/host-ca-bundle.crt)
fi

in_root() {   # in_root COMMAND: run a bash command in the root, as root, with a clean environment
    chroot "$root" /usr/bin/env -i "${root_env[@]}" /bin/bash -c "$1"
}

fmt_time() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
deb_bytes() { in_root 'cat /var/cache/apt/archives/*.deb 2>/dev/null | wc -c'; }
# Bytes received by this machine's network interfaces (the root shares the host's network):
# the Debian packages and what pip fetches from PyPI (which keeps no cache here to measure),
# plus whatever else the machine downloads meanwhile.
rx_bytes() { awk -F'[: ]+' '$2 != "lo" && NR > 2 { sum += $3 } END { printf "%.0f\n", sum }' /proc/net/dev; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }

echo "fresh-root: Debian $DIST ($VARIANT), clone of $(git -C "$repo" log -1 --format='%h %s' | cut -c1-60)"
echo "fresh-root: test data ../shared/data: $([ "$DATA" = 1 ] && echo mounted read-only || echo absent)"
echo "fresh-root: logs in $logs"

summary=()
steps_json=()
overall=0
start=$SECONDS
if in_root 'apt-get update -q && apt-get install -y -q make' >"$logs/make-install.log" 2>&1; then
    summary+=("$(printf '%-24s %8s  ok' "apt-get install make" "$(fmt_time $((SECONDS - start)))")")
else
    echo "fresh-root: installing make failed, see $logs/make-install.log" >&2
    exit 1
fi

for step in $STEPS; do
    debs_before=$(deb_bytes)
    rx_before=$(rx_bytes)
    echo "fresh-root: make $step ... (log: $logs/make-$step.log)"
    start=$SECONDS
    status=0
    in_root "cd /src/coreg && make $step" >"$logs/make-$step.log" 2>&1 || status=$?
    elapsed=$((SECONDS - start))
    debs=$(($(deb_bytes) - debs_before))
    received=$(($(rx_bytes) - rx_before))
    result="ok"
    if [ "$status" -ne 0 ]; then
        result="FAILED (exit $status)"
        overall=1
    fi
    # pytest's closing line, if the step ran pytest.
    tests=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$logs/make-$step.log" | tail -n 1 \
        | sed -E 's/^=+ //; s/ =+$//' || true)
    summary+=("$(printf '%-24s %8s  %s; Debian packages %s, the machine received %s%s' \
        "make $step" "$(fmt_time "$elapsed")" "$result" "$(mib "$debs")" "$(mib "$received")" \
        "${tests:+; pytest: $tests}")")
    steps_json+=("$(printf '{"step": "make %s", "seconds": %d, "minutes": %.1f, "exit": %d, "debian_packages_mib": %.1f, "received_mib": %.1f, "pytest": "%s"}' \
        "$step" "$elapsed" "$(awk -v s="$elapsed" 'BEGIN { print s / 60 }')" "$status" \
        "$(awk -v b="$debs" 'BEGIN { print b / 1048576 }')" \
        "$(awk -v b="$received" 'BEGIN { print b / 1048576 }')" "$tests")")
    if [ "$status" -ne 0 ]; then
        tail -n 30 "$logs/make-$step.log" | sed 's/^/    | /'
    fi
done

echo
echo "fresh-root summary: Debian $DIST ($VARIANT), test data $([ "$DATA" = 1 ] && echo present || echo absent)"
printf '  %s\n' "${summary[@]}"
installed=$(in_root "dpkg-query -W -f='\${Package} \${Version}\n' qgis python3 2>/dev/null | tr '\n' ' '")
echo "  installed: $installed"
# The run's figures, for the README (tests/test_docs_figures.py checks what it quotes).
results="${RESULTS:-$repo/benchmarks/results/fresh_root-$DIST.json}"
{
    printf '{"meta": {"date": "%s", "host": "%s", "machine": "%s", "cpus": %d, ' \
        "$(date -Iseconds)" "$(hostname)" "$(uname -m)" "$(nproc)"
    printf '"coreg_commit": "%s", "versions": {"debian": "%s", "variant": "%s", "installed": "%s"}, ' \
        "${head:0:7}" "$DIST" "$VARIANT" "$installed"
    printf '"test_data": %s},\n "steps": [\n  %s\n ]}\n' \
        "$([ "$DATA" = 1 ] && echo true || echo false)" "$(IFS=$'\n'; echo "${steps_json[*]}" | paste -sd, - | sed 's/},{/},\n  {/g')"
} >"$results"
echo "  results: $results"
exit "$overall"
}
