"""The card kit (cards/): its example cards are what the templates render from their saved contexts, its README
names every key of both contexts, and a model card template of the user's own replaces the packaged one."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

from openr1_data.train.model_card import model_card_context, write_model_card

CARDS = Path(__file__).resolve().parent.parent / "cards"


def test_the_example_cards_are_what_the_templates_render():
    render_all = runpy.run_path(str(CARDS / "render_examples.py"))["render_all"]
    rendered = render_all()
    assert {p.name for p in rendered} >= {
        "quickstart_dataset_card.md", "quickstart_dataset_card.minimal.md",
        "sft_model_card.md", "sft_model_card.minimal.md",
    }  # fmt: skip
    for path, text in rendered.items():
        assert path.read_text() == text, f"{path.name} is stale: run python cards/render_examples.py"
        assert text.startswith("---\n")


@pytest.mark.parametrize("kind", ["quickstart_dataset_card", "sft_model_card"])
def test_the_readme_names_every_key_of_the_context(kind):
    context = json.loads((CARDS / "examples" / f"{kind}.context.json").read_text())
    readme = (CARDS / "README.md").read_text()
    documented = set(re.findall(r"`([a-z_]+)`", readme))
    missing = sorted(k for k in context if k not in documented and f"`{k}`" not in readme)
    assert not missing, f"cards/README.md does not describe {missing}"


def test_a_model_card_template_of_ones_own(tmp_path):
    args = SimpleNamespace(learning_rate=1e-5, max_steps=10, seed=0)
    card = dict(model_name="student", base_model="smollm2", dataset_name="me/traces", trainer_kind="sft",
                training_args=args, tags=[], metrics={"train_loss": 0.5})  # fmt: skip
    write_model_card(tmp_path, template=str(CARDS / "templates" / "model_card_minimal.md.j2"), **card)
    text = (tmp_path / "README.md").read_text()
    assert "Fine-tuned from `HuggingFaceTB/SmolLM2-135M-Instruct`" in text and "final train_loss: 0.5" in text
    assert json.loads((tmp_path / ".card_context.json").read_text()) == json.loads(
        json.dumps(model_card_context(**card))
    )
    bad = tmp_path / "bad.md.j2"
    bad.write_text("{{ no_such_key }}")
    with pytest.raises(Exception, match="no_such_key"):  # StrictUndefined: a typo is an error, not a blank
        write_model_card(tmp_path, template=str(bad), **card)
