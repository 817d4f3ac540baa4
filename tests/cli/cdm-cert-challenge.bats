#!/usr/bin/env bats
# The dns-01 and http-01 solvers (libcommon/challenge) through `cdm-cert issue`, against the
# testbed: Pebble (its VA resolves through the validating unbound and fetches http-01 answers
# from 127.0.0.1:TB_PEBBLE_HTTP_PORT), BIND (ns1 primary, ns2 secondary, RFC 2136 + TSIG) and
# PowerDNS (HTTP API). Each certificate is checked with openssl against Pebble's ACME root;
# each zone is asked afterwards (dig, at every server) that the challenge records are gone
# and that records the solver did not write are still there. Needs pebble, pdns-server, jq
# and openssl: none is optional here.
load test_helper
load testbed

setup_file() {
    export TB_WITH_PEBBLE=yes TB_WITH_PDNS=yes
    testbed_setup_file
}
teardown_file() { testbed_teardown_file; }
setup() { testbed_setup; }
# A test that stops ns2 must not leave it stopped for the next one.
teardown() {
    [ -z "${TB_NS2_PID:-}" ] || kill -CONT "$TB_NS2_PID" 2>/dev/null || true
    tb_webroot_stop
}

# cdm-cert issue against the testbed's pebble; names with -d, more options follow. The
# propagation wait is DNS_TIMEOUT seconds (default 30).
issue() {
    cdm-cert issue --ca "$TB_PEBBLE_URL" --cabundle "$TB_PEBBLE_CA" --email admin@example.test \
        --state-dir "$BATS_TEST_TMPDIR/state" --key-type ecdsa --out "$BATS_TEST_TMPDIR/out" \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --dns-timeout "${DNS_TIMEOUT:-30}" "$@"
}

# dns-01 through ns1 (RFC 2136, the hmac-sha256 key), verified at ns1 and ns2.
issue_bind() {
    issue --challenge dns-01 --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" \
        --set keyfile="$TB_TSIG_KEY" --ns-port "$TB_NS_PORT" "$@"
}

# dns-01 through the PowerDNS API, verified at pdns (its zone's NS, on pdns's port).
issue_pdns() {
    issue --challenge dns-01 --handler powerdns --set api_url="$TB_PDNS_API" \
        --set apikey_file="$TB_PDNS_APIKEY_FILE" --ns-port "$TB_PDNS_PORT" "$@"
}

# The issued certificate chains to pebble's root (the chain file holds the intermediate).
assert_chain_ok() {
    local out="$BATS_TEST_TMPDIR/out"
    run openssl verify -CAfile "$TB_PEBBLE_ROOT" -untrusted "$out/chain.pem" "$out/cert.pem"
    assert_success
    assert_output "$out/cert.pem: OK"
}

# The SAN dNSNames of the issued certificate, sorted, one a line.
san_names() {
    openssl x509 -in "$BATS_TEST_TMPDIR/out/cert.pem" -noout -ext subjectAltName |
        tr ',' '\n' | sed -n 's/^ *DNS://p' | sort
}

same_at_both() {
    [ "$(tb_dig +short "$1" TXT | sort)" = "$(tb_dig2 +short "$1" TXT | sort)" ]
}

nxdomain_at_ns2() {
    tb_dig2 "$1" TXT | grep -q 'status: NXDOMAIN'
}

# The TXT data at NAME, sorted, at ns1 and at ns2 (both must agree).
txt_bind() {
    local a b
    # The removal is not waited for: give the secondary its NOTIFY and IXFR.
    tb_wait_for 10 same_at_both "$1" || true
    a=$(tb_dig +short "$1" TXT | sort)
    b=$(tb_dig2 +short "$1" TXT | sort)
    [ "$a" = "$b" ] || {
        printf 'ns1 and ns2 differ for %s: [%s] [%s]\n' "$1" "$a" "$b"
        return 1
    }
    printf '%s\n' "$a"
}

@test "dns-01 through BIND: issued, the TXT record gone at ns1 and ns2, another TXT at the name kept" {
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update add _acme-challenge.keep.example.test. 60 IN TXT "not-from-cdm"
EOF
    run -0 --separate-stderr issue_bind -d keep.example.test
    assert_chain_ok
    run san_names
    assert_output keep.example.test
    # The solver published and waited (it logs both), and removed its value only.
    [[ $stderr == *"dns-01: publishing"* ]] || fail "no publish in the log: $stderr"
    [[ $stderr == *"dns-01: removing"* ]] || fail "no removal in the log: $stderr"
    run txt_bind _acme-challenge.keep.example.test
    assert_success
    assert_output '"not-from-cdm"'
}

@test "dns-01 SAN order in two zones with a wildcard: every value published, all removed" {
    run -0 --separate-stderr issue_bind -d san.example.test -d san.example.net -d '*.san.example.net'
    assert_chain_ok
    run san_names
    assert_output "$(printf '%s\n' '*.san.example.net' san.example.net san.example.test | sort)"
    # Two values went to _acme-challenge.san.example.net. (the name and its wildcard) and one to
    # example.test.: one UPDATE per zone each way, all gone now.
    for n in _acme-challenge.san.example.test _acme-challenge.san.example.net; do
        run tb_dig "$n" TXT
        assert_line --partial 'status: NXDOMAIN'
        # The removal is not waited for: the secondary follows by NOTIFY and IXFR.
        tb_wait_for 10 nxdomain_at_ns2 "$n" || true
        run tb_dig2 "$n" TXT
        assert_line --partial 'status: NXDOMAIN'
    done
    [[ $stderr == *"_acme-challenge.san.example.net."* ]] || fail "no record for example.net in the log: $stderr"
    [[ $stderr == *"_acme-challenge.san.example.test."* ]] || fail "no record for example.test in the log: $stderr"
}

@test "dns-01 through PowerDNS: issued for pdns.test names, TXT gone from pdns afterwards" {
    run -0 --separate-stderr issue_pdns -d www.pdns.test -d api.pdns.test
    assert_chain_ok
    run san_names
    assert_output "$(printf '%s\n' api.pdns.test www.pdns.test)"
    for n in _acme-challenge.www.pdns.test _acme-challenge.api.pdns.test; do
        run tb_pdns_dig "$n" TXT
        assert_line --partial 'status: NXDOMAIN'
    done
}

@test "dns-01: a secondary that does not follow is a propagation timeout (75), and the records are removed" {
    kill -STOP "$TB_NS2_PID"
    DNS_TIMEOUT=3 run -75 --separate-stderr issue_bind -d stuck.example.test
    [[ $stderr == *"$TB_NS2_ADDR"* ]] || fail "the error does not name ns2 ($TB_NS2_ADDR): $stderr"
    [ ! -e "$BATS_TEST_TMPDIR/out/cert.pem" ] || fail "a certificate was written"
    # remove() ran although the order failed: ns1 no longer has the value.
    run tb_dig _acme-challenge.stuck.example.test TXT
    assert_line --partial 'status: NXDOMAIN'
    kill -CONT "$TB_NS2_PID"
}

@test "dns-01: a wrong TSIG key fails before pebble validates anything, nothing is left" {
    tsig-keygen -a hmac-sha256 testbed-sha256 >"$BATS_TEST_TMPDIR/wrong.key"
    run --separate-stderr issue --challenge dns-01 --handler rfc2136 --set server="$TB_NS_ADDR" \
        --set port="$TB_NS_PORT" --set keyfile="$BATS_TEST_TMPDIR/wrong.key" --ns-port "$TB_NS_PORT" \
        -d badkey.example.test
    assert_failure
    [ "$status" -ne 0 ] && [ "$status" -ne 1 ] || fail "exit $status is no sysexits code"
    [[ $stderr == *BADSIG* || $stderr == *NOTAUTH* ]] || fail "the refusal is not named: $stderr"
    [ ! -e "$BATS_TEST_TMPDIR/out/cert.pem" ] || fail "a certificate was written"
    run tb_dig _acme-challenge.badkey.example.test TXT
    assert_line --partial 'status: NXDOMAIN'
}

@test "http-01 into a webroot: issued, the files and the directories it made removed, others kept" {
    local web="$BATS_TEST_TMPDIR/www"
    mkdir -p "$web"
    echo 'hello' >"$web/index.html"
    tb_webroot_serve "$web"
    run -0 --separate-stderr issue --challenge http-01 --webroot "$web" -d www.example.test -d mail.example.test
    assert_chain_ok
    run san_names
    assert_output "$(printf '%s\n' mail.example.test www.example.test)"
    # pebble fetched both answers from the webroot (the server's log has the two GETs, 200).
    run grep -c 'GET /.well-known/acme-challenge/[A-Za-z0-9_-]* HTTP/1.1" 200' "$TB_DIR/webroot-server/log"
    [ "$output" -ge 2 ] || fail "pebble fetched $output answers"
    [ ! -e "$web/.well-known" ] || fail "the solver left $(find "$web/.well-known")"
    run cat "$web/index.html"
    assert_output hello
}

@test "http-01 into a webroot whose .well-known exists: only the answers are removed" {
    local web="$BATS_TEST_TMPDIR/www2"
    mkdir -p "$web/.well-known"
    echo 'Contact: mailto:admin@example.test' >"$web/.well-known/security.txt"
    tb_webroot_serve "$web"
    run -0 --separate-stderr issue --challenge http-01 --webroot "$web" -d www.example.net
    assert_chain_ok
    run find "$web" -mindepth 1
    assert_output "$(printf '%s\n' "$web/.well-known" "$web/.well-known/security.txt")"
}

@test "http-01 with nothing serving the webroot: the challenge fails (69), the files are removed" {
    local web="$BATS_TEST_TMPDIR/www3"
    mkdir -p "$web"
    run -69 --separate-stderr issue --challenge http-01 --webroot "$web" -d www.shop.co.test
    [ ! -e "$BATS_TEST_TMPDIR/out/cert.pem" ] || fail "a certificate was written"
    [ ! -e "$web/.well-known" ] || fail "the solver left $(find "$web/.well-known")"
}
