# shellcheck shell=sh
# common.sh - what bench/tlsa and bench/dkim-keygen share. Sourced, never run.
#
# Timing is wall-clock time of a whole loop (date +%s.%N, GNU date), taken around the loop so
# that every tool pays the same fork and exec per item. The ratio column is a tool's seconds
# per item divided by cdm's: above 1 the tool is slower than cdm, below 1 faster.

bench_prog=${0##*/}

# bench_die CODE MESSAGE: print "PROG: MESSAGE" on stderr and exit with CODE (sysexits).
bench_die() {
    printf '%s: %s\n' "$bench_prog" "$2" >&2
    exit "$1"
}

bench_now() { date +%s.%N; }

# bench_seconds START END: the seconds between two bench_now readings.
bench_seconds() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'
}

# bench_scratch: a private directory for this run, removed when the script exits.
# Prints its path; the caller sets the trap (a trap set in $(...) would die with the subshell).
bench_scratch() {
    mktemp -d "${TMPDIR:-/tmp}/cdm-bench.XXXXXX" || bench_die 73 'unable to create a temporary directory'
}

# bench_cdm SCRATCH NAME: copy the built program NAME into SCRATCH and print the copy's path.
# The copy keeps the whole run on one binary even if the build directory is rebuilt meanwhile.
bench_cdm() {
    build=${CDM_BUILD_DIR:-build}
    [ -x "$build/tools/$2" ] ||
        bench_die 69 "$build/tools/$2 not found: build cdm first (ninja -C $build) or set CDM_BUILD_DIR"
    cp "$build/tools/$2" "$1/$2" || bench_die 73 "unable to copy $build/tools/$2 to $1"
    printf '%s\n' "$1/$2"
}

# bench_version PACKAGE: the installed Debian version of PACKAGE, or '?'.
bench_version() {
    dpkg-query -W -f '${Version}' "$1" 2>/dev/null || printf '?'
}

# bench_header TITLE: what was measured, when, on what.
bench_header() {
    build=${CDM_BUILD_DIR:-build}
    opts=$build/meson-info/intro-buildoptions.json
    buildtype='?'
    sanitize='?'
    if [ -r "$opts" ] && command -v jq >/dev/null 2>&1; then
        buildtype=$(jq -r '.[] | select(.name == "buildtype") | .value' "$opts")
        sanitize=$(jq -r '.[] | select(.name == "b_sanitize") | .value' "$opts")
    fi
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
    printf '%s\n' "$1"
    printf '  %s; %s cores (%s); load average %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" \
        "$(nproc)" "${cpu:-?}" "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || printf '?')"
    printf '  cdm build: %s (buildtype %s, sanitizer %s)\n' "$build" "$buildtype" "$sanitize"
    if [ "$sanitize" != none ] && [ "$sanitize" != '?' ]; then
        printf '  warning: a sanitizer build; its figures say nothing about a release build\n'
    fi
}

# bench_table_head UNIT: the column titles, UNIT being "records" or "keys".
bench_table_head() {
    printf '%-40s %8s %9s %10s %7s\n' tool "$1" seconds "$1/s" ratio
}

# bench_row TOOL COUNT SECONDS CDM_COUNT CDM_SECONDS: one measured row.
bench_row() {
    awk -v t="$1" -v n="$2" -v s="$3" -v cn="$4" -v cs="$5" 'BEGIN {
        if (s <= 0) s = 0.001
        printf "%-40s %8d %9.2f %10.1f %7.2f\n", t, n, s, n / s, (s / n) / (cs / cn)
    }'
}

# bench_skip TOOL WHY: a row for a tool that was not measured.
bench_skip() {
    printf '%-40s %8s  %s\n' "$1" - "$2"
}

# bench_inet_sockets COMMAND...: how many IPv4/IPv6 sockets COMMAND and its children open
# (strace), or '?' without strace. COMMAND's output is discarded.
bench_inet_sockets() {
    if ! command -v strace >/dev/null 2>&1; then
        printf '?\n'
        return 0
    fi
    trace=$(mktemp "${TMPDIR:-/tmp}/cdm-bench-strace.XXXXXX")
    strace -f -qq -e trace=socket -o "$trace" "$@" >/dev/null 2>&1 || true
    grep -c 'socket(AF_INET' "$trace" || true
    rm -f "$trace"
}
