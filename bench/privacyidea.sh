#!/usr/bin/env bash
# Starts privacyIDEA 3.14 (PyPI, pinned in bench/privacyidea/requirements.txt) on SQLite
# behind gunicorn with 4 workers, as its documentation sets it up, on 127.0.0.1:PORT.
# Usage: bench/privacyidea.sh DIR PORT   (prints the gunicorn master's PID)
# The venv is made once with python3.11 in ${BENCH_VENV:-target/bench-venv/privacyidea}.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mkdir -p "$1" && cd "$1" && pwd)
port=$2
venv=${BENCH_VENV:-$ROOT/target/bench-venv/privacyidea}

if [ ! -x "$venv/bin/gunicorn" ]; then
  echo "== installing privacyIDEA into $venv" >&2
  python3.11 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$ROOT/bench/privacyidea/requirements.txt" >&2
fi

rm -rf "$dir"/*
cat >"$dir/pi.cfg" <<CFG
SUPERUSER_REALM = ['super']
SQLALCHEMY_DATABASE_URI = 'sqlite:///$dir/pi.sqlite'
SECRET_KEY = 'benchmark-only-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')'
PI_PEPPER = 'benchmark-only-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')'
PI_ENCFILE = '$dir/enckey'
PI_AUDIT_KEY_PRIVATE = '$dir/private.pem'
PI_AUDIT_KEY_PUBLIC = '$dir/public.pem'
PI_LOGFILE = '$dir/privacyidea.log'
PI_LOGLEVEL = 30
CFG
export PRIVACYIDEA_CONFIGFILE=$dir/pi.cfg
{
  "$venv/bin/pi-manage" setup create_enckey
  "$venv/bin/pi-manage" setup create_audit_keys
  "$venv/bin/pi-manage" setup create_tables
  "$venv/bin/pi-manage" admin add admin -p "${BENCH_PI_PASSWORD:-benchpass}"
} >"$dir/setup.log" 2>&1
cd "$dir"
"$venv/bin/gunicorn" --workers 4 --bind "127.0.0.1:$port" \
  "privacyidea.app:create_app(config_name='production', config_file='$dir/pi.cfg', silent=True)" \
  >"$dir/gunicorn.log" 2>&1 &
echo $!
