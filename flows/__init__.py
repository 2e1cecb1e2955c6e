"""Prefect flows only: the job graphs (order, no I/O of their own), their state hooks, and the
maintenance flows. A flow is the entry point of a run: it builds the settings and the ledger its
stages share.
"""
