#!/usr/bin/env bats
# cdm-dns-apply with the rfc2136 provider against the test bed's BIND (ns1, zones signed by
# dnssec-policy): dynamic UPDATE signed with TSIG, the zone read by AXFR (or, where the key may
# not transfer it, by queries), prerequisites so that concurrent changes are detected. Every
# record type of the grammar (TXT over 255 octets, CAA with quotes), idempotence, a replace
# inside its scope, `none`, a TTL change, the six TSIG algorithms, the errors (wrong secret,
# unknown key, no key, server stopped or absent), a big change in few messages, and two
# writers racing on one RRset. dig is the independent check of what ns1 serves.
#
# The test bed grants UPDATE and AXFR to its two keys (hmac-sha256, hmac-sha512). setup_file
# adds four keys of its own (hmac-md5, hmac-sha1, hmac-sha224, hmac-sha384, written by
# tsig-keygen) to this file's ns1, allowed to UPDATE but not to transfer the zones: they show
# the other algorithms against BIND and the read by queries when AXFR is refused.

load test_helper
load testbed

EXTRA_ALGS="md5 sha1 sha224 sha384"

# Grant this suite's keys in ns1's named.conf and reload it (rndc reconfig).
grant_extra_keys() {
    local conf="$TB_DIR/ns1/named.conf" keys="$BATS_FILE_TMPDIR/keys" grants="" a
    mkdir -p "$keys"
    for a in $EXTRA_ALGS; do
        tsig-keygen -a "hmac-$a" "cdm-$a" >"$keys/$a.key"
        grants="$grants grant cdm-$a zonesub ANY;"
    done
    grep -q 'grant testbed-sha512 zonesub ANY;' "$conf" ||
        { echo "ns1's named.conf has no 'grant testbed-sha512 zonesub ANY;' to add keys beside" >&2; return 1; }
    {
        for a in $EXTRA_ALGS; do printf 'include "%s";\n' "$keys/$a.key"; done
        sed "s/grant testbed-sha512 zonesub ANY;/&$grants/" "$conf"
    } >"$conf.new"
    mv "$conf.new" "$conf"
    PATH=$PATH:/usr/sbin rndc -k "$TB_RNDC_KEY" -s 127.0.0.1 -p "$TB_RNDC_PORT" reconfig >&2
}

setup_file() {
    testbed_setup_file
    [ -n "${TB_SKIP:-}" ] || grant_extra_keys
}
teardown_file() { testbed_teardown_file; }
setup() { testbed_setup; }
# A test that stops ns1 must not leave it stopped for the next one.
teardown() { [ -z "${TB_NS_PID:-}" ] || kill -CONT "$TB_NS_PID" 2>/dev/null || true; }

# cdm-dns-apply through ns1 with the test bed's hmac-sha256 key; ZONE first, more options follow.
apply_zone() {
    local zone=$1
    shift
    cdm-dns-apply --zone "$zone" --handler rfc2136 --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" \
        --set keyfile="$TB_TSIG_KEY" "$@"
}
apply() { apply_zone example.test "$@"; }

# What ns1 serves for NAME TYPE: dig +short, sorted.
served() { tb_dig +short "$1" "$2" | sort; }
serial() { tb_dig +short "$1" SOA | awk '{ print $3 }'; }

# The cdm-dns-apply entry of the report in $output.
report() { jq -c '.report[] | select(.program == "cdm-dns-apply")' <<<"$output"; }

# TXT as dig prints it ("a" "b") -> the concatenated text.
txt_text() { sed -e 's/" "//g' -e 's/^"//' -e 's/"$//'; }

@test "every record type of the grammar goes in one signed UPDATE and ns1 serves it" {
    local dkim hash before r
    # A real 2048-bit DKIM key: its TXT is about 400 octets, so it needs two strings.
    dkim=$(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
        openssl pkey -pubout -outform DER | base64 -w0)
    hash=$(head -c 64 /dev/urandom | openssl dgst -sha256 -r | cut -d' ' -f1)
    before=$(serial example.test)
    run -0 --separate-stderr apply -v -v <<EOF
t1.example.test. 300 IN A 192.0.2.1
t1.example.test. 300 IN AAAA 2001:DB8::1
t1.example.test. 300 IN MX 10 mail.example.test.
t1.example.test. 300 IN MX 20 MX2.Example.ORG.
_imap._tcp.t1.example.test. 300 IN SRV 0 5 143 mail.example.test.
t1.example.test. 300 IN CAA 0 issue "letsencrypt.org; validationmethods=dns-01"
t1.example.test. 300 IN CAA 128 iodef "mailto:security@example.test"
key._domainkey.t1.example.test. 300 IN TXT "v=DKIM1; k=rsa; p=$dkim"
_443._tcp.t1.example.test. 300 IN TLSA 3 1 1 $hash
EOF
    r=$(report)
    [ "$(jq -r .changed <<<"$r")" = true ]
    [ "$(jq -r .messages <<<"$r")" = 1 ]
    [ "$(jq '[.records[] | select(.action == "add")] | length' <<<"$r")" = 9 ]
    # The serial reported is the one ns1 serves now, and it grew.
    [ "$(jq -r .serial <<<"$r")" = "$(serial example.test)" ]
    [ "$(serial example.test)" -gt "$before" ]
    [[ "$stderr" == *"rfc2136: AXFR of zone 'example.test.' from $TB_NS_ADDR#$TB_NS_PORT"* ]]
    [[ "$stderr" == *"rfc2136: UPDATE 1 of 1 to $TB_NS_ADDR#$TB_NS_PORT for zone 'example.test.': 7 RRsets"* ]]
    [[ "$stderr" == *"add (new) CAA for t1.example.test : 0 issue \"letsencrypt.org; validationmethods=dns-01\""* ]]
    # The secret is in no log line, not even at debug level.
    [[ "$stderr" != *"$TB_TSIG_SECRET"* ]] || fail "the TSIG secret is in the log"

    assert_equal "$(served t1.example.test A)" 192.0.2.1
    assert_equal "$(served t1.example.test AAAA)" 2001:db8::1
    assert_equal "$(served t1.example.test MX)" $'10 mail.example.test.\n20 mx2.example.org.'
    assert_equal "$(served _imap._tcp.t1.example.test SRV)" '0 5 143 mail.example.test.'
    assert_equal "$(served t1.example.test CAA)" \
        $'0 issue "letsencrypt.org; validationmethods=dns-01"\n128 iodef "mailto:security@example.test"'
    assert_equal "$(served key._domainkey.t1.example.test TXT | txt_text)" "v=DKIM1; k=rsa; p=$dkim"
    run -0 served key._domainkey.t1.example.test TXT
    [[ "$output" =~ ^\"([^\"]{255})\"\ \"[^\"]+\"$ ]] || fail "not split at 255: $output"
    assert_equal "$(served _443._tcp.t1.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$hash"
    # Signed by ns1 (dnssec-policy), as every change is.
    run -0 tb_dig +dnssec t1.example.test CAA
    assert_line --regexp 'IN[[:space:]]+RRSIG[[:space:]]+CAA '
}

@test "a second run changes nothing: add (exists), no UPDATE, the serial stays" {
    printf '%s\n' 'idem.example.test. 300 IN A 192.0.2.7' 'idem.example.test. 300 IN TXT "same" "split"' \
        >"$BATS_TEST_TMPDIR/in"
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    [ "$(jq -r .messages <<<"$(report)")" = 1 ]
    local s
    s=$(serial example.test)
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    [[ "$stderr" == *"add (exists) A for idem.example.test : 192.0.2.7"* ]]
    [[ "$stderr" == *"add (exists) TXT for idem.example.test : samesplit"* ]]
    [[ "$stderr" == *"nothing to change"* ]]
    [ "$(jq -r .changed <<<"$(report)")" = false ]
    [ "$(jq -r .messages <<<"$(report)")" = 0 ]
    assert_equal "$(serial example.test)" "$s"
    # Another split of the same TXT text is no change either.
    run -0 --separate-stderr apply <<<'idem.example.test. 300 IN TXT "samesplit"'
    [ "$(jq -r .messages <<<"$(report)")" = 0 ]
    assert_equal "$(serial example.test)" "$s"
}

@test "replace inside its scope: _443._tcp TLSA replaced, _25._tcp and *._tcp stay" {
    local a b c d
    a=$(printf 'a%.0s' $(seq 64)) b=$(printf 'b%.0s' $(seq 64)) c=$(printf 'c%.0s' $(seq 64))
    d=$(printf 'd%.0s' $(seq 64))
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
update add _443._tcp.sc.example.test. 300 IN TLSA 3 1 1 $a
update add _443._tcp.sc.example.test. 300 IN TLSA 3 1 1 $b
update add _25._tcp.sc.example.test. 300 IN TLSA 3 1 1 $a
update add *._tcp.sc.example.test. 300 IN TLSA 3 1 1 $a
EOF
    run -0 --separate-stderr apply --format text <<<"_443._tcp.sc.example.test. 300 IN TLSA 3 1 1 $c"
    assert_line --index 0 "add (new) TLSA for _443._tcp.sc.example.test : 3 1 1 $c"
    assert_line --index 1 "delete TLSA for _443._tcp.sc.example.test : 3 1 1 $a"
    assert_line --index 2 "delete TLSA for _443._tcp.sc.example.test : 3 1 1 $b"
    assert_equal "$(served _443._tcp.sc.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$c"
    assert_equal "$(served _25._tcp.sc.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$a"
    assert_equal "$(served '*._tcp.sc.example.test' TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$a"

    # A scope with a '*' label needs the whole zone: read by AXFR, it deletes tcp/25 and the
    # '*._tcp' record too.
    cat >"$BATS_TEST_TMPDIR/doc.json" <<EOF
{"cdm": 1, "records": [{"name": "_443._tcp.sc.example.test.", "type": "TLSA", "ttl": 300,
  "data": "3 1 1 $d", "op": "replace", "scope": {"name": "*._tcp.sc.example.test.", "type": "TLSA"}}]}
EOF
    run -0 --separate-stderr apply --format text "$BATS_TEST_TMPDIR/doc.json"
    assert_line --index 0 "add (new) TLSA for _443._tcp.sc.example.test : 3 1 1 $d"
    assert_line "delete TLSA for _25._tcp.sc.example.test : 3 1 1 $a"
    assert_line "delete TLSA for *._tcp.sc.example.test : 3 1 1 $a"
    assert_equal "$(served _443._tcp.sc.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$d"
    assert_equal "$(served _25._tcp.sc.example.test TLSA)" ""
    assert_equal "$(served '*._tcp.sc.example.test' TLSA)" ""
}

@test "none deletes the RRset; a TTL change takes effect" {
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
update add gone.example.test. 300 IN A 192.0.2.1
update add gone.example.test. 300 IN A 192.0.2.2
update add ttl.example.test. 300 IN A 192.0.2.1
update add ttl.example.test. 300 IN A 192.0.2.2
EOF
    run -0 --separate-stderr apply --format text <<<'gone.example.test. A none'
    assert_line "delete A for gone.example.test : 192.0.2.1"
    assert_line "delete A for gone.example.test : 192.0.2.2"
    run -0 tb_dig gone.example.test A
    assert_line --partial 'status: NXDOMAIN'

    # Same records, another TTL; then a changed set with yet another TTL.
    run -0 --separate-stderr apply <<<$'ttl.example.test. 900 IN A 192.0.2.1\nttl.example.test. 900 IN A 192.0.2.2'
    [ "$(jq -r .messages <<<"$(report)")" = 1 ]
    run -0 tb_dig +noall +answer ttl.example.test A
    assert_equal "$(awk '{ print $2 }' <<<"$output" | sort -u)" 900
    assert_equal "${#lines[@]}" 2
    run -0 --separate-stderr apply <<<$'ttl.example.test. 60 IN A 192.0.2.2\nttl.example.test. 60 IN A 192.0.2.3'
    run -0 tb_dig +noall +answer ttl.example.test A
    assert_equal "$(awk '{ print $2 }' <<<"$output" | sort -u)" 60
    assert_equal "$(awk '{ print $5 }' <<<"$output" | sort | tr '\n' ' ')" "192.0.2.2 192.0.2.3 "
}

@test "each TSIG algorithm signs updates BIND accepts, and cdm verifies BIND's answers" {
    local a
    for a in $EXTRA_ALGS; do
        run -0 --separate-stderr cdm-dns-apply --zone example.test --handler rfc2136 -v \
            --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$BATS_FILE_TMPDIR/keys/$a.key" \
            <<<"alg-$a.example.test. 60 IN TXT \"signed with hmac-$a\""
        [[ "$stderr" == *"signing with key 'cdm-$a.' (hmac-$a)"* ]] || fail "$a: $stderr"
        assert_equal "$(served "alg-$a.example.test" TXT)" "\"signed with hmac-$a\""
    done
    # The test bed's keys, one from its file, one as key + algorithm + tsig_secret_file.
    run -0 apply <<<'alg-sha256.example.test. 60 IN TXT "signed with hmac-sha256"'
    printf '%s\n' "$TB_TSIG512_SECRET" >"$BATS_TEST_TMPDIR/secret"
    run -0 --separate-stderr cdm-dns-apply --zone example.test --handler rfc2136 -v \
        --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set key="$TB_TSIG512_NAME" \
        --set algorithm="$TB_TSIG512_ALG" --set tsig_secret_file="$BATS_TEST_TMPDIR/secret" \
        <<<'alg-sha512.example.test. 60 IN TXT "signed with hmac-sha512"'
    [[ "$stderr" == *"signing with key 'testbed-sha512.' (hmac-sha512)"* ]]
    [[ "$stderr" != *"$TB_TSIG512_SECRET"* ]] || fail "the TSIG secret is in the log"
    for a in sha256 sha512; do
        assert_equal "$(served "alg-$a.example.test" TXT)" "\"signed with hmac-$a\""
    done
}

@test "AXFR refused: the RRsets are read by queries, and prerequisites still hold them" {
    local key="$BATS_FILE_TMPDIR/keys/sha384.key"
    # This key may update but not transfer the zone.
    run dig +time=2 +tries=1 @"$TB_NS_ADDR" -p "$TB_NS_PORT" -k "$key" example.test AXFR
    assert_output --partial 'Transfer failed'
    tb_nsupdate -k "$TB_TSIG_KEY" <<<'update add q.example.test. 300 IN MX 10 old.example.org.'
    run -0 --separate-stderr cdm-dns-apply --zone example.test --handler rfc2136 -v --format text \
        --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$key" \
        <<<$'q.example.test. 300 IN MX 20 new.example.org.\nq.example.test. 300 IN A 192.0.2.5'
    [[ "$stderr" == *"AXFR of zone 'example.test.' refused by $TB_NS_ADDR#$TB_NS_PORT (REFUSED); reading 2 RRsets by queries"* ]]
    [[ "$stderr" == *"rfc2136: read 3 RRsets of zone 'example.test.' by queries"* ]]
    assert_line "add (new) MX for q.example.test : new.example.org"
    assert_line "delete MX for q.example.test : old.example.org"
    assert_equal "$(served q.example.test MX)" '20 new.example.org.'
    assert_equal "$(served q.example.test A)" 192.0.2.5

    # axfr = no reads by queries with any key; a '*' scope then sees only the names asked for.
    tb_nsupdate -k "$TB_TSIG_KEY" <<<'update add _25._tcp.nx.example.test. 300 IN TLSA 3 1 0 aaaa'
    cat >"$BATS_TEST_TMPDIR/doc.json" <<'EOF'
{"cdm": 1, "records": [{"name": "_443._tcp.nx.example.test.", "type": "TLSA", "ttl": 300,
  "data": "3 1 0 bbbb", "op": "replace", "scope": {"name": "*._tcp.nx.example.test.", "type": "TLSA"}}]}
EOF
    run -0 --separate-stderr apply --set axfr=no -v "$BATS_TEST_TMPDIR/doc.json"
    [[ "$stderr" == *"axfr = no: reading 1 RRsets of zone 'example.test.' by queries"* ]]
    [[ "$stderr" == *"could not be read whole (no zone transfer)"* ]]
    assert_equal "$(served _443._tcp.nx.example.test TLSA)" '3 1 0 BBBB'
    assert_equal "$(served _25._tcp.nx.example.test TLSA)" '3 1 0 AAAA'
}

@test "a wrong TSIG secret: exit 77 naming zone, server and key; nothing changes" {
    local s
    tsig-keygen -a hmac-sha256 "$TB_TSIG_NAME" >"$BATS_TEST_TMPDIR/wrong.key"
    s=$(serial example.test)
    run -77 --separate-stderr apply_zone example.test --set keyfile="$BATS_TEST_TMPDIR/wrong.key" \
        <<<'wrong.example.test. 300 IN A 192.0.2.66'
    assert_equal "$stderr" "cdm-dns-apply: $TB_NS_ADDR#$TB_NS_PORT rejected the AXFR of zone 'example.test.' signed with key '$TB_TSIG_NAME.' (BADSIG: the secret differs from the server's)"
    [ "$(jq -r .exit <<<"$(report)")" = 77 ]
    [[ "$stderr$output" != *"$(sed -n 's/.*secret "\(.*\)";.*/\1/p' "$BATS_TEST_TMPDIR/wrong.key")"* ]]
    run -0 tb_dig wrong.example.test A
    assert_line --partial 'status: NXDOMAIN'
    assert_equal "$(serial example.test)" "$s"

    # The same with axfr = no: the UPDATE itself is rejected.
    run -77 --separate-stderr apply_zone example.test --set keyfile="$BATS_TEST_TMPDIR/wrong.key" --set axfr=no \
        <<<'wrong.example.test. 300 IN A 192.0.2.66'
    [[ "$stderr" == *"$TB_NS_ADDR#$TB_NS_PORT rejected the query for "*" of zone 'example.test.' signed with key '$TB_TSIG_NAME.' (BADSIG"* ]]
    assert_equal "$(serial example.test)" "$s"
}

@test "a key ns1 does not know is BADKEY; no key at all is REFUSED: exit 77" {
    tsig-keygen -a hmac-sha256 nosuchkey >"$BATS_TEST_TMPDIR/unknown.key"
    run -77 --separate-stderr apply_zone example.test --set keyfile="$BATS_TEST_TMPDIR/unknown.key" \
        <<<'nokey.example.test. 300 IN A 192.0.2.66'
    [[ "$stderr" == *"zone 'example.test.' signed with key 'nosuchkey.' (BADKEY: the server has no key of this name and algorithm)"* ]]
    run -77 --separate-stderr cdm-dns-apply --zone example.test --handler rfc2136 -v \
        --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" <<<'nokey.example.test. 300 IN A 192.0.2.66'
    [[ "$stderr" == *"names no TSIG key: updates go unsigned"* ]]
    [[ "$stderr" == *"AXFR of zone 'example.test.' refused by $TB_NS_ADDR#$TB_NS_PORT (REFUSED)"* ]]
    [[ "$stderr" == *"cdm-dns-apply: $TB_NS_ADDR#$TB_NS_PORT refused the unsigned UPDATE of zone 'example.test.' (REFUSED): set 'keyfile' (or 'key' and 'tsig_secret')"* ]]
    run -0 tb_dig nokey.example.test A
    assert_line --partial 'status: NXDOMAIN'
}

@test "the primary from the SOA MNAME, looked up through the resolver" {
    run -0 --separate-stderr cdm-dns-apply --zone example.test --handler rfc2136 -v \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY" \
        <<<'mname.example.test. 300 IN A 192.0.2.8'
    [[ "$stderr" == *"the primary of zone 'example.test.' is its SOA MNAME ns1.example.test."* ]]
    assert_equal "$(served mname.example.test A)" 192.0.2.8
    # `server` may be a host name too; its addresses come through the same resolver.
    run -0 --separate-stderr cdm-dns-apply --zone example.test --handler rfc2136 -v \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --set server=NS1.example.test --set port="$TB_NS_PORT" \
        --set keyfile="$TB_TSIG_KEY" <<<'mname.example.test. 300 IN A 192.0.2.9'
    [[ "$stderr" =~ rfc2136:\ connected\ to\ (127\.0\.0\.1|::1)#$TB_NS_PORT\ for\ zone ]] || fail "$stderr"
    assert_equal "$(served mname.example.test A)" 192.0.2.9
}

@test "server stopped or absent: exit 69 naming the server; a rerun converges" {
    local port
    kill -STOP "$TB_NS_PID"
    run -69 --separate-stderr apply --set timeout=1 <<<'stopped.example.test. 300 IN A 192.0.2.9'
    kill -CONT "$TB_NS_PID"
    assert_equal "$stderr" "cdm-dns-apply: no answer from $TB_NS_ADDR#$TB_NS_PORT within 1 s (waiting for the answer)"
    [ "$(jq -r .exit <<<"$(report)")" = 69 ]

    # Nothing listens on the port after the test bed's block.
    port=$((TB_PORT_BASE + 9))
    run -69 --separate-stderr apply --set port="$port" <<<'stopped.example.test. 300 IN A 192.0.2.9'
    assert_equal "$stderr" "cdm-dns-apply: unable to reach the primary of zone 'example.test.' at $TB_NS_ADDR#$port: Connection refused"

    run -0 apply <<<'stopped.example.test. 300 IN A 192.0.2.9'
    assert_equal "$(served stopped.example.test A)" 192.0.2.9
}

@test "a [domain] section from cdm-config: key, algorithm and tsig_secret in the config file" {
    cat >"$BATS_TEST_TMPDIR/cdm.conf" <<EOF
[domain]
handler = rfc2136
server = $TB_NS_ADDR
port = $TB_NS_PORT
key = $TB_TSIG512_NAME
algorithm = $TB_TSIG512_ALG
tsig_secret = $TB_TSIG512_SECRET

[domain:cfg.example.test]
ip4 = 192.0.2.44
mx = mail.example.test:10
EOF
    run -0 --separate-stderr bash -c 'cdm-config "$1" | cdm-dns-apply -v --format text --zone example.test' _ \
        "$BATS_TEST_TMPDIR/cdm.conf"
    assert_line "add (new) A for cfg.example.test : 192.0.2.44"
    assert_line "add (new) MX for cfg.example.test : mail.example.test"
    [[ "$stderr" == *"signing with key 'testbed-sha512.' (hmac-sha512)"* ]]
    [[ "$stderr$output" != *"$TB_TSIG512_SECRET"* ]] || fail "the TSIG secret is in the output"
    assert_equal "$(served cfg.example.test A)" 192.0.2.44
    assert_equal "$(served cfg.example.test MX)" '10 mail.example.test.'
}

# Add N TXT records bigI.ZONE to ZONE in one run, logging at debug level.
fill_zone() { # zone n
    local i
    for ((i = 1; i <= $2; i++)); do
        printf 'big%d.%s 300 IN TXT "record %d of a zone made big on purpose"\n' "$i" "$1" "$i"
    done >"$BATS_TEST_TMPDIR/big"
    run -0 --separate-stderr apply_zone "$1" -v "$BATS_TEST_TMPDIR/big"
}

@test "2500 records go in a few full UPDATE messages; a multi-message AXFR reads them back" {
    local r n=0 sizes
    fill_zone shop.co.test 2500
    r=$(report)
    [ "$(jq '[.records[] | select(.action == "add")] | length' <<<"$r")" = 2500 ]
    # About 80 octets a record: four messages of at most 64 KiB, each full but the last.
    [ "$(jq -r .messages <<<"$r")" = 4 ]
    sizes=$(sed -n 's/.*rfc2136: UPDATE [0-9]* of 4 .*: \([0-9]*\) RRsets, \([0-9]*\) octets, additions only$/\1 \2/p' <<<"$stderr")
    assert_equal "$(wc -l <<<"$sizes")" 4
    while read -r rrsets octets; do
        n=$((n + rrsets))
        [ "$octets" -le 65535 ]
        [ "$n" = 2500 ] || [ "$octets" -gt 65000 ] || fail "a message that is not full: $octets octets"
    done <<<"$sizes"
    [ "$n" = 2500 ]
    assert_equal "$(served big1.shop.co.test TXT)" '"record 1 of a zone made big on purpose"'
    assert_equal "$(served big2500.shop.co.test TXT)" '"record 2500 of a zone made big on purpose"'
    # Read back (AXFR over several TSIG-signed messages, verified each), nothing to change.
    run -0 --separate-stderr apply_zone shop.co.test -v "$BATS_TEST_TMPDIR/big"
    [[ "$stderr" =~ AXFR\ of\ zone\ \'shop\.co\.test\.\'\ from\ [^:]*:\ 25[0-9][0-9]\ records\ in\ ([0-9]+)\ messages ]]
    [ "${BASH_REMATCH[1]}" -gt 1 ]
    [ "$(jq -r .messages <<<"$(report)")" = 0 ]
}

@test "a failure in a later UPDATE message: the error says how much was applied; a rerun converges" {
    local i applied
    # 1500 TXT records fill more than one message; the MX (added last) points at a name in
    # the zone without an address, which BIND refuses (REFUSED, check-integrity).
    for ((i = 1; i <= 1500; i++)); do
        printf 'part%d.example.net. 300 IN TXT "part %d of a change that fails half way"\n' "$i" "$i"
    done >"$BATS_TEST_TMPDIR/in"
    cp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/fixed"
    echo 'partial.example.net. 300 IN MX 10 nowhere.example.net.' >>"$BATS_TEST_TMPDIR/in"
    echo 'partial.example.net. 300 IN MX 10 mail.example.net.' >>"$BATS_TEST_TMPDIR/fixed"
    run -77 --separate-stderr apply_zone example.net -q "$BATS_TEST_TMPDIR/in"
    [[ "$stderr" =~ refused\ UPDATE\ 2\ of\ 2\ of\ zone\ \'example\.net\.\'\ \(REFUSED\).*\(applied\ ([0-9]+)\ of\ 1501\ RRsets\ before\ it\)$ ]] ||
        fail "$stderr"
    applied=${BASH_REMATCH[1]} # not $i: bats's run sets i
    # What was applied is there, the rest is not.
    run -0 tb_dig -k "$TB_TSIG_KEY" +noall +answer example.net AXFR
    assert_equal "$(grep -c '^part[0-9]*\.example\.net\.[[:space:]].*IN[[:space:]]*TXT' <<<"$output")" "$applied"
    assert_equal "$(served partial.example.net MX)" ""

    run -0 --separate-stderr apply_zone example.net "$BATS_TEST_TMPDIR/fixed"
    [ "$(jq '[.report[-1].records[] | select(.action == "exists")] | length' <<<"$output")" = "$applied" ]
    [ "$(jq '[.report[-1].records[] | select(.action == "add")] | length' <<<"$output")" = $((1501 - applied)) ]
    assert_equal "$(served part1500.example.net TXT)" '"part 1500 of a change that fails half way"'
    assert_equal "$(served partial.example.net MX)" '10 mail.example.net.'
}

@test "a change made by someone else after cdm read the zone: prerequisite fails, cdm reads again" {
    local pid axfrs log="$BATS_TEST_TMPDIR/cdm.log"
    # A zone big enough that reading it takes cdm a while: the other writer gets in between.
    fill_zone example.net 2000
    tb_nsupdate -k "$TB_TSIG_KEY" <<<'update add race.example.net. 300 IN A 192.0.2.1'
    # The other writer, ready before cdm starts: nsupdate waiting for its commands.
    coproc OTHER { nsupdate -k "$TB_TSIG_KEY" 2>&1; }
    printf 'server %s %s\nzone example.net\n' "$TB_NS_ADDR" "$TB_NS_PORT" >&"${OTHER[1]}"
    axfrs=$(grep -c "transfer of 'example.net/IN': AXFR started" "$TB_DIR/ns1.log" || true)
    apply_zone example.net -v --format text <<<'race.example.net. 300 IN A 192.0.2.2' >"$BATS_TEST_TMPDIR/out" 2>"$log" &
    pid=$!
    # Once ns1 logs the transfer started, it sends cdm the version of that moment.
    until [ "$(grep -c "transfer of 'example.net/IN': AXFR started" "$TB_DIR/ns1.log")" -gt "$axfrs" ]; do
        kill -0 "$pid" 2>/dev/null || fail "cdm-dns-apply ended before ns1 started the AXFR: $(cat "$log")"
        sleep 0.005
    done
    printf 'update add race.example.net. 300 IN A 192.0.2.3\nsend\nquit\n' >&"${OTHER[1]}"
    wait "$OTHER_PID"
    wait "$pid" || fail "cdm-dns-apply failed: $(cat "$log")"
    run cat "$log"
    assert_line --partial "zone 'example.net.' changed since it was read (the UPDATE of zone 'example.net.' at $TB_NS_ADDR#$TB_NS_PORT failed a prerequisite (NXRRSET: an RRset is no longer as read)); reading it again"
    # Read again and converged: both other records replaced by cdm's.
    assert_equal "$(served race.example.net A)" 192.0.2.2
    run cat "$BATS_TEST_TMPDIR/out"
    assert_line "add (new) A for race.example.net : 192.0.2.2"
    assert_line "delete A for race.example.net : 192.0.2.1"
    assert_line "delete A for race.example.net : 192.0.2.3"
}

@test "two cdm-dns-apply at once on one RRset: the loser reads again and its data wins" {
    local i pids=() winner loser lost
    [ -n "$(served big1.example.net TXT)" ] || fill_zone example.net 2000
    # Both programs start and wait for their input, which comes to both at once.
    for i in 1 2; do
        {
            until [ -e "$BATS_TEST_TMPDIR/go" ]; do sleep 0.01; done
            printf 'duel.example.net. 300 IN TXT "writer %s"\n' "$i"
        } | apply_zone example.net -v >"$BATS_TEST_TMPDIR/out$i" 2>"$BATS_TEST_TMPDIR/log$i" &
        pids+=($!)
    done
    sleep 0.5
    touch "$BATS_TEST_TMPDIR/go"
    for i in 0 1; do
        wait "${pids[$i]}" || fail "writer $((i + 1)) failed: $(cat "$BATS_TEST_TMPDIR/log$((i + 1))")"
    done
    # Both read the zone before either wrote: one UPDATE found the RRset created under it.
    loser=$(grep -l "changed since it was read" "$BATS_TEST_TMPDIR/log1" "$BATS_TEST_TMPDIR/log2") ||
        fail "no writer saw the other's change: $(cat "$BATS_TEST_TMPDIR/log1" "$BATS_TEST_TMPDIR/log2")"
    [ "$(wc -l <<<"$loser")" = 1 ]
    grep -q "the UPDATE of zone 'example.net.' at $TB_NS_ADDR#$TB_NS_PORT failed a prerequisite (YXRRSET" "$loser"
    lost=${loser: -1}
    winner=$((3 - lost))
    # The loser wrote last: its record replaced the winner's, and only its record is there.
    assert_equal "$(served duel.example.net TXT)" "\"writer $lost\""
    grep -q "add (new) TXT for duel.example.net : writer $winner" "$BATS_TEST_TMPDIR/log$winner"
    grep -q "delete TXT for duel.example.net : writer $winner" "$loser"
}
