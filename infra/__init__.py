"""The outside world: settings, errors, process runner, TTS, stores, ledger, CLI."""
