#!/usr/bin/env bats
# cdm-dns-apply with the inwx provider (handler inwx, dnsuptools/inwx) against
# fixtures/inwx-standin.py: a local stand-in that follows INWX's publicly documented DomRobot
# JSON-RPC API (it is not INWX's code). Each test starts its own stand-in on 127.0.0.1 with an
# empty example.test, which logs every call, so the tests count the calls cdm makes and read
# the records back as INWX would hold them. Cases: every record type in INWX's fields,
# idempotence, a scope-limited TLSA replace, `none`, a TTL change, a wrong password, transient
# 2400s retried (and the bound), a record INWX rejects, two-factor login, a stopped server,
# plain http refused, and the original's configuration form. Needs python3 and jq.

load test_helper

STANDIN="$FIXTURES/inwx-standin.py"

# Start the stand-in with example.test (more stand-in options follow); sets PORT and SDIR.
start_standin() {
    SDIR="$BATS_TEST_TMPDIR/standin"
    mkdir -p "$SDIR"
    rm -f "$SDIR/port"
    python3 "$STANDIN" --port-file "$SDIR/port" --log "$SDIR/calls" --control "$SDIR/control" \
        --domain example.test "$@" >/dev/null 3>&- &
    STANDIN_PID=$!
    local i
    for i in $(seq 100); do
        [ -s "$SDIR/port" ] && break
        sleep 0.1
    done
    PORT=$(<"$SDIR/port")
    URL="http://127.0.0.1:$PORT/jsonrpc/"
    printf 'test-password\n' >"$BATS_TEST_TMPDIR/passwd"
}

stop_standin() {
    if [ -n "${STANDIN_PID:-}" ]; then
        kill "$STANDIN_PID" 2>/dev/null || true
        wait "$STANDIN_PID" 2>/dev/null || true
        STANDIN_PID=
    fi
}

setup() { start_standin; }
teardown() { stop_standin; }

# cdm-dns-apply for example.test through the stand-in; more options follow. Zone lines on stdin.
apply() {
    cdm-dns-apply --zone example.test --handler inwx --set user=testuser \
        --set passwd_file="$BATS_TEST_TMPDIR/passwd" --set api_url="$URL" --set retry_wait_ms=20 "$@"
}

# What the stand-in holds for example.test, as INWX's fields: "name ttl type prio content",
# sorted, without the SOA.
held() {
    python3 - "http://127.0.0.1:$PORT/standin/dump" <<'PY'
import json, sys, urllib.request
zone = json.load(urllib.request.urlopen(sys.argv[1]))["example.test"]
for r in sorted(zone["records"], key=lambda r: (r["name"], r["type"], r["content"])):
    if r["type"] != "SOA":
        print(r["name"], r["ttl"], r["type"], r["prio"], r["content"])
PY
}

# How many calls of METHOD the stand-in saw (all of them, or those answered CODE).
ncalls() {
    if [ $# -gt 1 ]; then
        jq -c "select(.method == \"$1\" and .code == $2)" "$SDIR/calls" | wc -l
    else
        jq -c "select(.method == \"$1\")" "$SDIR/calls" | wc -l
    fi
}

# The cdm-dns-apply entry of the report in $output.
report() { jq -c '.report[] | select(.program == "cdm-dns-apply")' <<<"$output"; }

# $2 times the character $1.
hex() { printf "%$2s" '' | tr ' ' "$1"; }

@test "every record type reaches INWX in its fields: prio apart, no final dots, TXT as bare text" {
    local dkim hash
    dkim=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
        openssl pkey -pubout -outform DER | base64 -w0)
    hash=$(hex a 64)
    run -0 --separate-stderr apply -v -v <<EOF
t1.example.test. 300 IN A 192.0.2.1
t1.example.test. 300 IN AAAA 2001:DB8::1
t1.example.test. 300 IN MX 10 mx1.example.test.
t1.example.test. 300 IN MX 20 MX2.example.test.
alias.example.test. 300 IN CNAME t1.example.test.
sub.example.test. 300 IN NS ns1.example.net.
_imap._tcp.t1.example.test. 300 IN SRV 0 5 143 mail.example.test.
t1.example.test. 300 IN CAA 0 issue "letsencrypt.org; validationmethods=dns-01"
t1.example.test. 300 IN CAA 128 iodef "mailto:security@example.test"
key._domainkey.t1.example.test. 300 IN TXT "v=DKIM1; k=rsa; " "p=$dkim"
_443._tcp.t1.example.test. 300 IN TLSA 3 1 1 $hash
EOF
    assert_equal "$(held)" "_443._tcp.t1.example.test 300 TLSA 0 3 1 1 $hash
_imap._tcp.t1.example.test 300 SRV 0 5 143 mail.example.test
alias.example.test 300 CNAME 0 t1.example.test
key._domainkey.t1.example.test 300 TXT 0 v=DKIM1; k=rsa; p=$dkim
sub.example.test 300 NS 0 ns1.example.net
t1.example.test 300 A 0 192.0.2.1
t1.example.test 300 AAAA 0 2001:db8::1
t1.example.test 300 CAA 0 0 issue \"letsencrypt.org; validationmethods=dns-01\"
t1.example.test 300 CAA 0 128 iodef \"mailto:security@example.test\"
t1.example.test 300 MX 10 mx1.example.test
t1.example.test 300 MX 20 mx2.example.test"
    # One login, one nameserver.info to read, one to re-read before changing, a createRecord
    # per record, one nameserver.info for the new serial, one logout.
    [ "$(ncalls account.login)" = 1 ]
    [ "$(ncalls nameserver.createRecord 1000)" = 11 ]
    [ "$(ncalls nameserver.info)" = 3 ]
    [ "$(ncalls account.logout)" = 1 ]
    local r
    r=$(report)
    [ "$(jq -r .changed <<<"$r")" = true ]
    [ "$(jq -r .messages <<<"$r")" = 13 ]
    [ "$(jq -r .serial <<<"$r")" = 2024010111 ]
    [ "$(jq '[.records[] | select(.action == "add")] | length' <<<"$r")" = 11 ]
    [[ "$stderr" == *"add (new) DKIM for key._domainkey.t1.example.test : v=DKIM1; k=rsa; p=$dkim"* ]]
    # The password is in no log line, not even at debug level, nor in the stand-in's log.
    [[ "$stderr" != *test-password* ]] || fail "the password is in the log"
    [[ "$(<"$SDIR/calls")" != *test-password* ]]
    [[ "$stderr" == *'inwx: nameserver.createRecord {"name":"t1.example.test","type":"MX","content":"mx1.example.test","ttl":300,"prio":10,"domain":"example.test"} -> 1000'* ]]
}

@test "a second run changes nothing: add (exists), and no createRecord call" {
    printf '%s\n' 'idem.example.test. 600 IN A 192.0.2.21' 'idem.example.test. 600 IN TXT "same"' \
        'idem.example.test. 600 IN CAA 0 issue "ca.test"' 'idem.example.test. 600 IN MX 5 mx.example.test.' \
        >"$BATS_TEST_TMPDIR/in"
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    [ "$(jq -r .changed <<<"$(report)")" = true ]
    [ "$(ncalls nameserver.createRecord)" = 4 ]
    local before
    before=$(held)
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    [ "$(jq -r .changed <<<"$(report)")" = false ]
    assert_equal "$(jq -r '[.records[].action] | unique | join(" ")' <<<"$(report)")" exists
    [[ "$stderr" == *"add (exists) A for idem.example.test : 192.0.2.21"* ]]
    [[ "$stderr" == *"add (exists) TXT for idem.example.test : same"* ]]
    [[ "$stderr" == *'add (exists) CAA for idem.example.test : 0 issue "ca.test"'* ]]
    [[ "$stderr" == *"add (exists) MX for idem.example.test : mx.example.test"* ]]
    [[ "$stderr" != *"add (new)"* ]]
    # The second run only read: no create, update or delete, and the same records.
    [ "$(ncalls nameserver.createRecord)" = 4 ]
    [ "$(ncalls nameserver.updateRecord)" = 0 ]
    [ "$(ncalls nameserver.deleteRecord)" = 0 ]
    [ "$(jq -r .messages <<<"$(report)")" = 0 ]
    assert_equal "$(held)" "$before"
}

@test "a tcp/443 TLSA is replaced, new before old, while tcp/25 and *._tcp stay" {
    local a b c d
    a=$(hex a 64) b=$(hex b 64) c=$(hex c 64) d=$(hex d 64)
    run -0 --separate-stderr apply <<EOF
_25._tcp.mx.example.test. 300 IN TLSA 3 1 1 $c
*._tcp.mx.example.test. 300 IN TLSA 3 1 1 $d
_443._tcp.mx.example.test. 300 IN TLSA 3 1 1 $a
EOF
    local mark
    mark=$(wc -l <"$SDIR/calls")
    run -0 --separate-stderr apply --format text <<<"_443._tcp.mx.example.test. 300 IN TLSA 3 1 1 $b"
    assert_equal "$output" "add (new) TLSA for _443._tcp.mx.example.test : 3 1 1 $b
delete TLSA for _443._tcp.mx.example.test : 3 1 1 $a"
    assert_equal "$(held)" "*._tcp.mx.example.test 300 TLSA 0 3 1 1 $d
_25._tcp.mx.example.test 300 TLSA 0 3 1 1 $c
_443._tcp.mx.example.test 300 TLSA 0 3 1 1 $b"
    # Make before break: the new record is created before the old one is deleted by its id.
    run -0 jq -r .method <(tail -n +"$((mark + 1))" "$SDIR/calls")
    assert_equal "$output" "account.login
nameserver.info
nameserver.info
nameserver.createRecord
nameserver.deleteRecord
nameserver.info
account.logout"
}

@test "none (or no data) deletes the RRset by its ids; the name's other RRsets stay" {
    run -0 --separate-stderr apply <<'EOF'
gone.example.test. 300 IN TXT "to be deleted"
gone.example.test. 300 IN TXT "this one too"
gone.example.test. 300 IN A 192.0.2.31
EOF
    run -0 --separate-stderr apply --format text <<<'gone.example.test. TXT'
    assert_line 'delete TXT for gone.example.test : to be deleted'
    assert_line 'delete TXT for gone.example.test : this one too'
    assert_equal "${#lines[@]}" 2
    [ "$(ncalls nameserver.deleteRecord 1000)" = 2 ]
    assert_equal "$(held)" "gone.example.test 300 A 0 192.0.2.31"
    run -0 --separate-stderr apply --format text <<<'gone.example.test. A none'
    assert_output 'delete A for gone.example.test : 192.0.2.31'
    assert_equal "$(held)" ""
}

@test "a TTL change is one updateRecord a record, keeping its id" {
    run -0 --separate-stderr apply <<<'ttl.example.test. 300 IN A 192.0.2.41'
    run -0 --separate-stderr apply --format text <<<'ttl.example.test. 900 IN A 192.0.2.41'
    assert_output 'update TTL of A for ttl.example.test : 192.0.2.41 (TTL 300 -> 900)'
    [ "$(ncalls nameserver.updateRecord 1000)" = 1 ]
    [ "$(ncalls nameserver.createRecord)" = 1 ]
    [ "$(ncalls nameserver.deleteRecord)" = 0 ]
    assert_equal "$(held)" "ttl.example.test 900 A 0 192.0.2.41"
}

@test "--dry-run logs in, reads, and changes nothing" {
    run -0 --separate-stderr apply --dry-run --format text <<<'dry.example.test. 300 IN A 192.0.2.51'
    assert_output 'would add (new) A for dry.example.test : 192.0.2.51'
    [ "$(ncalls nameserver.createRecord)" = 0 ]
    assert_equal "$(held)" ""
}

@test "a wrong password: exit 77 naming user and endpoint, never a password, nothing changed" {
    printf 'not-the-password\n' >"$BATS_TEST_TMPDIR/passwd"
    run -77 --separate-stderr apply <<<'www.example.test. 300 IN A 192.0.2.1'
    [[ "$stderr" == *"login as 'testuser' at '$URL' failed: INWX code 2200 'Authentication error'"* ]]
    [[ "$stderr" != *not-the-password* ]]
    [[ "$(<"$SDIR/calls")" != *not-the-password* ]]
    [ "$(ncalls account.login 2200)" = 1 ]
    [ "$(ncalls nameserver.info)" = 0 ]
    assert_equal "$(held)" ""
}

@test "transient 2400s are retried with backoff and the change converges" {
    printf '{"fail": 3, "code": 2400}\n' >"$SDIR/control"
    run -0 --separate-stderr apply --format text <<<'retry.example.test. 300 IN A 192.0.2.61'
    assert_output 'add (new) A for retry.example.test : 192.0.2.61'
    [[ "$stderr" == *"INWX answered account.login with code 2400 'Command failed', trying again in 20 ms (retry 1 of 5)"* ]]
    [[ "$stderr" == *"trying again in 80 ms (retry 3 of 5)"* ]]
    [ "$(ncalls account.login 2400)" = 3 ]
    [ "$(ncalls account.login 1000)" = 1 ]
    assert_equal "$(held)" "retry.example.test 300 A 0 192.0.2.61"

    # In the middle of a change, too: the createRecord answered 2400 twice is sent again.
    printf '{"fail": 2, "code": 2400, "method": "nameserver.createRecord"}\n' >"$SDIR/control"
    run -0 --separate-stderr apply --format text <<'EOF'
retry.example.test. 300 IN A 192.0.2.61
retry.example.test. 300 IN A 192.0.2.62
EOF
    assert_output 'add (exists) A for retry.example.test : 192.0.2.61
add (new) A for retry.example.test : 192.0.2.62'
    [[ "$stderr" == *"INWX answered nameserver.createRecord with code 2400 'Command failed', trying again in 40 ms (retry 2 of 5)"* ]]
    [ "$(ncalls nameserver.createRecord 2400)" = 2 ]
    [ "$(ncalls nameserver.createRecord 1000)" = 2 ]
    assert_equal "$(held)" "retry.example.test 300 A 0 192.0.2.61
retry.example.test 300 A 0 192.0.2.62"
}

@test "a 2400 that does not go away: exit 69 after the bounded retries, saying how many" {
    run -0 --separate-stderr apply <<<'bound.example.test. 300 IN A 192.0.2.71'
    printf '{"fail": 100, "code": 2502}\n' >"$SDIR/control"
    run -69 --separate-stderr apply --set retries=2 <<<'bound.example.test. 300 IN A 192.0.2.72'
    [[ "$stderr" == *"INWX code 2502 'Session limit exceeded; server closing connection' (still after 2 retries)"* ]]
    [ "$(ncalls account.login 2502)" = 3 ]
    assert_equal "$(held)" "bound.example.test 300 A 0 192.0.2.71"
}

@test "a record INWX rejects is exit 65 naming it, with what was applied; a rerun converges" {
    run -65 --separate-stderr apply <<'EOF'
a-ok.example.test. 300 IN A 192.0.2.81
b-low.example.test. 60 IN A 192.0.2.82
EOF
    [[ "$stderr" == *"nameserver.createRecord of 'b-low.example.test. A 192.0.2.82' at '$URL' failed: INWX code 2004 'Parameter value range error: ttl below 300'; applied 1 of 2 RRsets"* ]]
    assert_equal "$(held)" "a-ok.example.test 300 A 0 192.0.2.81"
    run -0 --separate-stderr apply --format text <<'EOF'
a-ok.example.test. 300 IN A 192.0.2.81
b-low.example.test. 300 IN A 192.0.2.82
EOF
    assert_output "add (exists) A for a-ok.example.test : 192.0.2.81
add (new) A for b-low.example.test : 192.0.2.82"
}

@test "TXT text INWX would change ('\"', '\\') is refused before any change (65)" {
    run -65 --separate-stderr apply <<'EOF'
a-fine.example.test. 300 IN TXT "fine"
b-quote.example.test. 300 IN TXT "say \"hi\""
EOF
    [[ "$stderr" == *"INWX cannot hold 'b-quote.example.test. TXT \"say \\\"hi\\\"\"': it changes"* ]]
    [ "$(ncalls nameserver.createRecord)" = 0 ]
    assert_equal "$(held)" ""
}

@test "two-factor login: account.unlock with the TOTP of tfa_secret_file" {
    stop_standin
    start_standin --tfa-secret JBSWY3DPEHPK3PXP
    printf 'jbsw y3dp ehpk 3pxp\n' >"$BATS_TEST_TMPDIR/tfa"
    run -0 --separate-stderr apply --set tfa_secret_file="$BATS_TEST_TMPDIR/tfa" --format text \
        <<<'tfa.example.test. 300 IN A 192.0.2.91'
    assert_output 'add (new) A for tfa.example.test : 192.0.2.91'
    [ "$(ncalls account.unlock 1000)" = 1 ]
    assert_equal "$(held)" "tfa.example.test 300 A 0 192.0.2.91"
    [[ "$(<"$SDIR/calls")" != *JBSWY3DP* ]]

    run -77 --separate-stderr apply <<<'tfa.example.test. 300 IN A 192.0.2.92'
    [[ "$stderr" == *"INWX account 'testuser' at '$URL' asks for a two-factor code ('GOOGLE-AUTH'): set tfa_secret_file"* ]]
    printf 'AAAAAAAAAAAAAAAA\n' >"$BATS_TEST_TMPDIR/tfa"
    run -77 --separate-stderr apply --set tfa_secret_file="$BATS_TEST_TMPDIR/tfa" <<<'tfa.example.test. 300 IN A 192.0.2.92'
    [[ "$stderr" == *"two-factor unlock of 'testuser' with tfa_secret at '$URL' failed: INWX code 2200"* ]]
    assert_equal "$(held)" "tfa.example.test 300 A 0 192.0.2.91"
}

@test "the stand-in stopped: exit 69, naming the endpoint" {
    stop_standin
    run -69 --separate-stderr apply <<<'www.example.test. 300 IN A 192.0.2.1'
    [[ "$stderr" == *"unable to reach INWX at '$URL'"* ]]
}

@test "https: the certificate is verified, against cabundle when given (69 when it fails)" {
    stop_standin
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=inwx-standin -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$BATS_TEST_TMPDIR/key.pem" -out "$BATS_TEST_TMPDIR/cert.pem" 2>/dev/null
    start_standin --tls-cert "$BATS_TEST_TMPDIR/cert.pem" --tls-key "$BATS_TEST_TMPDIR/key.pem"
    URL="https://127.0.0.1:$PORT/jsonrpc/"
    run -69 --separate-stderr apply <<<'tls.example.test. 300 IN A 192.0.2.101'
    [[ "$stderr" == *"unable to reach INWX at '$URL': TLS certificate verification failed"* ]]
    [ ! -s "$SDIR/calls" ]
    run -0 --separate-stderr apply --set cabundle="$BATS_TEST_TMPDIR/cert.pem" --format text \
        <<<'tls.example.test. 300 IN A 192.0.2.101'
    assert_output 'add (new) A for tls.example.test : 192.0.2.101'
    [ "$(ncalls nameserver.createRecord 1000)" = 1 ]
}

@test "plain http to a remote host is refused before any call (78)" {
    run -78 --separate-stderr apply --set api_url=http://192.0.2.1/jsonrpc/ <<<'www.example.test. 300 IN A 192.0.2.1'
    [[ "$stderr" == *"api_url 'http://192.0.2.1/jsonrpc/' is plain http to a remote host"* ]]
    run -78 --separate-stderr apply --set api_url=https://api.domrobot.com/xmlrpc/ <<<'www.example.test. 300 IN A 192.0.2.1'
    [[ "$stderr" == *"XML-RPC"* ]]
    [ ! -s "$SDIR/calls" ]
}

@test "the original's configuration: handler = dnsuptools/inwx, user and passwd in [domain]" {
    cat >"$BATS_TEST_TMPDIR/cdm.conf" <<EOF
[domain]
handler = dnsuptools/inwx
user = testuser
passwd = test-password
api_url = $URL

[domain:example.test]
ip4 = 192.0.2.7
ip6 = 2001:db8::7
mx = mail.example.test:20
caa = 0 issue letsencrypt.org
srv.imap.tcp.143 = mail.example.test:10:5
EOF
    run -0 --separate-stderr bash -c 'cdm-config "$1" | cdm-dns-apply --zone example.test --format text' _ \
        "$BATS_TEST_TMPDIR/cdm.conf"
    assert_line 'add (new) A for example.test : 192.0.2.7'
    assert_line 'add (new) AAAA for example.test : 2001:db8::7'
    assert_line 'add (new) MX for example.test : mail.example.test'
    assert_line 'add (new) CAA for example.test : 0 issue "letsencrypt.org"'
    assert_line 'add (new) SRV for _imap._tcp.example.test : 5 143 mail.example.test'
    assert_equal "${#lines[@]}" 5
    [[ "$stderr" != *test-password* ]]
    assert_equal "$(held)" "_imap._tcp.example.test 600 SRV 10 5 143 mail.example.test
example.test 600 A 0 192.0.2.7
example.test 600 AAAA 0 2001:db8::7
example.test 600 CAA 0 0 issue \"letsencrypt.org\"
example.test 600 MX 20 mail.example.test"
    # `handler = dnsuptools` alone, as cryptdomainmgr also read it, and a second run: nothing to do.
    sed -i 's|^handler = .*|handler = dnsuptools|' "$BATS_TEST_TMPDIR/cdm.conf"
    run -0 --separate-stderr bash -c 'cdm-config "$1" | cdm-dns-apply --zone example.test --format text' _ \
        "$BATS_TEST_TMPDIR/cdm.conf"
    refute_line --partial 'add (new)'
    [ "$(ncalls nameserver.createRecord)" = 5 ]
}
