#!/bin/sh
# Loads the sample entries on the first start, with the read-only account's password
# from the compose secret, then runs slapd in the foreground (exec: it gets SIGTERM).
set -eu
demo=/etc/ad-connect-demo
data=/var/lib/ad-connect-demo
if [ ! -e "$data/data.mdb" ]; then
    password_file=/run/secrets/ldap_readonly_password
    [ -r "$password_file" ] || { echo "no $password_file: create secrets/ldap_readonly_password (README)" >&2; exit 1; }
    password=$(cat "$password_file")
    sed "s|@READONLY_PASSWORD@|$password|" "$demo/sample.ldif" | slapadd -f "$demo/slapd.conf"
fi
exec slapd -d 0 -f "$demo/slapd.conf" -h "ldap://0.0.0.0:1389/"
