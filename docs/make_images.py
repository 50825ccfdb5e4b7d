"""Regenerate every image the README shows: ``python docs/make_images.py``.

1. Runs ``scalinglaw demo --figure-formats svg,png`` into a temporary folder (the package
   from this checkout: ``PYTHONPATH`` is set to the repository root).
2. Copies the four figures' PNGs to ``docs/img/`` and records what each one draws (axes ids,
   limits, run counts, legend texts: ``plots.figure_facts`` as the SVG carries it) in
   ``docs/img/figures.json``; ``tests/test_readme_images.py`` fails when the demo no longer
   draws the same legends.
3. Renders the demo's ``report.html`` with headless Chromium into ``docs/img/report.png``
   (the top of the page) and ``docs/img/report_settings.png`` (its end: data and settings
   with their sources); skipped, with a message, when no ``chromium`` is installed
   (``--no-screenshot`` skips it too).

Options: ``--resamples N`` (default 100, as the README says), ``--keep DIR`` to keep the demo's
output folder (``DIR/scalinglaw-demo``).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
FIGURES = ("params_vs_flops", "params_vs_tokens", "isoflop_profiles", "parametric_contours")
FACTS_FILE = IMG / "figures.json"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def svg_facts(path: Path) -> dict:
    """``plots.figure_facts`` of the figure, read back from the SVG's ``<dc:description>``."""
    match = re.search(r"<dc:description>(.*?)</dc:description>", path.read_text(), re.S)
    return json.loads(html.unescape(match.group(1))) if match else {}


def run_demo(out: Path, resamples: int) -> None:
    """``scalinglaw demo`` run from ``out``'s parent with ``--out <out's name>``, so the
    report shows the folder as a user's run shows it (``scalinglaw-demo``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    command = [
        sys.executable,
        "-m",
        "scalinglaw_jax.cli",
        "demo",
        "--out",
        out.name,
        "--overwrite",
        "--figure-formats",
        "svg,png",
        "--resamples",
        str(resamples),
    ]
    print("$", " ".join(command), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(command, check=True, env=env, cwd=out.parent)


def screenshot(page: Path, target: Path, size=(1200, 1600)) -> bool:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("no chromium on PATH: docs/img/report.png left as it was")
        return False
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={target}",
            f"--window-size={size[0]},{size[1]}",
            page.resolve().as_uri(),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    print(f"wrote {target}")
    return True


def settings_screenshot(page: Path, target: Path) -> None:
    """The page's data summary and settings table: the page with everything between its
    header and ``<h2>Data`` left out, rendered and cropped to its content."""
    from PIL import Image, ImageOps

    text = page.read_text(encoding="utf-8")
    header_end = text.index("</p>", text.index('class="meta"')) + len("</p>")
    short = page.with_name("report_settings.html")
    short.write_text(text[:header_end] + text[text.index("<h2>Data</h2>") :], encoding="utf-8")
    if not screenshot(short, target, size=(1200, 1000)):
        return
    with Image.open(target) as image:
        rgb = image.convert("RGB")
    box = ImageOps.invert(rgb).getbbox()  # the non-white region
    if box:
        rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + 24))).save(target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument(
        "--keep", type=Path, default=None, help="run the demo in DIR/scalinglaw-demo and keep it"
    )
    parser.add_argument("--no-screenshot", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = (args.keep or Path(tmp)).resolve() / "scalinglaw-demo"
        run_demo(out, args.resamples)
        IMG.mkdir(parents=True, exist_ok=True)
        facts = {}
        for stem in FIGURES:
            shutil.copyfile(out / f"{stem}.png", IMG / f"{stem}.png")
            facts[f"{stem}.png"] = svg_facts(out / f"{stem}.svg")
            print(f"wrote {IMG / f'{stem}.png'}")
        FACTS_FILE.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
        print(f"wrote {FACTS_FILE}")
        if not args.no_screenshot and screenshot(out / "report.html", IMG / "report.png"):
            settings_screenshot(out / "report.html", IMG / "report_settings.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
