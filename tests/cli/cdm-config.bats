#!/usr/bin/env bats
# cdm-config: configuration files -> the JSON document, or zone lines.

load test_helper

F="$FIXTURES/cdm-config"

conf() {
    printf '%s\n' "$@" > "$BATS_TEST_TMPDIR/t.conf"
    echo "$BATS_TEST_TMPDIR/t.conf"
}

@test "--help prints a usage line and the options, exit 0" {
    run -0 cdm-config --help
    assert_line --index 0 --partial "usage: cdm-config [options] [file ...]"
    assert_output --partial "--config-content"
    assert_output --partial "--format"
}

@test "--version names the program; with -v also the libraries" {
    run -0 cdm-config --version
    assert_output --regexp '^cdm-config \(cdm\) [0-9]+\.[0-9]+\.[0-9]+$'
    run -0 cdm-config --version -v
    assert_line --partial "OpenSSL: OpenSSL 3"
    assert_line --partial "ldns: 1."
}

@test "an unknown option exits 64 with a usage line" {
    run --separate-stderr -64 cdm-config --no-such-option
    [[ $stderr == *"cdm-config: unrecognised option '--no-such-option'"* ]] || false
    [[ $stderr == *"usage: cdm-config"* ]] || false
    assert_output ""
}

@test "--format takes json or zone only" {
    run --separate-stderr -64 cdm-config --format yaml "$F/web-mail.conf"
    [[ $stderr == "cdm-config: --format takes json or zone, not 'yaml'"* ]] || false
    assert_output ""
}

@test "the document is JSON that jq reads, with every section and record" {
    run -0 --separate-stderr cdm-config "$F/web-mail.conf"
    echo "$output" > "$BATS_TEST_TMPDIR/doc.json"
    run -0 jq -r '.cdm' "$BATS_TEST_TMPDIR/doc.json"
    assert_output "1"
    run -0 jq -r '.config.cert.web.domains | join(",")' "$BATS_TEST_TMPDIR/doc.json"
    assert_output "example.test,mail.example.test"
    run -0 jq -r '.config.cert.web.keys.keysize' "$BATS_TEST_TMPDIR/doc.json"
    assert_output "4096"
    run -0 jq -r '.config.domain["mail.example.test"].tlsa | map("\(.owner) \(.usage) \(.selector) \(.matching)") | .[]' "$BATS_TEST_TMPDIR/doc.json"
    assert_line --index 0 "_25._tcp.mail.example.test. 3 1 1"
    assert_line --index 1 "_25._tcp.mail.example.test. 2 0 1"
    run -0 jq -r '.records[] | select(.type == "MX") | "\(.name) \(.data) \(.op)"' "$BATS_TEST_TMPDIR/doc.json"
    assert_output "example.test. 10 mail.example.test. replace"
}

@test "zone output matches the golden file; the MTA-STS id is the policy's hash" {
    run -0 --separate-stderr cdm-config --format zone "$F/web-mail.conf"
    id=$(printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 604800\r\n' |
        openssl dgst -sha256 -r | cut -c1-32)
    expected=$(sed "s/id=ID/id=$id/" "$F/web-mail.zone")
    assert_equal "$output" "$expected"
}

@test "zone lines are accepted by a real zone parser" {
    command -v named-checkzone >/dev/null || skip "named-checkzone (bind9-utils) not installed"
    run -0 --separate-stderr cdm-config --format zone "$F/web-mail.conf"
    { echo '$ORIGIN example.test.'; echo '@ 600 IN SOA ns.example.test. h.example.test. 1 3600 600 86400 600';
      echo '@ 600 IN NS ns.example.test.'; echo 'ns 600 IN A 192.0.2.53'; echo "$output" | grep -v '^;'; } > "$BATS_TEST_TMPDIR/z"
    run -0 named-checkzone example.test "$BATS_TEST_TMPDIR/z"
}

@test "secrets never reach stdout or stderr, even at debug level" {
    run -0 --separate-stderr cdm-config -v -v "$F/web-mail.conf"
    [[ $output != *"not-a-real-password"* ]] || false
    [[ $stderr != *"not-a-real-password"* ]] || false
    echo "$output" | jq -e '.config.domain["example.test"].keys.passwd.secret | test("web-mail.conf:8$")'
}

@test "a later file wins, and --config-content is read last" {
    a=$(conf '[cdm]' 'statedir = /a' '[domain:a.test]' 'ip4 = 192.0.2.1')
    printf '[cdm]\nstatedir = /b\n' > "$BATS_TEST_TMPDIR/b.conf"
    run -0 cdm-config "$a" "$BATS_TEST_TMPDIR/b.conf" --config-content '[domain:a.test]  ip4 = 192.0.2.9'
    echo "$output" | jq -e '.config.cdm.DEFAULT.keys.statedir == "/b"'
    echo "$output" | jq -e '[.records[].data] == ["192.0.2.9"]'
    echo "$output" | jq -e '.records[0].source == "<config-content>:2"'
}

@test "--config-content alone, the original's one-line form" {
    run -0 cdm-config --format zone --config-content '[cdm]  statedir=/x  [domain:a.test]  ip4=192.0.2.1  mx=m.a.test:5'
    assert_output "a.test. 600 IN A 192.0.2.1
a.test. 600 IN MX 5 m.a.test."
}

@test "no configuration at all gives a document with the [cdm] defaults" {
    run -0 cdm-config
    echo "$output" | jq -e '.config.cdm.DEFAULT.keys.statedir == "/var/lib/cdm" and (.records | length) == 0'
}

@test "every form of the original's examples reads without error" {
    run -0 --separate-stderr cdm-config --format zone "$F/original-forms.conf"
    assert_line "_imap._udp.imgr.example.test. 600 IN SRV 14 23 146 dynamail.example.test."
    assert_line "_imap._tcp.imgr.example.test. 600 IN SRV 11 19 143 dynamail.example.test."
    assert_line "_y._z.imgr.example.test. 600 IN SRV 33 22 11 testsrv.example.test."
    assert_line "imgr.example.test. 600 IN MX 23 testmail23.example.test."
    assert_line "tlsa.example.test. 600 IN MX 30 testmail23.example.test."
    assert_line "imgr.example.test. 600 IN TXT \"v=spf1 -mx +a ?all\""
    assert_line "_adsp._domainkey.imgr.example.test. 600 IN TXT \"dkim=all\""
    assert_line --partial "; remove: imgr.example.test. 600 IN A 127.0.0.5 ("
    assert_line "imgr.example.test. 600 IN AAAA ffc::30"
    assert_line "tlsa.example.test. 600 IN CAA 128 issuewild \"other.example\""
    assert_line --partial '; delete every TXT at _acme-challenge.imgr.example.test.'
    assert_line --partial '"rname":"hostmaster.example.test."'
    [[ $stderr == *"original-forms.conf:76: key 'cert' of [domain:imgr.example.test] repeated with the same value"* ]] || false
    run -0 --separate-stderr cdm-config "$F/original-forms.conf"
    echo "$output" | jq -e '.config.domain["imgr.example.test"].tlsa | map(.owner) == ["_143._tcp.imgr.example.test.", "*._tcp.imgr.example.test.", "_443._tcp.imgr.example.test."]'
    echo "$output" | jq -e '.config.dhparam.dh1024.keys.filename == "/etc/myssl/dh2048.pem"'
    echo "$output" | jq -e '.config.dkim.maindkim.keys.signingconfdestinationfile == "/etc/rspamd/local.d/dkim_signing.conf"'
    echo "$output" | jq -e '.config.service.apache2.keys.handler == "apache2"'
}

@test "a missing file exits 66 and names it" {
    run --separate-stderr -66 cdm-config "$BATS_TEST_TMPDIR/nope.conf"
    assert_equal "$stderr" "cdm-config: $BATS_TEST_TMPDIR/nope.conf: unable to open: No such file or directory"
    assert_output ""
}

@test "a directory exits 66; '-' reads standard input" {
    run --separate-stderr -66 cdm-config "$BATS_TEST_TMPDIR"
    assert_equal "$stderr" "cdm-config: $BATS_TEST_TMPDIR: is a directory, not a configuration file"
    run -0 --separate-stderr sh -c 'printf "[domain:a.test]\nip4 = 192.0.2.1\n" | cdm-config --format zone -'
    assert_output "a.test. 600 IN A 192.0.2.1"
    run --separate-stderr -64 cdm-config - -
    [[ $stderr == "cdm-config: standard input ('-') can be read only once"* ]] || false
}

@test "a conflicting duplicate key exits 78 with file and line" {
    c=$(conf '[domain:a.test]' 'ip4 = 192.0.2.1' 'ip4 = 192.0.2.2')
    run --separate-stderr -78 cdm-config "$c"
    [[ $stderr == "cdm-config: $c:3: key 'ip4' of [domain:a.test] is set again here (first at line 2) to another value" ]] || false
    assert_output ""
}

@test "malformed record values exit 78 with one line naming file, line and key" {
    for bad in 'ip4 = 192.0.2.300' 'srv = t.a.test:0:0:70000:tcp:imap' 'tlsa = auto:7:1:1:443:tcp' 'ip6 = ::zz' 'mx = m.a.test:65536'; do
        c=$(conf '[cert:c]' '[domain:a.test]' 'cert = c' "$bad")
        run --separate-stderr -78 cdm-config "$c"
        [[ $stderr == "cdm-config: $c:4: [domain:a.test] "* ]] || false
        [ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
        assert_output ""
    done
}

@test "a % in a password is taken literally with a warning; %% still works" {
    c=$(conf '[domain]' 'passwd = ab%cd' 'user = 100%%' '[domain:a.test]' 'ip4 = 192.0.2.1')
    run -0 --separate-stderr cdm-config "$c"
    [[ $stderr == *"$c:2: '%' in the value of 'passwd' taken literally"* ]] || false
    [[ $stderr != *"ab%cd"* ]] || false
    echo "$output" | jq -e '.config.domain["a.test"].keys.user == "100%"'
}

@test "a binary file exits 65" {
    printf '[cdm]\n\000\001\002' > "$BATS_TEST_TMPDIR/bin.conf"
    run --separate-stderr -65 cdm-config "$BATS_TEST_TMPDIR/bin.conf"
    [[ $stderr == "cdm-config: $BATS_TEST_TMPDIR/bin.conf:2: binary data (a NUL byte), not a configuration file" ]] || false
}

@test "a 10 MB file exits 65 without reading it all" {
    head -c 10000000 /dev/zero | tr '\0' '#' > "$BATS_TEST_TMPDIR/big.conf"
    run --separate-stderr -65 cdm-config "$BATS_TEST_TMPDIR/big.conf"
    [[ $stderr == *"big.conf: larger than 4 MiB"* ]] || false
}

@test "unknown and old-style sections exit 78" {
    c=$(conf '[cdm]' '[foo]')
    run --separate-stderr -78 cdm-config "$c"
    [[ $stderr == "cdm-config: $c:2: unknown section type 'foo'"* ]] || false
    c=$(conf '[example.de]' 'ip4 = auto')
    run --separate-stderr -78 cdm-config "$c"
    [[ $stderr == *"write [domain:example.de]"* ]] || false
}

@test "LOGLEVEL=ERROR and -qq silence warnings" {
    c=$(conf '[domain:a.test]' 'cert = nosuchcert')
    run -0 --separate-stderr cdm-config "$c"
    [[ $stderr == *"WARNING   $c:2: section cert:nosuchcert referenced in domain:a.test does not exist"* ]] || false
    run -0 --separate-stderr env LOGLEVEL=ERROR cdm-config "$c"
    assert_equal "$stderr" ""
    run -0 --separate-stderr cdm-config -qq "$c"
    assert_equal "$stderr" ""
}

@test "a failed write to stdout exits 74" {
    [ -w /dev/full ] || skip "no /dev/full"
    run --separate-stderr -74 sh -c 'cdm-config "$1" > /dev/full' sh "$F/web-mail.conf"
    [[ $stderr == *"unable to write to standard output"* ]] || false
}

@test "the document feeds a pipe: record names and types through jq" {
    run -0 --separate-stderr sh -c 'cdm-config "$1" | jq -r ".records[] | select(.data != null) | \"\(.name) \(.type)\"" | sort -u | wc -l' sh "$F/web-mail.conf"
    assert_output "10"
}
