#!/usr/bin/env bats
# cdm-cert issue against the REAL Pebble of the test bed (Debian's pebble 2.4.0, -strict, its
# default 5 % of good nonces refused with badNonce), resolving through unbound to BIND:
# dns-01 through ns1 with TSIG (the cdm-dns-apply rfc2136 provider), http-01 into a webroot
# served where Pebble's VA fetches, RSA and ECDSA keys, SAN pairs, key reuse, account reuse,
# External Account Binding against the second Pebble, and the failures: a name Pebble
# rejects, a CA that does not answer, a wrong TSIG secret, missing or wrong EAB. OpenSSL is
# the independent check of keys, certificates and chains; dig of what ns1 serves.

load test_helper
load testbed

setup_file() {
    export TB_WITH_PEBBLE=yes
    testbed_setup_file
    # Every run's debug log goes here; the last test counts the badNonce retries in it.
    export NONCE_LOG="$BATS_FILE_TMPDIR/debug.log"
    : >"$NONCE_LOG"
}
teardown_file() { testbed_teardown_file; }
setup() {
    testbed_setup
    STATE="$BATS_TEST_TMPDIR/state"
    OUT="$BATS_TEST_TMPDIR/out"
}

# cdm-cert issue against the test bed's Pebble, dns-01 through ns1 with the hmac-sha256 key.
issue() {
    cdm-cert issue -v --ca "$TB_PEBBLE_URL" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE" \
        --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY" \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --ns-port "$TB_NS_PORT" "$@"
}

# Keep the debug lines of the last run for the badNonce count.
keep_log() { printf '%s\n' "$stderr" >>"$NONCE_LOG"; }

# The report entry of the document in $output.
report() { jq -c '.report[] | select(.program == "cdm-cert" and .event == "issued")' <<<"$output"; }

# SHA-256 of a key's or certificate's SubjectPublicKeyInfo, by openssl.
spki_of_key() { openssl pkey -in "$1" -pubout -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
spki_of_cert() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }

# The subjectAltName DNS names of a certificate, sorted, one a line.
sans() {
    openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr ',' '\n' | sed -e 's/^ *DNS://' | sort
}

mode() { stat -c %a "$1"; }

# The files of a successful issue: modes, the key behind the certificate, the chain.
check_out() {
    local dir=$1 root=${2:-$TB_PEBBLE_ROOT}
    assert_equal "$(mode "$dir")" 700
    assert_equal "$(mode "$dir/privkey.pem")" 600
    assert_equal "$(mode "$dir/cert.pem")" 644
    assert_equal "$(mode "$dir/chain.pem")" 644
    assert_equal "$(mode "$dir/fullchain.pem")" 644
    assert_equal "$(spki_of_cert "$dir/cert.pem")" "$(spki_of_key "$dir/privkey.pem")"
    assert_equal "$(cat "$dir/cert.pem" "$dir/chain.pem")" "$(cat "$dir/fullchain.pem")"
    run -0 openssl verify -CAfile "$root" -untrusted "$dir/chain.pem" "$dir/cert.pem"
    assert_output "$dir/cert.pem: OK"
}

@test "dns-01 for one name through BIND: files, modes, a chain to Pebble's root, the TXT gone again" {
    local t0=$SECONDS
    run -0 --separate-stderr issue -d www.example.test --out "$OUT" --key-type ecdsa
    keep_log
    check_out "$OUT"
    assert_equal "$(sans "$OUT/cert.pem")" www.example.test
    run -0 openssl pkey -in "$OUT/privkey.pem" -noout -text
    assert_line --partial 'ASN1 OID: prime256v1'
    # The log says each step.
    [[ "$stderr" == *"acme: order for www.example.test"* ]]
    [[ "$stderr" == *"acme: authorization www.example.test valid"* ]]
    [[ "$stderr" == *"acme: certificate for www.example.test issued by Pebble Intermediate CA"* ]]
    [[ "$stderr" != *"$TB_TSIG_SECRET"* ]] || fail "the TSIG secret is in the log"
    [[ "$stderr" != *"PRIVATE KEY"* ]] || fail "a private key is in the log"
    # The challenge record is removed once the authorization is valid.
    run -0 tb_dig _acme-challenge.www.example.test TXT
    assert_line --partial 'status: NXDOMAIN'
    # The account and the state directory.
    local acct
    acct=$(ls -d "$STATE"/acme/127.0.0.1_"$TB_PEBBLE_PORT"-*)
    assert_equal "$(mode "$STATE")" 700
    assert_equal "$(mode "$acct")" 700
    assert_equal "$(mode "$acct/account.key")" 600
    run -0 openssl pkey -in "$acct/account.key" -noout -text
    assert_line --partial 'ASN1 OID: prime256v1'
    [ "$(ls "$STATE" | grep -c '^issue-')" -eq 0 ] # no staging left behind
    echo "# dns-01, 1 name: $((SECONDS - t0)) s" >&3
}

@test "the report entry names serial, dates, issuer, key and files as openssl sees them" {
    run -0 --separate-stderr issue -d www.example.test --out "$OUT" --key-type ecdsa --key-size 384
    keep_log
    local r serial end
    r=$(report)
    serial=$(openssl x509 -in "$OUT/cert.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
    # Both are the serial's bytes in hex; a first byte below 0x10 starts with 0 (1 run in 16).
    assert_equal "$(jq -r .serial <<<"$r" | sed 's/^0*//')" "$serial"
    end=$(date -d "$(openssl x509 -in "$OUT/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
    assert_equal "$(jq -r .not_after <<<"$r")" "$end"
    assert_equal "$(jq -r .keytype <<<"$r")" ecdsa
    assert_equal "$(jq -r .keysize <<<"$r")" 384
    assert_equal "$(jq -r .key <<<"$r")" new
    assert_equal "$(jq -r .spki_sha256 <<<"$r")" "$(spki_of_key "$OUT/privkey.pem")"
    assert_equal "$(jq -r .files.fullchain <<<"$r")" "$OUT/fullchain.pem"
    assert_equal "$(jq -r '.names | join(",")' <<<"$r")" www.example.test
    assert_equal "$(jq -r .ca <<<"$r")" "$TB_PEBBLE_URL"
    [[ "$(jq -r .issuer <<<"$r")" == "Pebble Intermediate CA "* ]]
    [ "$(jq -r .requests <<<"$r")" -ge 10 ]
    run -0 openssl pkey -in "$OUT/privkey.pem" -noout -text
    assert_line --partial 'ASN1 OID: secp384r1'
    check_out "$OUT"
}

@test "dns-01 for a SAN pair with an RSA 2048 key" {
    run -0 --separate-stderr issue -d www.example.test -d example.test --out "$OUT" --key-type rsa --key-size 2048
    keep_log
    check_out "$OUT"
    assert_equal "$(sans "$OUT/cert.pem")" "$(printf 'example.test\nwww.example.test')"
    run -0 openssl pkey -in "$OUT/privkey.pem" -noout -text
    assert_line --partial 'Private-Key: (2048 bit, 2 primes)'
    [[ "$stderr" == *"acme: order for www.example.test, example.test"* ]]
    [[ "$stderr" == *"acme: authorization example.test valid"* ]]
    # Both challenges went into DNS as one change, and both are gone again.
    [[ "$stderr" == *"publishing 2 TXT record(s)"* ]] || [[ "$stderr" == *"acme: publishing dns-01 for www.example.test, example.test"* ]]
    run -0 tb_dig _acme-challenge.example.test TXT
    assert_line --partial 'status: NXDOMAIN'
}

@test "RSA 4096 is the default key, as the original's" {
    run -0 --separate-stderr issue -d mail.example.test --out "$OUT"
    keep_log
    check_out "$OUT"
    run -0 openssl pkey -in "$OUT/privkey.pem" -noout -text
    assert_line --partial 'Private-Key: (4096 bit, 2 primes)'
}

@test "http-01 into a webroot that a web server serves where Pebble's VA fetches" {
    local webroot="$BATS_TEST_TMPDIR/webroot"
    mkdir -p "$webroot"
    echo keep >"$webroot/index.html"
    tb_webroot_serve "$webroot"
    run -0 --separate-stderr cdm-cert issue -v --ca "$TB_PEBBLE_URL" --cabundle "$TB_PEBBLE_CA" \
        --state-dir "$STATE" --challenge http-01 --webroot "$webroot" -d www.example.test -d mail.example.test \
        --out "$OUT" --key-type ecdsa
    keep_log
    local r
    r=$(report)
    tb_webroot_stop
    check_out "$OUT"
    assert_equal "$(sans "$OUT/cert.pem")" "$(printf 'mail.example.test\nwww.example.test')"
    [[ "$stderr" == *"acme: publishing http-01 for "*"www.example.test"* ]]
    [[ "$stderr" == *"acme: publishing http-01 for "*"mail.example.test"* ]]
    # The answers are gone; what was there before stays.
    assert_equal "$(find "$webroot" | sort)" "$(printf '%s\n%s' "$webroot" "$webroot/index.html")"
    assert_equal "$(jq -r .challenge <<<"$r")" http-01
}

@test "--key: made where it points when missing, then reused: the same SPKI in both certificates" {
    local key="$BATS_TEST_TMPDIR/keys/www.pem" first
    run -0 --separate-stderr issue -d www.example.test --out "$OUT" --key "$key" --key-type ecdsa
    keep_log
    assert_equal "$(mode "$key")" 600
    assert_equal "$(mode "$(dirname "$key")")" 700
    assert_equal "$(jq -r .key <<<"$(report)")" new
    first=$(spki_of_cert "$OUT/cert.pem")
    assert_equal "$first" "$(spki_of_key "$key")"
    cp "$OUT/cert.pem" "$BATS_TEST_TMPDIR/first.pem"
    run -0 --separate-stderr issue -d www.example.test --out "$OUT" --key "$key"
    keep_log
    assert_equal "$(jq -r .key <<<"$(report)")" reused
    assert_equal "$(jq -r .keytype <<<"$(report)")" ecdsa # the key's own type, not the default
    assert_equal "$(spki_of_cert "$OUT/cert.pem")" "$first"
    assert_equal "$(spki_of_key "$OUT/privkey.pem")" "$first"
    # A new certificate all the same.
    [ "$(openssl x509 -in "$OUT/cert.pem" -noout -serial)" != "$(openssl x509 -in "$BATS_TEST_TMPDIR/first.pem" -noout -serial)" ]
    check_out "$OUT"
}

@test "the account is made once: a second issue finds it by its key, account.json unchanged" {
    local acct url key
    run -0 --separate-stderr issue -d www.example.test --out "$OUT" --key-type ecdsa --email admin@example.test
    keep_log
    [[ "$stderr" == *"acme: account https://"*" created"* ]]
    acct=$(ls -d "$STATE"/acme/*)
    url=$(jq -r .url "$acct/account.json")
    assert_equal "$(jq -r .ca "$acct/account.json")" "$TB_PEBBLE_URL"
    assert_equal "$(jq -r .account <<<"$(report)")" "$url"
    key=$(sha256sum <"$acct/account.key")
    run -0 --separate-stderr issue -d www.example.test --out "$OUT" --key-type ecdsa --email admin@example.test
    keep_log
    [[ "$stderr" == *"acme: account $url"* ]]
    [[ "$stderr" != *" created"* ]] || fail "a second account was created"
    assert_equal "$(jq -r .url "$acct/account.json")" "$url"
    assert_equal "$(jq -r .account <<<"$(report)")" "$url"
    assert_equal "$(sha256sum <"$acct/account.key")" "$key"
    # --account-key names the key itself.
    STATE="$BATS_TEST_TMPDIR/elsewhere" run -0 --separate-stderr issue -d www.example.test --out "$OUT" \
        --key-type ecdsa --account-key "$acct/account.key"
    keep_log
    assert_equal "$(jq -r .account <<<"$(report)")" "$url"
}

@test "External Account Binding: issued with it, 78 without it, 77 with a wrong key; the key never shown" {
    local hmac
    hmac=$(tr -d '\n' <"$TB_PEBBLE_EAB_KEY_FILE")
    local eab=(--ca "$TB_PEBBLE_EAB_URL" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE"
        --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY"
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --ns-port "$TB_NS_PORT" -d www.example.test --key-type ecdsa)

    run -78 --separate-stderr cdm-cert issue -vv "${eab[@]}" --out "$OUT"
    keep_log
    [[ "$stderr" == *"requires External Account Binding"* ]]
    [ ! -e "$OUT" ]

    # A well-formed key that is not the one Pebble holds.
    openssl rand 32 | basenc --base64url | tr -d '=\n' >"$BATS_TEST_TMPDIR/wrong.key"
    run -77 --separate-stderr cdm-cert issue -vv "${eab[@]}" --out "$OUT" --eab-kid "$TB_PEBBLE_EAB_KID" \
        --eab-hmac-key-file "$BATS_TEST_TMPDIR/wrong.key"
    keep_log
    [[ "$stderr" == *"urn:ietf:params:acme:error:unauthorized"* ]]
    [[ "$stderr$output" != *"$(cat "$BATS_TEST_TMPDIR/wrong.key")"* ]] || fail "the wrong EAB key is shown"
    [ ! -e "$OUT" ]

    run -0 --separate-stderr cdm-cert issue -vv "${eab[@]}" --out "$OUT" --eab-kid "$TB_PEBBLE_EAB_KID" \
        --eab-hmac-key-file "$TB_PEBBLE_EAB_KEY_FILE"
    keep_log
    check_out "$OUT" "$TB_PEBBLE_EAB_ROOT"
    [[ "$stderr$output" != *"$hmac"* ]] || fail "the EAB HMAC key is shown"
    # The account exists now: found again without EAB.
    run -0 --separate-stderr cdm-cert issue "${eab[@]}" --out "$OUT"
    keep_log
    [[ "$stderr" != *" created"* ]]
}

@test "a name Pebble rejects: exit 65 with the CA's problem; nothing written to --out" {
    run -65 --separate-stderr issue -d 'bad_name.example.test' --out "$OUT" --key-type ecdsa
    keep_log
    [[ "$stderr" == *"urn:ietf:params:acme:error:"* ]]
    [[ "$stderr" == *"ordering bad_name.example.test at '$TB_PEBBLE_URL"* ]] || [[ "$stderr" == *"bad_name.example.test"* ]]
    [ ! -e "$OUT" ]
    [ "$(ls "$STATE" | grep -c '^issue-')" -eq 0 ]
}

@test "a CA that does not answer: exit 69 naming the URL; nothing written" {
    local url port
    # A port nobody listens on.
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    url="https://127.0.0.1:$port/dir"
    run -69 --separate-stderr cdm-cert issue --ca "$url" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE" \
        -d www.example.test --out "$OUT" --handler rfc2136 --set keyfile="$TB_TSIG_KEY"
    [[ "$stderr" == *"unable to reach '$url'"* ]] || fail "$stderr"
    [ ! -e "$OUT" ]
    # The wrong CA bundle is a TLS failure, also 69.
    run -69 --separate-stderr cdm-cert issue --ca "$TB_PEBBLE_URL" --cabundle "$TB_PEBBLE_ROOT" \
        --state-dir "$STATE" -d www.example.test --out "$OUT" --handler rfc2136 --set keyfile="$TB_TSIG_KEY"
    [[ "$stderr" == *"unable to reach '$TB_PEBBLE_URL'"* ]]
    [[ "$stderr" == *"certificate"* ]]
    [ ! -e "$OUT" ]
}

@test "a wrong TSIG secret: the DNS change fails, nothing is written to --out, no secret shown" {
    tsig-keygen -a hmac-sha256 "$TB_TSIG_NAME" >"$BATS_TEST_TMPDIR/wrong.key"
    local secret
    secret=$(sed -n 's/.*secret "\(.*\)";.*/\1/p' "$BATS_TEST_TMPDIR/wrong.key")
    run --separate-stderr cdm-cert issue -vv --ca "$TB_PEBBLE_URL" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE" \
        --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" \
        --set keyfile="$BATS_TEST_TMPDIR/wrong.key" --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" \
        --ns-port "$TB_NS_PORT" -d www.example.test --out "$OUT" --key-type ecdsa
    keep_log
    assert_equal "$status" 77
    [[ "$stderr" == *"BADSIG"* ]]
    [ ! -e "$OUT" ]
    [ "$(ls "$STATE" | grep -c '^issue-')" -eq 0 ]
    [[ "$stderr$output" != *"$secret"* ]] || fail "the TSIG secret is shown"
    [[ "$stderr$output" != *"$TB_TSIG_SECRET"* ]] || fail "the test bed's TSIG secret is shown"
}

@test "usage errors exit 64 before anything is asked of the CA" {
    run -64 --separate-stderr cdm-cert issue --out "$OUT" --ca "$TB_PEBBLE_URL"
    [[ "$stderr" == *"give at least one name (-d NAME)"* ]]
    run -64 --separate-stderr cdm-cert issue -d www.example.test --ca "$TB_PEBBLE_URL"
    [[ "$stderr" == *"--out DIR"* ]]
    run -64 --separate-stderr cdm-cert issue -d www.example.test --out "$OUT" --challenge http-01
    [[ "$stderr" == *"http-01 needs --webroot DIR"* ]]
    run -64 --separate-stderr cdm-cert issue -d www.example.test --out "$OUT" --key-type ecdsa --key-size 521
    [[ "$stderr" == *"256 or 384"* ]]
    run -64 --separate-stderr cdm-cert issue -d www.example.test --out "$OUT" --key-type dsa
    run -64 --separate-stderr cdm-cert issue -d www.example.test --out "$OUT" --eab-kid k
    [[ "$stderr" == *"go together"* ]]
    [ ! -e "$OUT" ] && [ ! -e "$STATE" ]
}

@test "--profile goes into the order (through acme-extras.py, which adds meta.profiles to Pebble's directory)" {
    tb_acme_extras_start
    run -0 --separate-stderr cdm-cert issue -v --ca "$TB_EXTRAS_URL" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE" \
        --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY" \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --ns-port "$TB_NS_PORT" -d www.example.test --out "$OUT" \
        --key-type ecdsa --profile shortlived
    keep_log
    [[ "$stderr" == *"acme: order for www.example.test (profile shortlived)"* ]]
    assert_equal "$(jq -r .profile "$TB_EXTRAS_ORDERS" | tail -n 1)" shortlived
    check_out "$OUT"
    # A profile the CA does not offer is a configuration error before any order.
    local orders
    orders=$(wc -l <"$TB_EXTRAS_ORDERS")
    run -78 --separate-stderr cdm-cert issue --ca "$TB_EXTRAS_URL" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE" \
        --handler rfc2136 --set keyfile="$TB_TSIG_KEY" -d www.example.test --out "$BATS_TEST_TMPDIR/o2" --profile nope
    [[ "$stderr" == *"offers no profile 'nope' (it offers: classic, shortlived)"* ]]
    assert_equal "$(wc -l <"$TB_EXTRAS_ORDERS")" "$orders"
    tb_acme_extras_stop
}

@test "rate limited: exit 75 saying when to try again, no retry before then, nothing written" {
    tb_acme_extras_start
    printf '%s\n' '{"status": 429, "type": "rateLimited", "detail": "too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s", "retry_after": 3600, "count": 100}' \
        >"$TB_EXTRAS_ORDER_FAULT"
    local before after
    before=$(date -u +%s)
    run -75 --separate-stderr cdm-cert issue --ca "$TB_EXTRAS_URL" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE" \
        --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY" \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --ns-port "$TB_NS_PORT" -d www.example.test --out "$OUT" \
        --key-type ecdsa
    after=$(date -u +%s)
    [[ "$stderr" == *"rateLimited"* ]] || fail "$stderr"
    [[ "$stderr" == *"too many certificates"* ]] || fail "$stderr"
    # "try again after <UTC time>": an hour from now, as Retry-After said.
    local when
    when=$(sed -n 's/.*try again after \([0-9-]* [0-9:]* UTC\).*/\1/p' <<<"$stderr" | head -n 1)
    [ -n "$when" ] || fail "no 'try again after' time in: $stderr"
    when=$(date -u -d "$when" +%s)
    [ "$when" -ge $((before + 3600 - 5)) ] && [ "$when" -le $((after + 3600 + 5)) ] ||
        fail "try again after $when, expected about $((before + 3600))"
    # It gave up at once: one order, not a loop of them.
    assert_equal "$(wc -l <"$TB_EXTRAS_ORDERS")" 1
    [ ! -e "$OUT" ]
    tb_acme_extras_stop
}

@test "a server error with a short Retry-After is retried, and the certificate is issued" {
    tb_acme_extras_start
    printf '%s\n' '{"status": 503, "type": "serverInternal", "detail": "the CA is busy", "retry_after": 1, "count": 1}' \
        >"$TB_EXTRAS_ORDER_FAULT"
    run -0 --separate-stderr cdm-cert issue -v --ca "$TB_EXTRAS_URL" --cabundle "$TB_PEBBLE_CA" --state-dir "$STATE" \
        --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY" \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --ns-port "$TB_NS_PORT" -d www.example.test --out "$OUT" \
        --key-type ecdsa
    keep_log
    # The refused order and the one that went through.
    [ "$(wc -l <"$TB_EXTRAS_ORDERS")" -ge 2 ]
    assert_equal "$(jq -r .count "$TB_EXTRAS_ORDER_FAULT")" 0
    check_out "$OUT"
    tb_acme_extras_stop
}

@test "badNonce: Pebble refused some of this suite's nonces and every issue above still succeeded" {
    # Pebble rejects 5 % of good nonces; this file made well over a hundred requests.
    local n
    n=$(grep -c 'badNonce, retrying with the fresh nonce' "$NONCE_LOG" || true)
    echo "# badNonce retries in this suite: $n" >&3
    [ "$n" -ge 1 ]
}
