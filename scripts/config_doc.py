"""Print the settings tables of docs/CONFIGURATION.md from infra/settings.py (the one source)."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.settings import Settings  # noqa: E402


def rows(model: type[BaseModel], prefix: str = "REELFLOW_", group: str = "general"):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from rows(annotation, f"{prefix}{name.upper()}__", name)
        else:
            default = field.default
            if hasattr(default, "get_secret_value"):
                default = "(secret) " + default.get_secret_value()
            yield group, f"{prefix}{name.upper()}", default, field.description or ""


def main() -> None:
    current = None
    for group, env, default, description in rows(Settings):
        if group != current:
            print(f"\n### {group}\n\n| variable | default | meaning |\n|---|---|---|")
            current = group
        shown = "computed" if default is None else f"`{default}`"
        if env == "REELFLOW_HOME":
            shown = "`~/.reelflow`"
        print(f"| `{env}` | {shown} | {description} |")


if __name__ == "__main__":
    main()
