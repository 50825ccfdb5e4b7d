"""The README's images are the demo's: every image it shows exists, and the demo still draws
each figure the way the committed image shows it (same axes, same legend entries; band
labels compared with their resample count left out). Regenerate with
``python docs/make_images.py`` when a change to the figures is meant."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from scalinglaw_jax.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
IMG = ROOT / "docs" / "img"
FACTS = IMG / "figures.json"


def readme_images() -> list[str]:
    return re.findall(r"!\[[^\]]*\]\((docs/img/[^)\s]+)\)", README.read_text())


def normalised_legend(texts) -> list[str]:
    return [re.sub(r"\b\d+ resamples\b", "N resamples", t) for t in texts]


def test_every_readme_image_exists_and_figures_are_recorded():
    images = readme_images()
    assert "docs/img/report.png" in images
    for image in images:
        assert (ROOT / image).is_file(), f"README shows {image}, which does not exist"
    recorded = json.loads(FACTS.read_text())
    figures = [Path(i).name for i in images if not Path(i).name.startswith("report")]
    assert sorted(figures) == sorted(recorded), "docs/img/figures.json is not the README's set"


def test_demo_draws_the_readme_figures_the_same_way(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--resamples", "4"]) == 0
    recorded = json.loads(FACTS.read_text())
    for image, facts in recorded.items():
        svg = (tmp_path / image).with_suffix(".svg").read_text()
        match = re.search(r"<dc:description>(.*?)</dc:description>", svg, re.S)
        now = json.loads(html.unescape(match.group(1)))
        assert sorted(now) == sorted(facts), f"{image}: axes differ; run docs/make_images.py"
        for axes_id, entry in facts.items():
            assert normalised_legend(now[axes_id].get("legend", [])) == normalised_legend(
                entry.get("legend", [])
            ), f"{image} ({axes_id}): legend differs from README's image; run docs/make_images.py"
            if "runs" in entry:
                assert now[axes_id]["runs"] == now[axes_id]["runs_inside"] == entry["runs"]


@pytest.mark.parametrize("name", ["band", "kaplan"])
def test_readme_text_matches_what_the_figures_draw(name):
    """The README's words about the figures: 95% bands on every approach line, the Kaplan
    line as the paper draws it."""
    text = README.read_text()
    recorded = json.loads(FACTS.read_text())
    legend = recorded["params_vs_flops.png"]["axes-params-vs-flops"]["legend"]
    if name == "band":
        bands = [t for t in legend if "band" in t]
        assert [t.split(": ")[0] for t in bands] == ["Approach 1", "Approach 2", "Approach 3"]
        assert all(": 95% " in t for t in bands)
        assert "95% band on every approach line" in text
    else:
        assert "Kaplan et al. (2020)" in legend
        assert "through Gopher" in text
