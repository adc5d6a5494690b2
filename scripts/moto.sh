# Sourced by the demo and smoke scripts: start moto's server on a free 127.0.0.1 port,
# point the AWS SDKs at it, and stop it when the calling script exits. The server is moto's,
# patched where it answers differently from AWS (scripts/moto_fixtures.py, patch_moto).
moto_port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp -t moto.XXXXXX.log)
.venv/bin/python scripts/moto_fixtures.py serve -H 127.0.0.1 -p "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
stop_moto() { kill "$moto_pid" 2>/dev/null; wait "$moto_pid" 2>/dev/null; rm -f "$moto_log"; }
trap stop_moto EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_EC2_METADATA_DISABLED=true
for _ in $(seq 1 300); do
  if .venv/bin/python -c "import socket; socket.create_connection(('127.0.0.1', $moto_port), 1)" 2>/dev/null; then
    break
  fi
  sleep 0.2
done
fixtures() { .venv/bin/python scripts/moto_fixtures.py "$AWS_ENDPOINT_URL" "$@"; }
