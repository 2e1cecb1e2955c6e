"""Media tools: every ffmpeg/ffprobe/espeak-ng argument list (pure builders), input safety (one
``INPUT_SAFETY`` definition), presets, HLS playlists, probe facts, plans, the publish gate.

See README.md in this folder for the media job's calling order.
"""
