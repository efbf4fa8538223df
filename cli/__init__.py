"""`mlops`: the platform's command line, one module per command group; `cli.main` parses and dispatches.

Imports: answering `mlops --help`, `mlops api-key list` or `mlops stack status` must not wait for Dagster,
pandas and MLflow to import (seconds), which `mlops materialize` needs. So `cli/main.py` imports only what
the parser needs and names each command by `module:function`; the command's module is imported when that
command runs and imports what it uses at its top, like any other module.
"""

SOURCE = "mlops-cli"
"""The publisher named in the events the CLI sends."""
