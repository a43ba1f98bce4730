"""Render every example card in cards/examples/ from its saved context, with the packaged and the minimal template.

    python cards/render_examples.py          # write the .md files
    python cards/render_examples.py --check  # exit 1 when a file differs from what the templates render now

A context file is what publishing (`.card_context.json` of a dataset folder) or a training script (of a model
folder) saved; `*_dataset_card.context.json` renders as a dataset card, `*_model_card.context.json` as a model card.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CARDS = Path(__file__).resolve().parent
EXAMPLES = CARDS / "examples"


def render_all() -> dict[Path, str]:
    """Every example file and the text the templates render for it now."""
    from openr1_data.publish.card import render_card
    from openr1_data.train.model_card import render_model_context

    rendered = {}
    for source in sorted(EXAMPLES.glob("*.context.json")):
        name = source.name.removesuffix(".context.json")
        context = json.loads(source.read_text())
        kind = "dataset_card" if name.endswith("dataset_card") else "model_card"
        render = render_card if kind == "dataset_card" else render_model_context
        rendered[EXAMPLES / f"{name}.md"] = render(context, None)
        rendered[EXAMPLES / f"{name}.minimal.md"] = render(
            context, CARDS / "templates" / f"{kind}_minimal.md.j2"
        )
    return rendered


def main(argv: list[str]) -> int:
    stale = []
    for path, text in render_all().items():
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(CARDS.parent)}")
    if stale:
        print(f"stale example cards: {stale}; run python cards/render_examples.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
