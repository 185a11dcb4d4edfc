#!/usr/bin/env bash
# Property-based test of the whole API from its own OpenAPI document: schemathesis
# generates requests for every operation and fails on any 5xx, or any status, content
# type, header or body the document does not describe.
#
# Usage: run.sh BASE_URL ADMIN_EMAIL ADMIN_PASSWORD   (schemathesis on PATH)
# The operations that end the caller's session (password change, self-delete, logout)
# run last, in a pass of their own, so they cannot turn the rest into a run of 401s.
# The event stream (task_events) is left out: its body never ends while the session
# lives, which a request-and-response checker can only time out on; the black-box suite
# (tests/tests/sync) and the browser test cover it.
set -euo pipefail
base=$1 admin_email=$2 admin_password=$3
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
session_enders=(--include-operation-id update_me --include-operation-id delete_me --include-operation-id logout)
excluded=(--exclude-operation-id update_me --exclude-operation-id delete_me --exclude-operation-id logout
  --exclude-operation-id task_events)

token() { # email password → access token
  curl -fsS -X POST "$base/api/v1/auth/login" --data-urlencode "username=$1" --data-urlencode "password=$2" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
user() { # email → access token of a freshly registered user
  curl -fsS -o /dev/null -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"schemathesis-pw-1\"}"
  token "$1" schemathesis-pw-1
}
run() { # token, filters...
  local auth=$1
  shift
  schemathesis run "$base/openapi.json" -H "Authorization: Bearer $auth" --checks "$checks" \
    --max-examples "${MAX_EXAMPLES:-40}" --workers 2 "$@"
}

suffix=$(date +%s%N)
echo "== as an admin, everything but the session-ending operations"
run "$(token "$admin_email" "$admin_password")" "${excluded[@]}"
echo "== as a user, everything but the session-ending operations"
run "$(user "st-user-$suffix@example.com")" "${excluded[@]}"
echo "== the session-ending operations"
run "$(user "st-last-$suffix@example.com")" "${session_enders[@]}"
