"""The outside world, by domain; nothing here imports ``flows/``, ``tasks/`` or ``cli/``.

process/ (the one process runner, watchdog, cgroup, container supervisor) · media/ (every ffmpeg,
ffprobe and espeak-ng argv, presets, HLS, the publish gate) · documents/ (PDF, Markdown, text
reading) · store/ (artifact stores, the storage layout, checked removal, the ledger and its
migrations) · jobs/ (request models, limits, sources, preflight, the job service) · prefect/ (thin
client, bootstrap, local server) · settings/ (one group per file) · llm/ · net/ (SSRF rules) ·
metrics/ · deploy/ (Dockerfile, compose, Prometheus). errors.py is the one exception tree.
"""
