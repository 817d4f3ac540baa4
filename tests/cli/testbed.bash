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
    tb_acme_extras_stop
    tb_webroot_stop
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

# Pebble (when the testbed runs it: TB_HAVE_PEBBLE=1): TB_PEBBLE_URL is its directory,
# TB_PEBBLE_CA the CA of its HTTPS certificate (a client's --cabundle), TB_PEBBLE_ROOT its ACME
# root (openssl verify -CAfile), TB_PEBBLE_HTTP_PORT the port its VA fetches http-01 answers
# from (on 127.0.0.1, the A record of www and mail in every zone); TB_PEBBLE_EAB_URL,
# TB_PEBBLE_EAB_KID, TB_PEBBLE_EAB_KEY_FILE and TB_PEBBLE_EAB_ROOT the instance that requires
# External Account Binding. A suite that needs it sets TB_WITH_PEBBLE=yes before
# testbed_setup_file, so that a missing pebble skips it (69).

# tb_acme_extras_start [UPSTREAM-URL [ARG...]]: start tests/cli/fixtures/acme-extras.py in
# front of pebble (default: TB_PEBBLE_URL's server) on TB_PEBBLE_EXTRAS_PORT, with the
# testbed's HTTPS certificate, profiles "classic" and "shortlived", caaIdentities
# "testbed-ca.test"; further ARGs go to acme-extras.py. Sets and exports TB_EXTRAS_URL (its
# directory), TB_EXTRAS_PID, TB_EXTRAS_WINDOW (the renewalInfo window file: see
# tb_acme_extras_window), TB_EXTRAS_ORDERS (one JSON line per newOrder: identifiers, profile,
# replaces), TB_EXTRAS_ARI_LOG (one JSON line per renewalInfo request) and
# TB_EXTRAS_ORDER_FAULT (write {"status", "type", "detail", "retry_after", "count"} there to
# have the next COUNT newOrders refused with that problem). Call it from
# setup_file (after testbed_setup_file) or from a test; testbed_teardown_file stops it.
tb_acme_extras_start() {
    local upstream=${1:-$TB_PEBBLE_URL}
    [ $# -gt 0 ] && shift
    upstream=${upstream%/dir}
    local d="$TB_DIR/acme-extras"
    mkdir -p "$d"
    rm -f "$d/port" "$d/orders.jsonl" "$d/ari.jsonl" "$d/window.json" "$d/order-fault.json"
    export TB_EXTRAS_WINDOW="$d/window.json" TB_EXTRAS_ORDERS="$d/orders.jsonl"
    export TB_EXTRAS_ARI_LOG="$d/ari.jsonl" TB_EXTRAS_ORDER_FAULT="$d/order-fault.json"
    python3 "$CDM_SOURCE_DIR/tests/cli/fixtures/acme-extras.py" --upstream "$upstream" \
        --cafile "$TB_PEBBLE_CA" --cert "$TB_PEBBLE_CERT" --key "$TB_PEBBLE_KEY" \
        --listen "127.0.0.1:$TB_PEBBLE_EXTRAS_PORT" --port-file "$d/port" \
        --window "$TB_EXTRAS_WINDOW" --orders "$TB_EXTRAS_ORDERS" --ari-log "$TB_EXTRAS_ARI_LOG" \
        --order-fault "$TB_EXTRAS_ORDER_FAULT" \
        --caa-identity testbed-ca.test --profile 'classic=the default profile' \
        --profile 'shortlived=certificates for 7 days' "$@" \
        </dev/null >"$d/log" 2>&1 3>&- &
    TB_EXTRAS_PID=$!
    echo "$TB_EXTRAS_PID" >"$d/pid"
    export TB_EXTRAS_PID TB_EXTRAS_URL="https://127.0.0.1:$TB_PEBBLE_EXTRAS_PORT/dir"
    if ! tb_wait_for 10 curl -sf --max-time 2 --cacert "$TB_PEBBLE_CA" "$TB_EXTRAS_URL"; then
        cat "$d/log" >&2
        tb_acme_extras_stop
        echo "acme-extras.py did not answer at $TB_EXTRAS_URL within 10 s" >&2
        return 1
    fi
}

# Stop the front started by tb_acme_extras_start (if any), by its PID.
tb_acme_extras_stop() {
    local f="${TB_DIR:-/nonexistent}/acme-extras/pid" pid
    [ -r "$f" ] || return 0
    pid=$(<"$f")
    tb_stop_pid "$pid"
    rm -f "$f"
}

# tb_stop_pid PID: TERM, up to 5 s for it to go (or become a zombie), then KILL; reap it if
# it is our child.
tb_stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    local i=0
    while [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -ge 100 ]; then
            kill -KILL "$1" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
    wait "$1" 2>/dev/null || true
}

# tb_acme_extras_window START END [EXPLANATION-URL]: the renewalInfo window the front gives
# every certificate from now on (START/END: seconds since the epoch or RFC 3339 text).
# tb_acme_extras_window --json TEXT writes TEXT as it is (e.g. a map {"<certID>": window,
# "*": window}).
tb_acme_extras_window() {
    local tmp="$TB_EXTRAS_WINDOW.tmp"
    if [ "$1" = --json ]; then
        printf '%s\n' "$2" >"$tmp"
    else
        local s=$1 e=$2
        [[ $s =~ ^[0-9]+$ ]] || s="\"$s\""
        [[ $e =~ ^[0-9]+$ ]] || e="\"$e\""
        if [ -n "${3:-}" ]; then
            printf '{"start": %s, "end": %s, "explanationURL": "%s"}\n' "$s" "$e" "$3" >"$tmp"
        else
            printf '{"start": %s, "end": %s}\n' "$s" "$e" >"$tmp"
        fi
    fi
    mv "$tmp" "$TB_EXTRAS_WINDOW"
}

# tb_webroot_serve DIR: serve DIR over plain HTTP on 127.0.0.1:TB_PEBBLE_HTTP_PORT (where
# pebble's VA fetches http-01 answers) until tb_webroot_stop (or testbed_teardown_file).
tb_webroot_serve() {
    local d="$TB_DIR/webroot-server"
    mkdir -p "$d"
    python3 -m http.server --bind 127.0.0.1 --directory "$1" "$TB_PEBBLE_HTTP_PORT" \
        </dev/null >"$d/log" 2>&1 3>&- &
    echo $! >"$d/pid"
    if ! tb_wait_for 10 curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$TB_PEBBLE_HTTP_PORT/"; then
        cat "$d/log" >&2
        tb_webroot_stop
        return 1
    fi
}

tb_webroot_stop() {
    local f="${TB_DIR:-/nonexistent}/webroot-server/pid" pid
    [ -r "$f" ] || return 0
    pid=$(<"$f")
    tb_stop_pid "$pid"
    rm -f "$f"
}

# nginx (when the testbed runs it: TB_HAVE_NGINX=1): HTTPS on 127.0.0.1:TB_NGINX_PORT for
# www.example.test and mail.example.test, from TB_NGINX_CERTS/<name>/{fullchain,privkey}.pem;
# TB_NGINX_TEST_CMD and TB_NGINX_RELOAD_CMD test its configuration and reload it (plain words,
# for cdm-reload's testcommand and reloadcommand). A suite that needs it sets TB_WITH_NGINX=yes
# (and TB_NGINX_CERTS, to have it serve a cdm destination) before testbed_setup_file.

# tb_nginx_cert NAME: the certificate nginx presents for NAME (SNI), in PEM; nothing when the
# handshake fails.
tb_nginx_cert() {
    openssl s_client -connect "127.0.0.1:$TB_NGINX_PORT" -servername "$1" </dev/null 2>/dev/null |
        openssl x509 2>/dev/null
}

# tb_nginx_serial NAME: the serial of that certificate (openssl's hex), or nothing.
tb_nginx_serial() {
    tb_nginx_cert "$1" | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
