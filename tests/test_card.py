"""Dataset cards: Hub metadata, every story section, plots, the template lookup, and secret redaction."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard

from openr1_data.publish import card as cards
from openr1_data.publish import publish_local
from openr1_data.secrets import redact
from tests.hub_server import HubServer
from tests.test_publish_local import build_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, dict]:
    run = build_run()
    folder = tmp_path_factory.mktemp("card") / "dataset"
    publish_local(folder, **run, repo_id="alice/toy-traces", test_size=2, seed=0, tags=["math"])
    return folder, run


def test_card_metadata_is_what_the_hub_understands(published):
    folder, run = published
    card = DatasetCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "apache-2.0"
    assert data["language"] == ["en"]
    assert data["task_categories"] == ["text-generation"]
    assert data["size_categories"] == ["n<1K"]
    assert {"reasoning", "synthetic", "math"} <= set(data["tags"])
    configs = {c["config_name"]: c for c in data["configs"]}
    assert set(configs) == {"sft", "all_traces", "rejected"}
    assert configs["sft"]["default"] is True
    assert [f["split"] for f in configs["sft"]["data_files"]] == ["train", "test"]
    for f in configs["sft"][
        "data_files"
    ]:  # shard names carry a content fingerprint (see local._write_shards)
        assert re.fullmatch(rf"data/sft/{f['split']}-[0-9a-f]{{12}}-\*\.parquet", f["path"]), f
    for config in data["configs"]:  # every pattern matches real shards in the folder
        for entry in config["data_files"]:
            assert list(folder.glob(entry["path"])), entry


def test_card_tells_the_whole_story(published):
    folder, run = published
    text = (folder / "README.md").read_text()
    prov = run["provenance"]
    # How to load, with the repo id.
    assert 'load_dataset("alice/toy-traces", "sft", split="train")' in text
    # Provenance: teacher, backend, style, template text, sampling, sources, version, command.
    for value in (
        "tiny-teacher",
        "transformers",
        "`r1`",
        "Please reason step by step",
        "`temperature` | `0.6`",
    ):
        assert value in text, value
    assert "toy-arithmetic (6 problems)" in text
    assert f"openr1-data version | `{prov['version']}`" in text
    assert prov["command"] in text
    # Funnel table: every stage with in/out/rejected and reasons.
    for stage in run["funnel"].stages:
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(stage.rejected.items(), key=lambda kv: -kv[1]))
        assert (
            f"| {stage.stage} | {stage.rows_in} | {stage.rows_out} | {stage.rows_rejected} | {reasons} |"
            in text
        )
    # Decontamination per benchmark; token stats; plots referenced and present as real PNGs.
    assert "| aime24 | 30 | 0 |" in text and "8-gram" in text
    kept_tokens = run["kept"]["completion_tokens"]
    assert f"| kept | {len(kept_tokens)} | {min(kept_tokens)} |" in text
    for plot in ("plots/funnel.png", "plots/lengths.png"):
        assert f"]({plot})" in text
        data = (folder / plot).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    assert "`test` split holds 2 problem(s) chosen with seed 0" in text


def test_card_without_optional_parts_says_so(tmp_path):
    run = build_run(n_problems=4, rlt_problems=0)
    folder = tmp_path / "bare"
    publish_local(folder, run["kept"])
    text = (folder / "README.md").read_text()
    assert "Decontamination against evaluation benchmarks was **not run**" in text
    assert "Provenance was not recorded" in text
    assert "No funnel was recorded" in text
    assert not (folder / "plots" / "funnel.png").exists() and (folder / "plots" / "lengths.png").exists()
    assert [c["config_name"] for c in DatasetCard.load(folder / "README.md").data.configs] == ["sft"]


def _validate(url: str, content: str) -> tuple[int, dict]:
    body = json.dumps({"content": content, "repoType": "dataset"}).encode()
    request = urllib.request.Request(f"{url}/api/validate-yaml", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_card_passes_the_servers_yaml_validation(published, tmp_path):
    folder, _ = published
    text = (folder / "README.md").read_text()
    with HubServer(tmp_path / "hub", {}) as hub:
        assert _validate(hub.url, text) == (200, {"errors": [], "warnings": []})
        # The validator is not a rubber stamp: a broken header is refused.
        status, answer = _validate(hub.url, text.replace("n<1K", "tiny", 1))
        assert status == 400 and "size_categories" in answer["errors"][0]["message"]


def test_the_one_template_ships_inside_the_package(published):
    template = cards.find_template()
    assert template.parts[-3:] == ("publish", "templates", "dataset_card.md.j2")
    assert "{{ pretty_name }}" in template.read_text() or "pretty_name" in template.read_text()
    # the user's kit in cards/ holds templates to copy, never a second copy of the packaged one to drift
    kit = Path(__file__).resolve().parent.parent / "cards" / "templates"
    assert all(t.read_text() != template.read_text() for t in kit.glob("*.j2"))


def test_render_with_a_custom_template(published, tmp_path):
    folder, _ = published
    context = json.loads((folder / ".card_context.json").read_text())["context"]
    custom = tmp_path / "custom.md.j2"
    custom.write_text(
        "---\n{{ metadata_yaml }}---\n\n# {{ pretty_name }}\n\nteacher: {{ provenance.teacher_model }}\n"
    )
    text = cards.render_card(context, custom)
    assert text.endswith("teacher: tiny-teacher\n")
    assert DatasetCard(text).data.license == "apache-2.0"
    bad = tmp_path / "bad.md.j2"
    bad.write_text("# no metadata header\n")
    with pytest.raises(ValueError, match="without a YAML metadata header"):
        cards.render_card(context, bad)


def test_size_categories_and_token_stats():
    assert [cards.size_category(n) for n in (0, 999, 1_000, 54_321, 2_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "1M<n<10M",
    ]
    stats = cards.token_stats([10, 20, 30, None, 40])
    assert stats == {
        "count": 4,
        "min": 10,
        "mean": 25.0,
        "median": 25.0,
        "p90": 37.0,
        "max": 40,
        "total": 100,
    }
    assert cards.token_stats([None]) is None


def test_plots_are_deterministic(tmp_path):
    funnel = build_run()["funnel"]
    a = cards.plot_funnel(funnel, tmp_path / "a.png").read_bytes()
    b = cards.plot_funnel(funnel, tmp_path / "b.png").read_bytes()
    assert a == b and a.startswith(PNG_MAGIC)


def test_tokens_are_redacted(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "my-secret-env-token")
    line = "train --token hf_AbCdEfGhIjKlMnOpQrStUvWxYz12 --hub-token=plain-secret x my-secret-env-token"
    out = redact(line)
    assert "hf_AbCd" not in out and "plain-secret" not in out and "my-secret-env-token" not in out
    assert out.startswith("train --token <redacted> --hub-token=<redacted> x")
    prov = cards.build_provenance(
        teacher_model="m",
        teacher_backend="b",
        prompt_style="r1",
        command=["run.py", "--token", "hf_" + "x" * 30],
    )
    assert prov["command"] == "run.py --token <redacted>"
