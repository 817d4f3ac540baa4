#!/bin/sh
# How the test chain in this directory was made (run once; the files are committed, and
# tlsa_test.cpp holds the hashes `openssl` printed for them, see expected.txt).
# root (RSA 2048) -> intermediate (ECDSA P-256) -> leaf (ECDSA P-256, www.example.test)
set -eu
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days $days \
    -subj "/CN=cdm test root" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key -out inter.csr \
    -subj "/CN=cdm test intermediate" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > ca.ext
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -out inter.pem \
    -days $days -extfile ca.ext 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
    -subj "/CN=www.example.test" 2>/dev/null
printf 'subjectAltName=DNS:www.example.test,DNS:example.test\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial -out leaf.pem \
    -days $days -extfile leaf.ext 2>/dev/null
cat leaf.pem inter.pem root.pem > fullchain.pem
cat inter.pem leaf.pem > reversed.pem
openssl x509 -in leaf.pem -outform DER -out leaf.der
openssl pkey -in leaf.key -pubout -out leaf.pub
rm -f root.key inter.key inter.csr ca.ext leaf.ext ./*.srl
