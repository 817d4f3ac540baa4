#!/usr/bin/env bats
# cdm-cert phase against the testbed's real Pebble and BIND: the pipeline
#   cdm-config | cdm-cert phase prepare | cdm-tlsa | cdm-dns-apply
# then rollover and cleanup, for a SAN certificate of two names in example.test, dns-01 through
# the rfc2136 provider (TSIG UPDATE to ns1, checked at ns1 and ns2). Pebble issues; openssl
# checks the deployed chain against Pebble's root; dig checks the TLSA records.
#
# The CA URL is tests/cli/fixtures/acme-extras.py in front of Pebble: it forwards every request
# unchanged (issuance is Pebble's), records each newOrder (so a test can count orders and see
# "replaces"), and answers RFC 9773 renewalInfo with a window the test writes - Pebble 2.4.0
# has no ARI. Without a window file the front suggests 60 to 62 days from now.

load test_helper
load testbed

setup_file() {
    export TB_WITH_PEBBLE=yes
    testbed_setup_file
    [ -n "${TB_SKIP:-}" ] || tb_acme_extras_start
}
teardown_file() { testbed_teardown_file; }
setup() {
    testbed_setup
    S=$BATS_TEST_TMPDIR
    : >"$TB_EXTRAS_ORDERS"
    rm -f "$TB_EXTRAS_WINDOW"
}

# write_config [KEY = VALUE lines for [cert:main]...]: the config of this test in $S/cdm.conf.
write_config() {
    {
        printf '[cdm]\nstatedir = %s\n\n' "$S/state"
        printf '[cert:main]\nhandler = dehydrated/letsencrypt\nca = %s\ncabundle = %s\n' \
            "$TB_EXTRAS_URL" "$TB_PEBBLE_CA"
        printf 'destination = %s\nemail = admin@example.test\npropagationtimeout = 60\n' "$S/dest"
        printf '%s\n' "$@"
        printf '\n[domain]\nhandler = rfc2136\nserver = %s\nport = %s\nkeyfile = %s\n' \
            "$TB_NS_ADDR" "$TB_NS_PORT" "$TB_TSIG_KEY"
        printf '\n[domain:www.example.test]\ncert = main\ntlsa.tcp.443 = auto:3:1:1, auto:2:0:1\n'
        printf '\n[domain:mail.example.test]\ncert = main\n'
    } >"$S/cdm.conf"
}

# DNS options of cdm-cert and cdm-dns-apply: zones found through unbound, records checked at
# both authoritative servers.
DNS_OPTS() {
    printf '%s\n' --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --verify-server "$TB_NS_ADDR:$TB_NS_PORT" \
        --verify-server "$TB_NS2_ADDR:$TB_NS2_PORT"
}

# phase PHASE [cdm-cert options...]: one stage of the driver, the document kept in $S/doc.json
# (the state between runs, as cdm-phase keeps material). prepare runs the whole pipeline.
phase() {
    local p=$1 opts
    shift
    mapfile -t opts < <(DNS_OPTS)
    [ -f "$S/doc.json" ] || echo '{"cdm": 1, "material": {}}' >"$S/doc.json"
    cdm-config "$S/cdm.conf" >"$S/config.json" || return
    jq --slurpfile old "$S/doc.json" '.material = $old[0].material' "$S/config.json" >"$S/in.json" || return
    cdm-cert phase --phase "$p" "${opts[@]}" "$@" <"$S/in.json" >"$S/out.json" || return
    if [ "$p" = prepare ]; then
        cdm-tlsa <"$S/out.json" >"$S/tlsa.json" || return
        cdm-dns-apply --verify "${opts[@]}" <"$S/tlsa.json" >"$S/dns.json" || return
    fi
    mv "$S/out.json" "$S/doc.json"
}

m() { jq -r ".material.cert.main$1" "$S/doc.json"; }
# newOrder POSTs the front saw. A POST refused with badNonce (Pebble refuses 5 % of nonces)
# is sent again, so one issuance is one or more lines; a prepare that orders nothing adds none.
orders() { grep -c . "$TB_EXTRAS_ORDERS" || true; }
events() { jq -c '[.report[] | select(.program == "cdm-cert") | .event]' "$S/doc.json"; }

# The SHA-256 of the SubjectPublicKeyInfo of a certificate file (TLSA 3 1 1), by openssl.
spki_hash() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
served_tlsa() {
    tb_dig +short _443._tcp.www.example.test TLSA |
        awk '{ d = ""; for (i = 4; i <= NF; i++) d = d $i; print $1, $2, $3, tolower(d) }' | sort
}
# A certificate's serial as openssl prints it, lower-case without leading zeros.
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }

# Check one deployed directory: symlinks, modes, the chain against Pebble's root, key = cert.
check_deployed() {
    local d=$1
    [ -L "$d/.cdm-current" ] && [ -L "$d/fullchain.pem" ] && [ -L "$d/privkey.pem" ]
    assert_equal "$(readlink "$d/fullchain.pem")" ".cdm-current/fullchain.pem"
    assert_equal "$(stat -L -c %a "$d/privkey.pem")" 600
    assert_equal "$(stat -c %a "$d/$(readlink "$d/.cdm-current")")" 700
    run -0 openssl verify -CAfile "$TB_PEBBLE_ROOT" -untrusted "$d/chain.pem" "$d/cert.pem"
    assert_equal "$(openssl pkey -in "$d/privkey.pem" -pubout)" "$(openssl x509 -in "$d/cert.pem" -noout -pubkey)"
}

@test "prepare | cdm-tlsa | cdm-dns-apply, rollover, cleanup: a SAN certificate of two names (ECDSA)" {
    write_config "keytype = ecdsa"
    run -0 --separate-stderr phase prepare
    assert_equal "$(events)" '["issued"]'
    [ "$(orders)" -ge 1 ]
    assert_equal "$(tail -n 1 "$TB_EXTRAS_ORDERS" | jq -c .identifiers)" \
        '[{"type":"dns","value":"www.example.test"},{"type":"dns","value":"mail.example.test"}]'
    local next
    next=$(m .next.dir)
    [[ $next == "$S/state/cert/main/"* ]] || false
    assert_equal "$(stat -c %a "$next")" 700
    assert_equal "$(stat -c %a "$next/privkey.pem")" 600
    assert_equal "$(openssl x509 -in "$next/cert.pem" -noout -ext subjectAltName | tail -n 1 | tr -d ' ')" \
        "DNS:www.example.test,DNS:mail.example.test"
    assert_equal "$(m .next.keytype) $(m .next.keysize)" "ecdsa 256"
    assert_equal "$(m .next.spki_sha256)" "$(spki_hash "$next/cert.pem")"
    # Nothing is deployed yet; the 3 1 1 of the new key is published beside nothing else.
    [ ! -e "$S/dest" ]
    assert_equal "$(served_tlsa | grep -c "^3 1 1 $(m .next.spki_sha256)$")" 1
    # The challenge records are gone again.
    assert_equal "$(tb_dig +short _acme-challenge.www.example.test TXT)" ""

    run -0 --separate-stderr phase rollover
    assert_equal "$(m .current.serial | sed 's/^0*//')" "$(serial_of "$next/cert.pem")"
    assert_equal "$(m .next)" null
    check_deployed "$S/dest/www.example.test"
    check_deployed "$S/dest/mail.example.test"
    cmp "$S/dest/www.example.test/fullchain.pem" "$next/fullchain.pem"

    # Rollover again: the same result. After a crash that lost a symlink, it converges.
    local before
    before=$(jq -c .material "$S/doc.json")
    run -0 --separate-stderr phase rollover
    assert_equal "$(jq -c .material "$S/doc.json")" "$before"
    rm "$S/dest/www.example.test/.cdm-current" "$S/dest/mail.example.test/privkey.pem"
    run -0 --separate-stderr phase rollover
    check_deployed "$S/dest/www.example.test"
    check_deployed "$S/dest/mail.example.test"

    # A renewal (forced), rolled over: the first generation is previous; a user's file stays.
    echo "my own notes" >"$S/dest/www.example.test/README.local"
    mkdir "$S/dest/www.example.test/backup"
    local n
    n=$(orders)
    run -0 --separate-stderr phase prepare --force main
    [ "$(orders)" -gt "$n" ]
    run -0 --separate-stderr phase rollover
    local old_gen old_dir
    old_gen=$(m '.previous.deployed[0].generation')
    old_dir=$(m .previous.dir)
    [ -d "$S/dest/www.example.test/$old_gen" ] && [ -d "$old_dir" ]
    check_deployed "$S/dest/www.example.test"
    run -0 --separate-stderr phase cleanup
    assert_equal "$(events)" '["cleaned"]'
    [ ! -e "$S/dest/www.example.test/$old_gen" ] && [ ! -e "$S/dest/mail.example.test/$old_gen" ] && [ ! -e "$old_dir" ]
    assert_equal "$(cat "$S/dest/www.example.test/README.local")" "my own notes"
    [ -d "$S/dest/www.example.test/backup" ]
    check_deployed "$S/dest/www.example.test"
    assert_equal "$(m .previous)" null
    [ -d "$(m .current.dir)" ]
}

@test "renewal only when due: a second prepare places no order; the ARI time is kept, then due" {
    write_config "keytype = ecdsa" "renewbefore = 10"
    run -0 --separate-stderr phase prepare
    run -0 --separate-stderr phase rollover
    local n
    n=$(orders)
    [ "$n" -ge 1 ]
    # Not due: Pebble's certificates live for years; the front's window is 60-62 days away.
    local now
    now=$(date +%s)
    tb_acme_extras_window $((now + 86400)) $((now + 2 * 86400))
    run -0 --separate-stderr phase prepare
    assert_equal "$(events)" '["kept"]'
    assert_equal "$(orders)" "$n"
    local at
    at=$(m .current.renew_at)
    [ "$at" -ge $((now + 86400)) ] && [ "$at" -le $((now + 2 * 86400)) ]
    [[ $(m .current.renew_reason) == "not due: ARI window "* ]] || false
    # Kept across runs (RFC 9773 §4.2: chosen once).
    run -0 --separate-stderr phase prepare
    assert_equal "$(m .current.renew_at)" "$at"
    assert_equal "$(orders)" "$n"
    # Once now passes the chosen time it is due; the order says which certificate it replaces.
    run -0 --separate-stderr phase prepare --now $((at + 1))
    assert_equal "$(events)" '["issued"]'
    [ "$(orders)" -gt "$n" ]
    n=$(orders)
    assert_equal "$(tail -n 1 "$TB_EXTRAS_ORDERS" | jq -r .replaces)" "$(m .current.ari.cert_id)"
    # Staged and not rolled over: prepare again keeps the staged one.
    run -0 --separate-stderr phase prepare --now $((at + 2))
    assert_equal "$(events)" '["kept"]'
    assert_equal "$(orders)" "$n"
}

@test "reusekey (RSA): a forced renewal keeps the key; 3 1 1 stays, the serial changes" {
    write_config "keytype = rsa" "keysize = 2048" "reusekey = yes"
    run -0 --separate-stderr phase prepare
    run -0 --separate-stderr phase rollover
    local spki serial standby
    spki=$(m .current.spki_sha256)
    serial=$(m .current.serial)
    standby=$(m .standby.key)
    [ -f "$standby" ] && assert_equal "$(stat -c %a "$standby")" 600
    [ "$(m .standby.spki_sha256)" != "$spki" ]
    assert_equal "$(m .current.keytype) $(m .current.keysize)" "rsa 2048"
    assert_equal "$(served_tlsa | grep -c "^3 1 1 $spki$")" 1

    run -0 --separate-stderr phase prepare --force main
    assert_equal "$(jq -r '.report[] | select(.event == "issued") | .key' "$S/doc.json")" reused
    assert_equal "$(m .next.spki_sha256)" "$spki"
    [ "$(m .next.serial)" != "$serial" ]
    assert_equal "$(spki_hash "$(m .next.cert)")" "$spki"
    run -0 --separate-stderr phase rollover
    assert_equal "$(served_tlsa | grep -c "^3 1 1 $spki$")" 1
    assert_equal "$(spki_hash "$S/dest/www.example.test/cert.pem")" "$spki"
    check_deployed "$S/dest/www.example.test"
    # The standby key is kept for the next roll.
    assert_equal "$(m .standby.key)" "$standby"

    # A key roll: the standby key becomes the certificate's key, a new standby is made.
    run -0 --separate-stderr phase prepare --roll-key main
    assert_equal "$(jq -r '.report[] | select(.event == "issued") | .key' "$S/doc.json")" standby
    assert_equal "$(spki_hash "$(m .next.cert)")" "$(openssl pkey -in "$standby" -pubout -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)"
    [ "$(m .standby.key)" != "$standby" ]
    run -0 --separate-stderr phase rollover
    run -0 --separate-stderr phase cleanup
    [ ! -e "$standby" ]
    [ -f "$(m .standby.key)" ]
}

@test "a CA that cannot be reached: 69, nothing staged or deployed, material unchanged" {
    write_config "keytype = ecdsa"
    run -0 --separate-stderr phase prepare
    run -0 --separate-stderr phase rollover
    local material deployed
    material=$(jq -c .material "$S/doc.json")
    deployed=$(readlink "$S/dest/www.example.test/.cdm-current")
    # The port after the testbed's block: nothing listens there.
    run --separate-stderr -69 phase prepare --force main --ca "https://127.0.0.1:$((TB_PORT_BASE + 19))/dir"
    echo "stderr: $stderr" # shown when the test fails
    [[ ${stderr##*$'\n'} == "cdm-cert: "*"127.0.0.1:$((TB_PORT_BASE + 19))"* ]] || false
    assert_equal "$(jq -c .material "$S/doc.json")" "$material"
    assert_equal "$(ls -A "$S/state/cert/main" | grep -v '^keys$' | wc -l)" 1
    assert_equal "$(readlink "$S/dest/www.example.test/.cdm-current")" "$deployed"
    check_deployed "$S/dest/www.example.test"
}

@test "a DNS failure (a wrong TSIG key): a clear error, nothing staged or deployed, material unchanged" {
    write_config "keytype = ecdsa"
    run -0 --separate-stderr phase prepare
    run -0 --separate-stderr phase rollover
    local material n
    material=$(jq -c .material "$S/doc.json")
    n=$(orders)
    # A key of the right name and algorithm with another secret: ns1 answers NOTAUTH/BADSIG.
    sed "s|secret \".*\"|secret \"$(head -c 32 /dev/urandom | base64)\"|" "$TB_TSIG_KEY" >"$S/wrong.key"
    sed -i "s|^keyfile = .*|keyfile = $S/wrong.key|" "$S/cdm.conf"
    run --separate-stderr phase prepare --force main
    echo "status $status, stderr: $stderr" # shown when the test fails
    # ns1 refuses the key: permission (77), named in the last line.
    assert_equal "$status" 77
    [[ ${stderr##*$'\n'} == "cdm-cert: $TB_NS_ADDR#$TB_NS_PORT rejected "*"zone 'example.test.'"*"BADSIG"* ]] || false
    assert_equal "$(jq -c .material "$S/doc.json")" "$material"
    assert_equal "$(ls -A "$S/state/cert/main" | grep -v '^keys$' | wc -l)" 1
    [ "$(orders)" -gt "$n" ] # the CA got the order; the DNS change failed
    assert_equal "$(tb_dig +short _acme-challenge.www.example.test TXT)" ""
    check_deployed "$S/dest/www.example.test"
}

@test "one section failing does not cost another its new certificate: the document is written, exit 69" {
    write_config "keytype = ecdsa"
    # A second certificate whose CA does not answer (the port after the testbed's block).
    printf '\n[cert:broken]\nca = https://127.0.0.1:%s/dir\ncabundle = %s\ndestination = %s\n' \
        "$((TB_PORT_BASE + 19))" "$TB_PEBBLE_CA" "$S/dest" >>"$S/cdm.conf"
    printf '\n[domain:shop.example.test]\ncert = broken\n' >>"$S/cdm.conf"
    local opts
    mapfile -t opts < <(DNS_OPTS)
    cdm-config "$S/cdm.conf" >"$S/in.json"
    run --separate-stderr cdm-cert phase --phase prepare "${opts[@]}" <"$S/in.json"
    assert_equal "$status" 69
    [[ ${stderr##*$'\n'} == "cdm-cert: "*"127.0.0.1:$((TB_PORT_BASE + 19))"* ]] || false
    # The good section's certificate is staged and recorded; the broken one has no material
    # and left nothing behind.
    local next
    next=$(jq -r '.material.cert.main.next.dir' <<<"$output")
    [ -d "$next" ]
    assert_equal "$(jq -r '.material.cert.broken // "none"' <<<"$output")" none
    assert_equal "$(jq -c '[.report[] | select(.program == "cdm-cert") | .event] | sort' <<<"$output")" '["failed","issued"]'
    assert_equal "$(jq -r '.report[] | select(.event == "failed") | .exit' <<<"$output")" 69
    [ ! -e "$S/state/cert/broken" ] || assert_equal "$(ls -A "$S/state/cert/broken" | grep -vc '^keys$')" 0
    # The next prepare keeps the staged certificate instead of ordering it again.
    jq '.material' <<<"$output" >"$S/material.json"
    jq --slurpfile m "$S/material.json" '.material = $m[0]' "$S/in.json" >"$S/in2.json"
    local n
    n=$(orders)
    run --separate-stderr cdm-cert phase --phase prepare "${opts[@]}" <"$S/in2.json"
    assert_equal "$status" 69
    assert_equal "$(jq -r '.material.cert.main.next.dir' <<<"$output")" "$next"
    assert_equal "$(orders)" "$n"
}

@test "a wildcard domain section: its challenge at the base name goes through its own section's provider" {
    write_config "keytype = ecdsa"
    # Only the wildcard's section knows the provider: [domain] gives no access keys here.
    sed -i '/^\[domain\]$/,/^$/d' "$S/cdm.conf"
    sed -i 's/^\[domain:www.example.test\]$/[domain:*.example.test]\nhandler = rfc2136\nserver = '"$TB_NS_ADDR"'\nport = '"$TB_NS_PORT"'\nkeyfile = '"${TB_TSIG_KEY//\//\\/}"'/' "$S/cdm.conf"
    sed -i '/^\[domain:mail.example.test\]$/,$d' "$S/cdm.conf"
    local opts
    mapfile -t opts < <(DNS_OPTS)
    cdm-config "$S/cdm.conf" >"$S/in.json"
    assert_equal "$(jq -c .config.cert.main.domains "$S/in.json")" '["*.example.test"]'
    run -0 --separate-stderr cdm-cert phase --phase prepare "${opts[@]}" <"$S/in.json"
    assert_equal "$(openssl x509 -in "$(jq -r .material.cert.main.next.cert <<<"$output")" -noout -ext subjectAltName | tail -n 1 | tr -d ' ')" \
        "DNS:*.example.test"
    assert_equal "$(tb_dig +short _acme-challenge.example.test TXT)" ""
}

@test "update: 'caa = auto' becomes the CA's caaIdentities, pinned to this account and dns-01" {
    write_config "caapin = accounturi, validationmethods"
    printf '\n[domain:example.test]\ncert = main\ncaa = auto\n' >>"$S/cdm.conf"
    run -0 --separate-stderr phase update
    local account
    account=$(jq -r .url "$S"/state/acme/*/account.json)
    [[ $account == https://127.0.0.1:* ]] || false
    assert_equal "$(jq -c '[.records[] | select(.type == "CAA") | .data]' "$S/doc.json")" \
        "[\"0 issue \\\"testbed-ca.test; accounturi=$account; validationmethods=dns-01\\\"\"]"
    # The account is the one prepare then orders with.
    run -0 --separate-stderr phase prepare
    assert_equal "$(ls "$S"/state/acme | wc -l)" 1
}
