#!/usr/bin/env bats
# cdm-dkim: DKIM keys, their records, signing configuration, and records of other tools.
# Needs openssl, jq, named-checkzone (bind9-utils), opendkim-genkey (opendkim-tools),
# rspamadm (rspamd) and amavisd (amavisd-new): none of them is optional here.

load test_helper

F="$FIXTURES/cdm-dkim"

setup() {
    K="$BATS_TEST_TMPDIR/keys"
}

# The base64 of a key's SubjectPublicKeyInfo, computed by the openssl CLI.
spki_b64() {
    openssl pkey -in "$1" -pubout -outform DER | base64 -w0
}

# The base64 of the raw 32-byte Ed25519 public key (the SPKI's last 32 bytes, RFC 8410).
ed25519_b64() {
    openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w0
}

# The text of the TXT record in a zone line: the quoted strings joined.
txt_of() {
    printf '%s\n' "$1" | sed 's/^[^"]*"//; s/"$//; s/" "//g'
}

# The value of tag $2 in record text $1.
tag_of() {
    printf '%s\n' "$1" | tr ';' '\n' | sed -n "s/^ *$2=//p"
}

mode_of() {
    stat -c %a "$1"
}

# Fail if any line of the private key's base64 body appears in $output or $stderr.
refute_key_in_output() {
    local line
    while IFS= read -r line; do
        case $line in -----*|"") continue ;; esac
        [[ $output != *"$line"* ]] || { echo "key material on stdout"; return 1; }
        [[ ${stderr-} != *"$line"* ]] || { echo "key material on stderr"; return 1; }
    done < "$1"
}

@test "--help lists every command with its synopsis; COMMAND --help its options" {
    run -0 cdm-dkim --help
    assert_line --index 0 "usage: cdm-dkim generate|record|compare|revoke|test|phase [options]"
    for verb in generate record compare revoke test phase; do
        assert_output --partial "  cdm-dkim $verb --"
    done
    run -0 cdm-dkim generate --help
    assert_line --index 0 --partial "usage: cdm-dkim generate --domain D"
    assert_output --partial "--selector-date"
    assert_output --partial "json | zone | rspamd | opendkim | amavisd"
    run -0 cdm-dkim --version
    assert_output --regexp '^cdm-dkim \(cdm\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "no command, an unknown command or option exits 64 with a usage line" {
    run --separate-stderr -64 cdm-dkim
    assert_equal "$stderr" "cdm-dkim: no command given
usage: cdm-dkim generate|record|compare|revoke|test|phase [options]"
    run --separate-stderr -64 cdm-dkim sign
    [[ $stderr == "cdm-dkim: unknown command 'sign'"* ]] || false
    run --separate-stderr -64 cdm-dkim record --no-such-option
    [[ $stderr == *"unrecognised option '--no-such-option'"*"usage: cdm-dkim record"* ]] || false
    run --separate-stderr -64 cdm-dkim generate --key-out "$K/k.pem"
    [[ $stderr == "cdm-dkim: the option '--domain' is required but missing"* ]] || false
    assert_output ""
    [ ! -e "$K" ]
}

@test "generated RSA keys of every size: p= is the SPKI openssl computes, 0600 in 0700" {
    for bits in 1024 2048 3072 4096; do
        run -0 --separate-stderr cdm-dkim generate --domain example.test --selector "s$bits" \
            --bits "$bits" --key-out "$K/d/rsa$bits.pem" --format zone
        assert_equal "$(mode_of "$K/d/rsa$bits.pem")" 600
        assert_equal "$(mode_of "$K/d")" 700
        assert_equal "$(mode_of "$K")" 700
        assert_equal "$(head -1 "$K/d/rsa$bits.pem")" "-----BEGIN PRIVATE KEY-----"
        assert_equal "$(txt_of "$output")" "v=DKIM1; k=rsa; p=$(spki_b64 "$K/d/rsa$bits.pem")"
        [[ $output == "s$bits._domainkey.example.test. 3600 IN TXT \""* ]] || false
        refute_key_in_output "$K/d/rsa$bits.pem"
    done
    # 3072 and 4096 bits end in '=' padding, which the original's parser lost.
    [[ $(spki_b64 "$K/d/rsa4096.pem") == *"==" ]] || false
    run -0 cdm-dkim compare --record <(cdm-dkim record --key "$K/d/rsa4096.pem" --domain example.test --selector s --format zone) --key "$K/d/rsa4096.pem"
}

@test "a generated Ed25519 key: p= is the raw 32-byte key (RFC 8463)" {
    run -0 --separate-stderr cdm-dkim generate --domain example.test --algorithm ed25519 \
        --selector e1 --key-out "$K/ed.pem" --format zone
    assert_output "e1._domainkey.example.test. 3600 IN TXT \"v=DKIM1; k=ed25519; p=$(ed25519_b64 "$K/ed.pem")\""
    assert_equal "$(mode_of "$K/ed.pem")" 600
    assert_equal "$(openssl pkey -in "$K/ed.pem" -noout -text | head -1)" "ED25519 Private-Key:"
    refute_key_in_output "$K/ed.pem"
}

@test "zone lines split at 255 octets and a real zone parser reads them" {
    run -0 cdm-dkim generate --domain example.test --selector big --bits 4096 \
        --flags h=sha256,s=email --key-out "$K/k.pem" --format zone --ttl 600
    while read -r piece; do
        [ "${#piece}" -le 255 ]
    done < <(printf '%s\n' "$output" | grep -o '"[^"]*"' | tr -d '"')
    { echo '$ORIGIN example.test.'; echo '@ 600 IN SOA ns.example.test. h.example.test. 1 3600 600 86400 600'
      echo '@ 600 IN NS ns.example.test.'; echo 'ns 600 IN A 192.0.2.53'; echo "$output"; } > "$BATS_TEST_TMPDIR/z"
    run -0 named-checkzone example.test "$BATS_TEST_TMPDIR/z"
}

@test "JSON output is a cdm document with the record as a desired record" {
    run -0 --separate-stderr cdm-dkim generate --domain Example.TEST --selector s1 --key-out "$K/k.pem"
    echo "$output" > "$BATS_TEST_TMPDIR/doc.json"
    run -0 jq -r '.cdm, (.records | length), .records[0].name, .records[0].type, .records[0].op, .records[0].ttl, .records[0].scope.name, .records[0].label' "$BATS_TEST_TMPDIR/doc.json"
    assert_output "1
1
s1._domainkey.example.test.
TXT
replace
3600
s1._domainkey.example.test.
DKIM"
    run -0 jq -r '.report[0] | "\(.program) \(.event) \(.selector) \(.algorithm) \(.bits) \(.key)"' "$BATS_TEST_TMPDIR/doc.json"
    assert_output "cdm-dkim generate s1 rsa 2048 $K/k.pem"
    run -0 jq -r '.records[0].data' "$BATS_TEST_TMPDIR/doc.json"
    [[ $(printf '%s' "$output" | tr -d '" ') == "v=DKIM1;k=rsa;p=$(spki_b64 "$K/k.pem")" ]] || false
}

@test "selectors: the original's <keybasename>_<unix time>, fixed, or from the date" {
    before=$(date +%s)
    run -0 cdm-dkim generate --domain example.test --algorithm ed25519 --key-out "$K/a.pem" --format zone
    after=$(date +%s)
    [[ $output =~ ^key_([0-9]{10})\._domainkey\.example\.test\. ]] || false
    [ "${BASH_REMATCH[1]}" -ge "$before" ] && [ "${BASH_REMATCH[1]}" -le "$after" ]
    run -0 cdm-dkim generate --domain example.test --algorithm ed25519 --keybasename mail --key-out "$K/b.pem" --format zone
    [[ $output =~ ^mail_[0-9]{10}\._domainkey ]] || false
    run -0 cdm-dkim generate --domain example.test --algorithm ed25519 --selector-date 'sYYYYMMDD' --key-out "$K/c.pem" --format zone
    [[ $output == "s$(date -u +%Y%m%d)._domainkey.example.test. "* ]] || false
    run --separate-stderr -64 cdm-dkim generate --domain example.test --selector 'bad selector' --key-out "$K/d.pem"
    assert_equal "$stderr" "cdm-dkim: selector 'bad selector' may hold only letters, digits, '-', '_' and '.'
usage: cdm-dkim generate --domain D [--algorithm rsa|ed25519|rsa+ed25519] --key-out FILE [options]"
    [ ! -e "$K/d.pem" ]
}

@test "optional tags: h=, s=, t=, n=" {
    run -0 cdm-dkim generate --domain example.test --algorithm ed25519 --selector t \
        --flags 'h=sha256,t=s,t=y,s=email' --flags 'n=rotated by cdm' --key-out "$K/k.pem" --format zone
    assert_output "t._domainkey.example.test. 3600 IN TXT \"v=DKIM1; h=sha256; k=ed25519; s=email; t=s:y; n=rotated=20by=20cdm; p=$(ed25519_b64 "$K/k.pem")\""
    run --separate-stderr -64 cdm-dkim generate --domain example.test --flags h=sha1 --key-out "$K/x.pem"
    [[ $stderr == *"RFC 8301 retired SHA-1"* ]] || false
    [ ! -e "$K/x.pem" ]
}

@test "rsa+ed25519: two keys, two selectors, two records" {
    run -0 --separate-stderr cdm-dkim generate --domain example.test --algorithm rsa+ed25519 \
        --selector mail --key-out "$K/rsa.pem" --key-out "$K/ed.pem" --format zone
    assert_line --index 0 "mail-rsa._domainkey.example.test. 3600 IN TXT \"v=DKIM1; k=rsa; p=$(spki_b64 "$K/rsa.pem" | cut -c1-237)\" \"$(spki_b64 "$K/rsa.pem" | cut -c238-)\""
    assert_line --index 1 "mail-ed25519._domainkey.example.test. 3600 IN TXT \"v=DKIM1; k=ed25519; p=$(ed25519_b64 "$K/ed.pem")\""
    run -0 cdm-dkim generate --domain example.test --algorithm rsa+ed25519 \
        --selector r2 --selector e2 --key-out "$K/rsa2.pem" --key-out "$K/ed2.pem" --format zone
    assert_line --index 0 --partial "r2._domainkey.example.test. "
    assert_line --index 1 --partial "e2._domainkey.example.test. "
    run --separate-stderr -64 cdm-dkim generate --domain example.test --algorithm rsa+ed25519 --key-out "$K/one.pem"
    [[ $stderr == "cdm-dkim: --algorithm rsa+ed25519 takes two --key-out files, the RSA key's first"* ]] || false
    [ ! -e "$K/one.pem" ]
}

@test "rspamd: the original's template, and rspamd signs with the key it names" {
    run -0 --separate-stderr cdm-dkim generate --domain example.test --selector rs --key-out "$K/rs.pem" --format rspamd
    assert_output "path = \"$K/rs.pem\";
selector = \"rs\";
use_esld = false
allow_username_mismatch = true;"
    refute_key_in_output "$K/rs.pem"
    printf 'dkim_signing {\n%s\n}\n' "$output" > "$BATS_TEST_TMPDIR/rspamd.conf"
    run -0 rspamadm configdump -c "$BATS_TEST_TMPDIR/rspamd.conf" dkim_signing
    assert_output --partial "path = \"$K/rs.pem\";"
    printf 'From: a@example.test\r\nTo: b@example.test\r\nSubject: t\r\n\r\nhello\r\n' > "$BATS_TEST_TMPDIR/m.eml"
    run -0 rspamadm mime sign -d example.test -s rs -k "$K/rs.pem" -o signature "$BATS_TEST_TMPDIR/m.eml"
    assert_output --partial "a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=rs;"
}

@test "rspamd with Ed25519 needs --seed-out; rspamd signs with the seed" {
    run --separate-stderr -64 cdm-dkim generate --domain example.test --algorithm ed25519 --selector ed --key-out "$K/ed.pem" --format rspamd
    [[ $stderr == "cdm-dkim: rspamd cannot read PEM Ed25519 keys; add --seed-out FILE"* ]] || false
    [ ! -e "$K" ]
    run -0 --separate-stderr cdm-dkim generate --domain example.test --algorithm rsa+ed25519 --selector m \
        --key-out "$K/rsa.pem" --key-out "$K/ed.pem" --seed-out "$K/ed.seed" --format rspamd
    printf 'dkim_signing {\n%s\n}\n' "$output" > "$BATS_TEST_TMPDIR/rspamd.conf"
    run -0 rspamadm configdump -c "$BATS_TEST_TMPDIR/rspamd.conf" dkim_signing
    assert_output --partial "path = \"$K/rsa.pem\";"
    assert_output --partial "selector = \"m-ed25519\";"
    assert_output --partial "path = \"$K/ed.seed\";"
    assert_equal "$(mode_of "$K/ed.seed")" 600
    # The seed is the private key's last 32 bytes in PKCS#8 (RFC 8410).
    assert_equal "$(cat "$K/ed.seed")" "$(openssl pkey -in "$K/ed.pem" -outform DER | tail -c 32 | base64 -w0)"
    printf 'From: a@example.test\r\n\r\nhello\r\n' > "$BATS_TEST_TMPDIR/m.eml"
    run -0 rspamadm mime sign -d example.test -s m-ed25519 -k "$K/ed.seed" -o signature "$BATS_TEST_TMPDIR/m.eml"
    assert_output --partial "a=ed25519-sha256;"
}

@test "OpenDKIM KeyTable and SigningTable lines" {
    run -0 cdm-dkim generate --domain example.test --selector od --key-out "$K/od.pem" --format opendkim
    assert_output "# KeyTable
od._domainkey.example.test example.test:od:$K/od.pem
# SigningTable
example.test od._domainkey.example.test"
    refute_key_in_output "$K/od.pem"
}

@test "amavisd: dkim_key() that amavisd reads, and its showkeys output matches the key" {
    run -0 amavisd genrsa "$BATS_TEST_TMPDIR/am.pem" 2048
    run -0 cdm-dkim record --key "$BATS_TEST_TMPDIR/am.pem" --domain example.test --selector am --format amavisd
    assert_output "dkim_key('example.test', 'am', '$BATS_TEST_TMPDIR/am.pem');"
    printf '%s\n' "\$MYHOME = '$BATS_TEST_TMPDIR';" "\$mydomain = 'example.test';" "\$myhostname = 'mail.example.test';" "$output" '1;' > "$BATS_TEST_TMPDIR/amavisd.conf"
    amavisd -c "$BATS_TEST_TMPDIR/amavisd.conf" showkeys > "$BATS_TEST_TMPDIR/showkeys.txt"
    run -0 cdm-dkim compare --record "$BATS_TEST_TMPDIR/showkeys.txt" --key "$BATS_TEST_TMPDIR/am.pem"
    assert_output "am._domainkey.example.test.: match: the record publishes the key in '$BATS_TEST_TMPDIR/am.pem' (RSA 2048 bits)"
    run -1 cdm-dkim compare --record "$BATS_TEST_TMPDIR/showkeys.txt" --key "$F/rspamadm-4096.key"
    assert_output "am._domainkey.example.test.: mismatch: p= holds another key"
    run --separate-stderr -64 cdm-dkim generate --domain example.test --algorithm ed25519 --key-out "$K/e.pem" --format amavisd
    [[ $stderr == "cdm-dkim: amavisd signs with RSA keys only"* ]] || false
}

@test "opendkim-genkey: cdm-dkim's p= equals its p=, compare matches; another key does not" {
    for bits in 1024 2048; do
        run -0 opendkim-genkey -b "$bits" -d example.test -s "od$bits" -D "$BATS_TEST_TMPDIR"
        run -0 cdm-dkim record --key "$BATS_TEST_TMPDIR/od$bits.private" --domain example.test --selector "od$bits" --format zone
        theirs=$(sed 's/;.*$//' "$BATS_TEST_TMPDIR/od$bits.txt" | grep -o '"[^"]*"' | tr -d '"\n')
        assert_equal "$(tag_of "$(txt_of "$output")" p)" "$(tag_of "$theirs" p)"
        run -0 cdm-dkim compare --record "$BATS_TEST_TMPDIR/od$bits.txt" --key "$BATS_TEST_TMPDIR/od$bits.private"
        assert_output "od$bits._domainkey: match: the record publishes the key in '$BATS_TEST_TMPDIR/od$bits.private' (RSA $bits bits)"
    done
    run -1 cdm-dkim compare --record "$BATS_TEST_TMPDIR/od1024.txt" --key "$BATS_TEST_TMPDIR/od2048.private"
    assert_output "od1024._domainkey: mismatch: p= holds another key"
}

@test "rspamadm dkim_keygen: compare matches for RSA of every size; Ed25519 p= as cdm-dkim computes it" {
    for bits in 1024 2048 4096; do
        rspamadm dkim_keygen -b "$bits" -s "rs$bits" -d example.test -k "$BATS_TEST_TMPDIR/rs$bits.key" > "$BATS_TEST_TMPDIR/rs$bits.txt"
        run -0 cdm-dkim compare --record "$BATS_TEST_TMPDIR/rs$bits.txt" --key "$BATS_TEST_TMPDIR/rs$bits.key" --domain example.test
        assert_output "rs$bits._domainkey.example.test.: match: the record publishes the key in '$BATS_TEST_TMPDIR/rs$bits.key' (RSA $bits bits)"
    done
    run -1 cdm-dkim compare --record "$BATS_TEST_TMPDIR/rs2048.txt" --key "$BATS_TEST_TMPDIR/rs1024.key"
    # rspamd's Ed25519 key file is base64 of seed and public key; wrap the seed as PKCS#8.
    rspamadm dkim_keygen -t ed25519 -s ed -d example.test -k "$BATS_TEST_TMPDIR/ed.rspamd" > "$BATS_TEST_TMPDIR/ed.txt"
    { printf '\060\056\002\001\000\060\005\006\003\053\145\160\004\042\004\040'
      base64 -d "$BATS_TEST_TMPDIR/ed.rspamd" | head -c 32; } > "$BATS_TEST_TMPDIR/ed.der"
    run -0 cdm-dkim compare --record "$BATS_TEST_TMPDIR/ed.txt" --key "$BATS_TEST_TMPDIR/ed.der"
    assert_output --partial "ed._domainkey: match:"
    run -0 cdm-dkim record --key "$BATS_TEST_TMPDIR/ed.der" --domain example.test --selector ed --format zone
    theirs=$(grep -o '"[^"]*"' "$BATS_TEST_TMPDIR/ed.txt" | tr -d '"\n')
    assert_equal "$(tag_of "$(txt_of "$output")" p)" "$(tag_of "$theirs" p)"
}

@test "stored records of rspamadm (4096 bits, '==' padding) and amavisd compare with their keys" {
    run -0 cdm-dkim compare --record "$F/rspamadm-4096.txt" --key "$F/rspamadm-4096.key"
    assert_output "big._domainkey: match: the record publishes the key in '$F/rspamadm-4096.key' (RSA 4096 bits)"
    # amavisd genrsa writes PKCS#1 (BEGIN RSA PRIVATE KEY).
    run -0 cdm-dkim compare --record "$F/amavisd-showkeys.txt" --key "$F/amavisd-genrsa.pem"
    run -1 cdm-dkim compare --record "$F/amavisd-showkeys.txt" --key "$F/rspamadm-4096.key"
}

@test "record: from a private or public key, PEM or DER; a pipe into compare" {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BATS_TEST_TMPDIR/k.pem" 2>/dev/null
    openssl pkey -in "$BATS_TEST_TMPDIR/k.pem" -pubout -out "$BATS_TEST_TMPDIR/k.pub"
    openssl pkey -in "$BATS_TEST_TMPDIR/k.pem" -outform DER -out "$BATS_TEST_TMPDIR/k.der"
    openssl rsa -in "$BATS_TEST_TMPDIR/k.pem" -traditional -out "$BATS_TEST_TMPDIR/k.pkcs1" 2>/dev/null
    expected="v=DKIM1; k=rsa; p=$(spki_b64 "$BATS_TEST_TMPDIR/k.pem")"
    for f in k.pem k.pub k.der k.pkcs1; do
        run -0 cdm-dkim record --key "$BATS_TEST_TMPDIR/$f" --domain example.test --selector s --format zone
        assert_equal "$(txt_of "$output")" "$expected"
    done
    run -0 sh -c 'cdm-dkim record --key "$1" --domain example.test --selector s --format zone | cdm-dkim compare --record - --key "$1"' sh "$BATS_TEST_TMPDIR/k.pem"
    assert_output "s._domainkey.example.test.: match: the record publishes the key in '$BATS_TEST_TMPDIR/k.pem' (RSA 2048 bits)"
    run --separate-stderr -64 cdm-dkim record --key "$BATS_TEST_TMPDIR/k.pem" --domain example.test
    [[ $stderr == "cdm-dkim: an existing key needs --selector or --selector-date"* ]] || false
}

@test "revoke: the record with an empty p=" {
    run -0 cdm-dkim revoke --domain example.test --selector old --format zone --ttl 300
    assert_output 'old._domainkey.example.test. 300 IN TXT "v=DKIM1; p="'
    run -0 cdm-dkim revoke --domain example.test --selector old --algorithm ed25519 --format zone
    assert_output 'old._domainkey.example.test. 3600 IN TXT "v=DKIM1; k=ed25519; p="'
    run -0 sh -c 'cdm-dkim revoke --domain example.test --selector old | jq -r ".records[0].data, .report[0].event"'
    assert_output '"v=DKIM1; p="
revoke'
    run --separate-stderr -64 cdm-dkim revoke --domain example.test --selector old --format rspamd
    [[ $stderr == "cdm-dkim: --format takes json or zone, not 'rspamd'"* ]] || false
    run --separate-stderr -1 sh -c 'cdm-dkim revoke --domain example.test --selector s --format zone | cdm-dkim compare --record - --key "$1"' sh "$F/rspamadm-4096.key"
    assert_output "s._domainkey.example.test.: mismatch: the record is revoked (empty p=)"
}

@test "bad input: one line on stderr, a sysexits code, nothing on stdout, no file written" {
    mkdir -p "$BATS_TEST_TMPDIR/in"
    I="$BATS_TEST_TMPDIR/in"
    head -c 300 /dev/urandom | base64 > "$I/garbage.pem"
    head -5 "$F/rspamadm-4096.key" > "$I/truncated.pem"
    openssl pkey -in "$F/amavisd-genrsa.pem" -aes256 -passout pass:secret -out "$I/encrypted.pem"
    head -c 1048576 /dev/zero | tr '\0' 'A' > "$I/line.pem"
    openssl req -x509 -newkey ed25519 -keyout /dev/null -nodes -subj /CN=x -out "$I/cert.pem" 2>/dev/null
    check() { # expected-code expected-stderr command...
        local code=$1 message=$2
        shift 2
        run --separate-stderr "-$code" "$@"
        assert_equal "$stderr" "$message"
        assert_output ""
        [ ! -e "$K" ]
    }
    check 65 "cdm-dkim: $I/garbage.pem: not a key: neither PEM ('-----BEGIN') nor DER" \
        cdm-dkim record --key "$I/garbage.pem" --domain example.test --selector s --seed-out "$K/s"
    check 65 "cdm-dkim: $I/truncated.pem:1: truncated key: no '-----END PRIVATE KEY-----' after this BEGIN line" \
        cdm-dkim record --key "$I/truncated.pem" --domain example.test --selector s
    check 65 "cdm-dkim: $I/encrypted.pem:1: encrypted private keys are not supported; decrypt it first (openssl pkey -in FILE -out NEW)" \
        cdm-dkim record --key "$I/encrypted.pem" --domain example.test --selector s
    check 65 "cdm-dkim: $I/line.pem: larger than 64 KiB" \
        cdm-dkim record --key "$I/line.pem" --domain example.test --selector s
    check 65 "cdm-dkim: $I/line.pem: larger than 64 KiB" \
        cdm-dkim compare --record "$I/line.pem" --key "$F/amavisd-genrsa.pem"
    check 65 "cdm-dkim: $I/cert.pem:1: a 'CERTIFICATE' block, not a key" \
        cdm-dkim record --key "$I/cert.pem" --domain example.test --selector s
    check 66 "cdm-dkim: $I/missing.pem: unable to open: No such file or directory" \
        cdm-dkim record --key "$I/missing.pem" --domain example.test --selector s
    check 65 "cdm-dkim: $F/rspamadm-4096.key: no DKIM record (a TXT record with p=) found" \
        cdm-dkim compare --record "$F/rspamadm-4096.key" --key "$F/rspamadm-4096.key"
    check 64 "cdm-dkim: RSA keys of 512 bits are not supported; use 1024, 2048, 3072 or 4096
usage: cdm-dkim generate --domain D [--algorithm rsa|ed25519|rsa+ed25519] --key-out FILE [options]" \
        cdm-dkim generate --domain example.test --bits 512 --key-out "$K/k.pem"
    check 64 "cdm-dkim: --algorithm takes rsa or ed25519 or rsa+ed25519, not 'dsa'
usage: cdm-dkim generate --domain D [--algorithm rsa|ed25519|rsa+ed25519] --key-out FILE [options]" \
        cdm-dkim generate --domain example.test --algorithm dsa --key-out "$K/k.pem"
    check 64 "cdm-dkim: --ttl takes a number from 0 to 2147483647 (RFC 2181), not '-1'
usage: cdm-dkim generate --domain D [--algorithm rsa|ed25519|rsa+ed25519] --key-out FILE [options]" \
        cdm-dkim generate --domain example.test --ttl -1 --key-out "$K/k.pem"
    check 64 "cdm-dkim: --domain 'a..test': invalid name 'a..test': empty label
usage: cdm-dkim generate --domain D [--algorithm rsa|ed25519|rsa+ed25519] --key-out FILE [options]" \
        cdm-dkim generate --domain a..test --key-out "$K/k.pem"
}

@test "an existing key file is never overwritten (exit 73)" {
    mkdir -p "$K"
    echo "keep me" > "$K/k.pem"
    run --separate-stderr -73 cdm-dkim generate --domain example.test --selector s --key-out "$K/k.pem"
    assert_equal "$stderr" "cdm-dkim: $K/k.pem: already exists, not overwriting it"
    assert_equal "$(cat "$K/k.pem")" "keep me"
    run --separate-stderr -73 cdm-dkim generate --domain example.test --algorithm rsa+ed25519 --selector s \
        --key-out "$K/new.pem" --key-out "$K/k.pem"
    [ ! -e "$K/new.pem" ]
}

@test "a failed write to stdout exits 74" {
    [ -w /dev/full ]
    run --separate-stderr -74 sh -c 'cdm-dkim revoke --domain example.test --selector s > /dev/full'
    [[ $stderr == *"unable to write to standard output"* ]] || false
}

@test "in the pipe: prepare makes the next key and its records, rollover deploys it" {
    d=$BATS_TEST_TMPDIR
    printf '[cdm]\nstatedir = %s/state\n[dkim:mail]\nhandler = rspamd\nkeybasename = mail\nkeylocation = %s/rspamd\nsigningconfdestinationfile = %s/conf/dkim_signing.conf\n[domain:example.test]\ndkim = auto:mail\n' "$d" "$d" "$d" > "$d/c.conf"
    cdm-config "$d/c.conf" | cdm-dkim phase --phase prepare --now 1700000000 > "$d/prepared.json"
    run -0 jq -r '.material.dkim.mail.next.selector' "$d/prepared.json"
    assert_output "mail_1700000000"
    run -0 jq -r '.records[] | "\(.name) \(.op)"' "$d/prepared.json"
    assert_output "mail_1700000000._domainkey.example.test. add"
    key=$(jq -r '.material.dkim.mail.next.key' "$d/prepared.json")
    [ "$(stat -c %a "$key")" = 600 ]
    # the record's p= is the key's public half, as openssl says
    want=$(openssl pkey -in "$key" -pubout -outform DER | base64 -w0)
    jq -r '.records[0].data' "$d/prepared.json" | tr -d '" ' | grep -q "p=$want"
    jq '.records = []' "$d/prepared.json" | cdm-dkim phase --phase rollover --now 1700003600 > "$d/rolled.json"
    # a file of its own, named in the signing configuration with its selector
    cmp "$key" "$d/rspamd/mail_1700000000.key"
    [ "$(stat -c %a "$d/rspamd/mail_1700000000.key")" = 600 ]
    grep -q 'selector = "mail_1700000000";' "$d/conf/dkim_signing.conf"
    grep -q "path = \"$d/rspamd/mail_1700000000.key\";" "$d/conf/dkim_signing.conf"
    run -0 jq -r '.material.dkim.mail.current.selector' "$d/rolled.json"
    assert_output "mail_1700000000"
}

@test "in the pipe: a document without a phase is a usage error" {
    run --separate-stderr -64 sh -c 'echo "{\"cdm\": 1}" | cdm-dkim phase'
    [[ $stderr == "cdm-dkim: --phase takes prepare or rollover or cleanup or update, not ''"* ]] || false
}
