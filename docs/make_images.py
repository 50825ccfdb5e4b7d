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
output folder.
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
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    command = [
        sys.executable,
        "-m",
        "scalinglaw_jax.cli",
        "demo",
        "--out",
        str(out),
        "--overwrite",
        "--figure-formats",
        "svg,png",
        "--resamples",
        str(resamples),
    ]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env, cwd=ROOT)


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


def settings_screenshot(page: Path, target: Path, height: int = 700) -> None:
    """The end of the page (data summary and settings table): a tall render, cropped to the
    last ``height`` pixels above where the page's content ends."""
    from PIL import Image, ImageOps

    tall = target.with_suffix(".tall.png")
    screenshot(page, tall, size=(1200, 12000))
    with Image.open(tall) as image:
        rgb = image.convert("RGB")
        content = ImageOps.invert(rgb).getbbox()  # non-white region
        bottom = content[3] + 20 if content else rgb.height
        rgb.crop((0, max(0, bottom - height), rgb.width, bottom)).save(target)
    tall.unlink()
    print(f"wrote {target}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--keep", type=Path, default=None, help="keep the demo's folder here")
    parser.add_argument("--no-screenshot", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "demo"
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
