#!/usr/bin/env bats
# cdm-dns-apply with the zonefile provider: a BIND of this suite's own (named -g on loopback,
# rndc on a control port) serves example.test. from a plain zone file in the suite's temporary
# directory, written by hand (tests/cli/fixtures/zonefile/example.test.db: comments, a
# multi-line SOA, $ORIGIN switches, types cdm does not know). Each change goes through the
# file and `rndc reload`, and dig at that BIND shows it served: a real round trip. Every file
# written is checked with named-checkzone. Also: idempotence (not a byte changed, no reload),
# replace within a scope and `none`, a TTL change, a failed reload (69), a bad zone file (65),
# $INCLUDE. Needs named, rndc, tsig-keygen, named-checkzone, dig, flock, ss and jq.

load test_helper

PATH=$PATH:/usr/sbin:/sbin

ZF_FIXTURES="$FIXTURES/zonefile"

# True if nothing listens on TCP or UDP ports $1 and $1+1.
ports_free() {
    ss -Hltun | awk -v lo="$1" -v hi="$(($1 + 1))" '
        { p = $5; sub(/.*:/, "", p); if (p + 0 >= lo && p + 0 <= hi) busy = 1 }
        END { exit busy }'
}

write_named_conf() {
    cat >"$ZF_DIR/named.conf" <<EOF
include "$ZF_DIR/rndc.key";
options {
    directory "$ZF_DIR";
    pid-file "$ZF_DIR/named.pid";
    session-keyfile "$ZF_DIR/session.key";
    managed-keys-directory "$ZF_DIR";
    listen-on port $ZF_PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    reuseport no;
    automatic-interface-scan no;
    recursion no;
    dnssec-validation no;
    notify no;
};
controls {
    inet 127.0.0.1 port $ZF_RNDC_PORT allow { 127.0.0.1; } keys { "zonefile-rndc"; };
};
zone "example.test" {
    type primary;
    file "$ZF_ZONE";
};
zone "signed.test" {
    type primary;
    file "$ZF_SIGNED";
    key-directory "$ZF_DIR/keys";
    dnssec-policy default;
    inline-signing yes;
};
EOF
    {
        cat "$ZF_DIR/rndc.key"
        printf 'options {\n    default-key "zonefile-rndc";\n    default-server 127.0.0.1;\n'
        printf '    default-port %s;\n};\n' "$ZF_RNDC_PORT"
    } >"$ZF_DIR/rndc.conf"
}

stop_named() {
    local pid
    if [ -s "$ZF_DIR/named.pid" ]; then
        pid=$(cat "$ZF_DIR/named.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$ZF_DIR/named.pid"
    fi
    # flock(1) ends with named; it is our child.
    if [ -n "${ZF_FLOCK_PID:-}" ]; then
        kill -TERM "$ZF_FLOCK_PID" 2>/dev/null || true
        wait "$ZF_FLOCK_PID" 2>/dev/null || true
    fi
}

# Start named on the first free block of two ports from 25000 on, in steps of 10 (the testbed
# takes 24300-24939). flock(1) holds ${TMPDIR:-/tmp}/cdm-zonefile-ports-UID/BASE for as long
# as named runs, so parallel suites never pick the same block, and a crash frees it.
start_named() {
    local lockroot base
    lockroot=${TMPDIR:-/tmp}/cdm-zonefile-ports-$(id -u)
    mkdir -p "$lockroot"
    tsig-keygen -a hmac-sha256 zonefile-rndc >"$ZF_DIR/rndc.key"
    for base in $(seq 25000 10 25630); do
        ports_free "$base" || continue
        ZF_PORT=$base
        ZF_RNDC_PORT=$((base + 1))
        write_named_conf
        flock -n -E 75 "$lockroot/$base" named -g -n 1 -c "$ZF_DIR/named.conf" \
            </dev/null >"$ZF_DIR/named.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
        ZF_FLOCK_PID=$!
        for _ in $(seq 400); do
            if grep -q 'all zones loaded' "$ZF_DIR/named.log" &&
                zdig example.test SOA | grep -q 'status: NOERROR'; then
                export ZF_PORT ZF_RNDC_PORT ZF_FLOCK_PID
                return 0
            fi
            kill -0 "$ZF_FLOCK_PID" 2>/dev/null || break # the block is locked, or a port taken
            sleep 0.05
        done
        stop_named
    done
    echo "named did not start on any port block from 25000 to 25630; its last log:" >&2
    tail -n 20 "$ZF_DIR/named.log" >&2
    return 1
}

setup_file() {
    export ZF_DIR="$BATS_FILE_TMPDIR/ns"
    export ZF_ZONE="$ZF_DIR/example.test.db"
    export ZF_SIGNED="$ZF_DIR/signed.test.db"
    mkdir -p "$ZF_DIR/keys"
    cp "$ZF_FIXTURES/example.test.db" "$ZF_ZONE"
    chmod 0644 "$ZF_ZONE"
    # BIND signs this one itself (inline-signing): the file stays unsigned, as people keep it.
    # shellcheck disable=SC2016 # $TTL is the directive
    printf '%s\n' '$TTL 300' '@ IN SOA ns1.signed.test. hostmaster.signed.test. ( 1 3600 900 604800 300 )' \
        '  IN NS ns1' 'ns1 IN A 127.0.0.1' >"$ZF_SIGNED"
    start_named
}

teardown_file() { stop_named; }

zdig() { dig +time=2 +tries=1 +norec @127.0.0.1 -p "$ZF_PORT" "$@"; }
# What named serves for NAME TYPE: dig +short, sorted.
served() { zdig +short "$1" "$2" | sort; }
serial() { zdig +short example.test SOA | awk '{ print $3 }'; }
# Wait until named serves the zone with serial $1 (rndc reload queues the load).
wait_serial() {
    for _ in $(seq 200); do
        [ "$(serial)" = "$1" ] && return 0
        sleep 0.05
    done
    fail "named serves serial $(serial), not $1"
}

# The serial in the zone file (its SOA keeps the serial on a line of its own).
file_serial() { sed -n 's/^[[:space:]]*\([0-9]\{10\}\)[[:space:]]*; serial.*/\1/p' "$ZF_ZONE"; }

# The reload command: marks that it ran, then asks named through rndc for the zone in $ZONE.
# shellcheck disable=SC2016 # expanded by the shell the provider runs
RELOAD='touch "$BATS_TEST_TMPDIR/reloaded" && rndc -c "$ZF_DIR/rndc.conf" reload "$ZONE"'

apply() {
    cdm-dns-apply --zone example.test --handler zonefile --set zonefile="$ZF_ZONE" \
        --set reload="$RELOAD" "$@"
}

# The cdm-dns-apply entry of the report in $output.
report() { jq -c '.report[] | select(.program == "cdm-dns-apply")' <<<"$output"; }

check_zone() {
    run named-checkzone example.test "$ZF_ZONE"
    [ "$status" -eq 0 ] || fail "named-checkzone rejects the written file: $output"
}

# Lines only in $1 ("-LINE") and only in $2 ("+LINE"), in order.
changed_lines() {
    diff --unchanged-line-format= --old-line-format='-%L' --new-line-format='+%L' "$1" "$2" || true
}

@test "records written to the zone file are served by BIND after the reload, the rest of the file as it was" {
    local long hash before s r
    long=$(printf 'x%.0s' $(seq 300))
    hash=$(printf 'ab%.0s' $(seq 32))
    cp "$ZF_ZONE" "$BATS_TEST_TMPDIR/before"
    before=$(serial)
    run -0 --separate-stderr apply <<EOF
t1.example.test. 300 IN A 192.0.2.1
t1.example.test. 300 IN AAAA 2001:DB8::1
t1.example.test. 300 IN MX 10 mail.example.test.
t1.example.test. 300 IN CAA 0 issue "letsencrypt.org; validationmethods=dns-01"
long.example.test. 300 IN TXT "$long"
_443._tcp.t1.example.test. 300 IN TLSA 3 1 1 $hash
_imap._tcp.t1.example.test. 300 IN SRV 0 5 143 mail.example.test.
www.example.test. 3600 IN A 192.0.2.10
www.example.test. 3600 IN A 192.0.2.12
EOF
    r=$(report)
    [ "$(jq -r .changed <<<"$r")" = true ]
    [ "$(jq -r .messages <<<"$r")" = 1 ] # one write of the file
    s=$(jq -r .serial <<<"$r")
    [ "$s" -gt "$before" ]
    [[ "$s" == "$(date +%Y%m%d)"* ]] # the date rule: YYYYMMDDnn
    [[ "$stderr" == *"add (new) A for www.example.test : 192.0.2.12"* ]]
    [[ "$stderr" == *"delete A for www.example.test : 192.0.2.11"* ]]
    [[ "$stderr" == *"add (exists) A for www.example.test : 192.0.2.10"* ]]
    [ -e "$BATS_TEST_TMPDIR/reloaded" ]
    check_zone
    wait_serial "$s"

    assert_equal "$(served t1.example.test A)" 192.0.2.1
    assert_equal "$(served t1.example.test AAAA)" 2001:db8::1
    assert_equal "$(served t1.example.test MX)" '10 mail.example.test.'
    assert_equal "$(served t1.example.test CAA)" '0 issue "letsencrypt.org; validationmethods=dns-01"'
    assert_equal "$(served long.example.test TXT | sed -e 's/" "//g' -e 's/"//g')" "$long"
    assert_equal "$(served _443._tcp.t1.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$hash"
    assert_equal "$(served _imap._tcp.t1.example.test SRV)" '0 5 143 mail.example.test.'
    assert_equal "$(served www.example.test A)" $'192.0.2.10\n192.0.2.12'
    # A type cdm does not know stays served, untouched.
    assert_equal "$(served www.example.test HTTPS)" '1 . alpn="h2,h3"'

    # Only the serial and the replaced address changed in place; the new owners were appended.
    run changed_lines "$BATS_TEST_TMPDIR/before" "$ZF_ZONE"
    assert_line --index 0 $'-\t\t2024010101\t; serial, YYYYMMDDnn'
    assert_line --index 1 $'+\t\t'"$s"$'\t; serial, YYYYMMDDnn'
    assert_line --index 2 $'-\t\tIN\tA\t192.0.2.11\t; the second web server'
    assert_line --index 3 $'+\t\tIN\tA\t192.0.2.12'
    # New owners go at the end, relative to the $ORIGIN there, TTL shown (it is not $TTL).
    # Tabs to the columns of the line before (tab stops of 8).
    assert_line $'+t1\t\t300\tIN\tA\t192.0.2.1'
    assert_line $'+_443._tcp.t1\t300\tIN\tTLSA\t3 1 1 '"$hash"
    [ "${#lines[@]}" -eq 11 ] || fail "$output"
    [ "$(grep -c '^+' <<<"$output")" -eq 9 ] || fail "$output"
    [ "$(stat -c %a "$ZF_ZONE")" = 644 ]
    # Nothing left beside the zone file but its lock.
    [ -z "$(find "$ZF_DIR" -name 'example.test.db?*' ! -name 'example.test.db.lock')" ]
}

@test "a second run changes nothing: the file is the same byte for byte and nothing is reloaded" {
    local inode r
    printf '%s\n' 'idem.example.test. 300 IN A 192.0.2.21' 'idem.example.test. 300 IN TXT "same"' \
        'idem.example.test. 300 IN CAA 0 issue "ca.test"' >"$BATS_TEST_TMPDIR/in"
    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    r=$(report)
    [ "$(jq -r .changed <<<"$r")" = true ]
    check_zone
    wait_serial "$(jq -r .serial <<<"$r")"
    cp "$ZF_ZONE" "$BATS_TEST_TMPDIR/first"
    inode=$(stat -c %i.%Y "$ZF_ZONE")
    rm "$BATS_TEST_TMPDIR/reloaded"

    run -0 --separate-stderr apply "$BATS_TEST_TMPDIR/in"
    [ "$(jq -r .changed <<<"$(report)")" = false ]
    [ "$(jq -r .messages <<<"$(report)")" = 0 ]
    assert_equal "$(jq -r '[.records[].action] | unique | join(" ")' <<<"$(report)")" exists
    [[ "$stderr" == *'add (exists) CAA for idem.example.test : 0 issue "ca.test"'* ]]
    cmp "$ZF_ZONE" "$BATS_TEST_TMPDIR/first"
    [ "$(stat -c %i.%Y "$ZF_ZONE")" = "$inode" ] # not even rewritten
    [ ! -e "$BATS_TEST_TMPDIR/reloaded" ]
}

@test "a tcp/443 TLSA is replaced in its place while tcp/25 and *._tcp stay; none deletes an RRset" {
    local a b c d
    a=$(printf 'a%.0s' $(seq 64)) b=$(printf 'b%.0s' $(seq 64))
    c=$(printf 'c%.0s' $(seq 64)) d=$(printf 'd%.0s' $(seq 64))
    run -0 --separate-stderr apply <<EOF
_25._tcp.mx.example.test. 300 IN TLSA 3 1 1 $c
*._tcp.mx.example.test. 300 IN TLSA 3 1 1 $d
_443._tcp.mx.example.test. 300 IN TLSA 3 1 1 $a
mx.example.test. 300 IN A 192.0.2.25
EOF
    check_zone
    cp "$ZF_ZONE" "$BATS_TEST_TMPDIR/before"
    run -0 --separate-stderr apply --format text <<<"_443._tcp.mx.example.test. 300 IN TLSA 3 1 1 $b"
    assert_line "add (new) TLSA for _443._tcp.mx.example.test : 3 1 1 $b"
    assert_line "delete TLSA for _443._tcp.mx.example.test : 3 1 1 $a"
    check_zone
    # The new record took the old one's line.
    run changed_lines "$BATS_TEST_TMPDIR/before" "$ZF_ZONE"
    assert_line --index 2 --regexp "^-_443\\._tcp\\.mx.*TLSA	3 1 1 $a\$"
    assert_line --index 3 --regexp "^\\+_443\\._tcp\\.mx.*TLSA	3 1 1 $b\$"
    [ "${#lines[@]}" -eq 4 ] || fail "$output"
    wait_serial "$(file_serial)"
    assert_equal "$(served _443._tcp.mx.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$b"
    assert_equal "$(served _25._tcp.mx.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$c"
    assert_equal "$(served '*._tcp.mx.example.test' TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$d"

    run -0 --separate-stderr apply --format text <<<"_25._tcp.mx.example.test. TLSA none"
    assert_output "delete TLSA for _25._tcp.mx.example.test : 3 1 1 $c"
    check_zone
    wait_serial "$(file_serial)"
    # Only the wildcard answers for tcp/25 now.
    assert_equal "$(served _25._tcp.mx.example.test TLSA | tr -d ' ' | tr 'A-F' 'a-f')" "311$d"
    assert_equal "$(served mx.example.test A)" 192.0.2.25
    run ! grep -q "$c" "$ZF_ZONE"
}

@test "a new TTL is written into the RRset's lines in place" {
    local s
    run -0 --separate-stderr apply <<<'ttl.example.test. 300 IN A 192.0.2.31'
    check_zone
    run -0 --separate-stderr apply <<<'ttl.example.test. 300 IN A 192.0.2.32'$'\n''ttl.example.test. 300 IN A 192.0.2.31'
    check_zone
    cp "$ZF_ZONE" "$BATS_TEST_TMPDIR/before"
    run -0 --separate-stderr apply <<<'ttl.example.test. 900 IN A 192.0.2.31'$'\n''ttl.example.test. 900 IN A 192.0.2.32'
    s=$(jq -r .serial <<<"$(report)")
    check_zone
    wait_serial "$s"
    run zdig +noall +answer ttl.example.test A
    assert_line --regexp '^ttl\.example\.test\.[[:space:]]+900[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.31$'
    assert_line --regexp '^ttl\.example\.test\.[[:space:]]+900[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.32$'
    run changed_lines "$BATS_TEST_TMPDIR/before" "$ZF_ZONE"
    [ "${#lines[@]}" -eq 6 ] || fail "$output" # the serial, and the two lines with their TTL
}

@test "four runs at once on one zone file: each waits for the lock or reads again, none is lost" {
    local i s pids=()
    for i in 1 2 3 4; do
        apply --format text <<<"race$i.example.test. 300 IN A 192.0.2.7$i" \
            >"$BATS_TEST_TMPDIR/out$i" 2>"$BATS_TEST_TMPDIR/err$i" 3>&- &
        pids+=("$!")
    done
    for i in 1 2 3 4; do
        wait "${pids[i - 1]}" || fail "run $i failed: $(cat "$BATS_TEST_TMPDIR/err$i")"
    done
    check_zone
    s=$(file_serial)
    wait_serial "$s"
    for i in 1 2 3 4; do
        assert_equal "$(cat "$BATS_TEST_TMPDIR/out$i")" "add (new) A for race$i.example.test : 192.0.2.7$i"
        assert_equal "$(served "race$i.example.test" A)" "192.0.2.7$i"
        [ "$(grep -c "^race${i}[[:space:]]" "$ZF_ZONE")" -eq 1 ]
    done
}

@test "a zone BIND signs inline: the edited file is reloaded, and the new record served signed" {
    local s
    for _ in $(seq 200); do # named signs the zone after loading it
        zdig +dnssec signed.test SOA | grep -q 'RRSIG[[:space:]]*SOA' && break
        sleep 0.05
    done
    run -0 --separate-stderr cdm-dns-apply --zone signed.test --handler zonefile \
        --set zonefile="$ZF_SIGNED" --set reload="$RELOAD" <<<'www.signed.test. 300 IN A 192.0.2.90'
    s=$(jq -r .serial <<<"$(report)")
    run named-checkzone signed.test "$ZF_SIGNED"
    [ "$status" -eq 0 ] || fail "$output"
    for _ in $(seq 200); do
        [ "$(zdig +short signed.test SOA | awk '{ print $3 }')" = "$s" ] && break
        sleep 0.05
    done
    run zdig +dnssec www.signed.test A
    assert_line --regexp $'^www\\.signed\\.test\\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+192\\.0\\.2\\.90$'
    assert_line --regexp '^www\.signed\.test\.[[:space:]]+300[[:space:]]+IN[[:space:]]+RRSIG[[:space:]]+A '
    # The file itself holds no signatures.
    run ! grep -q RRSIG "$ZF_SIGNED"
}

@test "--verify waits until BIND serves what the file now holds" {
    run -0 --separate-stderr apply --verify --verify-server "127.0.0.1:$ZF_PORT" --timeout 20 \
        <<<'verify.example.test. 300 IN TXT "round trip"'
    r=$(report)
    [ "$(jq -r .changed <<<"$r")" = true ]
    [ "$(jq -r .verify.ok <<<"$r")" = true ] || fail "$r"
    assert_equal "$(jq -r '.verify.servers[0].serial' <<<"$r")" "$(jq -r .serial <<<"$r")"
    [[ "$stderr" == *"zone example.test.: verified at 1 server addresses"* ]] || fail "$stderr"
    check_zone
    assert_equal "$(served verify.example.test TXT)" '"round trip"'
    assert_equal "$(serial)" "$(jq -r .serial <<<"$r")"
}

@test "a failed reload is exit 69: the file is written and the message says how to retry" {
    local bad s
    bad=$((ZF_RNDC_PORT + 5)) # nothing listens there
    run -69 --separate-stderr cdm-dns-apply --zone example.test --handler zonefile \
        --set zonefile="$ZF_ZONE" --set reload="rndc -c '$ZF_DIR/rndc.conf' -p $bad reload \"\$ZONE\"" \
        <<<'reload.example.test. 300 IN A 192.0.2.41'
    check_zone
    grep -q '192.0.2.41' "$ZF_ZONE"
    s=$(file_serial)
    [[ "$stderr" == *"zone file '$ZF_ZONE' was written (serial $s) but the reload command"* ]] || fail "$stderr"
    [[ "$stderr" == *"exited with status 1"* ]] || fail "$stderr"
    [[ "$stderr" == *"run the reload again by hand"* ]] || fail "$stderr"
    # named still serves the old zone...
    assert_equal "$(served reload.example.test A)" ""
    [ "$(serial)" != "$s" ]
    # ... and the rerun changes nothing, so the reload is run by hand, as the message says.
    run -0 --separate-stderr apply <<<'reload.example.test. 300 IN A 192.0.2.41'
    [ "$(jq -r .changed <<<"$(report)")" = false ]
    rndc -c "$ZF_DIR/rndc.conf" reload example.test
    wait_serial "$s"
    assert_equal "$(served reload.example.test A)" 192.0.2.41
}

@test "a bad zone file is exit 65 naming file and line; nothing is written and nothing reloaded" {
    local n
    cp -p "$ZF_ZONE" "$BATS_TEST_TMPDIR/good"
    printf 'broken\tIN\tMX\t70000 mail\n' >>"$ZF_ZONE"
    n=$(wc -l <"$ZF_ZONE")
    cp -p "$ZF_ZONE" "$BATS_TEST_TMPDIR/bad"
    run -65 --separate-stderr apply --format text <<<'bad.example.test. 300 IN A 192.0.2.51'
    [[ "$stderr" == *"cdm-dns-apply: $ZF_ZONE:$n: MX preference '70000' is not a number from 0 to 65535"* ]] ||
        fail "$stderr"
    cmp "$ZF_ZONE" "$BATS_TEST_TMPDIR/bad"
    [ ! -e "$BATS_TEST_TMPDIR/reloaded" ]
    cp -p "$BATS_TEST_TMPDIR/good" "$ZF_ZONE"
}

@test "--dry-run reads the file and changes nothing" {
    cp -p "$ZF_ZONE" "$BATS_TEST_TMPDIR/before"
    run -0 --separate-stderr apply --dry-run --format text <<<'dry.example.test. 300 IN A 192.0.2.61'
    assert_output 'would add (new) A for dry.example.test : 192.0.2.61'
    cmp "$ZF_ZONE" "$BATS_TEST_TMPDIR/before"
    [ ! -e "$BATS_TEST_TMPDIR/reloaded" ]
}

@test "records kept in an \$INCLUDE file are read, and are not edited: exit 65 names the file" {
    local d="$BATS_TEST_TMPDIR/inc"
    mkdir "$d"
    cp "$ZF_FIXTURES/include.db" "$ZF_FIXTURES/include-part.db" "$d/"
    cp "$d/include.db" "$BATS_TEST_TMPDIR/before"
    run -65 --separate-stderr cdm-dns-apply --zone example.test --handler zonefile \
        --set zonefile="$d/include.db" <<<'static.example.test. 300 IN A 192.0.2.81'
    [[ "$stderr" == *"$d/include-part.db:2: cannot change 'static.example.test. A': its records are in the included file"* ]] ||
        fail "$stderr"
    cmp "$d/include.db" "$BATS_TEST_TMPDIR/before"
    # The included records are read: asking for them as they are is no change.
    run -0 --separate-stderr cdm-dns-apply --zone example.test --handler zonefile --format text \
        --set zonefile="$d/include.db" <<<'static.example.test. 300 IN TXT "kept by hand"'
    assert_output 'add (exists) TXT for static.example.test : kept by hand'
    # Records of the main file are edited around the $INCLUDE line, which stays.
    run -0 --separate-stderr cdm-dns-apply --zone example.test --handler zonefile --set serial=increment \
        --set zonefile="$d/include.db" <<<'mail.example.test. 300 IN A 192.0.2.26'
    run changed_lines "$BATS_TEST_TMPDIR/before" "$d/include.db"
    assert_output $'-@ IN SOA ns1 hostmaster ( 2024010101 3600 900 604800 300 )\n+@ IN SOA ns1 hostmaster ( 2024010102 3600 900 604800 300 )\n-mail IN A 192.0.2.25\n+mail IN A 192.0.2.26'
    (cd "$d" && named-checkzone -q example.test include.db)
}
