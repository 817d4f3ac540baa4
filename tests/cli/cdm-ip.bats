#!/usr/bin/env bats
# cdm-ip against real HTTP(S) servers on loopback (tests/cli/fixtures/ip-echo.py, one route per
# kind of answer), the loopback interface, real programs for command: sources, and the
# testbed's BIND: a failed detection leaves the zone's A record alone.

load test_helper
load testbed

# ip-echo.py ROUTE...: start one server (plain HTTP, or HTTPS with TLS=1 in the environment)
# and print its base URL; its PID goes to $BATS_FILE_TMPDIR/pids.
start_echo() {
    local dir="$BATS_FILE_TMPDIR/$1" scheme=http tls=()
    shift
    mkdir -p "$dir"
    if [ -n "${TLS:-}" ]; then
        scheme=https
        tls=(--tls-cert "$BATS_FILE_TMPDIR/ca/leaf.pem" --tls-key "$BATS_FILE_TMPDIR/ca/leaf.key")
    fi
    python3 "$FIXTURES/ip-echo.py" --port-file "$dir/port" --log "$dir/requests" "${tls[@]}" "$@" \
        </dev/null >"$dir/out" 2>&1 3>&- &
    echo $! >>"$BATS_FILE_TMPDIR/pids"
    tb_wait_for 10 test -s "$dir/port" || { cat "$dir/out" >&2; return 1; }
    echo "$scheme://127.0.0.1:$(<"$dir/port")"
}

# A CA and a certificate for 127.0.0.1 that only the bundle $BATS_FILE_TMPDIR/ca/ca.pem trusts.
make_ca() {
    local d="$BATS_FILE_TMPDIR/ca"
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 2 -subj '/CN=cdm-ip test CA'
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
            -subj /CN=127.0.0.1
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile leaf.ext -out leaf.pem
    ) >"$d/log" 2>&1 || { cat "$d/log" >&2; return 1; }
}

setup_file() {
    export TB_WITH_NGINX=no
    make_ca
    ECHO=$(start_echo plain '/v4=127.0.0.7' '/v4nl=198.51.100.20\r\n' '/v6=2001:DB8:0:0::7' \
        '/broken=!500' '/slow=!hang' '/html=<html><body>Your IP is 192.0.2.1</body></html>' \
        '/garbage=1.2.3.4.5' '/v6forv4=2001:db8::7' '/lines=192.0.2.1\n192.0.2.2\n' '/empty=' \
        '/moved=!301')
    ECHO_TLS=$(TLS=1 start_echo tls '/v4=203.0.113.9')
    export ECHO ECHO_TLS
    testbed_setup_file
}

teardown_file() {
    local pid
    if [ -r "$BATS_FILE_TMPDIR/pids" ]; then
        while read -r pid; do tb_stop_pid "$pid"; done <"$BATS_FILE_TMPDIR/pids"
    fi
    testbed_teardown_file
}

setup() {
    S=$BATS_TEST_TMPDIR
    : >"$BATS_FILE_TMPDIR/plain/requests"
}

# config [LINES...]: $S/cdm.conf with two domains asking for addresses, plus LINES at the end.
config() {
    {
        printf '[domain:www.example.test]\nip4 = auto\nip6 = auto\nmx = mail.example.test:10\n\n'
        printf '[domain:shop.example.test]\nip4 = auto, 192.0.2.33\n\n'
        printf '%s\n' "$@"
    } >"$S/cdm.conf"
    cdm-config "$S/cdm.conf" >"$S/in.json"
}

@test "--help names the sources, --version the program" {
    run -0 cdm-ip --help
    assert_output --partial 'usage: cdm-ip [options] < document > document'
    assert_output --partial '--ip4-source'
    assert_output --partial 'interface:NAME'
    run -0 cdm-ip --version
    assert_output --regexp '^cdm-ip '
}

@test "usage errors exit 64 and name the option" {
    run -64 --separate-stderr cdm-ip --print 5
    [[ $stderr == *print* ]] || fail "$stderr"
    run -64 --separate-stderr cdm-ip --print 4 --ip4-source ftp://127.0.0.1/
    [[ $stderr == *"--ip4-source: source 'ftp://127.0.0.1/' is none of https://"* ]] || fail "$stderr"
    run -64 --separate-stderr cdm-ip --print 4 --timeout 0
    [[ $stderr == *"--timeout: iptimeout '0' is not a number of seconds from 1 to 300"* ]] || fail "$stderr"
    run -66 --separate-stderr cdm-ip --print 4 --cabundle "$S/none.pem" --ip4-source "$ECHO_TLS/v4"
    [[ $stderr == *"unable to read the CA bundle '$S/none.pem'"* ]] || fail "$stderr"
}

@test "the document round trip: placeholders filled, everything else as it was" {
    config
    run -0 --separate-stderr cdm-ip --ip4-source "$ECHO/v4" --ip6-source "$ECHO/v6" <"$S/in.json"
    echo "$output" >"$S/out.json"
    # What cdm-ip may change: the placeholders' data, auto -> detected, two report entries.
    jq -S --arg src4 "$ECHO/v4" --arg src6 "$ECHO/v6" '
        .records |= map(if .auto == "ip4" then .data = "127.0.0.7" | .detected = $src4 | del(.auto)
                        elif .auto == "ip6" then .data = "2001:db8::7" | .detected = $src6 | del(.auto)
                        else . end)
        | .report += [{"program": "cdm-ip", "event": "detected", "family": "ip4", "address": "127.0.0.7",
                       "source": $src4, "records": 2},
                      {"program": "cdm-ip", "event": "detected", "family": "ip6", "address": "2001:db8::7",
                       "source": $src6, "records": 1}]' "$S/in.json" >"$S/expected.json"
    assert_equal "$(jq -S . "$S/out.json")" "$(cat "$S/expected.json")"
    # The literal address beside auto is untouched, the MX too.
    assert_equal "$(jq -c '[.records[] | select(.name == "shop.example.test.") | .data]' "$S/out.json")" \
        '["127.0.0.7","192.0.2.33"]'
    [[ $stderr == *"detected ip4 127.0.0.7 from '$ECHO/v4'"* ]] || fail "$stderr"
    # A loopback answer is used, with a warning.
    [[ $stderr == *"ip4 address 127.0.0.7 from '$ECHO/v4' is not a public address (loopback), using it anyway"* ]] ||
        fail "$stderr"
}

@test "one request per family, however many records ask" {
    config '[domain:a.example.test]' 'ip4 = auto' '[domain:b.example.test]' 'ip4 = auto'
    run -0 --separate-stderr cdm-ip --ip4-source "$ECHO/v4" --ip6-source "$ECHO/v6" <"$S/in.json"
    assert_equal "$(grep -c '^GET /v4$' "$BATS_FILE_TMPDIR/plain/requests")" 1
    assert_equal "$(jq '[.records[] | select(.detected)] | length' <<<"$output")" 5
    assert_equal "$(jq '.report[] | select(.family == "ip4") | .records' <<<"$output")" 4
}

@test "failing sources fall through to the first one that answers an address of the family" {
    config
    run -0 --separate-stderr cdm-ip --ip4-source "$ECHO/broken, $ECHO/html, $ECHO/garbage" \
        --ip4-source "$ECHO/v6forv4,$ECHO/lines,$ECHO/empty,$ECHO/moved,$ECHO/nothing,$ECHO/v4nl,$ECHO/v4" \
        --ip6-source "$ECHO/v4,interface:lo" <"$S/in.json"
    assert_equal "$(jq -r '.records[] | select(.type == "A" and .detected) | .data' <<<"$output" | sort -u)" 198.51.100.20
    assert_equal "$(jq -r '.records[] | select(.type == "AAAA" and .detected) | .data' <<<"$output")" ::1
    assert_equal "$(jq -r '.records[] | select(.type == "AAAA" and .detected) | .detected' <<<"$output")" interface:lo
    [[ $stderr == *"'$ECHO/broken': HTTP status 500, trying the next"* ]] || fail "$stderr"
    [[ $stderr == *"'$ECHO/html': answer '<html><body>Your IP is 192.0.2.1</body></html>' is not an IPv4 address"* ]] ||
        fail "$stderr"
    [[ $stderr == *"'$ECHO/garbage': answer '1.2.3.4.5' is not an IPv4 address"* ]] || fail "$stderr"
    [[ $stderr == *"'$ECHO/v6forv4': answer '2001:db8::7' is not an IPv4 address"* ]] || fail "$stderr"
    [[ $stderr == *"'$ECHO/lines': answer '192.0.2.1\\n192.0.2.2' is not an IPv4 address"* ]] || fail "$stderr"
    [[ $stderr == *"'$ECHO/empty': answer is empty"* ]] || fail "$stderr"
    [[ $stderr == *"'$ECHO/moved': HTTP status 301"* ]] || fail "$stderr"
    [[ $stderr == *"'$ECHO/nothing': HTTP status 404"* ]] || fail "$stderr"
    [[ $stderr == *"'$ECHO/v4': answer '127.0.0.7' is not an IPv6 address"* ]] || fail "$stderr"
    # In order, none after the one that answered (the last /v4 is ip6's first source).
    assert_equal "$(tr '\n' ' ' <"$BATS_FILE_TMPDIR/plain/requests")" \
        "GET /broken GET /html GET /garbage GET /v6forv4 GET /lines GET /empty GET /moved GET /nothing GET /v4nl GET /v4 "
}

@test "a source that never answers times out and the next one answers" {
    run -0 --separate-stderr cdm-ip --print 4 --timeout 1 --ip4-source "$ECHO/slow" --ip4-source "$ECHO/v4"
    assert_output 127.0.0.7
    [[ $stderr == *"'$ECHO/slow': unable to reach it: "*"imed out"*", trying the next"* ]] || fail "$stderr"
}

@test "every source fails: the placeholder stays, the failure is reported, exit 69 after the document" {
    config
    run -69 --separate-stderr cdm-ip --ip4-source "$ECHO/broken,$ECHO/garbage" --ip6-source "$ECHO/v6" <"$S/in.json"
    # The whole document was written: the A placeholders as they came, the AAAA filled.
    assert_equal "$(jq -c '[.records[] | select(.type == "A") | [.data, .auto]]' <<<"$output")" \
        '[[null,"ip4"],[null,"ip4"],["192.0.2.33",null]]'
    assert_equal "$(jq -r '.records[] | select(.type == "AAAA") | .data' <<<"$output")" 2001:db8::7
    assert_equal "$(jq -c '[.report[] | select(.event == "failed") | [.family, .name, (.errors | length)]]' <<<"$output")" \
        '[["ip4","www.example.test.",2],["ip4","shop.example.test.",2]]'
    assert_equal "$(jq -r '.report[] | select(.event == "failed") | .errors[1]' <<<"$output" | head -1)" \
        "'$ECHO/garbage': answer '1.2.3.4.5' is not an IPv4 address"
    [[ $stderr == *"no ip4 address for www.example.test.: every source failed; its A records are left as they are"* ]] ||
        fail "$stderr"
    [[ $stderr == *"cdm-ip: no address detected for ip4 www.example.test., ip4 shop.example.test."* ]] || fail "$stderr"
    # --print says why on stderr and prints nothing.
    run -69 --separate-stderr cdm-ip --print 4 --ip4-source "$ECHO/broken"
    assert_output ''
    [[ $stderr == *"cdm-ip: no IPv4 address; '$ECHO/broken': HTTP status 500"* ]] || fail "$stderr"
}

@test "interface:lo gives 127.0.0.1 and ::1; an unknown interface fails the source" {
    run -0 --separate-stderr cdm-ip --print 4 --ip4-source interface:lo
    assert_output 127.0.0.1
    run -0 --separate-stderr cdm-ip --print 6 --ip6-source interface:lo
    assert_output ::1
    run -69 --separate-stderr cdm-ip --print 4 --ip4-source interface:cdmnone0
    [[ $stderr == *"'interface:cdmnone0': no such interface 'cdmnone0'"* ]] || fail "$stderr"
}

@test "a command: source runs the program without a shell and reads its first line" {
    run -0 --separate-stderr cdm-ip --print 6 --ip6-source "command:printf '2001:DB8::5\\nsecond line\\n'"
    assert_output 2001:db8::5
    # `;` is a character of echo's argument, not a second command.
    run -69 --separate-stderr cdm-ip --print 4 --ip4-source "command:echo 192.0.2.1; touch $S/pwned"
    [[ $stderr == *"first line '192.0.2.1; touch $S/pwned' is not an IPv4 address"* ]] || fail "$stderr"
    [ ! -e "$S/pwned" ]
    run -69 --separate-stderr cdm-ip --print 4 --ip4-source "command:sh -c 'echo no route >&2; exit 2'"
    [[ $stderr == *"exit status 2: no route"* ]] || fail "$stderr"
    run -69 --separate-stderr cdm-ip --print 4 --ip4-source command:cdm-no-such-program
    [[ $stderr == *"unable to run 'cdm-no-such-program': No such file or directory"* ]] || fail "$stderr"
}

@test "https sources are verified: an unknown CA fails, --cabundle trusts it" {
    run -69 --separate-stderr cdm-ip --print 4 --ip4-source "$ECHO_TLS/v4"
    [[ $stderr == *"'$ECHO_TLS/v4': unable to reach it: "* ]] || fail "$stderr"
    run -0 --separate-stderr cdm-ip --print 4 --ip4-source "$ECHO_TLS/v4" --cabundle "$BATS_FILE_TMPDIR/ca/ca.pem"
    assert_output 203.0.113.9
}

@test "ip4detect, ip6detect and iptimeout come from the record's section, the flags replace them" {
    {
        printf '[domain]\niptimeout = 1\n\n'
        printf '[domain:www.example.test]\nip4 = auto\nip4detect = %s\nip6 = auto\nip6detect = interface:lo\n\n' \
            "$ECHO/slow, $ECHO/v4"
        printf '[domain:shop.example.test]\nip4 = auto, 192.0.2.33\nip4detect = command:echo 192.0.2.44\n'
    } >"$S/cdm.conf"
    run -0 --separate-stderr cdm-config "$S/cdm.conf"
    [ -z "$stderr" ] || fail "cdm-config warned: $stderr"
    printf '%s\n' "$output" >"$S/keys.json"
    run -0 --separate-stderr cdm-ip <"$S/keys.json"
    # Each section its own list; the hanging source cut off by [domain] iptimeout = 1.
    assert_equal "$(jq -c '[.records[] | select(.detected) | [.name, .type, .data]]' <<<"$output")" \
        '[["www.example.test.","A","127.0.0.7"],["www.example.test.","AAAA","::1"],["shop.example.test.","A","192.0.2.44"]]'
    [[ $stderr == *"'$ECHO/slow': unable to reach it: "* ]] || fail "$stderr"
    # --ip4-source replaces both sections' ip4detect; ip6detect stays.
    run -0 --separate-stderr cdm-ip --ip4-source "command:echo 192.0.2.45" <"$S/keys.json"
    assert_equal "$(jq -c '[.records[] | select(.detected) | .data]' <<<"$output")" \
        '["192.0.2.45","::1","192.0.2.45"]'
    # A mistake in a key names where it was set, and no document is written.
    sed -i 's|^ip4detect = .*slow.*|ip4detect = ipv4.icanhazip.com|' "$S/cdm.conf"
    cdm-config "$S/cdm.conf" >"$S/bad.json"
    run -78 --separate-stderr cdm-ip <"$S/bad.json"
    [[ $stderr == *"cdm-ip: $S/cdm.conf:6: source 'ipv4.icanhazip.com' is none of"* ]] || fail "$stderr"
    assert_output ''
    config '[domain]' 'iptimeout = 4s'
    run -78 --separate-stderr cdm-ip <"$S/in.json"
    [[ $stderr == *"cdm-ip: $S/cdm.conf:10: iptimeout '4s' is not a number of seconds from 1 to 300"* ]] || fail "$stderr"
}

@test "against BIND: ip4 = auto whose detection fails keeps the zone's A record" {
    testbed_setup
    local opts=(--resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --verify
        --verify-server "$TB_NS_ADDR:$TB_NS_PORT" --verify-server "$TB_NS2_ADDR:$TB_NS2_PORT")
    tb_nsupdate -k "$TB_TSIG_KEY" <<<'update add keep.example.test. 300 IN A 192.0.2.50'
    {
        printf '[domain]\nhandler = rfc2136\nserver = %s\nport = %s\nkeyfile = %s\n\n' \
            "$TB_NS_ADDR" "$TB_NS_PORT" "$TB_TSIG_KEY"
        printf '[domain:keep.example.test]\nip4 = auto\nttl = 300\n'
    } >"$S/cdm.conf"
    cdm-config "$S/cdm.conf" >"$S/in.json"

    run -69 --separate-stderr cdm-ip --ip4-source "$ECHO/broken" <"$S/in.json"
    echo "$output" >"$S/ip.json"
    run -0 --separate-stderr cdm-dns-apply "${opts[@]}" <"$S/ip.json"
    [[ $stderr == *"'auto' (ip4) was not filled in; the zone's A records are left alone"* ]] || fail "$stderr"
    assert_equal "$(tb_dig +short keep.example.test A)" 192.0.2.50
    assert_equal "$(tb_dig2 +short keep.example.test A)" 192.0.2.50

    # The same pipe with a source that answers replaces the record.
    run -0 --separate-stderr cdm-ip --ip4-source "$ECHO/v4" <"$S/in.json"
    echo "$output" >"$S/ip.json"
    run -0 --separate-stderr cdm-dns-apply "${opts[@]}" <"$S/ip.json"
    assert_equal "$(tb_dig +short keep.example.test A)" 127.0.0.7
    assert_equal "$(tb_dig2 +short keep.example.test A)" 127.0.0.7
}
