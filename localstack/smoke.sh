#!/usr/bin/env bash
# A smoke call to the deployed stack: sign up and log in through the public API, then an
# authenticated call (through the JWT authorizer). Needs awslocal, curl and python3.
set -euo pipefail
STACK=${STACK:-platform}
url=$(awslocal cloudformation describe-stacks --stack-name "$STACK" \
  --query "Stacks[0].Outputs[?OutputKey=='PublicUrl'].OutputValue" --output text)
email="smoke-$(date +%s)@example.com"
call() { curl -fsS -X POST "$url/$1" -H 'content-type: application/json' "${@:3}" -d "$2"; }
id=$(call platform.identity.v1.IdentityService/CreateUser \
  "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["id"])')
token=$(call platform.auth.v1.AuthService/Login \
  "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
call platform.identity.v1.IdentityService/GetUser "{\"id\":\"$id\"}" -H "authorization: Bearer $token"
# Without the token the authorizer refuses it (401) before any function runs.
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/platform.identity.v1.IdentityService/GetUser" \
  -H 'content-type: application/json' -d "{\"id\":\"$id\"}")
[ "$status" = 401 ] || { echo "without a token: $status, not 401" >&2; exit 1; }
echo
echo "smoke: sign-up, login and an authorized call through $url"
