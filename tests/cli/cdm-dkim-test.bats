#!/usr/bin/env bats
# cdm-dkim test against the test bed: keys made by cdm-dkim generate (RSA 2048, RSA 4096 whose
# p= ends in '=', Ed25519), their records published in the signed example.test with nsupdate
# and TSIG, then looked up through the validating unbound or validated by cdm against the
# trust anchor. Independent checks of the same keys and records: opendkim-testkey (OpenDKIM's
# libunbound, with the trust anchor), and messages signed by rspamadm and opendkim-testmsg,
# verified by dkimpy through unbound. Needs opendkim-tools, rspamd, python3-dkim,
# python3-dnspython and python3-nacl (for dkimpy's Ed25519), jq: none is optional here.

load test_helper
load testbed

F="$FIXTURES/cdm-dkim"

# Replace the TXT records at each owner of the zone lines on stdin ("owner ttl IN TXT data",
# as cdm-dkim --format zone prints them) in one UPDATE.
publish() {
    {
        echo "zone example.test"
        while read -r owner _ _ _ data; do
            echo "update delete $owner TXT"
            echo "update add $owner 60 IN TXT $data"
        done
    } | tb_nsupdate -k "$TB_TSIG_KEY"
}

# publish_txt SELECTOR DATA...: replace the TXT records of SELECTOR._domainkey.example.test.
# with one record per DATA (TXT presentation data, e.g. '"v=DKIM1; " "p=..."').
publish_txt() {
    local owner="$1._domainkey.example.test." data
    shift
    for data in "$@"; do
        printf '%s 60 IN TXT %s\n' "$owner" "$data"
    done | {
        echo "zone example.test"
        echo "update delete $owner TXT"
        sed 's/^/update add /'
    } | tb_nsupdate -k "$TB_TSIG_KEY"
}

# TXT presentation data for the text $1: quoted strings of at most 250 characters.
txt_data() {
    local text=$1 out=
    while [ -n "$text" ]; do
        out="$out \"${text:0:250}\""
        text=${text:250}
    done
    printf '%s\n' "${out# }"
}

# The value of tag $2 in the TXT text of zone line $1.
tag_of() {
    printf '%s\n' "$1" | sed 's/^[^"]*"//; s/"$//; s/" "//g' | tr ';' '\n' | sed -n "s/^ *$2=//p"
}

resolver() { echo "$TB_RESOLVER:$TB_RESOLVER_PORT"; }

# cdm-dkim test of SELECTOR with KEY through the validating resolver; more options follow.
dkim_test() {
    local selector=$1 key=$2
    shift 2
    cdm-dkim test --domain example.test --selector "$selector" --key "$key" --resolver "$(resolver)" "$@"
}

# opendkim-testkey's configuration: its libunbound asks ns1 directly (a stub zone on the test
# bed's port; port 53 is not needed) and validates against the test bed's DS records.
write_testkey_conf() {
    cat > "$BATS_FILE_TMPDIR/libunbound.conf" <<EOF
server:
    do-not-query-localhost: no
    local-zone: "." refuse
    local-zone: "test." nodefault
    local-zone: "example.test." transparent
stub-zone:
    name: "example.test"
    stub-addr: $TB_NS_ADDR@$TB_NS_PORT
EOF
    printf 'TrustAnchorFile %s\nResolverConfiguration %s\n' "$TB_TRUST_ANCHOR" \
        "$BATS_FILE_TMPDIR/libunbound.conf" > "$BATS_FILE_TMPDIR/testkey.conf"
}

testkey() {
    timeout 30 opendkim-testkey -x "$BATS_FILE_TMPDIR/testkey.conf" -d example.test -vvv "$@"
}

# rspamd_sign SELECTOR KEY IN OUT: sign IN for example.test with rspamadm. Its stderr (a
# warning about /etc/resolv.conf: it needs no DNS to sign) is shown only when it fails.
rspamd_sign() {
    rspamadm mime sign -d example.test -s "$1" -k "$2" "$3" > "$4" 2> "$4.err" || {
        cat "$4.err" >&2
        return 1
    }
}

# dkimpy, through the validating unbound: Debian's python3-dkim needs Debian's interpreter.
dkimpy_verify() {
    /usr/bin/python3 "$F/dkim-verify.py" "$(resolver)"
}

setup_file() {
    testbed_setup_file
    [ -z "${TB_SKIP:-}" ] || return 0
    export K="$BATS_FILE_TMPDIR/keys"
    cdm-dkim generate --domain example.test --selector r2048 --key-out "$K/r2048.pem" \
        --format zone > "$BATS_FILE_TMPDIR/r2048.zone"
    cdm-dkim generate --domain example.test --selector r4096 --bits 4096 --key-out "$K/r4096.pem" \
        --format zone > "$BATS_FILE_TMPDIR/r4096.zone"
    cdm-dkim generate --domain example.test --selector ed --algorithm ed25519 --key-out "$K/ed.pem" \
        --seed-out "$K/ed.seed" --format zone > "$BATS_FILE_TMPDIR/ed.zone"
    cat "$BATS_FILE_TMPDIR/r2048.zone" "$BATS_FILE_TMPDIR/r4096.zone" "$BATS_FILE_TMPDIR/ed.zone" | publish
    write_testkey_conf
    printf '%s\r\n' "From: Alice <alice@example.test>" "To: Bob <bob@example.net>" \
        "Subject: cdm-dkim test" "Date: Mon, 23 Nov 2026 10:00:00 +0000" \
        "Message-ID: <cdm-dkim-test@example.test>" "" "Hello Bob," "" "this is signed." \
        > "$BATS_FILE_TMPDIR/message.eml"
}

teardown_file() { testbed_teardown_file; }

setup() { testbed_setup; }

@test "RSA 2048, RSA 4096 and Ed25519 pass through the validating resolver, secure" {
    # The 4096-bit key's p= ends in '=' padding, where the original's parser broke.
    [[ $(tag_of "$(cat "$BATS_FILE_TMPDIR/r4096.zone")" p) == *= ]] || false
    for s in r2048 r4096 ed; do
        run -0 dkim_test "$s" "$K/$s.pem"
        assert_line --index 0 "$s._domainkey.example.test. TXT: 1 record(s), secure"
        assert_line --index 2 "OK"
    done
    run -0 dkim_test r2048 "$K/r2048.pem"
    assert_line --index 1 "pass: the record publishes the key in '$K/r2048.pem' (RSA 2048 bits)"
    run -0 dkim_test r4096 "$K/r4096.pem"
    assert_line --index 1 "pass: the record publishes the key in '$K/r4096.pem' (RSA 4096 bits)"
    run -0 dkim_test ed "$K/ed.pem"
    assert_line --index 1 "pass: the record publishes the key in '$K/ed.pem' (Ed25519)"
}

@test "validated by cdm itself against the trust anchor, asking ns1 directly" {
    for s in r2048 r4096 ed; do
        run -0 cdm-dkim test --domain example.test --selector "$s" --key "$K/$s.pem" \
            --resolver "$TB_NS_ADDR:$TB_NS_PORT" --trust-anchor "$TB_TRUST_ANCHOR"
        assert_line --index 0 "$s._domainkey.example.test. TXT: 1 record(s), secure"
        assert_line --index 1 --partial "pass: "
    done
}

@test "a public key file works as well as the private key" {
    openssl pkey -in "$K/r4096.pem" -pubout -out "$BATS_TEST_TMPDIR/r4096.pub"
    run -0 dkim_test r4096 "$BATS_TEST_TMPDIR/r4096.pub"
    assert_line --index 1 --partial "(RSA 4096 bits)"
}

@test "ns1 without a trust anchor: a pass, but insecure" {
    run -0 cdm-dkim test --domain example.test --selector r2048 --key "$K/r2048.pem" \
        --resolver "$TB_NS_ADDR:$TB_NS_PORT"
    assert_line --index 0 "r2048._domainkey.example.test. TXT: 1 record(s), insecure (the resolver did not set the AD bit)"
    assert_line "OK"
}

@test "a wrong trust anchor: the answer is bogus and the test fails even though the key matches" {
    sed 's/ [0-9A-Fa-f]*$/ 0000000000000000000000000000000000000000000000000000000000000000/' \
        "$TB_TRUST_ANCHOR" > "$BATS_TEST_TMPDIR/wrong.ds"
    run -1 cdm-dkim test --domain example.test --selector r2048 --key "$K/r2048.pem" \
        --resolver "$TB_NS_ADDR:$TB_NS_PORT" --trust-anchor "$BATS_TEST_TMPDIR/wrong.ds"
    assert_line --index 0 --partial "r2048._domainkey.example.test. TXT: 1 record(s), bogus ("
    assert_line --index 1 --partial "pass: "
    assert_line "FAILED"
}

@test "--format json: verdict, security, the record and the record to publish" {
    run -0 dkim_test r4096 "$K/r4096.pem" --format json
    echo "$output" | jq -e '.ok == true and .verdict == "pass" and .dns.security == "secure"'
    echo "$output" | jq -e '.owner == "r4096._domainkey.example.test." and .dns.rcode == "NOERROR"'
    echo "$output" | jq -e '.key.type == "RSA 4096 bits" and (.key.expected | endswith("="))'
    echo "$output" | jq -e '(.records | length) == 1 and .records[0].text == .key.expected'
    echo "$output" | jq -e '.dns.txt == [.key.expected]'
    run -1 dkim_test nosuch "$K/r4096.pem" --format json
    echo "$output" | jq -e '.ok == false and .verdict == "not found" and .dns.rcode == "NXDOMAIN"'
}

@test "another key: key mismatch, exit 1" {
    run -1 dkim_test r2048 "$F/rspamadm-4096.key"
    assert_line --index 0 "r2048._domainkey.example.test. TXT: 1 record(s), secure"
    assert_line --index 1 "key mismatch: p= holds another key"
    assert_line --index 2 "FAILED"
    run -1 dkim_test r2048 "$K/ed.pem"
    assert_line --index 1 "key mismatch: the record has k=rsa but the key is Ed25519"
    run -1 dkim_test ed "$K/r4096.pem"
    assert_line --index 1 "key mismatch: the record has k=ed25519 but the key is RSA"
}

@test "revoked after publishing cdm-dkim revoke's record, exit 1" {
    cdm-dkim generate --domain example.test --selector gone --key-out "$BATS_TEST_TMPDIR/gone.pem" \
        --format zone | publish
    run -0 dkim_test gone "$BATS_TEST_TMPDIR/gone.pem"
    cdm-dkim revoke --domain example.test --selector gone --format zone | publish
    run tb_dig +short gone._domainkey.example.test TXT
    assert_output '"v=DKIM1; p="'
    run -1 dkim_test gone "$BATS_TEST_TMPDIR/gone.pem"
    assert_line --index 0 "gone._domainkey.example.test. TXT: 1 record(s), secure"
    assert_line --index 1 "revoked: p= is empty: the key is revoked (RFC 6376 §3.6.1)"
    assert_line --index 2 "FAILED"
}

@test "malformed records: exit 1 with the reason" {
    local p ed_spki
    p=$(tag_of "$(cat "$BATS_FILE_TMPDIR/r2048.zone")" p)
    ed_spki=$(openssl pkey -in "$K/ed.pem" -pubout -outform DER | base64 -w0)
    check() { # selector key reason data...
        local selector=$1 key=$2 reason=$3
        shift 3
        publish_txt "$selector" "$@"
        run -1 dkim_test "$selector" "$key"
        assert_line --index 0 --partial "$selector._domainkey.example.test. TXT: "
        assert_line --index 1 "malformed: $reason"
        assert_line "FAILED"
    }
    check mal1 "$K/r2048.pem" "k='dsa' is not rsa or ed25519" "\"v=DKIM1; k=dsa; p=${p:0:200}\" \"${p:200}\""
    check mal2 "$K/r2048.pem" "no p= tag" '"v=DKIM1; k=rsa"'
    check mal3 "$K/r2048.pem" "p= is not valid base64" "\"v=DKIM1; k=rsa; p=${p:0:200}!\" \"${p:200}\""
    check mal4 "$K/r2048.pem" "v='DKIM2', not DKIM1" "\"v=DKIM2; k=rsa; p=${p:0:200}\" \"${p:200}\""
    check mal5 "$K/r2048.pem" "tag 'k' appears twice" "\"v=DKIM1; k=rsa; k=rsa; p=${p:0:200}\" \"${p:200}\""
    check mal6 "$K/ed.pem" \
        "p= holds the Ed25519 key as a SubjectPublicKeyInfo; RFC 8463 §4 wants the raw 32-byte key" \
        "\"v=DKIM1; k=ed25519; p=$ed_spki\""
    check mal7 "$K/r2048.pem" "h='sha1' leaves out sha256, the only hash signers may use (RFC 8301 §3.1)" \
        "\"v=DKIM1; h=sha1; k=rsa; p=${p:0:200}\" \"${p:200}\""
    check mal8 "$K/r2048.pem" "p= does not hold an RSA public key" '"v=DKIM1; k=rsa; p=YWJjZA=="'
}

@test "two DKIM records at one name that disagree are malformed; a verifier may take either" {
    local mine other
    mine=$(tag_of "$(cat "$BATS_FILE_TMPDIR/r2048.zone")" p)
    other=$(openssl pkey -in "$F/rspamadm-4096.key" -pubout -outform DER | base64 -w0)
    publish_txt two "$(txt_data "v=DKIM1; k=rsa; p=$mine")" "$(txt_data "v=DKIM1; k=rsa; p=$other")"
    run -1 dkim_test two "$K/r2048.pem"
    assert_line --index 0 "two._domainkey.example.test. TXT: 2 record(s), secure"
    assert_line --index 1 --regexp '^malformed: 2 DKIM records at the name disagree \((pass, key mismatch|key mismatch, pass)\), and a verifier may take any one of them \(RFC 6376 §3\.6\.2\.2\)$'
    assert_line --regexp '^  record [12]: pass: '
    assert_line --regexp '^  record [12]: key mismatch: p= holds another key$'
}

@test "robust reading: strings split inside the base64 and before the '=' padding, blanks around tags" {
    local p len
    p=$(tag_of "$(cat "$BATS_FILE_TMPDIR/r4096.zone")" p)
    len=${#p}
    [[ ${p:len-2} == "==" ]] || false
    # FWS is allowed inside p= and around '=' and ';' (RFC 6376 §3.2, §3.6.1).
    publish_txt odd "\"  v = DKIM1 ;k= rsa;\" \"  p =  ${p:0:100}\" \" ${p:100:150}\" \"${p:250:250}\" \"${p:500:len-502}\" \" ==\" \"  ; \""
    run tb_dig +short odd._domainkey.example.test TXT
    assert_output --partial '" =="'
    run -0 dkim_test odd "$K/r4096.pem"
    assert_line --index 1 "pass: the record publishes the key in '$K/r4096.pem' (RSA 4096 bits)"
    # dkimpy reads the same record so: a message signed for selector odd verifies.
    rspamd_sign odd "$K/r4096.pem" "$BATS_FILE_TMPDIR/message.eml" "$BATS_TEST_TMPDIR/odd.eml"
    run -0 dkimpy_verify < "$BATS_TEST_TMPDIR/odd.eml"
    assert_output "a=rsa-sha256 s=odd: pass"
    # Other TXT records at the name (SPF here) are not DKIM records and are passed over.
    publish_txt odd '"v=spf1 -all"' "\"v=DKIM1; k=ed25519; p=$(tag_of "$(cat "$BATS_FILE_TMPDIR/ed.zone")" p)\""
    run -0 dkim_test odd "$K/ed.pem"
    assert_line --index 0 "odd._domainkey.example.test. TXT: 2 record(s), secure"
}

@test "not found: NXDOMAIN, and a name whose TXT records are not DKIM" {
    run -1 dkim_test nosuch "$K/r2048.pem"
    assert_line --index 0 "nosuch._domainkey.example.test. TXT: NXDOMAIN, secure"
    assert_line --index 1 "not found: the name does not exist (NXDOMAIN)"
    assert_line --index 2 "FAILED"
    publish_txt spf '"v=spf1 -all"' '"google-site-verification=abc"'
    run -1 dkim_test spf "$K/r2048.pem"
    assert_line --index 0 "spf._domainkey.example.test. TXT: 2 record(s), secure"
    assert_line --index 1 "not found: no DKIM record among the 2 TXT record(s)"
    # A name with other records but no TXT.
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update add anone._domainkey.example.test. 60 IN CAA 0 issue "ca.example.test"
EOF
    run -1 dkim_test anone "$K/r2048.pem"
    assert_line --index 0 "anone._domainkey.example.test. TXT: 0 record(s), secure"
    assert_line --index 1 "not found: no TXT record at the name"
}

@test "the DNS does not answer, or refuses: exit 69" {
    run --separate-stderr -69 cdm-dkim test --domain example.test --selector r2048 \
        --key "$K/r2048.pem" --resolver 127.0.0.1:1 --timeout 1
    assert_output ""
    [[ $stderr == "cdm-dkim: no answer from the DNS: "* ]] || false
    # unbound answers REFUSED for every name outside the test bed's zones.
    run --separate-stderr -69 cdm-dkim test --domain example.org --selector r2048 \
        --key "$K/r2048.pem" --resolver "$(resolver)"
    assert_equal "$stderr" "cdm-dkim: the DNS answered REFUSED for 'r2048._domainkey.example.org.' TXT"
}

@test "flag and file errors: 64, 65, 66, before any query" {
    run --separate-stderr -64 dkim_test r2048 "$K/r2048.pem" --format zone
    [[ $stderr == "cdm-dkim: --format takes text or json, not 'zone'"* ]] || false
    run --separate-stderr -64 cdm-dkim test --domain example.test --selector r2048 \
        --key "$K/r2048.pem" --resolver 127.0.0.1:99999
    [[ $stderr == "cdm-dkim: resolver '127.0.0.1:99999': port is not from 1 to 65535"* ]] || false
    run --separate-stderr -64 dkim_test 'bad selector' "$K/r2048.pem"
    [[ $stderr == "cdm-dkim: "*"'bad selector'"* ]] || false
    run --separate-stderr -64 dkim_test r2048 "$K/r2048.pem" --timeout 0
    [[ $stderr == "cdm-dkim: --timeout takes 1 to 300 seconds, not '0'"* ]] || false
    run --separate-stderr -64 cdm-dkim test --domain example.test --selector r2048
    [[ $stderr == "cdm-dkim: the option '--key' is required but missing"* ]] || false
    run --separate-stderr -66 dkim_test r2048 "$BATS_TEST_TMPDIR/missing.pem"
    [[ $stderr == "cdm-dkim: "*"missing.pem"* ]] || false
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$BATS_TEST_TMPDIR/p256.pem" 2>/dev/null
    run --separate-stderr -65 dkim_test r2048 "$BATS_TEST_TMPDIR/p256.pem"
    assert_equal "$stderr" "cdm-dkim: $BATS_TEST_TMPDIR/p256.pem: holds an ECDSA P-256 key; DKIM records take RSA or Ed25519 keys"
    run --separate-stderr -66 dkim_test r2048 "$K/r2048.pem" --trust-anchor "$BATS_TEST_TMPDIR/none.ds"
    [[ $stderr == "cdm-dkim: $BATS_TEST_TMPDIR/none.ds: unable to open the trust anchor file"* ]] || false
    assert_output ""
}

@test "opendkim-testkey: the cdm-made RSA keys are OK and secure (RFC 6376 keys, its own resolver)" {
    for s in r2048 r4096; do
        run -0 testkey -s "$s" -k "$K/$s.pem"
        assert_line "opendkim-testkey: checking key '$s._domainkey.example.test'"
        assert_line "opendkim-testkey: key secure"
        assert_line "opendkim-testkey: key OK"
    done
}

@test "opendkim-testkey: the Ed25519 record is found, secure and OK (it compares RSA keys only)" {
    # With -k it fails on an Ed25519 key: "EVP_PKEY_get1_RSA() failed" (OpenDKIM 2.11.0~beta2).
    run -0 testkey -s ed
    assert_line "opendkim-testkey: key secure"
    assert_line "opendkim-testkey: key OK"
}

@test "opendkim-testkey agrees on a mismatch and on a missing record" {
    run -65 testkey -s r2048 -k "$K/r4096.pem"
    assert_line "opendkim-testkey: keys do not match"
    run -1 dkim_test r2048 "$K/r4096.pem"
    assert_line --index 1 "key mismatch: p= holds another key"
    run -69 testkey -s nosuch
    assert_line --partial "record not found"
}

@test "rspamadm signs with the cdm-made RSA 2048, RSA 4096 and Ed25519 keys; dkimpy verifies via unbound" {
    local m="$BATS_FILE_TMPDIR/message.eml" s
    # rspamd 3.4 reads RSA keys in PEM, but Ed25519 only as the seed file of --seed-out.
    for s in r2048:r2048.pem:rsa-sha256 r4096:r4096.pem:rsa-sha256 ed:ed.seed:ed25519-sha256; do
        IFS=: read -r sel file alg <<< "$s"
        rspamd_sign "$sel" "$K/$file" "$m" "$BATS_TEST_TMPDIR/$sel.eml"
        grep -q "^DKIM-Signature: v=1; a=$alg; " "$BATS_TEST_TMPDIR/$sel.eml"
        run -0 dkimpy_verify < "$BATS_TEST_TMPDIR/$sel.eml"
        assert_output "a=$alg s=$sel: pass"
        # A changed body no longer verifies.
        sed 's/this is signed/this is changed/' "$BATS_TEST_TMPDIR/$sel.eml" > "$BATS_TEST_TMPDIR/bad.eml"
        run --separate-stderr -1 dkimpy_verify < "$BATS_TEST_TMPDIR/bad.eml"
        assert_output "a=$alg s=$sel: fail"
        [[ $stderr == *"body hash mismatch"* ]] || false
    done
}

@test "a message signed twice (RSA and Ed25519, RFC 8463 dual signing) verifies with both keys" {
    local m="$BATS_FILE_TMPDIR/message.eml"
    rspamd_sign ed "$K/ed.seed" "$m" "$BATS_TEST_TMPDIR/1.eml"
    rspamd_sign r2048 "$K/r2048.pem" "$BATS_TEST_TMPDIR/1.eml" "$BATS_TEST_TMPDIR/2.eml"
    run -0 dkimpy_verify < "$BATS_TEST_TMPDIR/2.eml"
    assert_line "a=rsa-sha256 s=r2048: pass"
    assert_line "a=ed25519-sha256 s=ed: pass"
}

@test "opendkim-testmsg -C signs with the cdm-made RSA keys (rsa-sha1 only); dkimpy verifies via unbound" {
    for s in r2048 r4096; do
        opendkim-testmsg -C -d example.test -s "$s" -k "$K/$s.pem" \
            < "$BATS_FILE_TMPDIR/message.eml" > "$BATS_TEST_TMPDIR/$s.eml"
        grep -q "^DKIM-Signature: v=1; a=rsa-sha1; " "$BATS_TEST_TMPDIR/$s.eml"
        run -0 dkimpy_verify < "$BATS_TEST_TMPDIR/$s.eml"
        assert_output "a=rsa-sha1 s=$s: pass"
    done
}

@test "the dkimpy check takes keys only from answers with the AD bit" {
    rspamd_sign r2048 "$K/r2048.pem" "$BATS_FILE_TMPDIR/message.eml" "$BATS_TEST_TMPDIR/r2048.eml"
    # ns1 serves the same signed record but, not validating, sets no AD bit.
    run --separate-stderr -1 /usr/bin/python3 "$F/dkim-verify.py" "$TB_NS_ADDR:$TB_NS_PORT" \
        < "$BATS_TEST_TMPDIR/r2048.eml"
    assert_output "a=rsa-sha256 s=r2048: fail"
    [[ $stderr == *"r2048._domainkey.example.test.: the answer has no AD bit (not DNSSEC-secure)"* ]] || false
}
