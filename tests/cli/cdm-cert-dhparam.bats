#!/usr/bin/env bats
# cdm-cert dhparam: DH parameters generated (safe prime, generator 2) or taken from the
# RFC 7919 groups, checked by the openssl command line; the groups' primes are compared
# with the formula of RFC 7919 appendix A, computed here with python3 (an independent
# source). Needs openssl, python3 and jq. Generation uses 1024 bits to stay fast; the
# production default of [dhparam] keysize is 2048.

load test_helper

setup() {
    D="$BATS_TEST_TMPDIR"
}

mode_of() {
    stat -c %a "$1"
}

# The prime of a PEM DH parameter file in upper-case hex (the first INTEGER).
prime_of() {
    openssl asn1parse -in "$1" | sed -n '2s/.*://p'
}

# RFC 7919 appendix A: p = 2^b - 2^(b-64) + (floor(2^(b-130) * e) + X) * 2^64 - 1.
rfc7919_prime() {
    python3 - "$1" <<'EOF'
import sys
X = {2048: 560316, 3072: 2625351, 4096: 5736041, 6144: 15705020, 8192: 10965728}
def floor_e_times_2pow(k):
    guard = 64
    term, total, n = 1 << (k + guard), 0, 0
    while term:
        total += term
        n += 1
        term //= n
    return total >> guard
b = int(sys.argv[1])
print('%X' % (2**b - 2**(b - 64) + (floor_e_times_2pow(b - 130) + X[b]) * 2**64 - 1))
EOF
}

@test "dhparam --bits generates a safe prime with generator 2 that openssl accepts" {
    run -0 --separate-stderr cdm-cert dhparam --bits 1024 --out "$D/dh.pem"
    run -0 openssl dhparam -check -noout -in "$D/dh.pem"
    assert_output --partial "DH parameters appear to be ok"
    run -0 openssl pkeyparam -noout -text -in "$D/dh.pem"
    assert_output --partial "DH Parameters: (1024 bit)"
    assert_output --partial "G:    2 (0x2)"
    assert_equal "$(mode_of "$D/dh.pem")" 644
}

@test "dhparam reports file, bits, generator and sha256 as a document" {
    run -0 --separate-stderr cdm-cert dhparam --bits 1024 --out "$D/dh.pem"
    assert_equal "$(jq -r '.cdm' <<<"$output")" 1
    assert_equal "$(jq -r '.report[0].program' <<<"$output")" cdm-cert
    assert_equal "$(jq -r '.report[0].event' <<<"$output")" dhparam
    assert_equal "$(jq -r '.report[0].file' <<<"$output")" "$D/dh.pem"
    assert_equal "$(jq -r '.report[0].bits' <<<"$output")" 1024
    assert_equal "$(jq -r '.report[0].generator' <<<"$output")" 2
    assert_equal "$(jq -r '.report[0].sha256' <<<"$output")" "$(sha256sum "$D/dh.pem" | cut -c1-64)"
}

@test "dhparam --group writes each RFC 7919 group, prime as the RFC's formula gives it" {
    for bits in 2048 3072 4096 6144 8192; do
        run -0 --separate-stderr cdm-cert dhparam --group "ffdhe$bits" --out "$D/ffdhe$bits.pem"
        assert_equal "$(prime_of "$D/ffdhe$bits.pem")" "$(rfc7919_prime "$bits")"
        run -0 openssl pkeyparam -noout -text -in "$D/ffdhe$bits.pem"
        assert_output --partial "GROUP: ffdhe$bits"
        run -0 openssl dhparam -check -noout -in "$D/ffdhe$bits.pem"
    done
}

@test "dhparam --format text prints one line" {
    run -0 --separate-stderr cdm-cert dhparam --group ffdhe2048 --out "$D/dh.pem" --format text
    assert_output "$D/dh.pem: DH parameters, 2048 bits, generator 2, group ffdhe2048, sha256 $(sha256sum "$D/dh.pem" | cut -c1-64)"
}

@test "dhparam replaces an existing file atomically" {
    echo old >"$D/dh.pem"
    run -0 --separate-stderr cdm-cert dhparam --group ffdhe3072 --out "$D/dh.pem"
    run -0 openssl dhparam -check -noout -in "$D/dh.pem"
    assert_equal "$(ls -A "$D" | grep -c '^\.' || true)" 0
}

@test "usage errors exit 64 and name the problem" {
    run -64 --separate-stderr cdm-cert dhparam --out "$D/dh.pem"
    [[ $stderr == *"give one of --bits and --group"* ]] || false
    run -64 --separate-stderr cdm-cert dhparam --bits 2048 --group ffdhe2048 --out "$D/dh.pem"
    [[ $stderr == *"give one of --bits and --group"* ]] || false
    run -64 --separate-stderr cdm-cert dhparam --bits 512 --out "$D/dh.pem"
    [[ $stderr == *"--bits '512' is not a number from 1024 to 8192"* ]] || false
    run -64 --separate-stderr cdm-cert dhparam --group modp2048 --out "$D/dh.pem"
    [[ $stderr == *"--group 'modp2048' is not ffdhe2048"* ]] || false
    run -64 --separate-stderr cdm-cert dhparam --group ffdhe2048
    [[ $stderr == *"--out FILE is required"* ]] || false
    run -64 --separate-stderr cdm-cert dhparam --group ffdhe2048 --out "$D/dh.pem" --format zone
    [[ $stderr == *"--format takes json or text"* ]] || false
    [ ! -e "$D/dh.pem" ]
}

@test "a missing output directory exits 73 and writes nothing" {
    run -73 --separate-stderr cdm-cert dhparam --group ffdhe2048 --out "$D/no/such/dh.pem"
    [[ $stderr == *"unable to create '$D/no/such/dh.pem': no directory '$D/no/such'"* ]] || false
    [ ! -e "$D/no" ]
}

# A configuration with one [dhparam:web] section (filename on line 8) and no certificates.
write_config() {
    mkdir -p "$D/etc"
    cat >"$D/cdm.conf" <<CONF
[cdm]
statedir = $D/state

[dhparam:web]
handler = openssl
group = ffdhe2048
regenerate = ${2:-no}
filename = $1
CONF
}

@test "phases: prepare stages once, rollover deploys, cleanup keeps what is in use" {
    write_config "$D/etc/dh.pem"
    run -0 --separate-stderr cdm-config "$D/cdm.conf"
    printf '%s\n' "$output" >"$D/doc0.json"
    cdm-cert phase --phase prepare --now 1700000000 <"$D/doc0.json" >"$D/doc1.json"
    cdm-cert phase --phase prepare --now 1700000100 <"$D/doc1.json" >"$D/doc2.json"
    assert_equal "$(ls "$D/state/dhparam/web" | wc -l)" 1
    assert_equal "$(mode_of "$D/state/dhparam/web")" 700
    staged=$(jq -r '.material.dhparam.web.next.file' "$D/doc2.json")
    assert_equal "$staged" "$D/state/dhparam/web/20231114T221320Z.pem"
    [ ! -e "$D/etc/dh.pem" ]

    cdm-cert phase --phase rollover --now 1700000200 <"$D/doc2.json" >"$D/doc3.json"
    run -0 openssl dhparam -check -noout -in "$D/etc/dh.pem"
    cmp "$staged" "$D/etc/dh.pem"
    assert_equal "$(mode_of "$D/etc/dh.pem")" 644
    assert_equal "$(jq -r '.material.dhparam.web.current.deployed' "$D/doc3.json")" "$D/etc/dh.pem"
    assert_equal "$(jq -r '.material.dhparam.web.next' "$D/doc3.json")" null

    cdm-cert phase --phase cleanup --now 1700000300 <"$D/doc3.json" >"$D/doc4.json"
    [ -e "$staged" ]
    [ -e "$D/etc/dh.pem" ]
}

@test "phases: a missing filename directory exits 73 naming the key" {
    write_config "$D/nowhere/dh.pem"
    cdm-config "$D/cdm.conf" >"$D/doc0.json"
    cdm-cert phase --phase prepare --now 1700000000 <"$D/doc0.json" >"$D/doc1.json"
    run -73 --separate-stderr cdm-cert phase --phase rollover --now 1700000100 <"$D/doc1.json"
    [[ $stderr == *"$D/cdm.conf:8: unable to deploy DH parameters to '$D/nowhere/dh.pem'"* ]] || false
    # The document is written all the same, its DH material as it was: still staged, not current.
    assert_equal "$(jq -c .material.dhparam <<<"$output")" "$(jq -c .material.dhparam "$D/doc1.json")"
    [ ! -e "$D/nowhere" ]
}
