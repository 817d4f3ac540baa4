#!/usr/bin/env bats
# cdm-tlsa check against live servers: TLSA records published in the test BIND (signed),
# read through the validating unbound or validated by cdm against the trust anchor, and a
# TLS server with an RSA and an ECDSA certificate, plain and behind STARTTLS.

load test_helper
load chain_helper
load testbed

F="$CDM_SOURCE_DIR/tests/cli/fixtures/cdm-tlsa"

# Start tls-server.py with the given protocol; prints its port.
start_server() {
    portfile="$BATS_FILE_TMPDIR/port-$1"
    python3 "$F/tls-server.py" "$portfile" --proto "$1" \
        --cert "$BATS_FILE_TMPDIR/rsa/chain.pem" "$BATS_FILE_TMPDIR/rsa/leaf.key" \
        --cert "$BATS_FILE_TMPDIR/ec/chain.pem" "$BATS_FILE_TMPDIR/ec/leaf.key" \
        >"$BATS_FILE_TMPDIR/server-$1.log" 2>&1 3>&- &
    echo $! >> "$BATS_FILE_TMPDIR/server.pids"
    for _ in $(seq 100); do
        [ -s "$portfile" ] && break
        sleep 0.05
    done
    cat "$portfile"
}

setup_file() {
    testbed_setup_file
    make_chain "$BATS_FILE_TMPDIR/rsa" rsa
    make_chain "$BATS_FILE_TMPDIR/ec" p256
    export SMTP_PORT IMAP_PORT POP3_PORT LMTP_PORT PLAIN_PORT
    SMTP_PORT=$(start_server smtp)
    IMAP_PORT=$(start_server imap)
    POP3_PORT=$(start_server pop3)
    LMTP_PORT=$(start_server lmtp)
    PLAIN_PORT=$(start_server none)
    # A server whose certificate matches none of the records published for its port.
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$BATS_FILE_TMPDIR/other.key" \
        -out "$BATS_FILE_TMPDIR/other.pem" -days 30 -subj /CN=mail.example.test 2>/dev/null
    python3 "$F/tls-server.py" "$BATS_FILE_TMPDIR/port-other" \
        --cert "$BATS_FILE_TMPDIR/other.pem" "$BATS_FILE_TMPDIR/other.key" \
        >"$BATS_FILE_TMPDIR/server-other.log" 2>&1 3>&- &
    echo $! >> "$BATS_FILE_TMPDIR/server.pids"
    for _ in $(seq 100); do
        [ -s "$BATS_FILE_TMPDIR/port-other" ] && break
        sleep 0.05
    done
    export OTHER_PORT
    OTHER_PORT=$(cat "$BATS_FILE_TMPDIR/port-other")
    rsa311=$(cdm-tlsa --cert "$BATS_FILE_TMPDIR/rsa/chain.pem" --host x --format rdata)
    ec201=$(cdm-tlsa --cert "$BATS_FILE_TMPDIR/ec/chain.pem" --host x --params 2:0:1 --format rdata)
    export RSA311="$rsa311" EC201="$ec201"
    {
        echo "update add mail.example.test. 60 A 127.0.0.1"
        [ "$TB_HAVE_V6" = 1 ] && echo "update add mail.example.test. 60 AAAA ::1"
        for port in "$SMTP_PORT" "$IMAP_PORT" "$POP3_PORT" "$LMTP_PORT" "$PLAIN_PORT" "$OTHER_PORT"; do
            echo "update add _$port._tcp.mail.example.test. 60 TLSA $rsa311"
            echo "update add _$port._tcp.mail.example.test. 60 TLSA $ec201"
        done
        echo "update add _1._tcp.mail.example.test. 60 TLSA 3 1 1 $(printf '0%.0s' $(seq 64))"
    } | tb_nsupdate -k "$TB_TSIG_KEY"
}

teardown_file() {
    if [ -f "$BATS_FILE_TMPDIR/server.pids" ]; then
        xargs kill < "$BATS_FILE_TMPDIR/server.pids" 2>/dev/null || true
    fi
    testbed_teardown_file
}

setup() { testbed_setup; }

resolver() { echo "$TB_RESOLVER:$TB_RESOLVER_PORT"; }

@test "STARTTLS smtp: both certificates, every address, secure through the validating resolver" {
    run -0 cdm-tlsa check mail.example.test "$SMTP_PORT" --starttls smtp --resolver "$(resolver)"
    assert_line --index 0 "_${SMTP_PORT}._tcp.mail.example.test. TLSA: 2 record(s), secure"
    assert_line --regexp '^127\.0\.0\.1 rsa: RSA 2048, CN=mail\.example\.test$'
    assert_line --regexp '^127\.0\.0\.1 ecdsa: ECDSA P-256, CN=mail\.example\.test$'
    assert_line --partial "  match    3 1 1 "
    assert_line --partial "  match    2 0 1 "
    assert_line "OK"
    if [ "$TB_HAVE_V6" = 1 ]; then
        assert_line --regexp '^::1 rsa: RSA 2048'
    fi
}

@test "the RSA record matches only the RSA certificate, the DANE-TA record only the ECDSA chain" {
    run -0 cdm-tlsa check mail.example.test "$SMTP_PORT" --starttls smtp --resolver "$(resolver)" \
        --address 127.0.0.1 --format json
    echo "$output" | jq -e '.ok and (.probes | length) == 2'
    # the DNS returns the records in any order: pick them by their parameters
    verdict='def v($f; $p): [.probes[] | select(.family == $f) | .records[] | select(.record | startswith($p)) | .matches];'
    echo "$output" | jq -e "$verdict"' v("rsa"; "3 1 1") == [true] and v("rsa"; "2 0 1") == [false]'
    echo "$output" | jq -e "$verdict"' v("ecdsa"; "3 1 1") == [false] and v("ecdsa"; "2 0 1") == [true]'
}

@test "validated by cdm itself against the trust anchor, asking the authoritative server" {
    run -0 cdm-tlsa check mail.example.test "$PLAIN_PORT" --resolver "$TB_NS_ADDR:$TB_NS_PORT" \
        --trust-anchor "$TB_TRUST_ANCHOR" --address 127.0.0.1
    assert_line --index 0 --partial "2 record(s), secure"
}

@test "without AD bit or trust anchor the answer is insecure and the check fails" {
    run -1 cdm-tlsa check mail.example.test "$PLAIN_PORT" --resolver "$TB_NS_ADDR:$TB_NS_PORT" --address 127.0.0.1
    assert_line --index 0 --partial "insecure (the resolver did not set the AD bit)"
    assert_line "FAILED"
}

@test "a wrong trust anchor is bogus" {
    sed 's/ [0-9A-Fa-f]*$/ 0000000000000000000000000000000000000000000000000000000000000000/' "$TB_TRUST_ANCHOR" > "$BATS_TEST_TMPDIR/wrong.ds"
    run -1 cdm-tlsa check mail.example.test "$PLAIN_PORT" --resolver "$TB_NS_ADDR:$TB_NS_PORT" \
        --trust-anchor "$BATS_TEST_TMPDIR/wrong.ds" --address 127.0.0.1
    assert_line --index 0 --partial "bogus"
}

@test "STARTTLS imap, pop3, lmtp and submission" {
    run -0 cdm-tlsa check mail.example.test "$IMAP_PORT" --starttls imap --resolver "$(resolver)" --address 127.0.0.1
    assert_line "OK"
    run -0 cdm-tlsa check mail.example.test "$POP3_PORT" --starttls pop3 --resolver "$(resolver)" --address 127.0.0.1
    assert_line "OK"
    run -0 cdm-tlsa check mail.example.test "$LMTP_PORT" --starttls lmtp --resolver "$(resolver)" --address 127.0.0.1
    assert_line "OK"
    run -0 cdm-tlsa check mail.example.test "$SMTP_PORT" --starttls submission --resolver "$(resolver)" --address 127.0.0.1
    assert_line "OK"
}

@test "the wrong STARTTLS dialogue is an error naming what the server said" {
    run -69 cdm-tlsa check mail.example.test "$POP3_PORT" --starttls imap --resolver "$(resolver)" --address 127.0.0.1 --timeout 3
    assert_line --partial "STARTTLS: expected '* OK', the server said '+OK test'"
}

@test "records that match nothing fail with exit 1" {
    run -1 cdm-tlsa check mail.example.test "$OTHER_PORT" --resolver "$(resolver)" --address 127.0.0.1
    assert_line --index 0 --partial "2 record(s), secure"
    assert_line --partial "  no match 3 1 1 "
    assert_line --partial "  no match 2 0 1 "
    assert_line "FAILED"
}

@test "nobody listening: exit 69" {
    run -69 cdm-tlsa check mail.example.test 1 --resolver "$(resolver)" --address 127.0.0.1 --timeout 2
    assert_line --partial "error: 127.0.0.1 port 1: unable to connect"
}
