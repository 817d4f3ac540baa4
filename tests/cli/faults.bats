#!/usr/bin/env bats
# Faults from outside: the DNS server down, the ACME CA down, a full disk (a 1 MiB tmpfs), a
# read-only destination. Each run fails with one error line that names what failed (the server,
# the file) and a sysexits status, changes nothing it should not (the state does not advance,
# nothing is deployed, the old files are intact, no record of unissued material is published,
# nginx keeps serving the old certificate), and a later run, with the fault gone, converges.
#
# The testbed: the rollover of rollover-gapfree.bats (fixtures/driver-testbed.bash: certificate
# `main` for www.example.test from Pebble, served by nginx, its TLSA record, DKIM key `mail`).
# The full and read-only directories exist only in a private mount namespace around one driver
# run (fixtures/faults-mountns.sh); we run as root (as CI does), and a mount that cannot be made
# fails the test.

load test_helper
load testbed
load fixtures/driver-testbed

setup_file() {
    export TB_WITH_PEBBLE=yes TB_WITH_NGINX=yes TB_WITH_PDNS=no TB_NEGATIVE_TTL=2
    export TB_NGINX_CERTS="$BATS_FILE_TMPDIR/certs"
    testbed_setup_file
    export S="$BATS_FILE_TMPDIR/run"
    export CONF="$S/cdm.conf" STATE="$S/state"
    mkdir -p "$S"
}
teardown_file() { testbed_teardown_file; }
setup() {
    testbed_setup
    [ "${TB_HAVE_NGINX:-0}" = 1 ] || fail "the testbed has no nginx"
    if [ ! -e "$S/bootstrapped" ]; then
        driver_config "$CONF" "$STATE" "$S"
        # A static record (the address www has in the zone already), so that update has a zone
        # to read and compare.
        sed -i '/^\[domain:www\.example\.test\]$/a ip4 = 127.0.0.1' "$CONF"
        run -0 "$DRIVER" --update "$CONF"
        driver_cycle "$S/driver.log" "$STATE" "$CONF" || fail "bootstrap: $(tail -n 60 "$S/driver.log")"
        touch "$S/bootstrapped"
    fi
    if [ "$(driver_state .cycle.next "$STATE")" != prepare ]; then
        # The test before failed mid-cycle: end that cycle, so that this one starts as it should.
        driver_cycle "$S/recover.log" "$STATE" "$CONF" || fail "$(tail -n 40 "$S/recover.log")"
    fi
}

# A port nothing listens on (the testbed keeps TB_PORT_BASE+8 free).
closed_port() { echo $((TB_PORT_BASE + 8)); }

# The served TLSA records for nginx's port, as "u s m hex".
served_tlsa() {
    tb_dig +short "_$TB_NGINX_PORT._tcp.www.example.test" TLSA |
        awk '{ d = ""; for (i = 4; i <= NF; i++) d = d $i; print $1, $2, $3, tolower(d) }' | sort
}

# The DKIM selectors published under www.example.test.
served_selectors() {
    tb_dig +noall +answer -k "$TB_TSIG_KEY" example.test AXFR |
        awk '$4 == "TXT" && $1 ~ /\._domainkey\.www\.example\.test\.$/ { sub(/\._domainkey.*/, "", $1); print $1 }' | sort -u
}

served_spki() {
    tb_nginx_cert www.example.test | openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER |
        sha256sum | cut -d' ' -f1
}

# listing DIR: every entry and the SHA-256 of every file, as fixtures/faults-mountns.sh writes it.
listing() {
    (cd "$1" && find . ! -name .faults-fill -printf '%p %y %l\n' | sort)
    (cd "$1" && find . -type f ! -name .faults-fill -exec sha256sum {} + | sort -k2)
}

# snapshot: what must not change in a failed run: the state file, the destination, the DKIM
# directory, the published TLSA and DKIM records, the certificate nginx serves.
snapshot() {
    {
        jq -S '{cycle, material}' "$STATE/state.json"
        listing "$TB_NGINX_CERTS"
        listing "$S/rspamd"
        served_tlsa
        served_selectors
        served_spki
    } >"$1"
}

# the_error_line STATUS PATTERN: the driver's stderr ($stderr) holds a program's error line (no
# log level prefix) matching PATTERN, and the driver exited STATUS.
the_error_line() {
    [[ $status -eq $1 ]] || fail "exit $status, not $1: $stderr"
    grep -E "^cdm-[a-z-]+: .*$2" <<<"$stderr" ||
        fail "no error line matching '$2' in: $stderr"
}

# converges: one cycle with the configuration as it was, ending as a cycle does: only the
# current certificate's TLSA record and the current selector published, nginx serving it.
converges() {
    driver_cycle "$S/driver.log" "$STATE" "$CONF" || fail "no convergence: $(tail -n 60 "$S/driver.log")"
    local spki sel
    spki=$(driver_state .material.cert.main.current.spki_sha256 "$STATE")
    sel=$(driver_state .material.dkim.mail.current.selector "$STATE")
    assert_equal "$(served_tlsa)" "3 1 1 $spki"
    assert_equal "$(served_selectors)" "$sel"
    assert_equal "$(served_spki)" "$spki"
}

@test "DNS server down: update and prepare fail with 69 or 75 naming the server, nothing changes, a later run converges" {
    local bad="$S/dns-down.conf"
    sed "s/^port = $TB_NS_PORT\$/port = $(closed_port)/" "$CONF" >"$bad"
    grep -q "^port = $(closed_port)\$" "$bad"
    snapshot "$S/before"
    run --separate-stderr "$DRIVER" --update "$bad"
    [[ $status -eq 69 || $status -eq 75 ]] || fail "update: exit $status: $stderr"
    the_error_line "$status" "127\.0\.0\.1.*$(closed_port)|$(closed_port).*127\.0\.0\.1"
    run --separate-stderr "$DRIVER" --prepare "$bad"
    [[ $status -eq 69 || $status -eq 75 ]] || fail "prepare: exit $status: $stderr"
    the_error_line "$status" "$(closed_port)"
    snapshot "$S/after"
    assert_equal "$(cat "$S/after")" "$(cat "$S/before")"
    assert_equal "$(driver_state .cycle.next "$STATE")" prepare
    converges
}

@test "ACME CA down: prepare fails with 69 naming the CA, the old certificate is served, no record of it published, a later run converges" {
    local bad="$S/ca-down.conf" url="https://127.0.0.1:$(closed_port)/dir"
    sed "s|^ca = .*|ca = $url|" "$CONF" >"$bad"
    snapshot "$S/before"
    run --separate-stderr "$DRIVER" --prepare "$bad"
    the_error_line 69 "127\.0\.0\.1:$(closed_port)"
    snapshot "$S/after"
    assert_equal "$(cat "$S/after")" "$(cat "$S/before")"
    assert_equal "$(driver_state .cycle.next "$STATE")" prepare
    [ "$(driver_state '.material.cert.main.next // "none"' "$STATE")" = none ]
    converges
}

@test "disk full at the destination: rollover fails with 73 or 74 naming the file, the old files are intact, a later run converges" {
    run -0 "$DRIVER" --prepare "$CONF"
    listing "$TB_NGINX_CERTS" >"$S/dest.before"
    snapshot "$S/before"
    run --separate-stderr "$FIXTURES/faults-mountns.sh" full "$TB_NGINX_CERTS" "$S/dest.inside" \
        "$DRIVER" --rollover --force "$CONF"
    [[ $status -ne 70 ]] || fail "$stderr"
    [[ $status -eq 73 || $status -eq 74 ]] || fail "exit $status: $stderr"
    the_error_line "$status" "$TB_NGINX_CERTS/www\.example\.test/[^ ]*: .*No space left on device"
    # Inside the full tmpfs: what was there is there, unchanged, and nothing half-written is.
    assert_equal "$(cat "$S/dest.inside")" "$(cat "$S/dest.before")"
    snapshot "$S/after"
    assert_equal "$(cat "$S/after")" "$(cat "$S/before")"
    assert_equal "$(driver_state .cycle.next "$STATE")" rollover
    converges
}

@test "disk full in the state directory: the commit fails with 73 or 74 naming the state file, the old state is intact" {
    cp -p "$STATE/state.json" "$S/state.before"
    run --separate-stderr "$FIXTURES/faults-mountns.sh" full "$STATE" "$S/state.inside" \
        "$DRIVER" --update "$CONF"
    [[ $status -ne 70 ]] || fail "$stderr"
    [[ $status -eq 73 || $status -eq 74 ]] || fail "exit $status: $stderr"
    the_error_line "$status" "$STATE/state\.json: .*No space left on device"
    # Inside: state.json as it was, and no temporary file beside it.
    grep -qx "[0-9a-f]*  \./state\.json" "$S/state.inside"
    assert_equal "$(grep ' \./state\.json$' "$S/state.inside" | cut -d' ' -f1)" "$(sha256sum <"$S/state.before" | cut -d' ' -f1)"
    run grep -c '\.tmp\.' "$S/state.inside"
    assert_output 0
    cmp "$STATE/state.json" "$S/state.before"
    run -0 "$DRIVER" --update "$CONF"
}

@test "read-only destination: rollover fails with 73 or 77 naming the file, nothing changes, a later run converges" {
    run -0 "$DRIVER" --prepare "$CONF"
    listing "$TB_NGINX_CERTS" >"$S/dest.before"
    snapshot "$S/before"
    run --separate-stderr "$FIXTURES/faults-mountns.sh" ro "$TB_NGINX_CERTS" "$S/dest.inside" \
        "$DRIVER" --rollover --force "$CONF"
    [[ $status -ne 70 ]] || fail "$stderr"
    [[ $status -eq 73 || $status -eq 77 ]] || fail "exit $status: $stderr"
    the_error_line "$status" "$TB_NGINX_CERTS/www\.example\.test[^ ]*: .*Read-only file system"
    assert_equal "$(cat "$S/dest.inside")" "$(cat "$S/dest.before")"
    snapshot "$S/after"
    assert_equal "$(cat "$S/after")" "$(cat "$S/before")"
    assert_equal "$(driver_state .cycle.next "$STATE")" rollover
    converges
}
