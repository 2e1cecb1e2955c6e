"""Outbound HTTP to hosts named by requests: the SSRF rules and the source fetcher."""
