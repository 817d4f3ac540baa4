#!/usr/bin/env bats
# Hostile input and secrets (issue 7): names that try to leave their directory, values that
# try to add a zone line, a signing-configuration setting or a shell command, secrets that
# must stay out of argv, logs, the document and the state file, key files 0600 in 0700
# directories whatever the umask, and TLS to a DNS API that is always verified (real
# PowerDNS of the test bed behind a real nginx speaking TLS with a private CA).
# Needs jq, named-checkzone, nginx and the test bed's pdns_server.

load test_helper
load testbed

setup_file() {
    export TB_WITH_PDNS=yes
    testbed_setup_file
}
teardown_file() { testbed_teardown_file; }
setup() {
    testbed_setup
    T=$BATS_TEST_TMPDIR
    DRIVER=$CDM_SOURCE_DIR/scripts/cryptdomainmgr
    export CDM_BINDIR=$CDM_BUILD_DIR/tools
}
teardown() {
    if [[ -s ${T:-/nonexistent}/nginx/nginx.pid ]]; then
        /usr/sbin/nginx -p "$T/nginx/" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" -s stop 2>/dev/null || true
    fi
}

# Every file and directory below $1, with its mode: "MODE PATH", sorted.
tree_of() { (cd "$1" && find . -printf '%m %p\n' | sort); }

# ---------------------------------------------------------------- names that escape

@test "section names with '/', '..' or a control character: 78 naming file:line, nothing created" {
    local header
    for header in '[cert:../../escaped]' '[dkim:a/b]' '[domain:www.example.test/../../x]' \
        '[cert:..]' $'[service:web\x1b]'; do
        printf '[cdm]\nstatedir = %s/state\n\n%s\nhandler = auto\n' "$T" "$header" >"$T/c.conf"
        run -78 --separate-stderr cdm-config "$T/c.conf"
        assert_output ''
        [[ $stderr == "cdm-config: $T/c.conf:4: section name '"*"' "* ]] || fail "$header: $stderr"
        [ "$(wc -l <<<"$stderr")" = 1 ] || fail "$header: more than one line: $stderr"
        # The driver stops at the same point: no state directory, no lock, nothing outside.
        run -78 --separate-stderr "$DRIVER" --prepare "$T/c.conf"
        [ ! -e "$T/state" ] || fail "$header: the state directory was made"
    done
    [ "$(find "$T" -mindepth 1 ! -name 'separate-stderr-*' | wc -l)" = 1 ] || fail "$(find "$T")"
}

@test "dkim keyname and keybasename that would leave keylocation: 78 naming file:line:key" {
    printf '[dkim:mail]\nkeylocation = %s/keys\nkeyname = ../../etc/cron.d/cdm\n' "$T" >"$T/c.conf"
    run -78 --separate-stderr cdm-config "$T/c.conf"
    assert_equal "$stderr" "cdm-config: $T/c.conf:3: [dkim:mail] keyname '../../etc/cron.d/cdm' is not a file name: holds a '/'"
    printf '[dkim]\nkeybasename = ../x\n[dkim:mail]\n' >"$T/c.conf"
    run -78 --separate-stderr cdm-config "$T/c.conf"
    [[ $stderr == "cdm-config: $T/c.conf:2: [dkim] keybasename '../x' is not "* ]] || fail "$stderr"
}

@test "a dkim rollover deploys inside keylocation only; the rspamd configuration quotes the path" {
    # A key location with a quote and a semicolon: the configuration keeps it one value.
    local loc="$T/k\"ey;s" conf="$T/rspamd/dkim_signing.conf"
    printf '[cdm]\nstatedir = %s/state\n[dkim:mail]\nhandler = rspamd\nkeysize = 1024\nkeylocation = %s\nsigningconfdestinationfile = %s\n[domain:example.test]\ndkim = auto:mail\n' \
        "$T" "$loc" "$conf" >"$T/c.conf"
    cdm-config "$T/c.conf" >"$T/0.json"
    run -0 --separate-stderr cdm-dkim phase --phase prepare <"$T/0.json"
    printf '%s' "$output" >"$T/1.json"
    run -0 --separate-stderr cdm-dkim phase --phase rollover <"$T/1.json"
    local selector key
    selector=$(jq -r '.material.dkim.mail.current.selector' <<<"$output")
    key=$(jq -r '.material.dkim.mail.current.deployed' <<<"$output")
    assert_equal "$key" "$loc/$selector.key"
    [ -f "$key" ]
    assert_equal "$(cat "$conf")" "path = \"$T/k\\\"ey;s/$selector.key\";
selector = \"$selector\";
use_esld = false
allow_username_mismatch = true;"
}

# ---------------------------------------------------------------- values that add a line

@test "TXT text with quotes, backslashes, ';' and a line break stays one record in a zone file" {
    local zone="$T/example.test.zone"
    printf '$TTL 300\n@ SOA ns.example.test. h.example.test. 1 3600 600 86400 300\n@ NS ns.example.test.\nns A 192.0.2.53\n' >"$zone"
    # A continuation line gives the value a line break; the rest tries to close the string.
    cat >"$T/c.conf" <<EOF
[domain:example.test]
handler = zonefile
zonefile = $zone
zone = example.test
txt = a"b\\c; evil IN A 192.0.2.66
  x" 300 IN TXT "injected
EOF
    run -0 --separate-stderr sh -c 'cdm-config "$1" | cdm-dns-apply --format text' sh "$T/c.conf"
    run -0 named-checkzone -q example.test "$zone"
    run -0 named-checkzone -D -o - example.test "$zone"
    local txt
    txt=$(grep -E '\sTXT\s' <<<"$output")
    [ "$(wc -l <<<"$txt")" = 1 ] || fail "$output"
    # One A record (ns), as before: the text's "IN A" is inside the string.
    [ "$(awk '$4 == "A"' <<<"$output" | wc -l)" = 1 ] || fail "a second record: $output"
    [ "$(grep -cvE '^(zone |OK$)' <<<"$output")" = 4 ] || fail "SOA, NS, TXT and A only: $output"
    # The text round-trips: dig's presentation of the one TXT record is the value, escaped.
    assert_equal "$(sed -E 's/^[^"]*[[:space:]]TXT[[:space:]]+//' <<<"$txt")" \
        '"a\"b\\c; evil IN A 192.0.2.66\010x\" 300 IN TXT \"injected"'
}

@test "a document record whose data tries to add a second record is refused (65), nothing sent" {
    local zone="$T/example.test.zone"
    printf '$TTL 300\n@ SOA ns.example.test. h.example.test. 1 3600 600 86400 300\n@ NS ns.example.test.\nns A 192.0.2.53\n' >"$zone"
    cp "$zone" "$T/before"
    local data
    for data in $'"x"\nevil.example.test. 300 IN A 192.0.2.66' '192.0.2.1 192.0.2.66' \
        $'192.0.2.1 (\n192.0.2.66 )' $'192.0.2.1\r\nevil 300 IN A 192.0.2.66'; do
        jq -n --arg d "$data" '{cdm: 1, records: [{name: "www.example.test.", type: (if ($d | startswith("\"")) then "TXT" else "A" end), ttl: 300, data: $d, op: "replace"}]}' >"$T/doc.json"
        run -65 --separate-stderr cdm-dns-apply --zone example.test --handler zonefile \
            --set zonefile="$zone" "$T/doc.json"
        [ "$(wc -l <<<"$stderr")" = 1 ] || fail "$data: $stderr"
        cmp "$zone" "$T/before"
    done
}

@test "commands are split into words, never run by a shell: ';', \$(...), backquotes stay arguments" {
    mkdir "$T/w"
    touch "$T/w/m1" "$T/w/m2" "$T/w/m3" "$T/w/m4"
    cat >"$T/c.conf" <<EOF
[domain:example.test]
[service:web]
handler = command
testcommand = touch $T/w/tested; rm $T/w/m1
reloadcommand = touch $T/w/reloaded \$(rm $T/w/m2) \`rm $T/w/m3\` && rm $T/w/m4
EOF
    cdm-config "$T/c.conf" >"$T/doc.json"
    cd "$T/w"
    run -0 --separate-stderr cdm-reload --all "$T/doc.json"
    # A shell would have removed the markers; touch got every word as a file name instead.
    [ -e m1 ] && [ -e m2 ] && [ -e m3 ] && [ -e m4 ] || fail "a marker is gone: $(ls -A)"
    [ -e 'tested;' ] && [ -e rm ] && [ -e reloaded ] && [ -e '$(rm' ] && [ -e 'm2)' ] &&
        [ -e '`rm' ] && [ -e 'm3`' ] && [ -e '&&' ] || fail "$(ls -A)"
    # Only the zonefile provider's `reload` is a shell command (documented); nothing else spawns one.
    run -1 grep -rlE 'std::system|popen\(|"/bin/sh"|"sh", *"-c"' "$CDM_SOURCE_DIR/libcommon" "$CDM_SOURCE_DIR/tools" \
        --exclude=zonefile.cpp
}

# ---------------------------------------------------------------- secrets

secret_conf() {
    cat >"$1" <<EOF
[cdm]
statedir = $T/state
[domain]
user = admin
passwd = S3cret-passwd
[domain:example.test]
handler = rfc2136
server = 127.0.0.1
port = 9
key = cdm-key
tsig_secret = S3cret-tsig
apikey = S3cret-apikey
tfa_secret = S3cret-tfa
ip4 = 192.0.2.7
[cert:main]
ca = https://127.0.0.1:9/dir
eab_kid = kid
eab_hmac_key = S3cret-eab
EOF
}

@test "secrets: not on stdout, not in logs at -v -v, not in any program's argv, not in the state" {
    secret_conf "$T/c.conf"
    chmod 600 "$T/c.conf"
    run -0 --separate-stderr cdm-config -v -v "$T/c.conf"
    [[ $output != *S3cret* ]] || fail "a secret in the document"
    [[ $stderr != *S3cret* ]] || fail "a secret in the log: $stderr"
    assert_equal "$(jq -c '.config.domain["example.test"].keys.tsig_secret' <<<"$output")" "{\"secret\":\"$T/c.conf:11\"}"
    assert_equal "$(jq -c '.config.cert.main.keys.eab_hmac_key' <<<"$output")" "{\"secret\":\"$T/c.conf:18\"}"
    # The driver runs every program through CDM_BINDIR: wrappers record each argv.
    mkdir "$T/bin"
    local p
    for p in "$CDM_BUILD_DIR"/tools/cdm-*; do
        [ -x "$p" ] && [ -f "$p" ] || continue
        printf '#!/bin/sh\nprintf "%%s\\n" "$0 $*" >>%s/argv\nexec %s "$@"\n' "$T" "$p" >"$T/bin/${p##*/}"
        chmod +x "$T/bin/${p##*/}"
    done
    CDM_BINDIR=$T/bin run --separate-stderr "$DRIVER" --update --dry-run -v -v "$T/c.conf"
    [ -s "$T/argv" ]
    ! grep -q S3cret "$T/argv" || fail "$(cat "$T/argv")"
    [[ "$output$stderr" != *S3cret* ]] || fail "$stderr"
    # A phase that commits: the state file holds no secret.
    CDM_BINDIR=$T/bin run --separate-stderr "$DRIVER" --prepare -v -v "$T/c.conf"
    [ -s "$T/state/state.json" ] || fail "no state: $stderr"
    ! grep -rq S3cret "$T/state" "$T/argv" || fail "a secret in the state or argv"
    [[ "$output$stderr" != *S3cret* ]] || fail "$stderr"
}

@test "a configuration readable by others that holds a secret: one warning naming file and keys" {
    secret_conf "$T/c.conf"
    chmod 644 "$T/c.conf"
    run -0 --separate-stderr cdm-config "$T/c.conf"
    [[ $stderr == *"WARNING   $T/c.conf: readable by group or others (mode 0644) but holds the secret 'passwd' (line 5), 'tsig_secret' (line 11), 'apikey' (line 12), 'tfa_secret' (line 13), 'eab_hmac_key' (line 18); run chmod go-r on it"* ]] ||
        fail "$stderr"
    [ "$(grep -c 'readable by group or others' <<<"$stderr")" = 1 ] || fail "$stderr"
    [[ $stderr != *S3cret* ]] || fail "$stderr"
    chmod 640 "$T/c.conf"
    run -0 --separate-stderr cdm-config "$T/c.conf"
    [[ $stderr == *"(mode 0640)"* ]] || fail "$stderr"
    chmod 600 "$T/c.conf"
    run -0 --separate-stderr cdm-config "$T/c.conf"
    [[ $stderr != *"readable by"* ]] || fail "$stderr"
}

@test "umask 000: DKIM keys are 0600 in 0700 directories, deployed keys 0600" {
    printf '[cdm]\nstatedir = %s/state\n[dkim:mail]\nhandler = rspamd\nkeysize = 1024\nkeylocation = %s/deploy\nsigningconfdestinationfile = %s/conf/dkim.conf\n[domain:example.test]\ndkim = auto:mail\n' \
        "$T" "$T" "$T" >"$T/c.conf"
    chmod 600 "$T/c.conf"
    (
        umask 000
        cdm-config "$T/c.conf" >"$T/0.json"
        cdm-dkim phase --phase prepare <"$T/0.json" >"$T/1.json"
        cdm-dkim phase --phase rollover <"$T/1.json" >"$T/2.json"
        cdm-dkim generate --domain example.test --algorithm ed25519 --key-out "$T/gen/new/k.pem" --format zone >/dev/null
    )
    local key deployed
    key=$(jq -r .material.dkim.mail.current.key "$T/2.json")
    deployed=$(jq -r .material.dkim.mail.current.deployed "$T/2.json")
    assert_equal "$(stat -c %a "$key" "$deployed" "$T/gen/new/k.pem")" $'600\n600\n600'
    # Every directory cdm made for private keys is 0700; no file is readable by others.
    run -0 find "$T/state" "$T/gen" -type d ! -perm 700
    assert_output ''
    run -0 find "$T/state" "$T/gen" "$T/deploy" -type f -name '*.key' -perm /077
    assert_output ''
    run -0 find "$T/state" "$T/gen" -name '*.pem' -perm /077
    assert_output ''
}

# ---------------------------------------------------------------- TLS to DNS APIs

# nginx on a free loopback port speaks TLS with a leaf of a private CA ($T/ca/ca.pem) whose
# names are $1, and passes requests to the test bed's PowerDNS API. Sets TLS_URL.
start_tls_pdns() {
    local D=$T/nginx names=$1
    mkdir -p "$D/tmp" "$T/ca"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=cdm-test-ca \
        -keyout "$T/ca/ca.key" -out "$T/ca/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=pdns-tls \
        -keyout "$D/key.pem" -out "$T/ca/leaf.csr" 2>/dev/null
    openssl x509 -req -in "$T/ca/leaf.csr" -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" -days 2 \
        -extfile <(printf 'subjectAltName=%s\n' "$names") -out "$D/cert.pem" 2>/dev/null
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
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
        listen 127.0.0.1:$port ssl;
        ssl_certificate $D/cert.pem;
        ssl_certificate_key $D/key.pem;
        location / { proxy_pass $TB_PDNS_API; }
    }
}
EOF
    /usr/sbin/nginx -p "$D/" -c "$D/nginx.conf" -e "$D/error.log"
    TLS_URL="https://127.0.0.1:$port"
}

tls_apply() {
    cdm-dns-apply --zone pdns.test --handler powerdns --set api_url="$TLS_URL" \
        --set apikey_file="$TB_PDNS_APIKEY_FILE" "$@"
}

@test "powerdns over https: refused without the private CA (69), served with cabundle" {
    start_tls_pdns IP:127.0.0.1
    run -69 --separate-stderr tls_apply <<<'tls.pdns.test. 300 IN A 192.0.2.44'
    [ "$(wc -l <<<"$stderr")" = 1 ] || fail "$stderr"
    [[ $stderr == *"unable to reach the PowerDNS API at '$TLS_URL/api/v1/"*"SSL certificate problem: unable to get local issuer certificate"* ]] ||
        fail "$stderr"
    assert_equal "$(tb_pdns_dig +short tls.pdns.test A)" ''
    # The CA in a file of the domain section: verified, applied.
    run -0 --separate-stderr tls_apply --set cabundle="$T/ca/ca.pem" --format text <<<'tls.pdns.test. 300 IN A 192.0.2.44'
    assert_equal "$(tb_pdns_dig +short tls.pdns.test A)" 192.0.2.44
    # The same from the configuration file: [domain] cabundle = FILE.
    printf '[domain:tls2.pdns.test]\nhandler = powerdns\nzone = pdns.test\napi_url = %s\napikey_file = %s\ncabundle = %s\nip4 = 192.0.2.45\n' \
        "$TLS_URL" "$TB_PDNS_APIKEY_FILE" "$T/ca/ca.pem" >"$T/c.conf"
    run -0 --separate-stderr sh -c 'cdm-config "$1" | cdm-dns-apply' sh "$T/c.conf"
    assert_equal "$(tb_pdns_dig +short tls2.pdns.test A)" 192.0.2.45
}

@test "powerdns over https: a certificate for another name is refused even with the CA (69)" {
    start_tls_pdns DNS:elsewhere.test
    run -69 --separate-stderr tls_apply --set cabundle="$T/ca/ca.pem" <<<'tlsname.pdns.test. 300 IN A 192.0.2.46'
    [[ $stderr == *"unable to reach the PowerDNS API at '$TLS_URL/"*"no alternative certificate subject name matches"* ]] || fail "$stderr"
    assert_equal "$(tb_pdns_dig +short tlsname.pdns.test A)" ''
    # No setting turns verification off.
    run -1 grep -rnE 'SSL_VERIFY(PEER|HOST), *0|"--insecure"|ssl_no_verify' "$CDM_SOURCE_DIR/libcommon" "$CDM_SOURCE_DIR/tools"
}
