"""Jobs as clients see them: request models, stage contract, limits, sources (input roots, inbox,
SSRF), content detection, preflight, and the job service (submit, read, cancel, delete) that the
CLI and the HTTP gateway share.
"""
