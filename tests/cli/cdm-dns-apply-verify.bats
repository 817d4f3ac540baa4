#!/usr/bin/env bats
# cdm-dns-apply --verify against the test bed: changes sent to ns1 (BIND, primary) by the
# rfc2136 provider, then proved at every address of every NS of example.test. (ns1 on
# 127.0.0.1 and ::1, ns2, the secondary, on 127.0.0.2, found through unbound), a lagging
# secondary made real by stopping ns2 with SIGSTOP, DNSSEC validated against the zone's trust
# anchor, and what the report says compared with what dig sees. Needs jq and dig.

load test_helper
load testbed

setup_file() { testbed_setup_file; }
teardown_file() { testbed_teardown_file; }
setup() { testbed_setup; }
# A test that stops ns2 must not leave it stopped for the next one.
teardown() { [ -z "${TB_NS2_PID:-}" ] || kill -CONT "$TB_NS2_PID" 2>/dev/null || true; }

# cdm-dns-apply for example.test through ns1, with --verify and NS discovery through unbound;
# more options follow. Zone lines on stdin.
apply() {
    cdm-dns-apply --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --zone example.test --handler rfc2136 \
        --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY" \
        --verify --ns-port "$TB_NS_PORT" "$@"
}

# The verify object of the report in file $1 (cdm-dns-apply's JSON output).
verify_of() { jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' "$1"; }

# "NAME ADDRESS" for every address of every NS of example.test., as dig sees them through unbound.
ns_addresses() {
    local ns
    for ns in $(tb_resolve +short example.test NS); do
        for a in $(tb_resolve +short "$ns" A) $(tb_resolve +short "$ns" AAAA); do
            printf '%s %s\n' "$ns" "$a"
        done
    done | sort
}

soa_serial() { tb_dig +short example.test SOA | awk '{ print $3 }'; }

@test "a change is verified at every address of ns1 and ns2, found by NS discovery" {
    printf 'v1.example.test. 300 IN A 192.0.2.11\n' | apply >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
    v=$(verify_of "$BATS_TEST_TMPDIR/out")
    [ "$(jq -r .ok <<<"$v")" = true ]
    [ "$(jq -r .weaker <<<"$v")" = false ]
    # Exactly the NS set's addresses, each one conforming.
    assert_equal "$(jq -r '.servers[] | "\(.ns) \(.address)"' <<<"$v" | sort)" "$(ns_addresses)"
    [ "$(ns_addresses | wc -l)" -ge 2 ]
    [ "$(jq '[.servers[] | select(.ok and .port == '"$TB_NS_PORT"')] | length' <<<"$v")" -eq "$(ns_addresses | wc -l)" ]
    # What verify saw is what the servers serve now.
    [ "$(tb_dig +short v1.example.test A)" = 192.0.2.11 ]
    [ "$(tb_dig2 +short v1.example.test A)" = 192.0.2.11 ]
    [ "$(jq -r .serial <<<"$v")" = "$(soa_serial)" ]
    # The testbed's unbound refuses test., so the delegation cannot be read: a note says so.
    jq -r '.notes[]' <<<"$v" | grep -F "the parent zone of example.test. could not be found"
    grep -F "verified at" "$BATS_TEST_TMPDIR/err"
}

@test "a lagging secondary is waited for: ns2 stopped, then continued" {
    kill -STOP "$TB_NS2_PID"
    printf 'lag.example.test. 300 IN A 192.0.2.12\n' |
        apply --timeout 60 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
    pid=$!
    # ns1 has the record at once; ns2 cannot have it while stopped.
    tb_wait_for 20 grep -F "waiting for" "$BATS_TEST_TMPDIR/err"
    [ "$(tb_dig +short lag.example.test A)" = 192.0.2.12 ]
    sleep 2
    kill -0 "$pid" # still waiting
    kill -CONT "$TB_NS2_PID"
    status=0
    wait "$pid" || status=$?
    cat "$BATS_TEST_TMPDIR/err"
    [ "$status" -eq 0 ]
    grep -E "waiting for .*ns2\.example\.test\. \(127\.0\.0\.2\)" "$BATS_TEST_TMPDIR/err"
    # The waits name only ns2: ns1 had the change at once.
    run grep -c "waiting for .*ns1\.example\.test\." "$BATS_TEST_TMPDIR/err"
    assert_output 0
    v=$(verify_of "$BATS_TEST_TMPDIR/out")
    [ "$(jq -r .ok <<<"$v")" = true ]
    [ "$(jq '.waited_ms >= 2000' <<<"$v")" = true ]
    [ "$(tb_dig2 +short lag.example.test A)" = 192.0.2.12 ]
}

@test "a secondary that stays behind past --timeout: exit 75, naming it" {
    kill -STOP "$TB_NS2_PID"
    run -75 --separate-stderr apply --timeout 3 <<<'late.example.test. 300 IN A 192.0.2.13'
    kill -CONT "$TB_NS2_PID"
    [[ $stderr == *"not served everywhere yet: ns2.example.test. (127.0.0.2) does not answer"* ]] || false
    v=$(jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' <<<"$output")
    [ "$(jq -r .ok <<<"$v")" = false ]
    run jq -r '.servers[] | select(.ok | not) | .problem' <<<"$v"
    assert_output "ns2.example.test. (127.0.0.2) does not answer"
    run jq -r '.problems[]' <<<"$v"
    assert_output "ns2.example.test. (127.0.0.2) does not answer"
    # The change itself was applied at the primary.
    [ "$(tb_dig +short late.example.test A)" = 192.0.2.13 ]
}

@test "DNSSEC validated against the trust anchor, and not with another zone's anchor" {
    run -0 --separate-stderr apply --trust-anchor "$TB_TRUST_ANCHOR" <<<'sec.example.test. 300 IN A 192.0.2.14'
    v=$(jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' <<<"$output")
    [ "$(jq -c .dnssec <<<"$v")" = '{"checked":true,"ok":true}' ]
    [ "$(jq -r .ok <<<"$v")" = true ]
    # The answer is signed at ns2 too (dig sees the RRSIG).
    tb_dig2 +dnssec sec.example.test A | grep -E 'RRSIG[[:space:]]+A '
    # Anchors of the other zones only: example.test.'s answers cannot validate.
    grep -v '^example\.test\.' "$TB_TRUST_ANCHOR" >"$BATS_TEST_TMPDIR/other"
    [ -s "$BATS_TEST_TMPDIR/other" ]
    run -75 --separate-stderr apply --trust-anchor "$BATS_TEST_TMPDIR/other" --timeout 2 \
        <<<'sec2.example.test. 300 IN A 192.0.2.24'
    v=$(jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' <<<"$output")
    [ "$(jq -c .dnssec <<<"$v")" = '{"checked":true,"ok":false}' ]
    jq -r '.problems[]' <<<"$v" | grep -F "example.test. that does not validate"
}

@test "a deletion is verified: the RRset is gone at every server" {
    apply <<<'gone.example.test. 600 IN TXT "to be deleted"' >/dev/null 2>&1
    [ "$(tb_dig2 +short gone.example.test TXT)" = '"to be deleted"' ]
    run -0 --separate-stderr apply <<<'gone.example.test. TXT'
    v=$(jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' <<<"$output")
    [ "$(jq -r .ok <<<"$v")" = true ]
    [ "$(jq '[.servers[] | select(.ok)] | length' <<<"$v")" -eq "$(ns_addresses | wc -l)" ]
    # The deleted RRset's TTL is the largest TTL involved: caches may hold it that long.
    [ "$(jq -r .max_ttl <<<"$v")" = 600 ]
    run tb_dig gone.example.test TXT
    assert_output --partial "status: NXDOMAIN"
    run tb_dig2 gone.example.test TXT
    assert_output --partial "status: NXDOMAIN"
}

@test "a deletion is waited for at a stopped secondary" {
    apply <<<'stale.example.test. 300 IN A 192.0.2.15' >/dev/null 2>&1
    [ "$(tb_dig2 +short stale.example.test A)" = 192.0.2.15 ]
    kill -STOP "$TB_NS2_PID"
    printf 'stale.example.test. A\n' | apply --timeout 60 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
    pid=$!
    tb_wait_for 20 grep -F "waiting for" "$BATS_TEST_TMPDIR/err"
    [ -z "$(tb_dig +short stale.example.test A)" ]
    kill -0 "$pid"
    kill -CONT "$TB_NS2_PID"
    status=0
    wait "$pid" || status=$?
    cat "$BATS_TEST_TMPDIR/err"
    [ "$status" -eq 0 ]
    grep -E "waiting for .*ns2\.example\.test\. \(127\.0\.0\.2\)" "$BATS_TEST_TMPDIR/err"
    [ "$(jq -r '.report[] | select(.program == "cdm-dns-apply") | .verify.ok' "$BATS_TEST_TMPDIR/out")" = true ]
    run tb_dig2 stale.example.test A
    assert_output --partial "status: NXDOMAIN"
}

@test "--verify-via-resolver proves through unbound only and says it is weaker" {
    run -0 --separate-stderr apply --verify-via-resolver <<<'via.example.test. 300 IN A 192.0.2.16'
    v=$(jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' <<<"$output")
    [ "$(jq -r .ok <<<"$v")" = true ]
    [ "$(jq -r .weaker <<<"$v")" = true ]
    run jq -r '.servers[] | "\(.ns) \(.address) \(.port)"' <<<"$v"
    assert_output "resolver $TB_RESOLVER $TB_RESOLVER_PORT"
    run jq -r '.notes[]' <<<"$v"
    assert_line --partial "a resolver may answer from its cache, so this proves less"
}

@test "--verify-server asks the given server only" {
    run -0 --separate-stderr apply --verify-server "$TB_NS2_ADDR:$TB_NS2_PORT" \
        <<<'given.example.test. 300 IN A 192.0.2.17'
    v=$(jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' <<<"$output")
    run jq -r '.servers[] | "\(.ns)|\(.address)|\(.port)|\(.ok)"' <<<"$v"
    assert_output "|$TB_NS2_ADDR|$TB_NS2_PORT|true"
    [ "$(tb_dig2 +short given.example.test A)" = 192.0.2.17 ]
}

# Last: it changes the zone's SOA.
@test "the report's largest TTL and negative TTL are the zone's, as dig sees them" {
    # A SOA whose MINIMUM (45) is below its TTL (90), so that the two are told apart.
    read -r _ _ _ _ mname rname serial refresh retry expire _ < <(tb_dig +noall +answer example.test SOA)
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
update add example.test. 90 IN SOA $mname $rname $((serial + 1)) $refresh $retry $expire 45
EOF
    run -0 --separate-stderr apply <<<'ttl-a.example.test. 120 IN A 192.0.2.18
ttl-b.example.test. 240 IN TXT "ttl test"'
    v=$(jq -c '.report[] | select(.program == "cdm-dns-apply") | .verify' <<<"$output")
    [ "$(jq -r .ok <<<"$v")" = true ]
    # The largest TTL served for the records of the change.
    want=$({ tb_dig +noall +answer ttl-a.example.test A; tb_dig2 +noall +answer ttl-b.example.test TXT; } |
        awk '$2 > m { m = $2 } END { print m }')
    [ "$want" = 240 ]
    [ "$(jq -r .max_ttl <<<"$v")" = "$want" ]
    # RFC 2308 §5: min(SOA MINIMUM, TTL of the SOA), at both servers.
    for d in tb_dig tb_dig2; do
        negative=$($d +noall +answer example.test SOA | awk '{ print ($2 < $11 ? $2 : $11) }')
        [ "$negative" = 45 ]
    done
    [ "$(jq -r .negative_ttl <<<"$v")" = 45 ]
}
