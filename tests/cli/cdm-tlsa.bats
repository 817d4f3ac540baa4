#!/usr/bin/env bats
# cdm-tlsa: TLSA records from certificates, keys and requests, checked against the openssl
# command line and ldns-dane for RSA, ECDSA P-256/P-384 and Ed25519 certificates.

load test_helper
load chain_helper

# What openssl says the association data is: usage selector matching certificate.
openssl_data() {
    if [ "$2" = 0 ]; then
        openssl x509 -in "$4" -outform DER
    else
        openssl x509 -in "$4" -pubkey -noout | openssl pkey -pubin -outform DER
    fi | case $3 in
        0) od -An -v -tx1 | tr -d ' \n' ;;
        1) openssl dgst -sha256 -r | cut -d' ' -f1 ;;
        2) openssl dgst -sha512 -r | cut -d' ' -f1 ;;
    esac
}

setup_file() {
    for alg in rsa p256 p384 ed25519; do
        make_chain "$BATS_FILE_TMPDIR/$alg" "$alg"
    done
}

@test "--help and --version" {
    run -0 cdm-tlsa --help
    assert_line --index 0 --partial "usage: cdm-tlsa"
    assert_output --partial "--params"
    run -0 cdm-tlsa --version
    assert_output --regexp '^cdm-tlsa \(cdm\) '
}

@test "every usage, selector and matching type equals openssl's, for RSA, P-256, P-384 and Ed25519" {
    for alg in rsa p256 p384 ed25519; do
        d="$BATS_FILE_TMPDIR/$alg"
        for usage in 0 1 2 3; do
            for sel in 0 1; do
                for m in 0 1 2; do
                    cert=$d/leaf.pem
                    [ "$usage" = 0 ] || [ "$usage" = 2 ] && cert=$d/inter.pem
                    want="$usage $sel $m $(openssl_data "$usage" "$sel" "$m" "$cert")"
                    run -0 cdm-tlsa --cert "$d/fullchain.pem" --host mail.example.test --port 25 \
                        --params "$usage:$sel:$m" --format rdata
                    assert_equal "$output" "$want"
                done
            done
        done
    done
}

@test "records equal ldns-dane's (usage 2 with -o 1: cdm takes the leaf's issuer)" {
    for alg in rsa p256 p384 ed25519; do
        d="$BATS_FILE_TMPDIR/$alg"
        for params in "3 1 1" "3 0 1" "3 1 2" "2 0 1" "2 1 1" "3 1 0"; do
            set -- $params
            run -0 ldns-dane -c "$d/fullchain.pem" -o 1 create mail.example.test 25 "$1" "$2" "$3"
            want=$(printf '%s\n' "$output" | awk '{ print $5, $6, $7, $8 }')
            run -0 cdm-tlsa --cert "$d/fullchain.pem" --host mail.example.test --port 25 \
                --usage "$1" --selector "$2" --matching "$3" --format rdata
            assert_equal "$output" "$want"
        done
    done
}

@test "zone lines with the owner _PORT._PROTO.HOST. or *._PROTO.HOST." {
    d="$BATS_FILE_TMPDIR/p256"
    run -0 cdm-tlsa --cert "$d/fullchain.pem" --host Mail.Example.Test --port 25 --params 3:1:1,2:0:1
    assert_line --index 0 --regexp '^_25\._tcp\.mail\.example\.test\. 3600 IN TLSA 3 1 1 [0-9a-f]{64}$'
    assert_line --index 1 --regexp '^_25\._tcp\.mail\.example\.test\. 3600 IN TLSA 2 0 1 [0-9a-f]{64}$'
    run -0 cdm-tlsa --cert "$d/fullchain.pem" --host a.example.test --proto udp --ttl 300
    assert_output --regexp '^\*\._udp\.a\.example\.test\. 300 IN TLSA 3 1 1 [0-9a-f]{64}$'
}

@test "the next key's 3 1 1 from a bare key or a CSR equals the certificate's" {
    d="$BATS_FILE_TMPDIR/rsa"
    run -0 cdm-tlsa --cert "$d/fullchain.pem" --host h.test --port 443 --format rdata
    from_cert=$output
    run -0 cdm-tlsa --csr "$d/leaf.csr" --host h.test --port 443 --format rdata
    assert_equal "$output" "$from_cert"
    run -0 cdm-tlsa --key "$d/leaf.key" --host h.test --port 443 --format rdata
    assert_equal "$output" "$from_cert"
    openssl pkey -in "$d/leaf.key" -pubout -out "$BATS_TEST_TMPDIR/pub.pem"
    run -0 cdm-tlsa --key "$BATS_TEST_TMPDIR/pub.pem" --host h.test --port 443 --format rdata
    assert_equal "$output" "$from_cert"
    run --separate-stderr -65 cdm-tlsa --key "$d/leaf.key" --host h.test --port 443 --params 2:0:1
    [[ $stderr == *"a bare key answers only selector 1"* ]] || false
}

@test "the private key never reaches the output" {
    d="$BATS_FILE_TMPDIR/p256"
    secret=$(grep -v '^-----' "$d/leaf.key" | tr -d '\n' | cut -c1-40)
    run -0 cdm-tlsa --key "$d/leaf.key" --host h.test --port 443 --format json
    [[ $output != *"$secret"* ]] || false
}

@test "--format json is a cdm document that jq reads" {
    d="$BATS_FILE_TMPDIR/p384"
    run -0 cdm-tlsa --cert "$d/fullchain.pem" --host h.test --port 443 --format json
    echo "$output" | jq -e '.cdm == 1 and (.records | length) == 1 and .records[0].type == "TLSA" and .records[0].name == "_443._tcp.h.test."'
}

@test "in a pipe: records for every domain whose tlsa keys ask, from the document's material" {
    d="$BATS_FILE_TMPDIR/p256"
    printf '[cert:web]\n[domain:mail.example.test]\ncert = web\ntlsa.tcp.25 = auto:3:1:1, auto:2:0:1\n' > "$BATS_TEST_TMPDIR/c.conf"
    run -0 sh -c 'cdm-config "$1" | jq --arg c "$2" ".material.cert.web.current.fullchain = \$c" | cdm-tlsa |
        jq -r ".records[] | select(.type == \"TLSA\") | \"\(.name) \(.data) \(.op) \(.scope.name)\""' sh "$BATS_TEST_TMPDIR/c.conf" "$d/fullchain.pem"
    assert_line --index 0 "_25._tcp.mail.example.test. 3 1 1 $(openssl_data 3 1 1 "$d/leaf.pem") replace _25._tcp.mail.example.test."
    assert_line --index 1 "_25._tcp.mail.example.test. 2 0 1 $(openssl_data 2 0 1 "$d/inter.pem") replace _25._tcp.mail.example.test."
}

@test "bad input: one line, an exit code, nothing on stdout" {
    d="$BATS_FILE_TMPDIR/rsa"
    printf 'garbage\n' > "$BATS_TEST_TMPDIR/g.pem"
    run --separate-stderr -65 cdm-tlsa --cert "$BATS_TEST_TMPDIR/g.pem" --host h.test --port 1
    assert_equal "$stderr" "cdm-tlsa: $BATS_TEST_TMPDIR/g.pem: not a certificate (neither PEM nor DER)"
    assert_output ""
    head -c 300 "$d/leaf.pem" > "$BATS_TEST_TMPDIR/t.pem"
    run --separate-stderr -65 cdm-tlsa --cert "$BATS_TEST_TMPDIR/t.pem" --host h.test --port 1
    assert_equal "$stderr" "cdm-tlsa: $BATS_TEST_TMPDIR/t.pem:1: truncated PEM certificate (no END line)"
    run --separate-stderr -65 cdm-tlsa --cert "$d/leaf.pem" --host h.test --port 1 --params 2:0:1
    [[ $stderr == *"leaf.pem: no certificate in the chain issued the leaf 'CN=mail.example.test'"* ]] || false
    run --separate-stderr -64 cdm-tlsa --cert "$d/fullchain.pem" --host h.test --port 1 --usage 7
    [[ $stderr == "cdm-tlsa: TLSA usage '7' is not one of 0 to 3"$'\n'"usage: cdm-tlsa "* ]] || false
    run --separate-stderr -64 cdm-tlsa --cert "$d/fullchain.pem" --host h.test --port 70000
    [[ $stderr == "cdm-tlsa: port 70000 is not from 1 to 65535"* ]] || false
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 -pass pass:secret -out "$BATS_TEST_TMPDIR/enc.key" 2>/dev/null
    run --separate-stderr -65 cdm-tlsa --key "$BATS_TEST_TMPDIR/enc.key" --host h.test --port 1
    [[ $stderr == *"enc.key"*"encrypted"* ]] || false
    head -c 1048576 /dev/zero | tr '\0' 'A' > "$BATS_TEST_TMPDIR/line.pem"
    run --separate-stderr -65 cdm-tlsa --cert "$BATS_TEST_TMPDIR/line.pem" --host h.test --port 1
    [[ $stderr == *"line.pem"* ]] || false
    run --separate-stderr -66 cdm-tlsa --cert "$BATS_TEST_TMPDIR/missing.pem" --host h.test --port 1
    run --separate-stderr -64 cdm-tlsa --cert "$d/fullchain.pem" --key "$d/leaf.key" --host h.test
    [[ $stderr == "cdm-tlsa: give exactly one of --cert, --key and --csr"* ]] || false
}

@test "a 512-bit RSA key is refused" {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out "$BATS_TEST_TMPDIR/weak.key" 2>/dev/null
    run --separate-stderr -65 cdm-tlsa --key "$BATS_TEST_TMPDIR/weak.key" --host h.test --port 1
    [[ $stderr == *"weak.key: an RSA key of 512 bits is too weak"* ]] || false
    assert_output ""
}
