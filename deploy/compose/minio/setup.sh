#!/bin/sh
# One-shot job (Compose service `buckets`, image minio/mc): the platform's buckets, its own MinIO user, and
# the landing bucket's notifications to RabbitMQ (target PRIMARY, configured on the minio service). Safe to
# run again: every step is idempotent.
set -eu

mc alias set mlops "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"

for bucket in "$MLOPS_LAKE_BUCKET" "$MLOPS_LANDING_BUCKET" "$MLOPS_MLFLOW_BUCKET"; do
  mc mb --ignore-existing "mlops/$bucket"
done

# The platform writes with its own user: the MinIO translator ignores the notifications of its own writes
# (an upload through the API is announced by the API already); a file anyone else drops is announced.
mc admin user add mlops "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
info="$(mc admin user info mlops "$AWS_ACCESS_KEY_ID")"
case "$info" in
  *readwrite*) ;;
  *) mc admin policy attach mlops readwrite --user "$AWS_ACCESS_KEY_ID" ;;
esac

mc event add --ignore-existing "mlops/$MLOPS_LANDING_BUCKET" arn:minio:sqs::PRIMARY:amqp --event put
mc event ls "mlops/$MLOPS_LANDING_BUCKET"
