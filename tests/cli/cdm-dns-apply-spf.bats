#!/usr/bin/env bats
# cdm-dns-apply counts the DNS lookups of each SPF record it is about to publish (RFC 7208
# §4.6.4): include targets published in the test bed's signed example.test (with nsupdate and
# TSIG) are read through the test bed's unbound. Over 10 lookups or 2 void lookups is a
# warning, and with --strict exit 65 with nothing published. pyspf, a receiver's SPF
# implementation (Debian python3-spf, with python3-dnspython), evaluates the same records
# through the same unbound as the independent check of the numbers the tests rely on.

load test_helper
load testbed

# The include targets, and what a receiver pays for each (the sender 198.51.100.99 matches
# nothing, so every term is evaluated):
#   _spf1: a a a a mx                                     5 lookups
#   _spf2: include:_spf4 (a CNAME to _spf3) a             3 lookups (with _spf3's exists)
#   _spf3: exists on a name that does not exist, ip4      1 lookup, 1 void; in two strings,
#          beside a TXT record that is not SPF
WITHIN="v=spf1 include:_spf1.example.test include:_spf2.example.test -all"  # 2 + 5 + 3 = 10
OVER="v=spf1 include:_spf1.example.test include:_spf2.example.test a:h1.example.test -all" # 11
VOIDS="v=spf1 a:gone1.example.test mx:h1.example.test exists:gone2.example.test -all" # 3 void

setup_file() {
    testbed_setup_file
    [ -z "${TB_SKIP:-}" ] || return 0
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update add h1.example.test. 60 IN A 192.0.2.1
update add h2.example.test. 60 IN A 192.0.2.2
update add h3.example.test. 60 IN A 192.0.2.3
update add h4.example.test. 60 IN A 192.0.2.4
update add h5.example.test. 60 IN A 192.0.2.5
update add mail.example.test. 60 IN MX 10 h1.example.test.
update add _spf1.example.test. 60 IN TXT "v=spf1 a:h1.example.test a:h2.example.test a:h3.example.test a:h4.example.test mx:mail.example.test -all"
update add _spf2.example.test. 60 IN TXT "v=spf1 include:_spf4.example.test a:h5.example.test -all"
update add _spf3.example.test. 60 IN TXT "v=spf1 exists:unlisted.example.test " "ip4:192.0.2.0/24 -all"
update add _spf3.example.test. 60 IN TXT "google-site-verification=abc"
update add _spf4.example.test. 60 IN CNAME _spf3.example.test.
EOF
}
teardown_file() { testbed_teardown_file; }
setup() { testbed_setup; }

# cdm-dns-apply into example.test through ns1, counting through unbound; options follow.
apply() {
    cdm-dns-apply --resolver "$TB_RESOLVER:$TB_RESOLVER_PORT" --zone example.test --handler rfc2136 \
        --set server="$TB_NS_ADDR" --set port="$TB_NS_PORT" --set keyfile="$TB_TSIG_KEY" "$@"
}

# in.zone with the zone lines given as arguments; prints its path.
zone_file() {
    printf '%s\n' "$@" > "$BATS_TEST_TMPDIR/in.zone"
    echo "$BATS_TEST_TMPDIR/in.zone"
}

# The TXT data ns1 serves at $1 (empty for none).
served_txt() { tb_dig +short "$1" TXT; }

# pyspf's verdict on the SPF record published at $1, for a sender that matches nothing:
# "RESULT EXPLANATION lookups=N". Debian's python3-spf needs Debian's interpreter.
pyspf() {
    /usr/bin/python3 - "$TB_RESOLVER:$TB_RESOLVER_PORT" "$1" <<'PY'
import sys
import dns.resolver
import spf
address, port = sys.argv[1].rsplit(":", 1)
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = [address]
resolver.port = int(port)
dns.resolver.default_resolver = resolver
query = spf.query(i="198.51.100.99", s="postmaster@" + sys.argv[2], h=sys.argv[2], strict=True)
result, _, explanation = query.check()
print(result, explanation, "lookups=%d" % query.lookups)
PY
}

@test "pyspf agrees with the numbers these records are built on" {
    tb_nsupdate -k "$TB_TSIG_KEY" <<EOF
zone example.test
update add oracle-within.example.test. 60 IN TXT "$WITHIN"
update add oracle-over.example.test. 60 IN TXT "$OVER"
update add oracle-voids.example.test. 60 IN TXT "$VOIDS"
EOF
    run -0 pyspf oracle-within.example.test
    assert_output "fail SPF fail - not authorized lookups=10"
    run -0 pyspf oracle-over.example.test
    assert_output "permerror SPF Permanent Error: Too many DNS lookups lookups=11"
    run -0 pyspf oracle-voids.example.test
    assert_output "permerror SPF Permanent Error: Void lookup limit of 2 exceeded lookups=3"
}

@test "a record whose includes need 11 lookups is published with a warning naming the count and the limit" {
    run --separate-stderr -0 apply --format text "$(zone_file "over.example.test. 300 IN TXT \"$OVER\"")"
    [[ $stderr == *"WARNING"*"SPF record at 'over.example.test.' needs 11 DNS lookups, over the limit of 10 (RFC 7208 §4.6.4)"* ]] ||
        fail "no lookup warning in: $stderr"
    [[ $stderr != *"void lookups"* ]] || fail "a void lookup warning for 1 void lookup: $stderr"
    assert_output "add (new) SPF for over.example.test : $OVER"
    run -0 served_txt over.example.test.
    assert_output "\"$OVER\""
}

@test "--strict: over the limit is exit 65 and nothing of the input is published" {
    run --separate-stderr -65 apply --strict "$(zone_file \
        "strict.example.test. 300 IN A 192.0.2.77" \
        "strict.example.test. 300 IN TXT \"$OVER\"")"
    [[ $stderr == *"SPF record at 'strict.example.test.' needs 11 DNS lookups, over the limit of 10"* ]] ||
        fail "no lookup error in: $stderr"
    run -0 served_txt strict.example.test.
    assert_output ""
    run -0 tb_dig +short strict.example.test. A
    assert_output ""
}

@test "a record within the limits is published without a warning, also with --strict" {
    run --separate-stderr -0 apply --strict "$(zone_file "within.example.test. 300 IN TXT \"$WITHIN\"")"
    [[ $stderr != *"SPF record"* ]] || fail "a warning for 10 lookups: $stderr"
    [[ $stderr != *"WARNING"* ]] || fail "a warning: $stderr"
    run -0 served_txt within.example.test.
    assert_output "\"$WITHIN\""
}

@test "three void lookups are a warning naming the count and the limit" {
    run --separate-stderr -0 apply "$(zone_file "voids.example.test. 300 IN TXT \"$VOIDS\"")"
    [[ $stderr == *"SPF record at 'voids.example.test.' makes 3 void lookups, over the limit of 2 (RFC 7208 §4.6.4)"* ]] ||
        fail "no void lookup warning in: $stderr"
    run -0 served_txt voids.example.test.
    assert_output "\"$VOIDS\""
}

@test "the original's 'aaaa' and an include without an SPF record are warned about, quoting the term" {
    local text="v=spf1 +aaaa include:h1.example.test ~all"
    run --separate-stderr -0 apply "$(zone_file "original.example.test. 300 IN TXT \"$text\"")"
    [[ $stderr == *"SPF record at 'original.example.test.': '+aaaa': 'aaaa' is not a mechanism of RFC 7208"* ]] ||
        fail "no warning for aaaa in: $stderr"
    [[ $stderr == *"SPF record at 'original.example.test.': 'include:h1.example.test': no TXT record at 'h1.example.test.'"* ]] ||
        fail "no warning for the include in: $stderr"
}

@test "an include target published in the same run is counted as published" {
    run --separate-stderr -0 apply --strict "$(zone_file \
        "sender.example.test. 300 IN TXT \"v=spf1 include:_spf-new.example.test -all\"" \
        "_spf-new.example.test. 300 IN TXT \"v=spf1 a:h1.example.test include:_spf1.example.test -all\"")"
    [[ $stderr != *"WARNING"* ]] || fail "a warning: $stderr"
    run -0 served_txt _spf-new.example.test.
    assert_output "\"v=spf1 a:h1.example.test include:_spf1.example.test -all\""
}
