# Certificate chains for the cdm-tlsa suites: root (RSA 2048) -> intermediate (ECDSA P-256)
# -> leaf for mail.example.test, made fresh with the openssl command line.
#
#   make_chain DIR KEYTYPE    KEYTYPE: rsa, p256, p384 or ed25519
#
# DIR gets root.pem, inter.pem, leaf.pem, leaf.key, leaf.csr, fullchain.pem (leaf, inter,
# root) and chain.pem (leaf, inter: what a server sends).
make_chain() {
    local dir=$1 newkey
    case $2 in
        rsa) newkey="-newkey rsa:2048" ;;
        p256) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-256" ;;
        p384) newkey="-newkey ec -pkeyopt ec_paramgen_curve:P-384" ;;
        ed25519) newkey="-newkey ed25519" ;;
        *) echo "make_chain: unknown key type '$2'" >&2; return 64 ;;
    esac
    mkdir -p "$dir"
    (
        cd "$dir" || exit 1
        openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 30 \
            -subj "/CN=root" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key \
            -out inter.csr -subj "/CN=intermediate" 2>/dev/null
        printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' > ca.ext
        openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial \
            -out inter.pem -days 30 -extfile ca.ext 2>/dev/null
        printf 'subjectAltName=DNS:mail.example.test\n' > leaf.ext
        # shellcheck disable=SC2086 # the key options are words on purpose
        openssl req $newkey -nodes -keyout leaf.key -out leaf.csr -subj "/CN=mail.example.test" 2>/dev/null
        openssl x509 -req -in leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial \
            -out leaf.pem -days 30 -extfile leaf.ext 2>/dev/null
        cat leaf.pem inter.pem root.pem > fullchain.pem
        cat leaf.pem inter.pem > chain.pem
    )
}
