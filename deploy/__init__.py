"""Deployment: the process stack (`env.py` settings, `services.py` the service table, `supervisor.py` the
processes, `postgres.py` databases, `nginx.py` the front), its env file and the services-profile Dagster
instance; the image's roles (`roles.py`), Compose (`compose/`) and Kubernetes (`k8s/`)."""
