#!/bin/sh
# Make the certificates the TLS tests use, in directory $1, with the
# openssl command-line tool:
#   ca.crt              a test CA
#   server.{crt,key}    signed by it, for localhost, 127.0.0.1 and ::1
#   expired.crt         the same key and names, valid only in 2020
#   other-ca.crt        another CA, which signed other.crt (same key)
set -eu
dir=$1
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "make-certs: $* failed" >&2; exit 1; }; }

q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt \
    -days 30 -subj "/CN=weft test CA"
q openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key \
    -out other-ca.crt -days 30 -subj "/CN=weft other CA"
q openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"
q openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 30 -copy_extensions copy -out server.crt
q openssl x509 -req -in server.csr -CA other-ca.crt -CAkey other-ca.key \
    -CAcreateserial -days 30 -copy_extensions copy -out other.crt

# openssl x509 cannot backdate; openssl ca can.
cat >ca.cnf <<CNF
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial.txt
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[ anything ]
commonName = supplied
CNF
: >index.txt
echo 01 >serial.txt
q openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key \
    -in server.csr -out expired.crt -notext \
    -startdate 20200101000000Z -enddate 20200102000000Z
