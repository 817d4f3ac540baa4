#!/usr/bin/env bats
# The testbed itself (tests/testbed/testbed): the servers the other suites talk to behave as
# those suites expect, and stopping them leaves nothing behind.
load test_helper
load testbed

setup_file() {
    # unbound logs every query it sends at verbosity 4 ("only loopback" test below).
    export TB_UNBOUND_VERBOSITY=4
    testbed_setup_file
}
teardown_file() { testbed_teardown_file; }
setup() { testbed_setup; }

# True if process $1 is gone (or a zombie, which only waits for its parent to reap it).
pid_gone() {
    [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# The PowerDNS cases need pdns_server (scripts/setup installs it); without it they say so.
need_pdns() {
    [ "${TB_HAVE_PDNS:-0}" = 1 ] || skip "pdns_server is not installed (scripts/setup installs pdns-server)"
}

has_txt() { # server-function name text
    "$1" +short "$2" TXT | grep -qx "\"$3\""
}

serial() { # server-function zone
    "$1" +short "$2" SOA | awk '{ print $3 }'
}

@test "env names every server, key, anchor and zone" {
    for v in TB_DIR TB_NS_ADDR TB_NS_PORT TB_NS_PID TB_NS2_ADDR TB_NS2_PORT TB_NS2_PID \
        TB_RESOLVER TB_RESOLVER_PORT TB_RESOLVER_PID TB_TSIG_KEY TB_TSIG_KEY512 \
        TB_TRUST_ANCHOR TB_TRUST_ANCHOR_DNSKEY TB_ZONE1 TB_ZONE2 TB_ZONE3; do
        [ -n "${!v:-}" ] || fail "$v is not set"
    done
    assert_equal "$TB_ZONES" "example.test. example.net. shop.co.test."
    run grep -c ' IN DS ' "$TB_TRUST_ANCHOR"
    assert_output $((3 + TB_HAVE_PDNS))
    run grep -c 'hmac-sha512' "$TB_TSIG_KEY512"
    assert_output 1
}

@test "nsupdate with the hmac-sha256 key deletes and adds a TXT record in one UPDATE" {
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update add swap.example.test. 60 IN TXT "old"
EOF
    run tb_dig +short swap.example.test TXT
    assert_output '"old"'

    run tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update delete swap.example.test. TXT "old"
update add swap.example.test. 60 IN TXT "new"
EOF
    assert_success
    run tb_dig +short swap.example.test TXT
    assert_output '"new"'
    # Signed at once (dnssec-policy signs each change).
    run tb_dig +dnssec swap.example.test TXT
    assert_line --regexp 'IN[[:space:]]+RRSIG[[:space:]]+TXT '
}

@test "nsupdate with the hmac-sha512 key adds and deletes a record in every zone" {
    for z in $TB_ZONES; do
        tb_nsupdate -k "$TB_TSIG_KEY512" <<EOF
zone $z
update add k512.$z 60 IN TXT "512"
EOF
        run tb_dig +short "k512.$z" TXT
        assert_output '"512"'
        tb_nsupdate -k "$TB_TSIG_KEY512" <<EOF
zone $z
update delete k512.$z TXT
EOF
        run tb_dig "k512.$z" TXT
        assert_line --partial 'status: NXDOMAIN'
    done
}

@test "an UPDATE signed with a wrong secret is refused with NOTAUTH(BADSIG) and changes nothing" {
    tsig-keygen -a hmac-sha256 testbed-sha256 >"$BATS_TEST_TMPDIR/wrong.key"
    run tb_nsupdate -k "$BATS_TEST_TMPDIR/wrong.key" <<EOF
zone example.test
update add wrongkey.example.test. 60 IN TXT "no"
EOF
    assert_failure 2
    assert_output --partial 'NOTAUTH(BADSIG)'
    run tb_dig wrongkey.example.test TXT
    assert_line --partial 'status: NXDOMAIN'
}

@test "an UPDATE without a key is refused" {
    run tb_nsupdate <<EOF
zone example.test
update add nokey.example.test. 60 IN TXT "no"
EOF
    assert_failure 2
    assert_output --partial 'REFUSED'
}

@test "AXFR needs a TSIG key" {
    run tb_dig example.test AXFR
    assert_output --partial 'Transfer failed'
    run tb_dig -k "$TB_TSIG_KEY" +noall +answer example.test AXFR
    assert_success
    assert_line --regexp '^example\.test\.[[:space:]].*IN[[:space:]]+DNSKEY[[:space:]]+257 '
}

@test "ns1 and ns2 are authoritative for the three zones; co.test is no zone" {
    for z in $TB_ZONES; do
        run tb_dig "$z" SOA
        assert_line --regexp '^;; flags: qr aa[ ;]'
        run tb_dig2 "$z" SOA
        assert_line --regexp '^;; flags: qr aa[ ;]'
    done
    run tb_dig co.test SOA
    assert_line --partial 'status: REFUSED'
}

@test "unbound validates every test zone: answers have the ad flag" {
    for z in $TB_ZONES; do
        run tb_resolve +dnssec "www.$z" A
        assert_line --partial 'status: NOERROR'
        assert_line --regexp '^;; flags:[^;]* ad[ ;]'
        # A name that does not exist is denied, with a validated proof.
        run tb_resolve +dnssec "no-such-name.$z" A
        assert_line --partial 'status: NXDOMAIN'
        assert_line --regexp '^;; flags:[^;]* ad[ ;]'
    done
}

@test "unbound answers REFUSED for every name outside the test zones" {
    for name in www.example.com example.org co.test test .; do
        run tb_resolve "$name" SOA
        assert_line --partial 'status: REFUSED'
    done
}

@test "unbound sees an update at once (no caching)" {
    run tb_resolve +short fresh.example.test TXT
    assert_output ''
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update add fresh.example.test. 60 IN TXT "now"
EOF
    run tb_resolve +short fresh.example.test TXT
    assert_output '"now"'
}

@test "the secondary serves a change within 5 s of the UPDATE (NOTIFY, then IXFR)" {
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.net
update add notify.example.net. 60 IN TXT "to-ns2"
EOF
    tb_wait_for 5 has_txt tb_dig2 notify.example.net to-ns2 ||
        fail "ns2 ($TB_NS2_ADDR#$TB_NS2_PORT) did not serve the change within 5 s"
    assert_equal "$(serial tb_dig2 example.net)" "$(serial tb_dig example.net)"
    run tb_dig2 +dnssec notify.example.net TXT
    assert_line --regexp 'IN[[:space:]]+RRSIG[[:space:]]+TXT '
}

@test "drill -S validates signed names at ns1 against TB_TRUST_ANCHOR (DS) and the DNSKEY form" {
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone shop.co.test
update add _25._tcp.mail.shop.co.test. 60 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
EOF
    for anchor in "$TB_TRUST_ANCHOR" "$TB_TRUST_ANCHOR_DNSKEY"; do
        for name in www.example.test www.example.net www.shop.co.test; do
            run drill -S -k "$anchor" -p "$TB_NS_PORT" @"$TB_NS_ADDR" "$name" A
            assert_success
            assert_line ';; Chase successful'
        done
        run drill -S -k "$anchor" -p "$TB_NS_PORT" @"$TB_NS_ADDR" _25._tcp.mail.shop.co.test TLSA
        assert_success
        assert_line ';; Chase successful'
    done
}

@test "drill -S fails with a trust anchor that is not the zone's" {
    dnssec-keygen -q -K "$BATS_TEST_TMPDIR" -a ECDSAP256SHA256 -f KSK example.test >/dev/null
    dnssec-dsfromkey -2 "$BATS_TEST_TMPDIR"/Kexample.test.*.key >"$BATS_TEST_TMPDIR/wrong.ds"
    run drill -S -k "$BATS_TEST_TMPDIR/wrong.ds" -p "$TB_NS_PORT" @"$TB_NS_ADDR" www.example.test A
    assert_failure
    refute_line ';; Chase successful'
}

@test "ns1 and unbound also answer on ::1 when lo has it" {
    if [ "$TB_HAVE_V6" = 0 ]; then
        assert_equal "$TB_NS_ADDR6" ""
        return
    fi
    run dig +time=2 +tries=1 +norec @::1 -p "$TB_NS_PORT" www.example.test A
    assert_line --partial 'status: NOERROR'
    run dig +time=2 +tries=1 +dnssec @::1 -p "$TB_RESOLVER_PORT" www.example.test A
    assert_line --regexp '^;; flags:[^;]* ad[ ;]'
}

@test "unbound sent queries only to ns1 (and pdns) on loopback" {
    tb_resolve www.example.test A >/dev/null
    run grep -h 'sending to target' "$TB_DIR/unbound.log"
    assert_success
    run sh -c "grep -h 'sending to target' '$TB_DIR/unbound.log' | awk '{ print \$NF }' | sort -u"
    if [ "$TB_HAVE_PDNS" = 1 ]; then
        assert_output "$(printf '%s\n' "$TB_NS_ADDR#$TB_NS_PORT" "$TB_PDNS_ADDR#$TB_PDNS_PORT" | sort)"
    else
        assert_output "$TB_NS_ADDR#$TB_NS_PORT"
    fi
}

@test "start refuses a directory where a testbed runs" {
    run "$TESTBED" start "$TB_DIR"
    assert_failure 1
    assert_output --partial 'already running'
}

@test "start, status, stop: stop leaves no process behind and can be repeated" {
    local dir="$BATS_TEST_TMPDIR/tb"
    # Its own block of ports, even if this file's testbed was given TB_PORT_BASE.
    run env -u TB_PORT_BASE "$TESTBED" start "$dir"
    assert_success
    # shellcheck source=/dev/null # written by testbed start
    read -r base pids < <(. "$dir/env" &&
        echo "$TB_PORT_BASE $TB_NS_PID $TB_NS2_PID $TB_RESOLVER_PID ${TB_PDNS_PID:-}")
    [ "$base" != "$TB_PORT_BASE" ] || fail "second testbed got the same ports ($base)"
    for p in $pids; do
        ! pid_gone "$p" || fail "pid $p is not running after start"
    done
    run "$TESTBED" status "$dir"
    assert_success
    assert_equal "${#lines[@]}" $((3 + TB_HAVE_PDNS))

    run "$TESTBED" stop "$dir"
    assert_success
    for p in $pids; do
        pid_gone "$p" || fail "pid $p still runs after stop"
    done
    run ss -Hltun "( sport >= :$base and sport <= :$((base + 7)) )"
    assert_output ''
    run "$TESTBED" status "$dir"
    assert_failure 3

    run "$TESTBED" stop "$dir"
    assert_success
    run "$TESTBED" stop "$BATS_TEST_TMPDIR/never-started"
    assert_success
}

@test "usage errors exit 64" {
    run "$TESTBED"
    assert_failure 64
    run "$TESTBED" start
    assert_failure 64
    run "$TESTBED" frobnicate "$BATS_TEST_TMPDIR"
    assert_failure 64
    run env TB_PORT_BASE=80 "$TESTBED" start "$BATS_TEST_TMPDIR/low"
    assert_failure 64
    run env TB_WITH_PDNS=maybe "$TESTBED" start "$BATS_TEST_TMPDIR/pdns"
    assert_failure 64
}

@test "pdns serves pdns.test. signed, and unbound validates it with the DS in TB_TRUST_ANCHOR" {
    need_pdns
    assert_equal "$TB_PDNS_ZONE" pdns.test.
    run tb_pdns_dig +dnssec www.pdns.test A
    assert_line --regexp '^;; flags: qr aa[ ;]'
    assert_line --regexp 'IN[[:space:]]+RRSIG[[:space:]]+A '
    run grep -c '^pdns\.test\. IN DS ' "$TB_TRUST_ANCHOR"
    assert_output 1
    run tb_resolve +dnssec www.pdns.test A
    assert_line --partial 'status: NOERROR'
    assert_line --regexp '^;; flags:[^;]* ad[ ;]'
    # Denial of existence is signed (the zone is rectified) and validates too.
    run tb_resolve +dnssec no-such-name.pdns.test A
    assert_line --partial 'status: NXDOMAIN'
    assert_line --regexp '^;; flags:[^;]* ad[ ;]'
    run drill -S -k "$TB_TRUST_ANCHOR" -p "$TB_PDNS_PORT" @"$TB_PDNS_ADDR" www.pdns.test A
    assert_success
    assert_line ';; Chase successful'
}

@test "pdns API: a PATCH is served signed at once and raises the serial; DELETE removes it" {
    need_pdns
    local before
    before=$(tb_pdns_serial)
    run tb_pdns_api PATCH "/zones/$TB_PDNS_ZONE" --data-binary \
        '{"rrsets":[{"name":"patched.pdns.test.","type":"TXT","ttl":60,"changetype":"REPLACE",
                     "records":[{"content":"\"via the API\"","disabled":false}]}]}'
    assert_line 'HTTP 204'
    run tb_pdns_dig +short patched.pdns.test TXT
    assert_output '"via the API"'
    [ "$(tb_pdns_serial)" -gt "$before" ] || fail "serial $before did not increase"
    run tb_resolve +dnssec patched.pdns.test TXT
    assert_line --regexp '^;; flags:[^;]* ad[ ;]'

    run tb_pdns_api PATCH "/zones/$TB_PDNS_ZONE" --data-binary \
        '{"rrsets":[{"name":"patched.pdns.test.","type":"TXT","changetype":"DELETE"}]}'
    assert_line 'HTTP 204'
    run tb_pdns_dig patched.pdns.test TXT
    assert_line --partial 'status: NXDOMAIN'
}

@test "pdns API: the key is in a 0600 file, on no command line, and a wrong key gets 401" {
    need_pdns
    run stat -c %a "$TB_PDNS_APIKEY_FILE"
    assert_output 600
    local key
    key=$(<"$TB_PDNS_APIKEY_FILE")
    [ "${#key}" -ge 32 ] || fail "the key is too short: ${#key} characters"
    run grep -c -- "$key" "/proc/$TB_PDNS_PID/cmdline"
    assert_output 0
    run curl -sS -o /dev/null -w '%{http_code}' -H 'X-API-Key: wrong' "$TB_PDNS_API/api/v1/servers/localhost/zones"
    assert_output 401
    run tb_pdns_api GET "/zones/$TB_PDNS_ZONE?rrsets=false"
    assert_line 'HTTP 200'
    assert_output --partial '"soa_edit_api": "INCREASE"'
    assert_output --partial '"dnssec": true'
}

@test "TB_WITH_PDNS=no starts the other servers without pdns, and status counts three" {
    local dir="$BATS_TEST_TMPDIR/nopdns"
    run env -u TB_PORT_BASE TB_WITH_PDNS=no "$TESTBED" start "$dir"
    assert_success
    run grep -c '^export TB_PDNS_' "$dir/env"
    assert_output 0
    run grep -x 'export TB_HAVE_PDNS=0' "$dir/env"
    assert_success
    run "$TESTBED" status "$dir"
    assert_success
    assert_equal "${#lines[@]}" 3
    run "$TESTBED" stop --clean "$dir"
    assert_success
    [ ! -e "$dir" ] || fail "stop --clean left $dir"
}
