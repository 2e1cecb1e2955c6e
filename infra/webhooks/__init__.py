"""Webhooks: signed callbacks to clients (``signing``, ``delivery``) and, from the gateway, the
inbound hooks that turn uploads and signed requests into Prefect events."""
