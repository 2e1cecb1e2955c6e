"""Prefect flows only: the job graph, its hooks, maintenance flows. No I/O of their own."""
