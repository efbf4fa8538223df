"""Everything the platform takes from Dagster beyond its public API, in one place: the run launcher, the
pooled storages, the lake IO manager's path and per-partition metadata hooks, the event stream behind
`mlops materialize`'s progress view, and how a blocking check failure is recognized. tests/contract/
checks each against the installed Dagster and names what an upgrade changed."""
