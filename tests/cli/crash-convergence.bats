#!/usr/bin/env bats
# Crash convergence: the programs die (SIGKILL, from libcommon/faultpoint: the build has
# -Dfault_points=true) at each named step of each phase, and the runs after it must converge to
# what an uninterrupted cycle leaves, with no gap in service and no key or certificate lost.
#
# The testbed: nginx serving www.example.test and mail.example.test from the files cdm deploys
# (two certificates from Pebble, each with its TLSA record), the DNSSEC-signed example.test in
# BIND, DKIM key `mail` whose signing configuration a probe reads, and two services to reload
# (nginx, then rspamd). A first cycle runs uninterrupted with CDM_FAULT_TRACE: the steps it
# passes through must be exactly CRASH_POINTS below, so a new fault point without a test here,
# or a point a cycle no longer reaches, fails the suite. Then one test per point runs one
# whole cycle in which, in every phase that reaches the point, one run dies there and the next
# runs go on without the variable (fixtures/crash-testbed.bash, crash_cycle), and checks:
#   - each killed run exited non-zero, left a whole state file, and lost no file the state
#     referenced before it and still references;
#   - the cycle ends as an uninterrupted one does: the state's next phase is prepare, only the
#     current certificates' TLSA records and the current DKIM selector are published, nginx
#     serves the current certificates, the rest of the zone is as before the first cycle (no
#     stray challenge record), and the files in the state directory, the destination and the
#     DKIM directory have the shape they have after an uninterrupted cycle (no stray staged
#     file, no leftover generation);
#   - two probes (fixtures/gapfree-probe.sh, one per name), running without pause through all
#     the crash cycles, never saw the served certificate without a secure matching TLSA
#     record, nor the signing selector without its published key (the last test).
#
# Time: TTL and negative TTL 1 s, margin 1 s; a point reached in one phase only shares its cycle
# with one of another phase: 8 crash cycles after the 2 uninterrupted ones.

load test_helper
load testbed
load fixtures/driver-testbed
load fixtures/crash-testbed

# Every fault point one cycle of this configuration passes through. The first test checks this
# list against the trace of an uninterrupted cycle.
CRASH_POINTS=(
    file.before-rename        # fsutil: the temporary file is written and synced, not renamed
    cert.staged-key-written   # prepare: the new certificate's key is in its staging directory
    dns.between-updates       # one UPDATE of this process is applied, the next is not sent
    cert.staged               # prepare: the issued certificate is in the state directory
    dkim.staged-key-written   # prepare: the next DKIM key is written, not yet in the material
    state.before-write        # cdm-phase commit: the state file is not yet replaced
    state.after-write         # cdm-phase commit: the state file is replaced
    cert.deployed-one         # rollover: one certificate deployed (of two, the first time)
    dkim.key-deployed         # rollover: the DKIM key deployed, the signing configuration not
    dkim.deployed             # rollover: key and signing configuration deployed
    reload.after-test         # cdm-reload: nginx's configuration tested, not reloaded
    reload.between-services   # cdm-reload: nginx reloaded, rspamd not yet
)

setup_file() {
    # Without fault points the kills below never happen and every test would fail obscurely.
    local honoured
    honoured=$(jq -r '.[] | select(.name == "fault_points") | .value' \
        "$CDM_BUILD_DIR/meson-info/intro-buildoptions.json")
    if [ "$honoured" != true ]; then
        echo "this suite needs a build configured with -Dfault_points=true (scripts/test makes one): meson configure $CDM_BUILD_DIR -Dfault_points=true" >&2
        return 1
    fi
    export TB_WITH_PEBBLE=yes TB_WITH_NGINX=yes TB_WITH_PDNS=no TB_NEGATIVE_TTL=1
    export TB_NGINX_CERTS="$BATS_FILE_TMPDIR/certs"
    testbed_setup_file
    export S="$BATS_FILE_TMPDIR/run"
    export CONF="$S/cdm.conf" STATE="$S/state"
    mkdir -p "$S"
}
teardown_file() {
    local f
    for f in "$BATS_FILE_TMPDIR"/probe-*.pid; do
        [ -r "$f" ] && tb_stop_pid "$(<"$f")"
    done
    testbed_teardown_file
}
setup() {
    testbed_setup
    [ "${TB_HAVE_NGINX:-0}" = 1 ] || fail "the testbed has no nginx"
}

# The zone as ns1 transfers it, less what signing and the rollover change by design (SOA,
# DNSSEC records, the TLSA records of nginx's port, the DKIM records).
zone_rest() {
    tb_dig +noall +answer -k "$TB_TSIG_KEY" example.test AXFR |
        awk -v port="_$TB_NGINX_PORT._tcp." '
            $4 ~ /^(SOA|RRSIG|NSEC|NSEC3|NSEC3PARAM|DNSKEY|CDS|CDNSKEY|TYPE65534)$/ { next }
            $4 == "TLSA" && index($1, port) == 1 { next }
            $4 == "TXT" && $1 ~ /\._domainkey\.www\.example\.test\.$/ { next }
            { print }' | sort
}

# served_tlsa NAME: the TLSA records served for nginx's port at NAME, as "u s m hex".
served_tlsa() {
    tb_dig +short "_$TB_NGINX_PORT._tcp.$1" TLSA |
        awk '{ d = ""; for (i = 4; i <= NF; i++) d = d $i; print $1, $2, $3, tolower(d) }' | sort
}

# The DKIM selectors published under www.example.test.
served_selectors() {
    tb_dig +noall +answer -k "$TB_TSIG_KEY" example.test AXFR |
        awk '$4 == "TXT" && $1 ~ /\._domainkey\.www\.example\.test\.$/ { sub(/\._domainkey.*/, "", $1); print $1 }' | sort -u
}

# served_spki NAME: the SHA-256 of the public key of the certificate nginx presents for NAME.
served_spki() {
    tb_nginx_cert "$1" | openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER |
        sha256sum | cut -d' ' -f1
}

# The end state of a cycle, as the tests compare it with the first (uninterrupted) one.
assert_converged() {
    assert_equal "$(driver_state .cycle.next "$STATE")" prepare
    local main mail sel
    main=$(driver_state .material.cert.main.current.spki_sha256 "$STATE")
    mail=$(driver_state .material.cert.mail.current.spki_sha256 "$STATE")
    sel=$(driver_state .material.dkim.mail.current.selector "$STATE")
    assert_equal "$(served_tlsa www.example.test)" "3 1 1 $main"
    assert_equal "$(served_tlsa mail.example.test)" "3 1 1 $mail"
    assert_equal "$(served_selectors)" "$sel"
    assert_equal "$(served_spki www.example.test)" "$main"
    assert_equal "$(served_spki mail.example.test)" "$mail"
    grep -qF "selector = \"$sel\";" "$S/rspamd/dkim_signing.conf" ||
        fail "the signing configuration does not name selector $sel: $(cat "$S/rspamd/dkim_signing.conf")"
    assert_equal "$(zone_rest)" "$(cat "$S/zone.before")"
    assert_equal "$(crash_shape "$STATE" "$TB_NGINX_CERTS" "$S")" "$(cat "$S/shape.uninterrupted")"
}

# crash_point SPEC: one cycle with the fault points of SPEC armed (see crash_cycle: a point, or
# "PHASE=POINT ..."), each of which must have killed a run, then the end-state checks.
crash_point() {
    local spec=$1 log="$S/${1// /_}.log" before_main before_sel p
    [ -e "$S/bootstrapped" ] || fail "no uninterrupted cycle ran before (the first test failed)"
    if [ "$(driver_state .cycle.next "$STATE")" != prepare ]; then
        # A test before this one failed mid-cycle: end that cycle first, so that this test
        # starts where it should (its own checks still see what that failure left).
        driver_cycle "$S/recover.log" "$STATE" "$CONF" || fail "$(tail -n 40 "$S/recover.log")"
    fi
    before_main=$(driver_state .material.cert.main.current.spki_sha256 "$STATE")
    before_sel=$(driver_state .material.dkim.mail.current.selector "$STATE")
    run -0 "$DRIVER" --update "$CONF"
    crash_cycle "$log" "$STATE" "$spec" "$CONF" || fail "$(tail -n 80 "$log")"
    echo "# runs killed:$CRASH_KILLS" >&3
    for p in $spec; do
        p=${p#*=}
        [[ " $CRASH_KILLS" == *" $p="[1-9]* ]] || fail "no run died at $p: $(tail -n 40 "$log")"
    done
    # A cycle happened: new certificate, new selector.
    [ "$(driver_state .material.cert.main.current.spki_sha256 "$STATE")" != "$before_main" ] ||
        fail "the certificate did not change in the cycle"
    [ "$(driver_state .material.dkim.mail.current.selector "$STATE")" != "$before_sel" ] ||
        fail "the DKIM selector did not change in the cycle"
    assert_converged
}

@test "an uninterrupted cycle passes through exactly the fault points this suite kills at" {
    crash_config "$CONF" "$STATE" "$S"
    zone_rest >"$S/zone.before"
    run -0 "$DRIVER" --update "$CONF"
    # The first cycle takes over from the testbed's throwaway certificates; the second is the
    # uninterrupted cycle whose trace and end state the crash cycles are compared with.
    driver_cycle "$S/driver.log" "$STATE" "$CONF" || fail "first cycle: $(tail -n 60 "$S/driver.log")"
    run -0 "$DRIVER" --update "$CONF"
    CDM_FAULT_TRACE="$S/trace" driver_cycle "$S/driver.log" "$STATE" "$CONF" ||
        fail "second cycle: $(tail -n 60 "$S/driver.log")"
    crash_shape "$STATE" "$TB_NGINX_CERTS" "$S" >"$S/shape.uninterrupted"
    assert_converged
    [ -e "$S/rspamd.reloaded" ] || fail "rspamd's reload command never ran"

    # The steps reached, against CRASH_POINTS.
    local traced
    traced=$(awk '!seen[$1]++ { print $1 }' "$S/trace")
    echo "# traced: $(awk '{ print $1 }' "$S/trace" | sort | uniq -c | awk '{ printf "%s x%s, ", $2, $1 }')" >&3
    assert_equal "$(sort <<<"$traced")" "$(printf '%s\n' "${CRASH_POINTS[@]}" | sort)"
    # ... and each has its test below.
    local p
    for p in "${CRASH_POINTS[@]}"; do
        grep '^    crash_point ' "$BATS_TEST_FILENAME" | tr ' "' '\n\n' | sed 's/^[a-z]*=//' |
            grep -qxF "$p" || fail "no test kills at $p"
    done
    # Each kill point is also reached where its name says (the program that passes it).
    grep -q '^dns\.between-updates cdm-cert$' "$S/trace" || fail "dns.between-updates: not in cdm-cert"
    grep -q '^reload\.between-services cdm-reload$' "$S/trace" || fail "not between two reloads"
    [ "$(grep -c '^cert\.deployed-one ' "$S/trace")" -eq 2 ] || fail "cert.deployed-one: not once per certificate"

    # The probes, from now on without pause, one per name nginx serves.
    local name
    for name in www mail; do
        bash "$FIXTURES/gapfree-probe.sh" "$S/probe-$name.log" "$S/probe.stop" \
            "$S/rspamd/dkim_signing.conf" "$name.example.test" "$TB_NGINX_PORT" www.example.test \
            </dev/null >"$S/probe-$name.out" 2>&1 3>&- &
        echo $! >"$BATS_FILE_TMPDIR/probe-$name.pid"
    done
    touch "$S/bootstrapped"
}

# A point reached in one phase only shares its cycle with a point of another phase.

@test "killed after a temporary file is written and synced, before its rename (every phase): converges" {
    crash_point file.before-rename
}

@test "killed after the new certificate's key is staged (prepare), after deploying one of two certificates (rollover): converges" {
    crash_point "prepare=cert.staged-key-written rollover=cert.deployed-one"
}

@test "killed between two UPDATE messages, a challenge added and not removed (prepare), after the DKIM key is deployed before its signing configuration (rollover): converges" {
    crash_point "prepare=dns.between-updates rollover=dkim.key-deployed"
}

@test "killed after the issued certificate is staged before the state knows it (prepare), after the DKIM key and signing configuration are deployed (rollover): converges" {
    crash_point "prepare=cert.staged rollover=dkim.deployed"
}

@test "killed after the next DKIM key is written before the material names it (prepare), in a reload after the configuration test (rollover): converges" {
    crash_point "prepare=dkim.staged-key-written rollover=reload.after-test"
}

@test "killed in a reload, between two services (rollover): converges" {
    crash_point rollover=reload.between-services
}

@test "killed before the state file is replaced (every phase): converges" {
    crash_point state.before-write
}

@test "killed right after the state file is replaced (every phase): converges" {
    crash_point state.after-write
}

@test "through every crash, each probe round found the served certificates in secure TLSA records and the signing selector published" {
    [ -e "$S/bootstrapped" ] || fail "no probe ran (the first test failed)"
    touch "$S/probe.stop"
    local name f rounds failed
    for name in www mail; do
        f="$BATS_FILE_TMPDIR/probe-$name.pid"
        tb_stop_pid "$(<"$f")"
        rm -f "$f"
        rounds=$(grep -c '^round ' "$S/probe-$name.log")
        failed=$(grep '^round ' "$S/probe-$name.log" | grep -vc ' tlsa=0 dkim=0 ' || true)
        echo "# probe $name: $rounds rounds, $failed failed" >&3
        [ "$failed" -eq 0 ] ||
            fail "$failed of $rounds probe rounds for $name failed: $(grep -A8 -E '^round .* (tlsa|dkim)=[1-9]' "$S/probe-$name.log" | head -n 60)"
        [ "$rounds" -ge 100 ] || fail "only $rounds probe rounds for $name"
    done
}
