# Bats helpers for suites that talk to real DNS servers: one testbed (tests/testbed/testbed)
# per .bats file, in $BATS_FILE_TMPDIR/testbed, its settings (the TB_* of DIR/env) exported to
# every test. Load it after test_helper (it needs CDM_SOURCE_DIR):
#
#   load test_helper
#   load testbed
#   setup_file()    { testbed_setup_file; }
#   teardown_file() { testbed_teardown_file; }
#   setup()         { testbed_setup; }
#
# Bats 1.8 cannot skip from setup_file, so when a server program is missing (testbed exits 69)
# testbed_setup_file only records why in TB_SKIP, and testbed_setup skips each test.
# testbed_teardown_file always stops the servers, also after a failed start.

TESTBED="$CDM_SOURCE_DIR/tests/testbed/testbed"

testbed_setup_file() {
    export TB_DIR="$BATS_FILE_TMPDIR/testbed"
    local out="$BATS_FILE_TMPDIR/testbed.out" status=0
    "$TESTBED" start "$TB_DIR" >"$out" 2>&1 || status=$?
    if [ "$status" -eq 69 ]; then
        TB_SKIP=$(tail -n 1 "$out")
        export TB_SKIP
        return 0
    fi
    if [ "$status" -ne 0 ]; then
        cat "$out" >&2
        return "$status"
    fi
    # shellcheck source=/dev/null # written by testbed start
    . "$TB_DIR/env"
}

testbed_teardown_file() {
    [ -n "${TB_DIR:-}" ] || return 0
    "$TESTBED" stop "$TB_DIR"
}

testbed_setup() {
    if [ -n "${TB_SKIP:-}" ]; then
        skip "$TB_SKIP"
    fi
}

# Send an RFC 2136 UPDATE to ns1: nsupdate commands on stdin, without `server` and `send`;
# the arguments go to nsupdate (e.g. -k "$TB_TSIG_KEY").
tb_nsupdate() {
    { printf 'server %s %s\n' "$TB_NS_ADDR" "$TB_NS_PORT"; cat; printf 'send\n'; } |
        nsupdate -t 5 "$@"
}

# dig at ns1, at ns2 (both without recursion) and through unbound.
tb_dig() { dig +time=2 +tries=1 +norec @"$TB_NS_ADDR" -p "$TB_NS_PORT" "$@"; }
tb_dig2() { dig +time=2 +tries=1 +norec @"$TB_NS2_ADDR" -p "$TB_NS2_PORT" "$@"; }
tb_resolve() { dig +time=3 +tries=1 @"$TB_RESOLVER" -p "$TB_RESOLVER_PORT" "$@"; }

# tb_wait_for SECONDS COMMAND...: run COMMAND every 50 ms until it succeeds (status 0) or
# SECONDS pass (status 1).
tb_wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# PowerDNS (when the testbed runs it: TB_HAVE_PDNS=1). A suite that needs it sets
# TB_WITH_PDNS=yes before testbed_setup_file, so that a missing pdns_server skips it (69).
# dig at pdns, without recursion.
tb_pdns_dig() { dig +time=2 +tries=1 +norec @"$TB_PDNS_ADDR" -p "$TB_PDNS_PORT" "$@"; }

# tb_pdns_api METHOD PATH [CURL-ARG...]: call pdns's HTTP API at PATH below
# /api/v1/servers/ID; prints the reply's body, then a line "HTTP nnn". The key goes to curl on
# its standard input (a curl config), never on a command line; so a body must come as an
# argument (--data-binary '{...}' or @FILE), not as @- on standard input.
tb_pdns_api() {
    local method=$1 path=$2
    shift 2
    printf 'header = "X-API-Key: %s"\n' "$(<"$TB_PDNS_APIKEY_FILE")" |
        curl -sS --max-time 10 -K - -X "$method" -H 'Content-Type: application/json' \
            -w '\nHTTP %{http_code}\n' "$@" "$TB_PDNS_API/api/v1/servers/$TB_PDNS_SERVER_ID$path"
}

# The SOA serial pdns serves for its zone.
tb_pdns_serial() { tb_pdns_dig +short "$TB_PDNS_ZONE" SOA | awk '{ print $3 }'; }
