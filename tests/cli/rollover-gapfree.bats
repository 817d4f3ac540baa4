#!/usr/bin/env bats
# The proof that a rollover leaves no gap: a real nginx serving the certificates cdm deploys, the
# DNSSEC-signed example.test in BIND, certificates from Pebble. While the driver runs two whole
# cycles (update, prepare, rollover, cleanup) with --next, as cron would (on 75, sleep the time
# left and try again), a probe checks without pause, hundreds of times, that
#   - the certificate nginx presents matches a TLSA record served, DNSSEC-secure, at that moment
#     (cdm-tlsa check through the validating resolver), and
#   - the selector in the DKIM signing configuration has a published record matching its key
#     (cdm-dkim test).
# A single failed round fails the test. After the last cleanup, only the current certificate's
# TLSA record and the current selector's DKIM record are published, and nothing else in the
# zone has changed.
#
# Time: the records' TTL and the zone's negative TTL are 2 s, the margin 1 s, so a cycle takes a
# few seconds of waiting plus Pebble's issuance.

load test_helper
load testbed
load fixtures/driver-testbed

setup_file() {
    export TB_WITH_PEBBLE=yes TB_WITH_NGINX=yes TB_NEGATIVE_TTL=2
    # nginx serves what cdm deploys: the [cert:main] destination.
    export TB_NGINX_CERTS="$BATS_FILE_TMPDIR/certs"
    testbed_setup_file
}
teardown_file() {
    local f="$BATS_FILE_TMPDIR/probe.pid"
    if [ -r "$f" ]; then
        tb_stop_pid "$(<"$f")"
    fi
    testbed_teardown_file
}
setup() { testbed_setup; }

# The zone as ns1 transfers it, less what signing and the rollover change by design: SOA,
# DNSSEC records, the TLSA records of nginx's port and the DKIM records.
zone_rest() {
    tb_dig +noall +answer -k "$TB_TSIG_KEY" example.test AXFR |
        awk -v tlsa="_$TB_NGINX_PORT._tcp.www.example.test." '
            $4 ~ /^(SOA|RRSIG|NSEC|NSEC3|NSEC3PARAM|DNSKEY|CDS|CDNSKEY|TYPE65534)$/ { next }
            $4 == "TLSA" && $1 == tlsa { next }
            $4 == "TXT" && $1 ~ /\._domainkey\.www\.example\.test\.$/ { next }
            { print }' | sort
}

# rounds_at_least LOG N: the probe has logged N rounds or more.
rounds_at_least() { [ "$(grep -c '^round ' "$1")" -ge "$2" ]; }

# The TLSA records served for nginx's port, as "u s m hex".
served_tlsa() {
    tb_dig +short "_$TB_NGINX_PORT._tcp.www.example.test" TLSA |
        awk '{ d = ""; for (i = 4; i <= NF; i++) d = d $i; print $1, $2, $3, tolower(d) }' | sort
}

# The DKIM selectors published under www.example.test (names of _domainkey TXT records).
served_selectors() {
    tb_dig +noall +answer -k "$TB_TSIG_KEY" example.test AXFR |
        awk '$4 == "TXT" && $1 ~ /\._domainkey\.www\.example\.test\.$/ { sub(/\._domainkey.*/, "", $1); print $1 }' | sort -u
}

@test "two cycles through the driver: every probe round finds the served certificate in a secure TLSA record and the signing selector published" {
    [ "${TB_HAVE_NGINX:-0}" = 1 ] || fail "the testbed has no nginx"
    local S=$BATS_FILE_TMPDIR/run conf state
    mkdir -p "$S"
    conf=$S/cdm.conf
    state=$S/state
    driver_config "$conf" "$state" "$S"
    local zone_before
    zone_before=$(zone_rest)
    # Before cdm takes over, nginx serves the throwaway certificate testbed made: regular files.
    [ -f "$TB_NGINX_CERTS/www.example.test/fullchain.pem" ] && [ ! -L "$TB_NGINX_CERTS/www.example.test/fullchain.pem" ]

    # Bootstrap: one cycle, so that there is a deployed certificate, TLSA and DKIM key to keep.
    run -0 "$DRIVER" --update "$conf"
    driver_cycle "$S/driver.log" "$state" "$conf" || fail "bootstrap cycle: $(cat "$S/driver.log")"
    run -0 cdm-tlsa check www.example.test "$TB_NGINX_PORT" --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT"

    # The probe, from now on without pause.
    local probe_log=$S/probe.log stop=$S/probe.stop
    bash "$FIXTURES/gapfree-probe.sh" "$probe_log" "$stop" "$S/rspamd/dkim_signing.conf" \
        www.example.test "$TB_NGINX_PORT" www.example.test </dev/null >"$S/probe.out" 2>&1 3>&- &
    echo $! >"$BATS_FILE_TMPDIR/probe.pid"

    # Every generation of certificate and DKIM key the cycles make.
    local spkis sels
    spkis=$(driver_state .material.cert.main.current.spki_sha256 "$state")
    sels=$(driver_state .material.dkim.mail.current.selector "$state")
    local cycle
    for cycle in 1 2; do
        run -0 "$DRIVER" --update "$conf"
        echo "== cycle $cycle" >>"$S/driver.log"
        driver_cycle "$S/driver.log" "$state" "$conf" || fail "cycle $cycle: $(tail -n 60 "$S/driver.log")"
        spkis="$spkis $(driver_state .material.cert.main.current.spki_sha256 "$state")"
        sels="$sels $(driver_state .material.dkim.mail.current.selector "$state")"
    done
    # Rounds while the cycles ran, then more until 300 in all, with the records stable. How
    # many fall into the cycles depends on the machine (a sanitizer build probes slower, a fast
    # machine cycles faster); that they spanned both rollovers is checked below: the probe saw
    # every certificate and every selector.
    local during
    during=$(grep -c '^round ' "$probe_log")
    echo "# probe: $during rounds during the two cycles" >&3
    [ "$during" -ge 20 ] || fail "only $during probe rounds during the cycles"
    tb_wait_for 300 rounds_at_least "$probe_log" 300 || fail "the probe made fewer than 300 rounds in 300 s"
    touch "$stop"
    tb_stop_pid "$(<"$BATS_FILE_TMPDIR/probe.pid")"
    rm -f "$BATS_FILE_TMPDIR/probe.pid"

    # Not a single failed round.
    local rounds failed
    rounds=$(grep -c '^round ' "$probe_log")
    failed=$(grep '^round ' "$probe_log" | grep -vc ' tlsa=0 dkim=0 ' || true)
    echo "# probe: $rounds rounds, $failed failed" >&3
    [ "$failed" -eq 0 ] || fail "$failed of $rounds probe rounds failed: $(grep -A8 -E '^round .* (tlsa|dkim)=[1-9]' "$probe_log" | head -n 60)"
    [ "$rounds" -ge 300 ] || fail "only $rounds probe rounds"
    # The probe saw all three certificates served and all three selectors in the signing
    # configuration: it ran across both rollovers.
    for s in $sels; do
        grep -q "^round .* selector=$s\$" "$probe_log" || fail "the probe never saw selector $s"
    done
    local spki
    for spki in $spkis; do
        grep -q "^round .* cert=${spki:0:24} " "$probe_log" || fail "the probe never saw certificate $spki"
    done

    # Three generations, each new.
    assert_equal "$(tr ' ' '\n' <<<"$spkis" | sort -u | grep -c .)" 3
    assert_equal "$(tr ' ' '\n' <<<"$sels" | sort -u | grep -c .)" 3
    # After the last cleanup: only the current TLSA record and the current DKIM selector.
    local sel
    spki=$(driver_state .material.cert.main.current.spki_sha256 "$state")
    sel=$(driver_state .material.dkim.mail.current.selector "$state")
    assert_equal "$(served_tlsa)" "3 1 1 $spki"
    assert_equal "$(served_selectors)" "$sel"
    local old
    for old in $sels; do
        [ "$old" = "$sel" ] && continue
        run tb_dig "$old._domainkey.www.example.test" TXT
        assert_line --partial 'status: NXDOMAIN'
    done
    # nginx serves the current certificate, from the files cdm deployed.
    [ -L "$TB_NGINX_CERTS/www.example.test/fullchain.pem" ]
    assert_equal "$(tb_nginx_cert www.example.test | openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" "$spki"
    # Nothing else in the zone changed (the challenge records are gone as well).
    assert_equal "$(zone_rest)" "$zone_before"
}

@test "the probe fails its round when the certificate matches no TLSA record or the selector's record is not the key's" {
    local S=$BATS_FILE_TMPDIR/control
    mkdir -p "$S"
    # A signing configuration whose selector has no record, and a server (pebble's HTTPS) whose
    # port has no TLSA record.
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$S/k.pem" 2>/dev/null
    printf 'path = "%s";\nselector = "%s";\n' "$S/k.pem" nosuchselector >"$S/signing.conf"
    bash "$FIXTURES/gapfree-probe.sh" "$S/probe.log" "$S/stop" "$S/signing.conf" \
        www.example.test "$TB_PEBBLE_PORT" www.example.test </dev/null >"$S/out" 2>&1 3>&- &
    local pid=$!
    tb_wait_for 30 rounds_at_least "$S/probe.log" 2 || fail "the probe made no rounds: $(cat "$S/out")"
    touch "$S/stop"
    tb_stop_pid "$pid"
    run -0 grep -c '^round ' "$S/probe.log"
    local n=$output
    run -0 grep -Ec '^round [0-9]+ [0-9:.]+ tlsa=[1-9][0-9]* dkim=[1-9][0-9]* cert=- selector=nosuchselector$' "$S/probe.log"
    assert_output "$n"
}
