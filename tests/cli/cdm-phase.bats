#!/usr/bin/env bats
# cdm-phase as a program: its verbs on documents from the real cdm-config, with the report
# entries the other programs append (cdm-dns-apply's "apply" with "verify", cdm-cert's
# "failed") added by jq in the form those programs write them, and --now for every time.
# The whole cycle, waits and --force, incomplete runs, the state file (mode, damage,
# cryptdomainmgr's own), MTA-STS MX retention with the policy file on disk, status, postwait.

load test_helper

T0=1800000000 # 2027-01-15T08:00:00Z

setup() {
    S=$BATS_TEST_TMPDIR
    write_config
}

# write_config [extra [cdm] lines...]: a web and mail host in cryptdomainmgr's format.
write_config() {
    {
        printf '[cdm]\nstatedir = %s\nmargin = 60\n' "$S/state"
        printf '%s\n' "$@"
        printf '\n[dkim:mail]\nkeybasename = mail\ngrace = 1h\nrevoked = 30m\n'
        printf '\n[domain:example.test]\nip4 = 192.0.2.10\nmx = mail.example.test:10\ndkim = auto:mail\n'
        printf 'mtasts.mode = enforce\nmtasts.policyfile = %s\n' "$S/www/.well-known/mta-sts.txt"
    } >"$S/cdm.conf"
    cdm-config "$S/cdm.conf" >"$S/config.json"
}

# What the pipeline after `begin` adds: a staged certificate (prepare), a served record and
# cdm-dns-apply's report for zone example.test. (verify.ok $1, max TTL 600, negative TTL 300).
pipeline() {
    local ok=$1 doc=$2
    jq --argjson ok "$ok" '
        (if .phase == "prepare" then .material.cert.web.next = {"serial": "0a", "not_after": 1807776000} else . end)
        | (if .phase != "rollover" then
             .records += [{"name": "_443._tcp.example.test.", "type": "TLSA", "ttl": 600,
                           "data": "3 1 1 00", "op": "add"}]
             | .report += [{"program": "cdm-dns-apply", "event": "apply", "zone": "example.test.",
                            "handler": "rfc2136", "dry_run": false, "changed": true,
                            "verify": {"ok": $ok, "max_ttl": 600, "negative_ttl": 300,
                                       "problems": (if $ok then [] else ["ns2.example.test. (127.0.0.2): serial 4, not 5"] end)}}]
           else . end)' "$doc"
}

# run_phase PHASE TIME [ok]: begin, the pipeline, commit; the final document in $S/final.json.
run_phase() {
    cdm-phase begin --phase "$1" --now "$2" <"$S/config.json" >"$S/begin.json" || return
    pipeline "${3:-true}" "$S/begin.json" >"$S/last.json" || return
    cdm-phase commit --now "$2" <"$S/last.json" >"$S/final.json"
}

@test "--help lists every verb, a verb's --help its options, no verb exits 64" {
    run -0 cdm-phase --help
    for verb in path next begin mtasts commit status; do
        [[ $output == *"cdm-phase $verb"* ]] || false
    done
    run -0 cdm-phase commit --help
    [[ $output == *"--failed"* ]] || false
    run -0 cdm-phase --version
    [[ $output == "cdm-phase (cdm) "* ]] || false
    run -64 cdm-phase
    run -64 cdm-phase later
    run -64 cdm-phase begin --phase sometime <"$S/config.json"
    run -64 cdm-phase next --format yaml --state "$S/x.json"
    run -64 cdm-phase commit --failed cdm-cert <"$S/config.json"
}

@test "path prints <statedir>/state.json of the configuration, or --state" {
    run -0 cdm-phase path <"$S/config.json"
    assert_output "$S/state/state.json"
    run -0 cdm-phase path --state /srv/other.json </dev/null
    assert_output /srv/other.json
}

@test "next on a machine that never ran prints prepare, in text and json, and writes nothing" {
    run -0 --separate-stderr cdm-phase next --now $T0 <"$S/config.json"
    assert_output prepare
    run -0 cdm-phase next --format json --now $T0 <"$S/config.json"
    assert_output '{"phase":"prepare","due":0,"wait":0,"why":"no cycle has run yet"}'
    [ ! -e "$S/state" ]
}

@test "a whole cycle: prepare, the DNS wait (75), rollover, the margin, cleanup" {
    run_phase prepare $T0
    [ "$(stat -c %a "$S/state/state.json")" = 600 ]
    [ "$(stat -c %a "$S/state")" = 700 ]
    run -0 jq -c '.report[-1]' "$S/final.json"
    assert_output "{\"program\":\"cdm-phase\",\"event\":\"commit\",\"phase\":\"prepare\",\"complete\":true,\"next\":\"rollover\",\"due\":$((T0 + 660)),\"exit\":0}"

    # due = verified_at + max(600, 300) + margin 60
    run -75 --separate-stderr cdm-phase next --now $((T0 + 7)) <"$S/config.json"
    assert_output ""
    assert_equal "$stderr" "cdm-phase: rollover is due in 653 s (at 2027-01-15T08:11:00Z): DNS caches may hold the old records until then (max TTL 600 s, negative TTL 300 s, margin 60 s, since verified at 2027-01-15T08:00:00Z)"
    run -75 --separate-stderr cdm-phase next --format json --now $((T0 + 7)) <"$S/config.json"
    assert_output --partial '"phase":"rollover","due":1800000660,"wait":653'
    run -0 --separate-stderr cdm-phase next --force --now $((T0 + 7)) <"$S/config.json"
    assert_output rollover
    [[ $stderr == *"forced: the wait is overridden: rollover is due in 653 s"* ]] || false
    run -75 --separate-stderr cdm-phase begin --phase rollover --now $((T0 + 7)) <"$S/config.json"
    assert_output ""
    [[ $stderr == *"rollover may not run now: rollover is due in 653 s"* ]] || false

    run -0 cdm-phase next --now $((T0 + 660)) <"$S/config.json"
    assert_output rollover
    run_phase rollover $((T0 + 660))
    run -0 jq -r '.material.cert.web.next.serial' "$S/begin.json"
    assert_output 0a
    run -0 jq -c '[.records, .files]' "$S/begin.json"
    assert_output '[[],[]]'

    run -75 --separate-stderr cdm-phase next --now $((T0 + 700)) <"$S/config.json"
    [[ $stderr == *"cleanup is due in 20 s"* ]] || false
    run -75 --separate-stderr cdm-phase begin --phase prepare --now $((T0 + 700)) <"$S/config.json"
    [[ $stderr == *"the last cycle's cleanup is due first (at 2027-01-15T08:12:00Z)"* ]] || false

    run_phase cleanup $((T0 + 720))
    run -0 cdm-phase next --now $((T0 + 720)) <"$S/config.json"
    assert_output prepare
    run -0 jq -c '[.cycle.number, [.runs[] | [.phase, .ok, .exit]]]' "$S/state/state.json"
    assert_output '[2,[["prepare",true,0],["rollover",true,0],["cleanup",true,0]]]'
}

@test "update at any point leaves the cycle alone" {
    run_phase prepare $T0
    before=$(jq -c .cycle "$S/state/state.json")
    run_phase update $((T0 + 30))
    assert_equal "$(jq -c .cycle "$S/state/state.json")" "$before"
    run -0 jq -c .update "$S/state/state.json"
    assert_output "{\"at\":$((T0 + 30)),\"ok\":true}"
}

@test "an unverified prepare keeps its staged certificate, says what is missing and exits 75" {
    run -75 --separate-stderr run_phase prepare $T0 false
    [[ $stderr == *"cdm-phase: prepare incomplete: zone example.test. not verified: ns2.example.test. (127.0.0.2): serial 4, not 5"* ]] || false
    run -0 jq -c '[.cycle.next, .material.cert.web.next.serial, .runs[-1].ok, .runs[-1].exit]' "$S/state/state.json"
    assert_output '["prepare","0a",false,75]'
    # The final document was written all the same.
    run -0 jq -r '.report[-1].complete' "$S/final.json"
    assert_output false
    run -75 --separate-stderr cdm-phase begin --phase rollover --now $((T0 + 9999)) <"$S/config.json"
    [[ $stderr == *"the last prepare at 2027-01-15T08:00:00Z was incomplete (zone example.test. not verified"* ]] || false
    # The next prepare gets the staged certificate back.
    run -0 cdm-phase begin --phase prepare --now $((T0 + 60)) <"$S/config.json"
    [[ $(jq -r .material.cert.web.next.serial <<<"$output") == 0a ]] || false
}

@test "a failed step: commit --failed exits with its code; a failed report entry exits 69" {
    cdm-phase begin --phase prepare --now $T0 <"$S/config.json" >"$S/begin.json"
    pipeline true "$S/begin.json" >"$S/last.json"
    run -78 --separate-stderr cdm-phase commit --failed cdm-reload:78 --now $T0 <"$S/last.json"
    [[ $stderr == *"prepare incomplete: cdm-reload exited 78"* ]] || false
    jq '.report += [{"program": "cdm-cert", "event": "failed", "cert": "web", "error": "order invalid", "exit": 69}]' \
        "$S/last.json" >"$S/failed.json"
    run -69 --separate-stderr cdm-phase commit --now $T0 <"$S/failed.json"
    [[ $stderr == *"prepare incomplete: cdm-cert cert web failed: order invalid"* ]] || false
    run -0 jq -r .cycle.next "$S/state/state.json"
    assert_output prepare
}

@test "committing the same document again gives the same state" {
    run_phase prepare $T0
    cp "$S/state/state.json" "$S/once.json"
    run -0 cdm-phase commit --now $T0 <"$S/last.json"
    cmp "$S/once.json" "$S/state/state.json"
}

@test "a damaged state file exits 65, names the file and is left untouched" {
    mkdir -p "$S/state"
    printf '{"cdm_state": 1, "cycle": {"next": "roll' >"$S/state/state.json"
    cp "$S/state/state.json" "$S/damaged"
    for verb in next status; do
        run -65 --separate-stderr cdm-phase $verb --now $T0 <"$S/config.json"
        [[ $stderr == "cdm-phase: $S/state/state.json: not a cdm state file: not JSON"* ]] || false
    done
    cdm-phase begin --phase update --now $T0 <"$S/config.json" >"$S/begin.json" && false
    pipeline true "$S/config.json" | jq '.phase = "update"' >"$S/last.json"
    run -65 cdm-phase commit --now $T0 <"$S/last.json"
    cmp "$S/damaged" "$S/state/state.json"
}

@test "cryptdomainmgr's own state.json is recognised and moved aside by the first commit" {
    mkdir -p "$S/state"
    echo '{"opstate": "done", "result": {"nextphase": "rollover"}, "config": {}, "substate": {}}' >"$S/state/state.json"
    cp "$S/state/state.json" "$S/original"
    run -0 --separate-stderr cdm-phase next --now $T0 <"$S/config.json"
    assert_output prepare
    [[ $stderr == *"is cryptdomainmgr's own state; starting at prepare"* ]] || false
    cmp "$S/original" "$S/state/state.json"
    run_phase prepare $T0
    cmp "$S/original" "$S/state/state.json.cryptdomainmgr"
    run -0 jq -r .cdm_state "$S/state/state.json"
    assert_output 1
}

@test "mtasts writes the policy before the id changes, and keeps a dropped MX for the old max_age" {
    cdm-phase begin --phase update --now $T0 <"$S/config.json" >"$S/begin.json"
    run -0 --separate-stderr cdm-phase mtasts --now $T0 <"$S/begin.json"
    echo "$output" >"$S/mtasts.json"
    [ "$(stat -c %a "$S/www/.well-known/mta-sts.txt")" = 644 ]
    run -0 cat "$S/www/.well-known/mta-sts.txt"
    assert_output "$(printf 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 604800\r')"
    id1=$(jq -r '.records[] | select(.name == "_mta-sts.example.test.") | .data' "$S/mtasts.json")
    pipeline true "$S/mtasts.json" >"$S/last.json"
    cdm-phase commit --now $T0 <"$S/last.json" >/dev/null

    # The MX moves to mx2: mail.example.test stays in the policy for a week from now.
    sed -i 's/^mx = mail.example.test:10/mx = mx2.example.test:10/' "$S/cdm.conf"
    cdm-config "$S/cdm.conf" >"$S/config.json"
    cdm-phase begin --phase update --now $((T0 + 100)) <"$S/config.json" >"$S/begin.json"
    run -0 --separate-stderr cdm-phase mtasts --now $((T0 + 100)) <"$S/begin.json"
    echo "$output" >"$S/mtasts.json"
    run -0 cat "$S/www/.well-known/mta-sts.txt"
    assert_output "$(printf 'version: STSv1\r\nmode: enforce\r\nmx: mx2.example.test\r\nmx: mail.example.test\r\nmax_age: 604800\r')"
    id2=$(jq -r '.records[] | select(.name == "_mta-sts.example.test.") | .data' "$S/mtasts.json")
    [ "$id1" != "$id2" ]
    run -0 jq -c '.report[-1] | [.event, .retained, .written]' "$S/mtasts.json"
    assert_output "[\"mtasts\",[{\"mx\":\"mail.example.test\",\"until\":$((T0 + 100 + 604800))}],true]"
    pipeline true "$S/mtasts.json" >"$S/last.json"
    cdm-phase commit --now $((T0 + 100)) <"$S/last.json" >/dev/null
    run -0 jq -c '.mtasts["example.test."] | [.mx, .retained]' "$S/state/state.json"
    assert_output "[[\"mx2.example.test\"],[{\"mx\":\"mail.example.test\",\"until\":$((T0 + 100 + 604800))}]]"

    # A week later the old MX is gone from the policy.
    cdm-phase begin --phase update --now $((T0 + 100 + 604800)) <"$S/config.json" >"$S/begin.json"
    cdm-phase mtasts --now $((T0 + 100 + 604800)) <"$S/begin.json" >"$S/mtasts.json"
    run -0 cat "$S/www/.well-known/mta-sts.txt"
    assert_output "$(printf 'version: STSv1\r\nmode: enforce\r\nmx: mx2.example.test\r\nmax_age: 604800\r')"
}

@test "status describes the cycle, the material and the runs; json parses" {
    run_phase prepare $T0
    run -0 cdm-phase status --now $((T0 + 60)) <"$S/config.json"
    assert_line "state: $S/state/state.json"
    assert_line "next: rollover, due in 600 s (at 2027-01-15T08:11:00Z)"
    assert_line "    next: serial 0a, not after 2027-04-15T08:00:00Z"
    assert_line "  2027-01-15T08:00:00Z prepare ok (exit 0)"
    run -0 cdm-phase status --format json --state "$S/state/state.json" --now $((T0 + 60)) </dev/null
    [[ $(jq -c '[.due.phase, .due.wait, .cycle.number]' <<<"$output") == '["rollover",600,1]' ]] || false
}

@test "postwait sleeps after a complete phase and says so, without progress when not a terminal" {
    write_config 'postwait = 1'
    run -0 --separate-stderr run_phase prepare $T0
    [[ $stderr == *"INFO      Wait 1 s after run!"* ]] || false
    [[ $stderr != *"s left"* ]] || false
}

@test "--force runs a phase that is not due, and the run is marked forced" {
    run -0 --separate-stderr cdm-phase begin --phase cleanup --force --now $T0 <"$S/config.json"
    [[ $stderr == *"forced: cleanup runs although no rollover since the last cleanup"* ]] || false
    [[ $(jq -c '.report[-1] | [.event, .forced]' <<<"$output") == '["begin",true]' ]] || false
    echo "$output" | pipeline true /dev/stdin >"$S/last.json"
    cdm-phase commit --now $T0 <"$S/last.json" >/dev/null
    run -0 jq -c '.runs[-1] | [.phase, .forced, .ok]' "$S/state/state.json"
    assert_output '["cleanup",true,true]'
    # A forced cleanup outside its turn does not end a cycle.
    run -0 jq -c '[.cycle.next, .cycle.number]' "$S/state/state.json"
    assert_output '["prepare",1]'
}
