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

# The pebble cases need pebble and lego (scripts/setup installs both).
need_pebble() {
    [ "${TB_HAVE_PEBBLE:-0}" = 1 ] || skip "pebble is not installed (scripts/setup installs it)"
    command -v lego >/dev/null || skip "lego is not installed (scripts/setup installs it)"
}

# The nginx cases need nginx (Debian's nginx-light; scripts/setup installs it).
need_nginx() {
    [ "${TB_HAVE_NGINX:-0}" = 1 ] || skip "nginx is not installed (scripts/setup installs nginx-light)"
}

# serial_is NAME SERIAL: nginx presents the certificate with that serial for NAME.
serial_is() { [ "$(tb_nginx_serial "$1")" = "$2" ]; }

# The SHA-256 fingerprint of a PEM certificate on stdin.
fingerprint() { openssl x509 -noout -fingerprint -sha256; }

# lego as the testbed's gotchas require: pebble's HTTPS CA, DNS only through unbound on
# loopback, no propagation check against the NS by name on port 53 (--dns.disable-cp).
tb_lego() { # path lego-args...
    local path=$1
    shift
    LEGO_CA_CERTIFICATES=$TB_PEBBLE_CA \
        RFC2136_NAMESERVER=$TB_NS_ADDR:$TB_NS_PORT RFC2136_TSIG_ALGORITHM=$TB_TSIG_ALG. \
        RFC2136_TSIG_KEY=$TB_TSIG_NAME RFC2136_TSIG_SECRET=$TB_TSIG_SECRET RFC2136_TTL=10 \
        RFC2136_PROPAGATION_TIMEOUT=30 RFC2136_POLLING_INTERVAL=1 RFC2136_SEQUENCE_INTERVAL=1 \
        timeout 120 lego --accept-tos --email admin@example.test --path "$path" \
        --dns.resolvers "$TB_RESOLVER:$TB_RESOLVER_PORT" --dns.disable-cp "$@"
}

# verify_leaf DIR NAME ROOT: lego's certificate for NAME chains to ROOT (pebble's ACME root).
verify_leaf() {
    run openssl verify -CAfile "$3" -untrusted "$1/certificates/$2.issuer.crt" "$1/certificates/$2.crt"
    assert_success
    assert_output "$1/certificates/$2.crt: OK"
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

@test "pebble: the directory answers over HTTPS signed by TB_PEBBLE_CA; roots and EAB key are in place" {
    need_pebble
    for v in TB_PEBBLE_URL TB_PEBBLE_CA TB_PEBBLE_ROOT TB_PEBBLE_HTTP_PORT TB_PEBBLE_EAB_URL \
        TB_PEBBLE_EAB_KID TB_PEBBLE_EAB_KEY_FILE TB_PEBBLE_EAB_ROOT TB_PEBBLE_EXTRAS_PORT; do
        [ -n "${!v:-}" ] || fail "$v is not set"
    done
    run curl -sS --cacert "$TB_PEBBLE_CA" "$TB_PEBBLE_URL"
    assert_success
    run jq -r '.newNonce, .newAccount, .newOrder, .meta.externalAccountRequired' <<<"$output"
    assert_output "$(printf '%s\n' "${TB_PEBBLE_URL%/dir}/nonce-plz" "${TB_PEBBLE_URL%/dir}/sign-me-up" \
        "${TB_PEBBLE_URL%/dir}/order-plz" false)"
    run curl -sS --cacert "$TB_PEBBLE_CA" "$TB_PEBBLE_EAB_URL"
    run jq -r .meta.externalAccountRequired <<<"$output"
    assert_output true
    # Without the testbed's CA the HTTPS certificate is not trusted.
    run curl -sS --cacert "$TB_PEBBLE_ROOT" "$TB_PEBBLE_URL"
    assert_failure
    # Each ACME root is a self-signed CA certificate, and the two instances have their own.
    for root in "$TB_PEBBLE_ROOT" "$TB_PEBBLE_EAB_ROOT"; do
        run openssl verify -CAfile "$root" "$root"
        assert_success
        run openssl x509 -in "$root" -noout -subject
        assert_output --regexp '^subject=CN ?= ?Pebble Root CA '
    done
    [ "$(openssl x509 -in "$TB_PEBBLE_ROOT" -noout -fingerprint)" != \
        "$(openssl x509 -in "$TB_PEBBLE_EAB_ROOT" -noout -fingerprint)" ] || fail "the two roots are one"
    run stat -c %a "$TB_PEBBLE_EAB_KEY_FILE"
    assert_output 600
    run grep -Ec '^[A-Za-z0-9_-]{64}$' "$TB_PEBBLE_EAB_KEY_FILE"
    assert_output 1
    # pebble runs as the testbed's settings say, and listens on loopback only.
    run tr '\0' '\n' <"/proc/$TB_PEBBLE_PID/environ"
    assert_line PEBBLE_VA_NOSLEEP=1
    assert_line PEBBLE_AUTHZREUSE=0
    refute_line --regexp '^PEBBLE_WFE_NONCEREJECT='
    run grep -c 'reject 5% of good nonces' "$TB_DIR/pebble.log"
    assert_output 1
    run tr '\0' ' ' <"/proc/$TB_PEBBLE_PID/cmdline"
    assert_output --partial "-dnsserver $TB_RESOLVER:$TB_RESOLVER_PORT -strict"
    run sh -c "ss -Htln | awk '{ print \$4 }' | grep -E ':($TB_PEBBLE_PORT|$((TB_PEBBLE_PORT + 1))|$((TB_PEBBLE_PORT + 4))|$((TB_PEBBLE_PORT + 5)))\$' | sort -u"
    assert_output "$(printf '127.0.0.1:%s\n' "$TB_PEBBLE_PORT" $((TB_PEBBLE_PORT + 1)) \
        $((TB_PEBBLE_PORT + 4)) $((TB_PEBBLE_PORT + 5)))"
}

@test "unbound, pebble's resolver, never answers an _acme-challenge name from a negative cache" {
    local name=_acme-challenge.negcache.example.test
    run tb_resolve "$name" TXT
    assert_line --partial 'status: NXDOMAIN'
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update add $name. 60 IN TXT "published"
EOF
    run tb_resolve +short "$name" TXT
    assert_output '"published"'
}

@test "pebble issues to lego by dns-01 through ns1 (RFC 2136) for two names; chains to TB_PEBBLE_ROOT" {
    need_pebble
    local d="$BATS_TEST_TMPDIR/lego"
    run tb_lego "$d" --server "$TB_PEBBLE_URL" --dns rfc2136 \
        -d lego-dns.example.test -d lego-dns.example.net run
    assert_success
    verify_leaf "$d" lego-dns.example.test "$TB_PEBBLE_ROOT"
    run openssl x509 -in "$d/certificates/lego-dns.example.test.crt" -noout -ext subjectAltName
    assert_output --partial 'DNS:lego-dns.example.test'
    assert_output --partial 'DNS:lego-dns.example.net'
    run tb_dig _acme-challenge.lego-dns.example.test TXT
    assert_line --partial 'status: NXDOMAIN'
}

@test "the EAB pebble issues by http-01 with the key from TB_PEBBLE_EAB_KEY_FILE, and refuses without" {
    need_pebble
    local d="$BATS_TEST_TMPDIR/lego-eab"
    run tb_lego "$d" --server "$TB_PEBBLE_EAB_URL" --http --http.port "127.0.0.1:$TB_PEBBLE_HTTP_PORT" \
        -d www.example.test run
    assert_failure
    assert_output --partial 'External Account Binding'
    run tb_lego "$d" --server "$TB_PEBBLE_EAB_URL" --eab --kid "$TB_PEBBLE_EAB_KID" \
        --hmac "$(<"$TB_PEBBLE_EAB_KEY_FILE")" --http --http.port "127.0.0.1:$TB_PEBBLE_HTTP_PORT" \
        -d www.example.test run
    assert_success
    verify_leaf "$d" www.example.test "$TB_PEBBLE_EAB_ROOT"
    run grep -c "Successful newAccount Binding with CA using kid \"$TB_PEBBLE_EAB_KID\"" \
        "$TB_DIR/pebble-eab.log"
    assert_output 1
}

@test "acme-extras.py: the directory gains caaIdentities, profiles, renewalInfo; lego issues through it" {
    need_pebble
    tb_acme_extras_start
    run curl -sS --cacert "$TB_PEBBLE_CA" "$TB_EXTRAS_URL"
    assert_success
    local dir=$output base=${TB_EXTRAS_URL%/dir}
    run jq -c '.meta.caaIdentities, (.meta.profiles | keys), .renewalInfo, .newOrder' <<<"$dir"
    assert_output "$(printf '%s\n' '["testbed-ca.test"]' '["classic","shortlived"]' \
        "\"$base/renewal-info\"" "\"$base/order-plz\"")"
    # A nonce is pebble's, handed on.
    run curl -sS -I --cacert "$TB_PEBBLE_CA" "$base/nonce-plz"
    assert_line --regexp '^Replay-Nonce: [A-Za-z0-9_-]+'

    # renewalInfo: the window the test sets; a malformed certID is refused.
    tb_acme_extras_window 2030-01-01T00:00:00Z 1893542400 https://example.test/why
    run curl -sS --cacert "$TB_PEBBLE_CA" -D "$BATS_TEST_TMPDIR/h" "$base/renewal-info/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    assert_output '{"suggestedWindow": {"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}, "explanationURL": "https://example.test/why"}'
    run grep -ci '^retry-after: 21600' "$BATS_TEST_TMPDIR/h"
    assert_output 1
    run curl -sS -o /dev/null -w '%{http_code}' --cacert "$TB_PEBBLE_CA" "$base/renewal-info/not-a-cert-id"
    assert_output 400

    # A whole issuance through the front: pebble issues (the chain ends at its root), and the
    # front recorded the order's identifiers, with no profile and no replaces (once per
    # newOrder POST: a retry after pebble's badNonce is recorded again).
    local d="$BATS_TEST_TMPDIR/lego-extras"
    run tb_lego "$d" --server "$TB_EXTRAS_URL" --dns rfc2136 -d lego-extras.shop.co.test run
    assert_success
    verify_leaf "$d" lego-extras.shop.co.test "$TB_PEBBLE_ROOT"
    run sh -c "jq -c . '$TB_EXTRAS_ORDERS' | sort -u"
    assert_output '{"identifiers":[{"type":"dns","value":"lego-extras.shop.co.test"}],"profile":null,"replaces":null}'
    assert_equal "$(grep -c 'POST /order-plz' "$TB_DIR/acme-extras/log")" "$(wc -l <"$TB_EXTRAS_ORDERS")"

    # A newOrder asking for a profile the front does not offer is refused by the front itself
    # (invalidProfile, with a fresh nonce from pebble), before any signature is looked at.
    local payload
    payload=$(printf '{"identifiers":[{"type":"dns","value":"x.example.test"}],"profile":"bogus"}' |
        base64 -w0 | tr '+/' '-_' | tr -d '=')
    run curl -sS --cacert "$TB_PEBBLE_CA" -D "$BATS_TEST_TMPDIR/h2" -H 'Content-Type: application/jose+json' \
        --data-binary "{\"protected\":\"e30\",\"payload\":\"$payload\",\"signature\":\"AA\"}" "$base/order-plz"
    run jq -r .type <<<"$output"
    assert_output urn:ietf:params:acme:error:invalidProfile
    run grep -Eci '^replay-nonce: [A-Za-z0-9_-]+' "$BATS_TEST_TMPDIR/h2"
    assert_output 1
    run jq -r 'select(.profile != null) | .profile' "$TB_EXTRAS_ORDERS"
    assert_output bogus
    tb_acme_extras_stop
    run curl -sS --max-time 2 --cacert "$TB_PEBBLE_CA" "$TB_EXTRAS_URL"
    assert_failure
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
        echo "$TB_PORT_BASE $TB_NS_PID $TB_NS2_PID $TB_RESOLVER_PID ${TB_PDNS_PID:-} \
            ${TB_PEBBLE_PID:-} ${TB_PEBBLE_EAB_PID:-} ${TB_NGINX_PID:-}")
    [ "$base" != "$TB_PORT_BASE" ] || fail "second testbed got the same ports ($base)"
    for p in $pids; do
        ! pid_gone "$p" || fail "pid $p is not running after start"
    done
    run "$TESTBED" status "$dir"
    assert_success
    assert_equal "${#lines[@]}" $((3 + TB_HAVE_PDNS + 2 * TB_HAVE_PEBBLE + TB_HAVE_NGINX))

    run "$TESTBED" stop "$dir"
    assert_success
    for p in $pids; do
        pid_gone "$p" || fail "pid $p still runs after stop"
    done
    run ss -Hltun "( sport >= :$base and sport <= :$((base + 19)) )"
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
    run env TB_WITH_PEBBLE=maybe "$TESTBED" start "$BATS_TEST_TMPDIR/pebble"
    assert_failure 64
    run env TB_WITH_NGINX=maybe "$TESTBED" start "$BATS_TEST_TMPDIR/nginx"
    assert_failure 64
    run env TB_NEGATIVE_TTL=1m "$TESTBED" start "$BATS_TEST_TMPDIR/negttl"
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

@test "TB_WITH_PDNS=no TB_WITH_PEBBLE=no TB_WITH_NGINX=no start the DNS servers alone, and status counts three" {
    local dir="$BATS_TEST_TMPDIR/nopdns"
    run env -u TB_PORT_BASE TB_WITH_PDNS=no TB_WITH_PEBBLE=no TB_WITH_NGINX=no "$TESTBED" start "$dir"
    assert_success
    run grep -c '^export TB_PDNS_' "$dir/env"
    assert_output 0
    run grep -x 'export TB_HAVE_PDNS=0' "$dir/env"
    assert_success
    run grep -c '^export TB_PEBBLE_' "$dir/env"
    assert_output 0
    run grep -x 'export TB_HAVE_PEBBLE=0' "$dir/env"
    assert_success
    run grep -c '^export TB_NGINX_' "$dir/env"
    assert_output 0
    run grep -x 'export TB_HAVE_NGINX=0' "$dir/env"
    assert_success
    run "$TESTBED" status "$dir"
    assert_success
    assert_equal "${#lines[@]}" 3
    run "$TESTBED" stop --clean "$dir"
    assert_success
    [ ! -e "$dir" ] || fail "stop --clean left $dir"
}

@test "nginx serves www and mail over HTTPS from throwaway certificates; its test and reload commands work" {
    need_nginx
    for v in TB_NGINX_PORT TB_NGINX_PID TB_NGINX_CERTS TB_NGINX_DIR TB_NGINX_TEST_CMD TB_NGINX_RELOAD_CMD; do
        [ -n "${!v:-}" ] || fail "$v is not set"
    done
    assert_equal "$TB_NGINX_PORT" $((TB_PORT_BASE + 17))
    assert_equal "$TB_NGINX_CERTS" "$TB_DIR/nginx/certs"
    # What testbed wrote: regular files, a self-signed certificate per name, served for its name.
    local n
    for n in www.example.test mail.example.test; do
        [ -f "$TB_NGINX_CERTS/$n/fullchain.pem" ] && [ ! -L "$TB_NGINX_CERTS/$n/fullchain.pem" ] ||
            fail "$n/fullchain.pem is not a regular file"
        [ -f "$TB_NGINX_CERTS/$n/privkey.pem" ] && [ ! -L "$TB_NGINX_CERTS/$n/privkey.pem" ] ||
            fail "$n/privkey.pem is not a regular file"
        run stat -c %a "$TB_NGINX_CERTS/$n/privkey.pem"
        assert_output 600
        run openssl x509 -in "$TB_NGINX_CERTS/$n/fullchain.pem" -noout -subject -ext subjectAltName
        assert_line --regexp "^subject=CN ?= ?$n\$"
        assert_line --partial "DNS:$n"
        assert_equal "$(tb_nginx_cert "$n" | fingerprint)" "$(fingerprint <"$TB_NGINX_CERTS/$n/fullchain.pem")"
        run curl -sS --max-time 5 --cacert "$TB_NGINX_CERTS/$n/fullchain.pem" \
            --resolve "$n:$TB_NGINX_PORT:127.0.0.1" "https://$n:$TB_NGINX_PORT/"
        assert_success
        assert_output "$n"
    done
    # Listens on loopback only, on its one port; its pid file and logs are in TB_NGINX_DIR.
    run sh -c "ss -Htln | awk '{ print \$4 }' | grep -E ':$TB_NGINX_PORT\$' | sort -u"
    if [ "$TB_HAVE_V6" = 1 ]; then
        assert_output "$(printf '%s\n' "127.0.0.1:$TB_NGINX_PORT" "[::1]:$TB_NGINX_PORT")"
    else
        assert_output "127.0.0.1:$TB_NGINX_PORT"
    fi
    assert_equal "$(<"$TB_NGINX_DIR/nginx.pid")" "$TB_NGINX_PID"
    [ -s "$TB_NGINX_DIR/error.log" ] || fail "no error log in $TB_NGINX_DIR"
    # The commands are plain words, run here without a shell as cdm-reload runs them.
    [[ $TB_NGINX_TEST_CMD$TB_NGINX_RELOAD_CMD != *[\;\|\&\<\>\$\`\'\"]* ]] || fail "shell characters in the commands"
    # shellcheck disable=SC2086 # words, as cdm-reload splits them
    run $TB_NGINX_TEST_CMD
    assert_success
    assert_output ''

    # A new certificate for mail, then reload: nginx serves it, the same master still runs.
    local old new
    old=$(tb_nginx_serial mail.example.test)
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=mail.example.test \
        -keyout "$TB_NGINX_CERTS/mail.example.test/privkey.pem.new" \
        -out "$TB_NGINX_CERTS/mail.example.test/fullchain.pem.new" 2>/dev/null
    mv "$TB_NGINX_CERTS/mail.example.test/privkey.pem.new" "$TB_NGINX_CERTS/mail.example.test/privkey.pem"
    mv "$TB_NGINX_CERTS/mail.example.test/fullchain.pem.new" "$TB_NGINX_CERTS/mail.example.test/fullchain.pem"
    assert_equal "$(tb_nginx_serial mail.example.test)" "$old"
    # shellcheck disable=SC2086
    run $TB_NGINX_RELOAD_CMD
    assert_success
    new=$(openssl x509 -in "$TB_NGINX_CERTS/mail.example.test/fullchain.pem" -noout -serial | cut -d= -f2)
    tb_wait_for 10 serial_is mail.example.test "$new" ||
        fail "nginx did not serve the new certificate within 10 s of the reload"
    assert_equal "$(tb_nginx_serial www.example.test)" "$(openssl x509 -in "$TB_NGINX_CERTS/www.example.test/fullchain.pem" -noout -serial | cut -d= -f2)"
    kill -0 "$TB_NGINX_PID"
}

@test "TB_NGINX_CERTS with certificates in place: nginx serves them untouched; TB_NEGATIVE_TTL sets the SOA minimum; stop stops nginx" {
    need_nginx
    local dir="$BATS_TEST_TMPDIR/tb" certs="$BATS_TEST_TMPDIR/dest" n
    for n in www.example.test mail.example.test; do
        mkdir -p "$certs/$n.gen"
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=own $n" \
            -keyout "$certs/$n.gen/privkey.pem" -out "$certs/$n.gen/fullchain.pem" 2>/dev/null
        # As cdm deploys them: symbolic links.
        mkdir -p "$certs/$n"
        ln -s "../$n.gen/fullchain.pem" "$certs/$n/fullchain.pem"
        ln -s "../$n.gen/privkey.pem" "$certs/$n/privkey.pem"
    done
    local before
    before=$(find "$certs" -printf '%p %y %s %T@\n' | sort)
    run env -u TB_PORT_BASE TB_WITH_PDNS=no TB_WITH_PEBBLE=no TB_WITH_NGINX=yes TB_NEGATIVE_TTL=2 \
        TB_NGINX_CERTS="$certs" "$TESTBED" start "$dir"
    assert_success
    local port pid nsport
    # shellcheck source=/dev/null # written by testbed start
    read -r port pid nsport < <(. "$dir/env" && echo "$TB_NGINX_PORT $TB_NGINX_PID $TB_NS_PORT")
    run grep -x "export TB_NGINX_CERTS='$certs'" "$dir/env"
    assert_success
    assert_equal "$(find "$certs" -printf '%p %y %s %T@\n' | sort)" "$before"
    for n in www.example.test mail.example.test; do
        run sh -c "openssl s_client -connect 127.0.0.1:$port -servername $n </dev/null 2>/dev/null | openssl x509 -noout -subject"
        assert_output --regexp "^subject=CN ?= ?own $n\$"
    done
    run dig +short +norec @127.0.0.1 -p "$nsport" example.test SOA
    assert_output --regexp ' 60 60 3600 2$'
    run "$TESTBED" status "$dir"
    assert_success
    assert_line "nginx running pid $pid https://127.0.0.1:$port/"

    run "$TESTBED" stop "$dir"
    assert_success
    pid_gone "$pid" || fail "nginx (pid $pid) still runs after stop"
    run ss -Hltn "( sport = :$port )"
    assert_output ''
    # stop --clean removes what start made in DIR, and never the certificates it was given.
    run "$TESTBED" stop --clean "$dir"
    assert_success
    [ ! -e "$dir" ] || fail "stop --clean left $dir"
    assert_equal "$(find "$certs" -printf '%p %y %s %T@\n' | sort)" "$before"
}
