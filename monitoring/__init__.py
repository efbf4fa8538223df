"""What the platform tells Prometheus beyond the API's own metrics: its state, read from Dagster, MLflow and
RabbitMQ by the exporter (`mlops exporter`)."""
