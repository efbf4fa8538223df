"""Deployment: the process stack (`stack.py`), its env file and the services-profile Dagster instance."""
