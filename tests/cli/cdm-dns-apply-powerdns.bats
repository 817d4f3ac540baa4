#!/usr/bin/env bats
# cdm-dns-apply with the powerdns provider against the test bed's PowerDNS (pdns_server with a
# sqlite3 backend; pdns.test. signed, SOA-EDIT-API INCREASE): every record type as PowerDNS
# stores and serves it (TXT over 255 octets, CAA with quotes), idempotence, a scope-limited
# replace, `none`, a TTL change, the errors (wrong API key, a zone or server id PowerDNS does
# not have, a record it refuses, a stopped server), and the data checked with dig at pdns and
# through the validating unbound (AD bit). Needs jq, dig and openssl.

load test_helper
load testbed

setup_file() {
    # A missing pdns_server is exit 69 from the testbed: every test is then skipped, loudly.
    export TB_WITH_PDNS=yes
    testbed_setup_file
}
teardown_file() { testbed_teardown_file; }
setup() { testbed_setup; }
# A test that stops pdns must not leave it stopped for the next one.
teardown() { [ -z "${TB_PDNS_PID:-}" ] || kill -CONT "$TB_PDNS_PID" 2>/dev/null || true; }

# cdm-dns-apply for pdns.test. through the PowerDNS API; more options follow. Zone lines on stdin.
apply() {
    cdm-dns-apply --zone pdns.test --handler powerdns --set api_url="$TB_PDNS_API" \
        --set apikey_file="$TB_PDNS_APIKEY_FILE" "$@"
}

# What pdns serves for NAME TYPE: dig +short, sorted.
served() { tb_pdns_dig +short "$1" "$2" | sort; }

# The cdm-dns-apply entry of the report in $output.
report() { jq -c '.report[] | select(.program == "cdm-dns-apply")' <<<"$output"; }

# TXT as dig prints it ("a" "b") -> the concatenated text.
txt_text() { sed -e 's/" "//g' -e 's/^"//' -e 's/"$//'; }

@test "every record type goes in one PATCH, served signed by pdns and validated by unbound" {
    local dkim hash before r
    # A real 2048-bit DKIM key: its TXT is about 400 octets, so it needs two strings.
    dkim=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
        openssl pkey -pubout -outform DER | base64 -w0)
    hash=$(head -c 64 /dev/urandom | openssl dgst -sha256 -r | cut -d' ' -f1)
    before=$(tb_pdns_serial)
    run -0 --separate-stderr apply -v -v <<EOF
t1.pdns.test. 300 IN A 192.0.2.1
t1.pdns.test. 300 IN AAAA 2001:DB8::1
t1.pdns.test. 300 IN MX 10 mx1.pdns.test.
t1.pdns.test. 300 IN MX 20 MX2.pdns.test.
_imap._tcp.t1.pdns.test. 300 IN SRV 0 5 143 mail.pdns.test.
t1.pdns.test. 300 IN CAA 0 issue "letsencrypt.org; validationmethods=dns-01"
t1.pdns.test. 300 IN CAA 128 iodef "mailto:security@pdns.test"
key._domainkey.t1.pdns.test. 300 IN TXT "v=DKIM1; k=rsa; p=$dkim"
_443._tcp.t1.pdns.test. 300 IN TLSA 3 1 1 $hash
EOF
    r=$(report)
    [ "$(jq -r .changed <<<"$r")" = true ]
    # A GET to see nothing raced, one PATCH, a GET of the new serial.
    [ "$(jq -r .messages <<<"$r")" = 3 ]
    [ "$(jq -r .serial <<<"$r")" = "$(tb_pdns_serial)" ]
    [ "$(tb_pdns_serial)" -eq $((before + 1)) ] # SOA-EDIT-API INCREASE: one edit
    [ "$(jq '[.records[] | select(.action == "add")] | length' <<<"$r")" = 9 ]
    # The key is in no log line, not even at debug level.
    [[ "$stderr" != *"$(<"$TB_PDNS_APIKEY_FILE")"* ]] || fail "the API key is in the log"
    [[ "$stderr" == *"PATCH $TB_PDNS_API/api/v1/servers/localhost/zones/pdns.test. -> HTTP 204"* ]]

    assert_equal "$(served t1.pdns.test A)" 192.0.2.1
    assert_equal "$(served t1.pdns.test AAAA)" 2001:db8::1
    assert_equal "$(served t1.pdns.test MX)" $'10 mx1.pdns.test.\n20 mx2.pdns.test.'
    assert_equal "$(served _imap._tcp.t1.pdns.test SRV)" '0 5 143 mail.pdns.test.'
    assert_equal "$(served t1.pdns.test CAA)" \
        $'0 issue "letsencrypt.org; validationmethods=dns-01"\n128 iodef "mailto:security@pdns.test"'
    assert_equal "$(served key._domainkey.t1.pdns.test TXT | txt_text)" "v=DKIM1; k=rsa; p=$dkim"
    # Two character-strings on the wire, the first of 255 octets.
    run -0 served key._domainkey.t1.pdns.test TXT
    [[ "$output" =~ ^\"([^\"]{255})\"\ \"[^\"]+\"$ ]] || fail "not split at 255: $output"
    assert_equal "$(served _443._tcp.t1.pdns.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$hash"

    # PowerDNS stores what it was sent: the TXT in two quoted strings, the CAA value quoted.
    run -0 tb_pdns_api GET "/zones/$TB_PDNS_ZONE"
    run -0 jq -r '.rrsets[] | select(.name == "key._domainkey.t1.pdns.test.") | .records[].content' \
        <<<"${output%$'\n'HTTP *}"
    assert_output "\"v=DKIM1; k=rsa; p=${dkim:0:237}\" \"${dkim:237}\""

    for q in "t1 A" "t1 AAAA" "t1 MX" "_imap._tcp.t1 SRV" "t1 CAA" "key._domainkey.t1 TXT" "_443._tcp.t1 TLSA"; do
        set -- $q
        run tb_pdns_dig +dnssec "$1.pdns.test" "$2"
        assert_line --regexp "IN[[:space:]]+RRSIG[[:space:]]+$2 "
        run tb_resolve +dnssec "$1.pdns.test" "$2"
        assert_line --partial 'status: NOERROR'
        assert_line --regexp '^;; flags:[^;]* ad[ ;]'
    done
}

@test "a second run changes nothing, says add (exists), and leaves the serial alone" {
    printf '%s\n' 'idem.pdns.test. 300 IN A 192.0.2.21' 'idem.pdns.test. 300 IN TXT "same"' \
        'idem.pdns.test. 300 IN CAA 0 issue "ca.test"' >"$BATS_TEST_TMPDIR/in"
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    [ "$(jq -r .changed <<<"$(report)")" = true ]
    local serial
    serial=$(tb_pdns_serial)
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    [ "$(jq -r .changed <<<"$(report)")" = false ]
    assert_equal "$(jq -r '[.records[].action] | unique | join(" ")' <<<"$(report)")" exists
    [[ "$stderr" == *"add (exists) A for idem.pdns.test : 192.0.2.21"* ]]
    [[ "$stderr" == *"add (exists) TXT for idem.pdns.test : same"* ]]
    [[ "$stderr" == *'add (exists) CAA for idem.pdns.test : 0 issue "ca.test"'* ]]
    [[ "$stderr" != *"add (new)"* ]]
    assert_equal "$(tb_pdns_serial)" "$serial"
}

@test "a tcp/443 TLSA is replaced while tcp/25 and *._tcp stay" {
    local a b c d
    a=$(printf 'a%.0s' $(seq 64)) b=$(printf 'b%.0s' $(seq 64))
    c=$(printf 'c%.0s' $(seq 64)) d=$(printf 'd%.0s' $(seq 64))
    run -0 --separate-stderr apply <<EOF
_25._tcp.mx.pdns.test. 300 IN TLSA 3 1 1 $c
*._tcp.mx.pdns.test. 300 IN TLSA 3 1 1 $d
_443._tcp.mx.pdns.test. 300 IN TLSA 3 1 1 $a
EOF
    run -0 --separate-stderr apply --format text <<<"_443._tcp.mx.pdns.test. 300 IN TLSA 3 1 1 $b"
    assert_equal "$output" "add (new) TLSA for _443._tcp.mx.pdns.test : 3 1 1 $b
delete TLSA for _443._tcp.mx.pdns.test : 3 1 1 $a"
    assert_equal "$(served _443._tcp.mx.pdns.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$b"
    assert_equal "$(served _25._tcp.mx.pdns.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$c"
    assert_equal "$(served '*._tcp.mx.pdns.test' TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$d"
    # The wildcard still answers for other ports, validated.
    run tb_resolve +dnssec _465._tcp.mx.pdns.test TLSA
    assert_line --regexp '^;; flags:[^;]* ad[ ;]'
    assert_line --regexp "TLSA[[:space:]]+3 1 1 $(printf '%s' "$d" | tr 'a-f' 'A-F' | cut -c1-8)"
}

@test "none (or no data) deletes the RRset; the name's other RRsets stay until they go too" {
    run -0 --separate-stderr apply <<'EOF'
gone.pdns.test. 300 IN TXT "to be deleted"
gone.pdns.test. 300 IN A 192.0.2.31
EOF
    assert_equal "$(served gone.pdns.test TXT)" '"to be deleted"'
    run -0 --separate-stderr apply --format text <<<'gone.pdns.test. TXT'
    assert_output 'delete TXT for gone.pdns.test : to be deleted'
    assert_equal "$(served gone.pdns.test TXT)" ''
    assert_equal "$(served gone.pdns.test A)" 192.0.2.31
    run -0 --separate-stderr apply --format text <<<'gone.pdns.test. A none'
    assert_output 'delete A for gone.pdns.test : 192.0.2.31'
    run tb_pdns_dig gone.pdns.test A
    assert_line --partial 'status: NXDOMAIN'
    # The denial is signed, and unbound validates it.
    run tb_resolve +dnssec gone.pdns.test A
    assert_line --partial 'status: NXDOMAIN'
    assert_line --regexp '^;; flags:[^;]* ad[ ;]'
}

@test "a TTL change replaces the RRset with the new TTL" {
    run -0 --separate-stderr apply <<<'ttl.pdns.test. 300 IN A 192.0.2.41'
    run -0 --separate-stderr apply --format text <<<'ttl.pdns.test. 900 IN A 192.0.2.41'
    assert_output 'update TTL of A for ttl.pdns.test : 192.0.2.41 (TTL 300 -> 900)'
    run -0 tb_pdns_dig +noall +answer ttl.pdns.test A
    assert_output --regexp '^ttl\.pdns\.test\.[[:space:]]+900[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.41$'
}

@test "--verify at pdns validates against TB_TRUST_ANCHOR and sees the serial the change made" {
    run -0 --separate-stderr apply --verify --verify-server "$TB_PDNS_ADDR:$TB_PDNS_PORT" \
        --trust-anchor "$TB_TRUST_ANCHOR" <<<'ver.pdns.test. 300 IN A 192.0.2.51'
    local r
    r=$(report)
    [ "$(jq -r .verify.ok <<<"$r")" = true ]
    [ "$(jq -c .verify.dnssec <<<"$r")" = '{"checked":true,"ok":true}' ]
    [ "$(jq -r .verify.serial <<<"$r")" = "$(jq -r .serial <<<"$r")" ]
    [ "$(jq -r .verify.negative_ttl <<<"$r")" = 60 ]
}

@test "a [domain] section with handler = powerdns and apikey_file, the zone found from the SOA" {
    cat >"$BATS_TEST_TMPDIR/cdm.conf" <<EOF
[domain]
handler = powerdns
api_url = $TB_PDNS_API
apikey_file = $TB_PDNS_APIKEY_FILE

[domain:cfg.pdns.test]
ip4 = 192.0.2.61
mx = mail.pdns.test:10
caa = 0 issue letsencrypt.org
EOF
    run -0 --separate-stderr bash -c 'cdm-config "$1" | cdm-dns-apply --resolver "$2" --format text' _ \
        "$BATS_TEST_TMPDIR/cdm.conf" "$TB_RESOLVER:$TB_RESOLVER_PORT"
    assert_line 'add (new) A for cfg.pdns.test : 192.0.2.61'
    assert_line 'add (new) MX for cfg.pdns.test : mail.pdns.test'
    assert_line 'add (new) CAA for cfg.pdns.test : 0 issue "letsencrypt.org"'
    assert_equal "$(served cfg.pdns.test A)" 192.0.2.61
    assert_equal "$(served cfg.pdns.test CAA)" '0 issue "letsencrypt.org"'
}

@test "a wrong API key: exit 77 naming zone and URL, never a key, and nothing changed" {
    local serial
    serial=$(tb_pdns_serial)
    printf 'wrong-key-%s\n' "$RANDOM" >"$BATS_TEST_TMPDIR/wrong.key"
    run -77 --separate-stderr cdm-dns-apply --zone pdns.test --handler powerdns \
        --set api_url="$TB_PDNS_API" --set apikey_file="$BATS_TEST_TMPDIR/wrong.key" -v -v \
        <<<'wrongkey.pdns.test. 300 IN A 192.0.2.71'
    [[ "$stderr" == *"zone 'pdns.test.'"* ]] || fail "no zone in: $stderr"
    [[ "$stderr" == *"'$TB_PDNS_API/api/v1'"* ]] || fail "no URL in: $stderr"
    [[ "$stderr" == *"HTTP 401"* ]] || fail "no status in: $stderr"
    for key in "$(<"$BATS_TEST_TMPDIR/wrong.key")" "$(<"$TB_PDNS_APIKEY_FILE")"; do
        [[ "$stderr$output" != *"$key"* ]] || fail "a key is in the output"
    done
    assert_equal "$(jq -r .exit <<<"$(report)")" 77
    assert_equal "$(served wrongkey.pdns.test A)" ''
    assert_equal "$(tb_pdns_serial)" "$serial"
}

@test "a zone or server id PowerDNS does not have is a configuration error (78)" {
    run -78 --separate-stderr cdm-dns-apply --zone example.test --handler powerdns \
        --set api_url="$TB_PDNS_API" --set apikey_file="$TB_PDNS_APIKEY_FILE" \
        <<<'www.example.test. 300 IN A 192.0.2.81'
    [[ "$stderr" == *"zone 'example.test.' is not on the PowerDNS server 'localhost' at '$TB_PDNS_API/api/v1'"* ]] ||
        fail "$stderr"
    run -78 --separate-stderr apply --set server_id=nosuch <<<'sid.pdns.test. 300 IN A 192.0.2.81'
    [[ "$stderr" == *"has no server 'nosuch' (HTTP 404): check api_url and server_id"* ]] || fail "$stderr"
    # api_url given with /api/v1 and a trailing slash reaches the same API.
    run -0 --separate-stderr cdm-dns-apply --zone pdns.test --handler powerdns \
        --set api_url="$TB_PDNS_API/api/v1/" --set apikey_file="$TB_PDNS_APIKEY_FILE" \
        <<<'sid.pdns.test. 300 IN A 192.0.2.82'
    assert_equal "$(served sid.pdns.test A)" 192.0.2.82
}

@test "a change PowerDNS refuses (422) is a data error with its reason, and none of it is applied" {
    run -0 --separate-stderr apply <<<'cn.pdns.test. 300 IN A 192.0.2.91'
    local serial
    serial=$(tb_pdns_serial)
    # One PATCH is one transaction: the good TXT is not applied either.
    run -65 --separate-stderr apply <<'EOF'
cn-ok.pdns.test. 300 IN TXT "fine on its own"
cn.pdns.test. 300 IN CNAME www.pdns.test.
EOF
    [[ "$stderr" == *"PowerDNS refused the change of zone 'pdns.test.' (HTTP 422): RRset cn.pdns.test. IN CNAME: Conflicts with pre-existing RRset"* ]] ||
        fail "$stderr"
    assert_equal "$(served cn.pdns.test A)" 192.0.2.91
    assert_equal "$(served cn.pdns.test CNAME)" ''
    assert_equal "$(served cn-ok.pdns.test TXT)" ''
    assert_equal "$(tb_pdns_serial)" "$serial"
}

@test "pdns that does not answer (SIGSTOP) is exit 69 after the timeout, and nothing is applied" {
    kill -STOP "$TB_PDNS_PID"
    run -69 --separate-stderr apply --set timeout=2 <<<'stopped.pdns.test. 300 IN A 192.0.2.101'
    kill -CONT "$TB_PDNS_PID"
    [[ "$stderr" == *"unable to reach the PowerDNS API at '$TB_PDNS_API/api/v1/servers/localhost/zones/pdns.test.'"* ]] ||
        fail "$stderr"
    [[ "$stderr" == *"imeout"* || "$stderr" == *"timed out"* ]] || fail "no timeout in: $stderr"
    assert_equal "$(served stopped.pdns.test A)" ''
}

# Last: it stops pdns for good (testbed stop copes with a server already gone).
@test "pdns stopped: exit 69, connection refused, naming the URL" {
    kill -TERM "$TB_PDNS_PID"
    tb_wait_for 10 sh -c "! kill -0 $TB_PDNS_PID 2>/dev/null || grep -q '^State:[[:space:]]*Z' /proc/$TB_PDNS_PID/status"
    run -69 --separate-stderr apply <<<'down.pdns.test. 300 IN A 192.0.2.111'
    [[ "$stderr" == *"unable to reach the PowerDNS API at '$TB_PDNS_API/api/v1/servers/localhost/zones/pdns.test.'"* ]] ||
        fail "$stderr"
    [[ "$stderr" == *"onnect"* ]] || fail "not a refused connection: $stderr"
}
