#!/usr/bin/env bash
# Deploys the Lambda shape to LocalStack: the built zips, a secret, and infra/aws/template.yaml,
# then makes a smoke call (localstack/smoke.sh). Needs Docker with LocalStack running
# (`localstack start`; API Gateway v2 HTTP APIs and their JWT authorizers need LocalStack Pro),
# `awslocal` (PyPI awscli-local) and the zips (`cargo lambda build --release --output-format zip
# --bin identity-lambda --bin auth-lambda --bin authz-lambda --bin audit-lambda`).
# Not run in CI: these machines have no Docker engine.
#
#   DATABASE_HOST=host.docker.internal localstack/deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

STACK=${STACK:-platform}
BUCKET=${BUCKET:-platform-lambda}
SECRET=${SECRET:-platform/lambda}
# PostgreSQL as the functions' containers reach it, with infra/postgres/init.sql's roles.
DATABASE_HOST=${DATABASE_HOST:-host.docker.internal}
DATABASE_NAME=${DATABASE_NAME:-platform}

for m in identity auth authz audit; do
  zip="target/lambda/$m-lambda/bootstrap.zip"
  [ -f "$zip" ] || { echo "missing $zip: build the zips first (see the top of this file)" >&2; exit 1; }
done

awslocal s3 mb "s3://$BUCKET" 2>/dev/null || true
for m in identity auth authz audit; do
  awslocal s3 cp "target/lambda/$m-lambda/bootstrap.zip" "s3://$BUCKET/lambda/$m.zip"
done

# The secret: service keys, each service's database URL, auth's key-encryption key. A value
# already in the secret is kept (a new key-encryption key could open none of auth's keys).
keys=$(cargo run -q -p platformctl -- keys)
existing=$(awslocal secretsmanager get-secret-value --secret-id "$SECRET" \
  --query SecretString --output text 2>/dev/null || echo '{}')
secret=$(KEYS="$keys" EXISTING="$existing" DATABASE_HOST="$DATABASE_HOST" DATABASE_NAME="$DATABASE_NAME" python3 - <<'PY'
import base64, json, os
values = dict(l.split("=", 1) for l in os.environ["KEYS"].splitlines() if l and not l.startswith("#"))
for m in ["identity", "auth", "authz", "audit"]:
    values[f"{m.upper()}_DATABASE_URL"] = (
        f"postgres://{m}:{m}@{os.environ['DATABASE_HOST']}:5432/{os.environ['DATABASE_NAME']}"
    )
values["AUTH_ENCRYPTION_KEY"] = base64.b64encode(os.urandom(32)).decode()
values["IDENTITY_SMTP_URL"] = "smtp://localhost:1025"
values["AUDIT_CHECKPOINT_SIGNING_KEY"] = base64.b64encode(os.urandom(32)).decode()
values.update(json.loads(os.environ["EXISTING"]))
print(json.dumps(values))
PY
)
if awslocal secretsmanager describe-secret --secret-id "$SECRET" >/dev/null 2>&1; then
  awslocal secretsmanager put-secret-value --secret-id "$SECRET" --secret-string "$secret" >/dev/null
else
  awslocal secretsmanager create-secret --name "$SECRET" --secret-string "$secret" >/dev/null
fi

awslocal cloudformation deploy --stack-name "$STACK" --template-file infra/aws/template.yaml \
  --capabilities CAPABILITY_IAM \
  --parameter-overrides CodeBucket="$BUCKET" SecretName="$SECRET"

STACK="$STACK" localstack/smoke.sh
