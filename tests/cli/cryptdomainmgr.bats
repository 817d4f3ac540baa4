#!/usr/bin/env bats
# The driver, scripts/cryptdomainmgr: the original's command line, one run at a time, every
# program's exit status passed through, dry runs that change nothing, and a whole cycle against
# the testbed (Pebble, BIND with DNSSEC, nginx).

load test_helper
load testbed
load fixtures/driver-testbed

setup_file() {
    export TB_WITH_PEBBLE=yes TB_WITH_NGINX=yes TB_NEGATIVE_TTL=2
    testbed_setup_file
}
teardown_file() { testbed_teardown_file; }
setup() {
    S=$BATS_TEST_TMPDIR
}

# dkim_config FILE [DOMAIN-SECTION-KEY...]: a configuration with one DKIM key for example.test
# and nothing else, its zone reached through ns1 (or where the extra lines say).
dkim_config() {
    local file=$1
    shift
    {
        printf '[cdm]\nstatedir = %s\nmargin = 1\n' "$S/state"
        printf 'resolver = %s:%s\ntrustanchor = %s\n' "$TB_RESOLVER" "$TB_RESOLVER_PORT" "$TB_TRUST_ANCHOR"
        printf 'verifyserver = %s:%s, %s:%s\n' "$TB_NS_ADDR" "$TB_NS_PORT" "$TB_NS2_ADDR" "$TB_NS2_PORT"
        printf '\n[domain]\nhandler = rfc2136\nserver = %s\nkeyfile = %s\n' "$TB_NS_ADDR" "$TB_TSIG_KEY"
        printf '%s\n' "${@:-port = $TB_NS_PORT}"
        printf '\n[domain:example.test]\ndkim = auto:mail\nttl = 600\n'
        printf '\n[dkim:mail]\nhandler = rspamd\nkeylocation = %s\nkeysize = 1024\n' "$S/rspamd"
        printf 'signingconfdestinationfile = %s\n' "$S/rspamd/dkim_signing.conf"
    } >"$file"
}

# A snapshot of a directory tree: names, types, sizes, times, contents' hashes.
tree_of() {
    [ -e "$1" ] || {
        echo absent
        return
    }
    find "$1" -printf '%P %y %s %T@\n' | sort
    find "$1" -type f -exec sha256sum {} + | sort
}

@test "--help and -h print the usage, with every option, and exit 0" {
    for h in --help -h; do
        run -0 "$DRIVER" "$h"
        assert_line --index 0 --regexp '^usage: cryptdomainmgr \[--update\|--prepare\|--rollover\|--cleanup\|--next\] '
        for o in --config-content --dry-run --force -v -q --version; do
            assert_output --partial -- "$o"
        done
    done
}

@test "--version: the programs' version, under the name it was called by (cryptdomainmgr or cdm)" {
    local v
    v=$(cdm-config --version)
    run -0 "$DRIVER" --version
    assert_output "cryptdomainmgr${v#cdm-config}"
    [[ $output =~ ^cryptdomainmgr\ \(cdm\)\ [0-9] ]] || false
    ln -s "$DRIVER" "$S/cdm"
    run -0 "$S/cdm" --version
    assert_output "cdm${v#cdm-config}"
}

@test "usage errors exit 64 and name the option" {
    run -64 --separate-stderr "$DRIVER" --frobnicate x.conf
    [[ $stderr == *"unknown option '--frobnicate'"* ]] || false
    run -64 --separate-stderr "$DRIVER" x.conf --config-content
    [[ $stderr == *"'--config-content' needs a value"* ]] || false
}

@test "a CONFIG that does not exist: exit 66 from cdm-config, and nothing is made" {
    run -66 --separate-stderr "$DRIVER" --prepare "$S/no-such.conf"
    [[ $stderr == *no-such.conf* ]] || false
    [ ! -e "$S/state" ]
    # The programs are found without PATH: beside the driver when installed, or in CDM_BINDIR.
    run -66 env PATH=/usr/bin:/bin CDM_BINDIR="$CDM_BUILD_DIR/tools" "$DRIVER" "$S/no-such.conf"
    run -69 --separate-stderr env PATH=/usr/bin:/bin CDM_BINDIR="$S/empty" "$DRIVER" "$S/no-such.conf"
    [[ $stderr == *"cdm-config not found in $S/empty"* ]] || false
}

@test "the last phase flag wins; no flag means --next; -v shows each program run" {
    dkim_config "$S/c.conf"
    run -0 --separate-stderr "$DRIVER" -v --rollover --cleanup --prepare --dry-run "$S/c.conf"
    [[ $stderr == *"dry run: phase prepare would run"* ]] || false
    [[ $stderr == *"RUN CMD: cdm-phase begin --phase prepare"* ]] || false
    # Last --rollover: not prepared, so cdm-phase begin says no (75).
    run -75 --separate-stderr "$DRIVER" -v --prepare --rollover --dry-run "$S/c.conf"
    [[ $stderr == *"RUN CMD: cdm-phase begin --phase rollover"* ]] || false
    # No flag, and --next last: the phase due on a new state is prepare.
    for flags in "" "--rollover --next"; do
        # shellcheck disable=SC2086
        run -0 --separate-stderr "$DRIVER" -v $flags --dry-run "$S/c.conf"
        [[ $stderr == *"dry run: phase prepare would run"* ]] || false
    done
}

@test "--config-content: runs of two spaces are line breaks, it comes after the files, the last one wins" {
    run -0 --separate-stderr "$DRIVER" --update \
        --config-content "[cdm]  statedir = $S/first" --config-content "[cdm]  statedir = $S/second"
    [ ! -e "$S/first" ]
    [ -f "$S/second/state.json" ]
    assert_equal "$(jq -r '.runs[-1].phase, .runs[-1].ok' "$S/second/state.json")" "$(printf 'update\ntrue')"
    # After the CONFIG file: its statedir is overridden.
    printf '[cdm]\nstatedir = %s\n' "$S/from-file" >"$S/c.conf"
    run -0 --separate-stderr "$DRIVER" --update "$S/c.conf" --config-content "[cdm]  statedir = $S/third"
    [ ! -e "$S/from-file" ]
    [ -f "$S/third/state.json" ]
    # The state directory is private.
    assert_equal "$(stat -c %a "$S/third")" 700
}

@test "a second run while one holds the state's lock exits 75 at once, naming the lock" {
    mkdir -p "$S/state"
    dkim_config "$S/c.conf"
    local fd
    exec {fd}>"$S/state/state.json.lock"
    flock -n "$fd"
    run -75 --separate-stderr "$DRIVER" --prepare "$S/c.conf"
    [[ $stderr == *"another run holds $S/state/state.json.lock"* ]] || false
    [ ! -e "$S/rspamd" ] && [ ! -e "$S/state/state.json" ]
    exec {fd}>&-
    # Released: the next run gets it (and the lock is not handed to the programs it runs).
    run -0 --separate-stderr "$DRIVER" --update "$S/c.conf"
}

@test "--dry-run changes nothing: no state directory, no key, no record; an existing state stays as it is" {
    dkim_config "$S/c.conf"
    local zone_before
    zone_before=$(tb_dig +noall +answer example.test AXFR -k "$TB_TSIG_KEY" | grep -v 'RRSIG\|NSEC\|SOA' | sort)
    for p in --prepare --next --update --cleanup; do
        run --separate-stderr "$DRIVER" "$p" --dry-run "$S/c.conf"
        [ "$status" -eq 0 ] || [ "$status" -eq 75 ] || fail "$p --dry-run: exit $status: $stderr"
    done
    [ ! -e "$S/state" ] && [ ! -e "$S/rspamd" ]
    # A real prepare, then dry runs of every phase: the state and the key files do not change.
    run -0 --separate-stderr "$DRIVER" --prepare "$S/c.conf"
    local before
    before=$(tree_of "$S/state")
    for p in --prepare --next --update --rollover --cleanup; do
        run --separate-stderr "$DRIVER" "$p" --dry-run --force "$S/c.conf"
        [ "$status" -eq 0 ] || [ "$status" -eq 75 ] || fail "$p --dry-run: exit $status: $stderr"
    done
    assert_equal "$(tree_of "$S/state")" "$before"
    [ ! -e "$S/rspamd" ]
    # The zone holds what the real prepare published, the new selector, and nothing more.
    local sel
    sel=$(driver_state '.material.dkim.mail.next.selector' "$S/state")
    run diff <(echo "$zone_before") <(tb_dig +noall +answer example.test AXFR -k "$TB_TSIG_KEY" | grep -v 'RRSIG\|NSEC\|SOA' | sort)
    assert_line --regexp "^> $sel\._domainkey\.example\.test\.[[:space:]]+600[[:space:]]+IN[[:space:]]+TXT"
    assert_equal "$(grep -c '^[<>]' <<<"$output")" 1
}

@test "a failing step stops the phase: commit records the material and the driver exits with the step's status" {
    # ns1's UPDATEs go to a port where nothing listens (+8 is never used by the testbed).
    dkim_config "$S/c.conf" "port = $((TB_PORT_BASE + 8))"
    run --separate-stderr "$DRIVER" -v --prepare "$S/c.conf"
    local code=$status
    [ "$code" -ne 0 ] || fail "prepare succeeded without a DNS server"
    [[ $stderr == *"prepare: cdm-dns-apply failed (exit $code); the rest of the phase is not run"* ]] || false
    [[ $stderr == *"RUN CMD: cdm-phase commit --failed cdm-dns-apply:$code"* ]] || false
    [[ $stderr != *"phase prepare done"* ]] || false
    # The key cdm-dkim made is in the state (never lost), the cycle did not move on.
    local sel key
    sel=$(driver_state '.material.dkim.mail.next.selector' "$S/state")
    key=$(driver_state '.material.dkim.mail.next.key' "$S/state")
    [ -n "$sel" ] && [ "$sel" != null ] && [ -f "$key" ]
    assert_equal "$(driver_state '.cycle.next' "$S/state")" prepare
    assert_equal "$(driver_state '.runs[-1] | "\(.phase) \(.ok) \(.exit)"' "$S/state")" "prepare false $code"
    # Fixed, prepare runs again with the same key: nothing new is generated.
    dkim_config "$S/c.conf"
    run -0 --separate-stderr "$DRIVER" --prepare "$S/c.conf"
    assert_equal "$(driver_state '.material.dkim.mail.next.selector' "$S/state")" "$sel"
    assert_equal "$(driver_state '.cycle.next' "$S/state")" rollover
}

@test "exit codes of the programs pass through: 65 for a state file that is not cdm's, 75 for a phase not due" {
    dkim_config "$S/c.conf"
    mkdir -p "$S/state"
    echo '["not", "a", "state"]' >"$S/state/state.json"
    run -65 --separate-stderr "$DRIVER" --prepare "$S/c.conf"
    [[ $stderr == *"$S/state/state.json"* ]] || false
    assert_equal "$(cat "$S/state/state.json")" '["not", "a", "state"]'
    rm "$S/state/state.json"
    run -75 --separate-stderr "$DRIVER" --cleanup "$S/c.conf"
    [ ! -e "$S/rspamd" ]
}

@test "--next after prepare: exit 75 with the time left; --force runs the rollover and says so" {
    dkim_config "$S/c.conf"
    run -0 --separate-stderr "$DRIVER" "$S/c.conf"
    [[ $stderr == *"run phase: prepare"* ]] || false
    run -75 --separate-stderr "$DRIVER" "$S/c.conf"
    # TTL 600 s, margin 1 s: about ten minutes.
    [[ $stderr =~ rollover\ is\ due\ in\ ([0-9]+)\ s ]] || fail "no time left in: $stderr"
    [ "${BASH_REMATCH[1]}" -ge 590 ] && [ "${BASH_REMATCH[1]}" -le 601 ] || fail "due in ${BASH_REMATCH[1]} s"
    [ ! -e "$S/rspamd" ]
    run -0 --separate-stderr "$DRIVER" --next --force "$S/c.conf"
    [[ $stderr == *"run phase: rollover"* ]] || false
    [[ $stderr == *forced* ]] || false
    assert_equal "$(driver_state '.runs[-1] | "\(.phase) \(.ok) \(.forced)"' "$S/state")" "rollover true true"
    run -0 grep -c '^selector = ' "$S/rspamd/dkim_signing.conf"
    assert_output 1
}

@test "one full cycle with --next against the testbed: nginx serves the new certificate, DNS holds only its TLSA and the new DKIM key" {
    [ "${TB_HAVE_NGINX:-0}" = 1 ] || fail "the testbed has no nginx"
    driver_config "$S/c.conf" "$S/state" "$S"
    run -0 "$DRIVER" --update "$S/c.conf"
    driver_cycle "$S/driver.log" "$S/state" "$S/c.conf" || fail "$(cat "$S/driver.log")"
    run -0 grep -c '^== run: 0' "$S/driver.log"
    assert_output 3 # prepare, rollover, cleanup (the first cycle has no old DKIM key to revoke)
    run -0 grep -E 'run phase: ' "$S/driver.log"
    assert_equal "$(grep -oE 'run phase: [a-z]+' "$S/driver.log" | uniq | tr '\n' ' ')" \
        "run phase: prepare run phase: rollover run phase: cleanup "

    # nginx serves the deployed certificate, the one in the state.
    local serial
    serial=$(driver_state '.material.cert.main.current.serial' "$S/state")
    assert_equal "$(tb_nginx_serial www.example.test | tr 'A-F' 'a-f' | sed 's/^0*//')" \
        "$(tr 'A-F' 'a-f' <<<"$serial" | sed 's/^0*//')"
    # Only its TLSA record is published, validated through unbound.
    local spki
    spki=$(driver_state '.material.cert.main.current.spki_sha256' "$S/state")
    run -0 tb_dig +short "_$TB_NGINX_PORT._tcp.www.example.test" TLSA
    assert_equal "$(tr -d ' ' <<<"$output" | tr 'A-F' 'a-f')" "311$spki"
    run -0 cdm-tlsa check www.example.test "$TB_NGINX_PORT" --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT"
    # The signing configuration names the current selector, whose record passes; nothing else.
    local sel
    sel=$(driver_state '.material.dkim.mail.current.selector' "$S/state")
    run -0 grep -x "selector = \"$sel\";" "$S/rspamd/dkim_signing.conf"
    local key
    key=$(sed -n 's/^path = "\(.*\)";$/\1/p' "$S/rspamd/dkim_signing.conf")
    [ -f "$key" ] || fail "no key at '$key'"
    run -0 cdm-dkim test --domain www.example.test --selector "$sel" --key "$key" \
        --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT"
    assert_equal "$(tb_dig +noall +answer example.test AXFR -k "$TB_TSIG_KEY" | awk '$4 == "TXT" && $1 ~ /\._domainkey\.www\.example\.test\.$/ { print $1 }')" \
        "$sel._domainkey.www.example.test."
    assert_equal "$(driver_state '.material.dkim.mail.previous' "$S/state") $(driver_state '.material.cert.main.previous' "$S/state")" "null null"
}

@test "update: when cdm-ip cannot detect an address (69), its record stays, the rest of the update runs, and the driver exits 69" {
    {
        printf '[cdm]\nstatedir = %s\n' "$S/state"
        printf 'resolver = %s:%s\n' "$TB_RESOLVER" "$TB_RESOLVER_PORT"
        printf 'verifyserver = %s:%s, %s:%s\n' "$TB_NS_ADDR" "$TB_NS_PORT" "$TB_NS2_ADDR" "$TB_NS2_PORT"
        printf '\n[domain]\nhandler = rfc2136\nserver = %s\nport = %s\nkeyfile = %s\nttl = 60\n' \
            "$TB_NS_ADDR" "$TB_NS_PORT" "$TB_TSIG_KEY"
        printf '\n[domain:www.example.net]\nip4 = auto\nip4detect = interface:cdm-no-such-if\n'
        printf '\n[domain:example.net]\nmx = mail.example.net:20\n'
    } >"$S/c.conf"
    run -69 --separate-stderr "$DRIVER" -v --update "$S/c.conf"
    [[ $stderr == *"cdm-ip could not detect an address (exit 69)"* ]] || false
    [[ $stderr == *"RUN CMD: cdm-dns-apply --verify"* ]] || false
    [[ $stderr == *"phase update incomplete (exit 69)"* ]] || false
    # The A record is the one the zone had; the MX of the same run was applied.
    run -0 tb_dig +short www.example.net A
    assert_output 127.0.0.1
    run -0 tb_dig +short example.net MX
    assert_output '20 mail.example.net.'
    assert_equal "$(driver_state '.runs[-1] | "\(.phase) \(.ok) \(.exit)"' "$S/state")" "update false 69"
}

@test "examples/Makefile: a broken configuration stops it before anything changes; a wait (75) is success for cron" {
    local mk=(make -s -f "$CDM_SOURCE_DIR/examples/Makefile" CDM="$DRIVER")
    dkim_config "$S/a.conf"
    printf '[domain:x.example.test]\nip4 = 192.0.2.300\n' >"$S/bad.conf"
    run -2 --separate-stderr "${mk[@]}" CONFIG="$S/a.conf $S/bad.conf"
    [[ $stderr == *"cdm-config: $S/bad.conf:2: "* ]] || fail "$stderr"
    [ ! -e "$S/state" ]
    # The cron target: update, then the due phase (prepare).
    run -0 --separate-stderr "${mk[@]}" CONFIG="$S/a.conf"
    [[ $stderr == *"run phase: update"*"run phase: prepare"* ]] || fail "$stderr"
    assert_equal "$(driver_state .cycle.next "$S/state")" rollover
    # At once again: the rollover is not due yet, which is no failure.
    run -0 --separate-stderr "${mk[@]}" CONFIG="$S/a.conf"
    [[ $stderr == *"rollover is due in "* ]] || fail "$stderr"
    run -0 "${mk[@]}" status CONFIG="$S/a.conf"
    assert_output --partial "next: rollover, due in "
}

@test "cron's PATH (/usr/bin:/bin) gets the sbin directories, where the services' tools are" {
    dkim_config "$S/a.conf"
    printf '\n[domain:www.example.test]\nip4 = auto\nip4detect = command:sh -c "echo \\"$PATH\\" > %s; echo 127.0.0.1"\n' \
        "$S/path" >>"$S/a.conf"
    run -0 --separate-stderr env PATH=/usr/bin:/bin CDM_BINDIR="$CDM_BUILD_DIR/tools" "$DRIVER" --update "$S/a.conf"
    [[ :$(cat "$S/path"): == *:/usr/sbin:* ]] || fail "PATH was $(cat "$S/path")"
    [[ :$(cat "$S/path"): == *:/sbin:* ]] || fail "PATH was $(cat "$S/path")"
}

@test "examples/Makefile: a failed update does not hold back the due phase" {
    local mk=(make -s -f "$CDM_SOURCE_DIR/examples/Makefile" CDM="$DRIVER")
    dkim_config "$S/a.conf"
    printf '\n[domain:www.example.test]\nip4 = auto\nip4detect = command:false\n' >>"$S/a.conf"
    run -0 --separate-stderr "${mk[@]}" CONFIG="$S/a.conf"
    [[ $stderr == *"run phase: update"*"phase update incomplete (exit 69)"*"run phase: prepare"* ]] || fail "$stderr"
    assert_equal "$(driver_state .cycle.next "$S/state")" rollover
}
