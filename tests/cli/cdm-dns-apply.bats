#!/usr/bin/env bats
# cdm-dns-apply as a program: its input forms (zone lines, a cdm-config document), ops and
# scopes end to end, the report, --dry-run, errors that change nothing, and the zone of a name
# found from the SOA through the test bed's validating unbound. The zone is kept in a zone
# file (the zonefile provider), so what changed is the file itself; the providers' own suites
# (cdm-dns-apply-rfc2136.bats ...) cover the servers.

load test_helper
load testbed

setup_file() { testbed_setup_file; }
teardown_file() { testbed_teardown_file; }

setup() {
    testbed_setup
    Z="$BATS_TEST_TMPDIR/example.test.zone"
    cat > "$Z" <<'EOF'
$ORIGIN example.test.
$TTL 600
@       IN SOA ns1 hostmaster ( 2026010101 3600 600 86400 300 )
        IN NS  ns1
        IN MX  10 mx1
ns1     IN A   192.0.2.53
www     IN A   192.0.2.1     ; the web server
_25._tcp.www  IN TLSA 3 1 1 cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
*._tcp.www    IN TLSA 3 1 1 dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
_443._tcp.www IN TLSA 3 1 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
EOF
    cp "$Z" "$BATS_TEST_TMPDIR/orig.zone"
}

apply() {
    cdm-dns-apply --zone example.test --handler zonefile --set zonefile="$Z" "$@"
}

# The zone file's records as named-checkzone reads them, one canonical line each.
zone_records() {
    named-checkzone -q -D -o - example.test "$Z" | grep -v -e '[[:space:]]SOA[[:space:]]' | sort
}

@test "--help and --version" {
    run -0 cdm-dns-apply --help
    assert_line --partial "usage: cdm-dns-apply [options] [file]"
    assert_output --partial "--dry-run"
    assert_output --partial "--verify"
    run -0 cdm-dns-apply --version
    assert_output --regexp '^cdm-dns-apply \(cdm\) [0-9]'
}

@test "zone lines: replace adds first, deletes the rest of the scope, logs in the original's form" {
    run -0 --separate-stderr apply --format text <<'EOF'
www.example.test. 300 IN A 192.0.2.2
; a comment line
_443._tcp.www.example.test. 300 IN TLSA 3 1 1 BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
EOF
    assert_line --index 0 "add (new) A for www.example.test : 192.0.2.2"
    assert_line --index 1 "add (new) TLSA for _443._tcp.www.example.test : 3 1 1 $(printf 'b%.0s' $(seq 64))"
    assert_line --index 2 "delete A for www.example.test : 192.0.2.1"
    assert_line --index 3 "delete TLSA for _443._tcp.www.example.test : 3 1 1 $(printf 'a%.0s' $(seq 64))"
    run -0 zone_records
    assert_line --regexp '^www\.example\.test\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.2$'
    refute_line --partial '192.0.2.1'
    # Outside the scope of _443._tcp: tcp/25 and the port-less *._tcp record stay.
    assert_line --partial '_25._tcp.www.example.test.'
    assert_line --partial '*._tcp.www.example.test.'
    # The rest of the file keeps its layout, byte for byte.
    run -0 grep -c -x '        IN MX  10 mx1' "$Z"
    run -0 grep -c -x '\$TTL 600' "$Z"
}

@test "a second run changes nothing, says add (exists), and leaves the file byte for byte" {
    printf 'www.example.test. 300 IN A 192.0.2.2\n' > "$BATS_TEST_TMPDIR/in"
    run -0 apply "$BATS_TEST_TMPDIR/in"
    cp "$Z" "$BATS_TEST_TMPDIR/after-first"
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    assert_equal "$(jq -r '.report[-1].records[0].action' <<<"$output")" exists
    assert_equal "$(jq -r '.report[-1].changed' <<<"$output")" false
    [[ "$stderr" == *"add (exists) A for www.example.test : 192.0.2.2"* ]]
    [[ "$stderr" == *"nothing to change"* ]]
    cmp "$Z" "$BATS_TEST_TMPDIR/after-first"
}

@test "the JSON report names every add, delete and keep with its source" {
    printf 'www.example.test. 600 IN A 192.0.2.1\nwww.example.test. 600 IN AAAA 2001:db8::1\nexample.test. MX\n' \
        > "$BATS_TEST_TMPDIR/in"
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    run -0 jq -c '.report[-1].records | map([.action, .type, .data, .source])' <<<"$output"
    assert_output "[[\"exists\",\"A\",\"192.0.2.1\",\"$BATS_TEST_TMPDIR/in:1\"],[\"add\",\"AAAA\",\"2001:db8::1\",\"$BATS_TEST_TMPDIR/in:2\"],[\"delete\",\"MX\",\"10 mx1.example.test.\",\"$BATS_TEST_TMPDIR/in:3\"]]"
}

@test "--dry-run prints the plan and changes nothing" {
    run -0 --separate-stderr apply --dry-run <<<'www.example.test. 300 IN A 192.0.2.9'
    [[ "$stderr" == *"would add (new) A for www.example.test : 192.0.2.9"* ]]
    [[ "$stderr" == *"would delete A for www.example.test : 192.0.2.1"* ]]
    assert_equal "$(jq -r '.report[-1].event' <<<"$output")" plan
    cmp "$Z" "$BATS_TEST_TMPDIR/orig.zone"
}

@test "a cdm-config document: the [domain] section's handler, ops and scopes" {
    cat > "$BATS_TEST_TMPDIR/cdm.conf" <<EOF
[domain]
handler = zonefile
zonefile = $Z
zone = example.test

[domain:www.example.test]
ip4 = 192.0.2.7
mx = mx2.example.test:20
spf = mx, -all
EOF
    run -0 --separate-stderr bash -c 'cdm-config "$1" | cdm-dns-apply --format text' _ "$BATS_TEST_TMPDIR/cdm.conf"
    assert_line "add (new) A for www.example.test : 192.0.2.7"
    assert_line "add (new) MX for www.example.test : mx2.example.test"
    assert_line "add (new) SPF for www.example.test : v=spf1 +mx -all"
    assert_line "delete A for www.example.test : 192.0.2.1"
    assert_equal "${#lines[@]}" 4
    run -0 zone_records
    assert_line --partial '_443._tcp.www.example.test.'
    assert_line --regexp 'www\.example\.test\.[[:space:]]+600[[:space:]]+IN[[:space:]]+TXT[[:space:]]+"v=spf1 \+mx -all"'
}

@test "the zone is found from the SOA, also below a suffix that is not a zone (shop.co.test)" {
    local Zs="$BATS_TEST_TMPDIR/shop.zone"
    printf '$ORIGIN shop.co.test.\n$TTL 600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n' > "$Zs"
    run -0 --separate-stderr cdm-dns-apply --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --handler zonefile \
        --set zonefile="$Zs" <<<'www.shop.co.test. 300 IN A 192.0.2.80'
    assert_equal "$(jq -r '.report[-1].zone' <<<"$output")" shop.co.test.
    run -0 grep -c '192.0.2.80' "$Zs"
}

@test "bad input: one line naming file and line, a sysexits code, nothing changed" {
    printf 'www.example.test. 300 IN A 192.0.2.2\nwww.example.test. 300 IN MX 70000 mx.example.test.\n' \
        > "$BATS_TEST_TMPDIR/bad"
    run -65 --separate-stderr apply "$BATS_TEST_TMPDIR/bad"
    assert_equal "$stderr" "cdm-dns-apply: $BATS_TEST_TMPDIR/bad:2: MX preference '70000' is not a number from 0 to 65535"
    assert_output ''
    cmp "$Z" "$BATS_TEST_TMPDIR/orig.zone"

    run -65 --separate-stderr apply <<<'www.other.test. 300 IN A 192.0.2.2'
    [[ "$stderr" == *"'www.other.test.' is not in zone 'example.test.'"* ]]

    run -66 --separate-stderr apply "$BATS_TEST_TMPDIR/missing"
    run -64 --separate-stderr apply --set apikey=s3cret <<<'www.example.test. A 192.0.2.2'
    assert_equal "${stderr%%$'\n'*}" "cdm-dns-apply: secrets are never taken from the command line: use --set apikey_file=PATH"
    run -78 --separate-stderr cdm-dns-apply --zone example.test --handler nsupdate <<<'www.example.test. A 192.0.2.2'
    [[ "$stderr" == *"unknown handler 'nsupdate' (one of inwx, powerdns, rfc2136, zonefile)"* ]]
    run -78 --separate-stderr cdm-dns-apply --zone example.test <<<'www.example.test. A 192.0.2.2'
    [[ "$stderr" == *"has no 'handler'"* ]]
    cmp "$Z" "$BATS_TEST_TMPDIR/orig.zone"
}

@test "an unfilled 'auto' address leaves the zone's records alone" {
    cat > "$BATS_TEST_TMPDIR/cdm.conf" <<EOF
[domain:www.example.test]
handler = zonefile
zonefile = $Z
zone = example.test
ip4 = auto
EOF
    run -0 --separate-stderr bash -c 'cdm-config "$1" | cdm-dns-apply' _ "$BATS_TEST_TMPDIR/cdm.conf"
    [[ "$stderr" == *"'auto' (ip4) was not filled in"* ]]
    cmp "$Z" "$BATS_TEST_TMPDIR/orig.zone"
}

@test "a zone that fails does not stop the others; the document reports both and the exit is the failure's" {
    local Zn="$BATS_TEST_TMPDIR/example.net.zone"
    printf '$ORIGIN example.net.\n$TTL 600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n' > "$Zn"
    cat > "$BATS_TEST_TMPDIR/cdm.conf" <<EOF
[domain:www.example.test]
handler = zonefile
zonefile = $Z
zone = example.test
ip4 = 192.0.2.44

[domain:www.example.net]
handler = zonefile
zonefile = $Zn
zone = example.net
ip4 = 192.0.2.45
reload = exit 3
EOF
    run -69 --separate-stderr bash -c 'cdm-config "$1" | cdm-dns-apply' _ "$BATS_TEST_TMPDIR/cdm.conf"
    assert_equal "$(jq -r '[.report[] | select(.program == "cdm-dns-apply") | .zone + "=" + (.exit // 0 | tostring)] | join(" ")' <<<"$output")" \
        "example.test.=0 example.net.=69"
    run -0 grep -c '192.0.2.44' "$Z"
}
