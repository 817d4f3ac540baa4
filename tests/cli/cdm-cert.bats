#!/usr/bin/env bats
# cdm-cert without a CA: the verb table (--help and --version of every verb, usage errors),
# configuration errors of the phase verb naming the key's file:line, and `status` on real
# certificates made here with the openssl command (exit 0 when one is due, 1 when none is).
# The verbs that talk to a CA are tested against Pebble in cdm-cert-phase.bats and
# cdm-cert-acme.bats.

load test_helper

# The verbs this build's table has (a verb row is added when its module is in the tree).
verbs_built() { cdm-cert --help | sed -n 's/^  cdm-cert \([a-z]*\) .*/\1/p'; }

# A self-signed certificate for NAMES (comma-separated) valid DAYS days from now, in FILE.
selfsigned() {
    local file=$1 days=$2 names=$3 san="" n
    for n in ${names//,/ }; do san="${san:+$san,}DNS:$n"; done
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$file.key" \
        -out "$file" -days "$days" -subj "/CN=${names%%,*}" -addext "subjectAltName=$san" 2>/dev/null
}

# A document from a config text on standard input.
config_doc() { cat >"$BATS_TEST_TMPDIR/c.conf" && cdm-config "$BATS_TEST_TMPDIR/c.conf"; }

@test "--help lists the verbs, each verb has --help and --version" {
    run -0 cdm-cert --help
    assert_line --index 0 --regexp '^usage: cdm-cert phase\|'
    assert_output --partial "cdm-cert phase [--phase update|prepare|rollover|cleanup]"
    assert_output --partial "cdm-cert status --cert FILE..."
    local v
    for v in $(verbs_built); do
        run -0 cdm-cert "$v" --help
        assert_line --index 0 --partial "usage: cdm-cert $v"
        run -0 cdm-cert "$v" --version
        assert_output --regexp '^cdm-cert \(cdm\) [0-9.]+'
    done
    # phase and status are always there; the others as their modules land.
    verbs_built | grep -qx phase
    verbs_built | grep -qx status
    run -0 cdm-cert --version -v
    assert_output --partial "OpenSSL: "
    assert_output --partial "libcurl: "
}

@test "usage errors exit 64 with a usage line" {
    run --separate-stderr -64 cdm-cert
    assert_equal "$stderr" "cdm-cert: no command given
usage: cdm-cert $(verbs_built | paste -sd'|') [options]"
    run --separate-stderr -64 cdm-cert renew
    [[ $stderr == "cdm-cert: unknown command 'renew'"* ]] || false
    run --separate-stderr -64 cdm-cert status
    [[ $stderr == "cdm-cert: give at least one --cert FILE"* ]] || false
    run --separate-stderr -64 cdm-cert status --cert x.pem --renewbefore soon
    [[ $stderr == "cdm-cert: --renewbefore takes 1 to 3650 days, not 'soon'"* ]] || false
    run --separate-stderr -64 cdm-cert status --cert x.pem --format yaml
    [[ $stderr == "cdm-cert: --format takes text or json, not 'yaml'"* ]] || false
    run --separate-stderr -64 cdm-cert phase --phase later </dev/null
    [[ $stderr == *"--phase takes update or prepare or rollover or cleanup, not 'later'"* ]] || false
    run --separate-stderr -64 cdm-cert phase --colour
    [[ $stderr == *"unrecognised option '--colour'"* ]] || false
    run --separate-stderr -64 cdm-cert phase --dns-timeout 0 --phase prepare <<<'{"cdm": 1}'
    [[ $stderr == "cdm-cert: --dns-timeout takes 1 to 86400 seconds, not '0'"* ]] || false
    run --separate-stderr -64 cdm-cert phase <<<'{"cdm": 1}'
    [[ $stderr == "cdm-cert: no phase: give --phase or a document with \"phase\""* ]] || false
}

@test "a bad document exits 65 and a bad [cert] value 78 naming the key's file:line" {
    run --separate-stderr -65 cdm-cert phase --phase prepare <<<'{"cdm": 1,'
    [[ $stderr == "cdm-cert: <stdin>"* ]] || false

    run -0 --separate-stderr config_doc <<EOF
[cdm]
statedir = $BATS_TEST_TMPDIR/state

[cert:main]
handler = acme
keytype = dsa

[domain:www.example.test]
cert = main
EOF
    run --separate-stderr -78 cdm-cert phase --phase prepare <<<"$output"
    assert_equal "$stderr" "cdm-cert: $BATS_TEST_TMPDIR/c.conf:6: [cert:main] keytype 'dsa' is not rsa or ecdsa"
    [ ! -e "$BATS_TEST_TMPDIR/state" ]

    run -0 --separate-stderr config_doc <<EOF
[cert:main]
handler = acme
keysize = 1024

[domain:www.example.test]
cert = main
EOF
    run --separate-stderr -78 cdm-cert phase --phase prepare <<<"$output"
    assert_equal "$stderr" "cdm-cert: $BATS_TEST_TMPDIR/c.conf:3: [cert:main] keysize '1024' is not 2048, 3072 or 4096 (rsa)"

    # cdm-config refuses an unknown handler itself; a document made otherwise meets cdm-cert's check.
    run -0 --separate-stderr config_doc <<EOF
[cert:main]
handler = acme

[domain:www.example.test]
cert = main
EOF
    run --separate-stderr -78 cdm-cert phase --phase prepare \
        < <(jq '.config.cert.main.keys.handler = "certbot"' <<<"$output")
    assert_equal "$stderr" "cdm-cert: $BATS_TEST_TMPDIR/c.conf:2: [cert:main] handler 'certbot' is not acme, dehydrated or dehydrated/letsencrypt"

    run -0 --separate-stderr config_doc <<EOF
[cert:main]
handler = acme
challenge = http-01

[domain:www.example.test]
cert = main
EOF
    run --separate-stderr -78 cdm-cert phase --phase prepare <<<"$output"
    assert_equal "$stderr" "cdm-cert: $BATS_TEST_TMPDIR/c.conf:3: [cert:main] challenge http-01 needs webroot"
}

@test "rollover without destination exits 78 naming the section; nothing to deploy is no error" {
    run -0 --separate-stderr config_doc <<EOF
[cdm]
statedir = $BATS_TEST_TMPDIR/state

[cert:main]
handler = acme

[domain:www.example.test]
cert = main
EOF
    local doc=$output
    # Nothing staged, nothing current: nothing to deploy.
    run -0 --separate-stderr cdm-cert phase --phase rollover <<<"$doc"
    # A staged next (a real certificate) without destination.
    selfsigned "$BATS_TEST_TMPDIR/c.pem" 90 www.example.test
    doc=$(jq --arg c "$BATS_TEST_TMPDIR/c.pem" --arg k "$BATS_TEST_TMPDIR/c.pem.key" \
        '.material.cert.main.next = {dir: "/x", key: $k, cert: $c, chain: $c, fullchain: $c, csr: "",
          names: ["www.example.test"], keytype: "ecdsa", keysize: 256, serial: "01"}' <<<"$doc")
    run --separate-stderr -78 cdm-cert phase --phase rollover <<<"$doc"
    assert_equal "$stderr" "cdm-cert: $BATS_TEST_TMPDIR/c.conf:4: [cert:main] has no destination: rollover cannot deploy it"
}

@test "a cert section that no domain links is skipped with a warning" {
    run -0 --separate-stderr config_doc <<EOF
[cdm]
statedir = $BATS_TEST_TMPDIR/state

[cert:lonely]
handler = acme
EOF
    run -0 --separate-stderr cdm-cert phase --phase prepare <<<"$output"
    [[ $stderr == *"WARNING   $BATS_TEST_TMPDIR/c.conf:4: no domain links cert:lonely, skipping it"* ]] || false
    assert_equal "$(jq -c '.report[-1] | [.program, .event, .cert]' <<<"$output")" '["cdm-cert","skipped","lonely"]'
    [ ! -e "$BATS_TEST_TMPDIR/state/cert" ]
}

@test "status: not due exits 1, due exits 0, with the reason" {
    local c="$BATS_TEST_TMPDIR/c.pem" now
    selfsigned "$c" 90 www.example.test,example.test
    run -1 cdm-cert status --cert "$c"
    assert_output --regexp "^$c: www.example.test,example.test: expires [0-9T:-]+Z \(lifetime 90 days\), renew at [0-9T:-]+Z: due in (59|60) days \(30 days before expiry\)$"

    # 61 days later it is due.
    now=$(($(date +%s) + 61 * 86400))
    run -0 cdm-cert status --cert "$c" --now "$now"
    assert_output --partial ": due now (30 days before expiry)"

    # An explicit renewbefore of 100 days makes it due at once.
    run -0 cdm-cert status --cert "$c" --renewbefore 100
    assert_output --partial "due now (renewbefore 100 days before expiry)"

    # JSON: the facts openssl states about the certificate.
    run -1 cdm-cert status --cert "$c" --format json
    local serial end
    serial=$(openssl x509 -in "$c" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
    end=$(date -d "$(openssl x509 -in "$c" -noout -enddate | cut -d= -f2)" +%s)
    assert_equal "$(jq -r '.certificates[0].serial' <<<"$output" | sed 's/^0*//')" "$serial"
    assert_equal "$(jq -r '.certificates[0].not_after' <<<"$output")" "$end"
    assert_equal "$(jq -r '.certificates[0].renew_at' <<<"$output")" "$((end - 30 * 86400))"
    assert_equal "$(jq -c '[.due, .certificates[0].due, .certificates[0].names, .certificates[0].keytype, .certificates[0].keysize]' <<<"$output")" \
        '[false,false,["www.example.test","example.test"],"ecdsa",256]'
}

@test "status: a short-lived certificate renews at a third of its life; any due one makes exit 0" {
    local long="$BATS_TEST_TMPDIR/long.pem" short="$BATS_TEST_TMPDIR/short.pem" now
    selfsigned "$long" 365 a.example.test
    selfsigned "$short" 6 b.example.test
    now=$(date +%s)
    run -1 cdm-cert status --cert "$long" --cert "$short" --now "$now"
    assert_line --index 1 --partial "a third of the lifetime (172800 seconds) before expiry"
    # After 4 days the 6-day one is due (2 days left), the 365-day one is not.
    run -0 cdm-cert status --cert "$long" --cert "$short" --now $((now + 4 * 86400 + 60)) --format json
    assert_equal "$(jq -c '[.due, [.certificates[].due]]' <<<"$output")" '[true,[false,true]]'
}

@test "status: a file that is not a certificate exits 65, a missing one 66" {
    printf 'hello\n' >"$BATS_TEST_TMPDIR/x.pem"
    run --separate-stderr -65 cdm-cert status --cert "$BATS_TEST_TMPDIR/x.pem"
    [[ $stderr == "cdm-cert: $BATS_TEST_TMPDIR/x.pem"* ]] || false
    run --separate-stderr -66 cdm-cert status --cert "$BATS_TEST_TMPDIR/none.pem"
}
