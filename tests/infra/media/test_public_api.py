"""Each media module's ``__all__`` is its public surface: complete and nothing stale."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "chunks",
    "expectations",
    "facts",
    "filters",
    "gate",
    "hls",
    "input_checks",
    "outputs",
    "packaging",
    "plan",
    "presets",
    "storyboard",
    "subtitles",
    "timeline",
    "transcode",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_definitions(name: str):
    module = importlib.import_module(f"infra.media.{name}")
    exported = set(module.__all__)
    assert all(hasattr(module, item) for item in exported)
    defined = {
        key
        for key, value in vars(module).items()
        if not key.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
    }
    assert defined <= exported, defined - exported
