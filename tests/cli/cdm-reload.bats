#!/usr/bin/env bats
# cdm-reload against a real nginx (Debian's nginx-light), run unprivileged from a prefix in the
# test's own directory, serving TLS on a free loopback port. openssl s_client shows which
# certificate nginx serves before and after.

load test_helper

NGINX=/usr/sbin/nginx
SNI=www.reload.test

setup() {
    [[ -x $NGINX ]] || skip "nginx is not installed (Debian package nginx-light)"
    D=$BATS_TEST_TMPDIR/nginx
    mkdir -p "$D/certs" "$D/tmp"
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # The nginx command line without its verb, as the configuration spells it.
    NGX="$NGINX -p $D/ -c $D/nginx.conf -e $D/error.log"
    make_cert 1111 "$D/certs/a"
    make_cert 2222 "$D/certs/b"
    install_cert a
    write_conf
}

teardown() {
    if [[ -s ${D:-/nonexistent}/nginx.pid ]]; then
        $NGX -s stop 2>/dev/null || true
    fi
}

# A self-signed certificate with a chosen serial (hex) in DIR/{fullchain,privkey}.pem.
make_cert() {
    mkdir -p "$2"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=$SNI" -addext "subjectAltName=DNS:$SNI" -set_serial "0x$1" \
        -keyout "$2/privkey.pem" -out "$2/fullchain.pem" 2>/dev/null
}

# What a cert deployment does: the files nginx reads are replaced.
install_cert() {
    cp "$D/certs/$1/fullchain.pem" "$D/fullchain.pem"
    cp "$D/certs/$1/privkey.pem" "$D/privkey.pem"
}

write_conf() {
    cat >"$D/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $D/nginx.pid;
error_log $D/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $D/tmp/body;
    proxy_temp_path $D/tmp/proxy;
    fastcgi_temp_path $D/tmp/fastcgi;
    uwsgi_temp_path $D/tmp/uwsgi;
    scgi_temp_path $D/tmp/scgi;
    server {
        listen 127.0.0.1:$PORT ssl;
        server_name $SNI;
        ssl_certificate $D/fullchain.pem;
        ssl_certificate_key $D/privkey.pem;
        location / { return 200 "ok\n"; }
    }
}
EOF
}

start_nginx() {
    # The daemon must not hold bats' descriptor 3, or bats waits for it after the test.
    $NGX 3>&-
    [[ -s $D/nginx.pid ]]
}

# The serial of the certificate nginx serves now, e.g. "1111".
served_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -servername "$SNI" </dev/null 2>/dev/null |
        openssl x509 -noout -serial | sed 's/^serial=//'
}

# After a reload signal, old workers may still answer for a moment: ask until nginx serves the
# expected serial, and fail when it never does.
wait_for_serial() {
    local i
    for ((i = 0; i < 100; i++)); do
        [[ $(served_serial) == "$1" ]] && return 0
        sleep 0.1
    done
    echo "nginx still serves serial $(served_serial), expected $1" >&2
    return 1
}

# How often the nginx master was told to reload.
reloads() { grep -c 'signal 1 (SIGHUP) received' "$D/error.log" || true; }

# cdm-config's document for CONFIG_TEXT plus report entries (JSON objects, one per arg).
document() {
    local conf=$1
    shift
    printf '%s\n' "$conf" >"$BATS_TEST_TMPDIR/cdm.conf"
    cdm-config "$BATS_TEST_TMPDIR/cdm.conf" >"$BATS_TEST_TMPDIR/doc0.json"
    jq --argjson add "[$(IFS=,; echo "$*")]" '.report += $add' "$BATS_TEST_TMPDIR/doc0.json" \
        >"$BATS_TEST_TMPDIR/doc.json"
}

nginx_conf() {
    cat <<EOF
[domain:www.reload.test]
cert = main
[cert:main]
[service:web]
handler = nginx
testcommand = $NGX -t -q
reloadcommand = $NGX -s reload
$*
EOF
}

deployed='{"program":"cdm-cert","event":"deployed","cert":"main"}'

reload_report() { jq -c '.report[] | select(.program == "cdm-reload" and .service)' <<<"$output"; }

@test "--help, --version and usage errors" {
    run --separate-stderr -0 cdm-reload --help
    assert_output --partial "usage: cdm-reload"
    assert_output --partial "--reload-command"
    run --separate-stderr -0 cdm-reload --version
    assert_output --partial "cdm-reload"
    run -64 cdm-reload --no-such-option
    run --separate-stderr -64 cdm-reload --pidfile /run/x.pid
    [[ $stderr == *"--pidfile needs --handler"* ]] || false
    run --separate-stderr -64 cdm-reload --service nope <<<'{"cdm":1}'
    [[ $stderr == *"--service 'nope': no [service:nope] section"* ]] || false
    run --separate-stderr -65 cdm-reload <<<'not json'
}

@test "after a deployed certificate, nginx is tested, reloaded and serves the new one" {
    start_nginx
    assert_equal "$(served_serial)" 1111
    install_cert b
    document "$(nginx_conf)" "$deployed"
    run --separate-stderr -0 cdm-reload "$BATS_TEST_TMPDIR/doc.json"
    [[ $stderr == *"RUN CMD: $NGX -t -q"* ]] || false
    [[ $stderr == *"RUN CMD: $NGX -s reload"* ]] || false
    assert_equal "$(reload_report | jq -r .event)" reloaded
    assert_equal "$(reload_report | jq -c .waits)" '{"cert":["main"],"dkim":[],"dhparam":[]}'
    assert_equal "$(reload_report | jq -r .reason)" "cert:main deployed: reloaded"
    wait_for_serial 2222
    # The document is passed on whole: cdm-config's part and the earlier report are still there.
    assert_equal "$(jq -r '.report[] | select(.program == "cdm-cert") | .event' <<<"$output")" deployed
    assert_equal "$(jq -r '.config.service.web.keys.handler' <<<"$output")" nginx
}

@test "nothing deployed: skipped, nginx is not touched" {
    start_nginx
    install_cert b
    document "$(nginx_conf)" '{"program":"cdm-cert","event":"kept","cert":"main"}'
    run --separate-stderr -0 cdm-reload < "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" skipped
    assert_equal "$(reload_report | jq -r .reason)" "nothing it uses changed"
    assert_equal "$(reloads)" 0
    assert_equal "$(served_serial)" 1111
    # --all reloads anyway.
    run --separate-stderr -0 cdm-reload --all < "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" reloaded
    wait_for_serial 2222
}

@test "a configuration that fails the test is not reloaded: exit 78, nginx keeps serving the old certificate" {
    start_nginx
    local master
    master=$(cat "$D/nginx.pid")
    # A deployment gone wrong: the new certificate with the old key.
    cp "$D/certs/b/fullchain.pem" "$D/fullchain.pem"
    document "$(nginx_conf)" "$deployed"
    run --separate-stderr -78 cdm-reload "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" test-failed
    [[ $(reload_report | jq -r .output) == *"key values mismatch"* ]] || false
    [[ $stderr == *"cdm-reload: configuration test failed for web"* ]] || false
    [[ $stderr != *"RUN CMD: $NGX -s reload"* ]] || false
    assert_equal "$(reloads)" 0
    assert_equal "$(cat "$D/nginx.pid")" "$master"
    kill -0 "$master"
    assert_equal "$(served_serial)" 1111
}

@test "a test program that cannot be started is a failure to run: exit 69, not 78" {
    document "[service:web]
handler = nginx
testcommand = cdm-no-such-program -t
reloadcommand = touch $BATS_TEST_TMPDIR/reloaded"
    run --separate-stderr -69 cdm-reload --all "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" failed
    [[ $(reload_report | jq -r .reason) == "--all: configuration test could not run: unable to run 'cdm-no-such-program': No such file or directory (program 'cdm-no-such-program' not found on PATH; cron's PATH may lack /usr/sbin"*"; not reloaded" ]] || false
    [[ $stderr == *"cdm-reload: not reloaded: web"* ]] || false
    [[ $stderr != *"configuration test failed"* ]] || false
    [[ ! -e $BATS_TEST_TMPDIR/reloaded ]] || false
    # Standalone, as cron runs it: PATH=/usr/bin:/bin has no nginx for the default test.
    run --separate-stderr -69 env PATH=/usr/bin:/bin "$CDM_BUILD_DIR/tools/cdm-reload" --handler nginx \
        --reload-command "/usr/bin/touch $BATS_TEST_TMPDIR/reloaded"
    [[ $stderr == *"cdm-reload: configuration test could not run: unable to run 'nginx': No such file or directory"* ]] || false
    [[ $stderr == *"cron's PATH may lack /usr/sbin"* ]] || false
    [[ ! -e $BATS_TEST_TMPDIR/reloaded ]] || false
}

@test "a failed section the service waits for holds it: exit 69" {
    start_nginx
    install_cert b
    document "$(nginx_conf "[dhparam:dh]")" "$deployed" \
        '{"program":"cdm-cert","event":"dhparam","name":"dh","action":"failed"}'
    run --separate-stderr -69 cdm-reload "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" held
    assert_equal "$(reload_report | jq -r .reason)" "dhparam:dh failed in this run; not reloaded"
    [[ $stderr == *"cdm-reload: not reloaded: web"* ]] || false
    assert_equal "$(reloads)" 0
    assert_equal "$(served_serial)" 1111
}

@test "pidfile and signal: standalone, HUP to the master from its pid file" {
    start_nginx
    install_cert b
    run --separate-stderr -0 cdm-reload --handler nginx --test-command "$NGX -t -q" \
        --pidfile "$D/nginx.pid" --signal HUP
    assert_output ""
    [[ $stderr == *"RUN CMD: kill -HUP $(cat "$D/nginx.pid") (from $D/nginx.pid)"* ]] || false
    wait_for_serial 2222
    assert_equal "$(reloads)" 1
    # SIGQUIT by name: nginx shuts down gracefully, so the pid file goes away.
    run --separate-stderr -0 cdm-reload --handler nginx --test-command none --pidfile "$D/nginx.pid" --signal SIGQUIT
    for ((i = 0; i < 100; i++)); do [[ -e $D/nginx.pid ]] || break; sleep 0.1; done
    [[ ! -e $D/nginx.pid ]] || false
}

@test "a service that is not running is started, not reloaded" {
    install_cert b
    document "[domain:www.reload.test]
cert = main
[cert:main]
[service:web]
handler = command
testcommand = $NGX -t -q
pidfile = $D/nginx.pid
startcommand = $NGX
reloadcommand = $NGX -s reload" "$deployed"
    run --separate-stderr -0 cdm-reload "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" started
    # The configuration test (nginx -t) left an empty pid file.
    assert_equal "$(reload_report | jq -r .reason)" "cert:main deployed: pid file '$D/nginx.pid' is empty; started"
    [[ $stderr == *"RUN CMD: $NGX"$'\n'* ]] || false
    assert_equal "$(served_serial)" 2222
    # Running now: the next run reloads it.
    install_cert a
    run --separate-stderr -0 cdm-reload "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" reloaded
    wait_for_serial 1111
}

@test "a ';' in a command is an ordinary character: no shell runs it" {
    document "[service:hook]
handler = command
testcommand = echo testing; touch $BATS_TEST_TMPDIR/pwned-test
reloadcommand = echo x; touch $BATS_TEST_TMPDIR/pwned" '{"program":"cdm-dkim","event":"deployed","dkim":"any"}'
    run --separate-stderr -0 cdm-reload --all "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" reloaded
    [[ $stderr == *"RUN CMD: echo 'x;' touch $BATS_TEST_TMPDIR/pwned"* ]] || false
    [[ $stderr == *"    x; touch $BATS_TEST_TMPDIR/pwned"* ]] || false
    [[ ! -e $BATS_TEST_TMPDIR/pwned ]] || false
    [[ ! -e $BATS_TEST_TMPDIR/pwned-test ]] || false
    [[ ! -e "$BATS_TEST_TMPDIR/x; touch $BATS_TEST_TMPDIR/pwned" ]] || false
}

@test "a command that outlives its timeout is killed and the service fails: exit 69" {
    document "[service:hook]
handler = command
testcommand = none
reloadcommand = sleep 120
timeout = 1"
    run --separate-stderr -69 cdm-reload --all "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" failed
    assert_equal "$(reload_report | jq -r .reason)" \
        "--all: reload failed: sleep 120: timed out, killed by signal 15 (TERM) after 1 s"
    # Standalone: TERM is ignored, so KILL follows.
    run --separate-stderr -69 cdm-reload --handler command --test-command none --timeout 1 \
        --reload-command "env --ignore-signal=TERM sleep 120"
    [[ $stderr == *"timed out, killed by signal 9 (KILL) after 1 s"* ]] || false
}

@test "--dry-run decides and lists the commands, but runs nothing" {
    start_nginx
    install_cert b
    document "$(nginx_conf)" "$deployed"
    run --separate-stderr -0 cdm-reload --dry-run "$BATS_TEST_TMPDIR/doc.json"
    assert_equal "$(reload_report | jq -r .event)" dry-run
    assert_equal "$(reload_report | jq -c .commands)" "[\"$NGX -t -q\",\"$NGX -s reload\"]"
    assert_equal "$(reloads)" 0
    assert_equal "$(served_serial)" 1111
}

@test "traefik is refused as a configuration error before anything runs" {
    document "[service:proxy]
handler = traefik"
    run --separate-stderr -78 cdm-reload "$BATS_TEST_TMPDIR/doc.json"
    [[ $stderr == *"cdm.conf:2: handler 'traefik' is not supported, use handler = command"* ]] || false
    assert_output ""
}
