"""Deployment: the process stack (`env.py` settings, `services.py` the service table, `supervisor.py` the
processes, `postgres.py` databases), its env file and the services-profile Dagster instance."""
