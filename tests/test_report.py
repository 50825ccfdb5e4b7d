"""report.html: parses, embeds every figure inline, and references nothing outside itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from scalinglaw_jax.core import intervals
from scalinglaw_jax.figures import plots
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.report.page import Report, Setting, format_value, inline_svg

EXTERNAL_TAGS = {"script", "link", "img", "iframe", "object", "embed", "source", "audio", "video"}


class PageParser(HTMLParser):
    """Collects tags, ids, and every attribute or style that could point somewhere."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.references: list[str] = []
        self.svg_count = 0
        self.open_svg = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "svg":
            self.svg_count += 1
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
            if name in ("href", "xlink:href", "src", "srcset", "action", "data", "background"):
                self.references.append(value)
            self.references += re.findall(r"url\(([^)]*)\)", value or "")

    def handle_data(self, data):
        self.text.append(data)
        self.references += re.findall(r"url\(([^)]*)\)", data)
        self.references += re.findall(r"@import\s+\S+", data)


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def assert_self_contained(path: Path, n_figures: int) -> PageParser:
    """The page parses, inlines ``n_figures`` SVGs and points only inside itself."""
    page = parse_page(path)
    assert page.tags[0] == "html" and "body" in page.tags
    assert page.svg_count == n_figures
    assert not EXTERNAL_TAGS & set(page.tags)
    # Fragments and data: URIs (matplotlib embeds a colour bar as a PNG data URI) stay inside.
    outside = [ref for ref in page.references if not ref.startswith(("#", "data:"))]
    assert not outside, f"references outside the page: {outside[:5]}"
    targets = {ref[1:] for ref in page.references if ref.startswith("#")}
    assert targets <= set(page.ids), f"dangling references: {sorted(targets - set(page.ids))[:5]}"
    # Each figure's ids carry its own suffix, so no reference resolves into another figure.
    suffixes = {i.rpartition("--")[2] for i in page.ids}
    assert suffixes == {f"fig{k}" for k in range(1, n_figures + 1)}
    assert not re.search(r"https?://", path.read_text(encoding="utf-8"))
    return page


def _two_figures(out: Path) -> list[Path]:
    frontier = closed_forms.CHINCHILLA.frontier(
        closed_forms.CHINCHILLA.from_params(closed_forms.PAPER_PARAMS)
    )
    flops = np.geomspace(1e17, 1e26, 20)
    rng = np.random.default_rng(0)
    a = float(frontier.a) + 0.01 * rng.standard_normal(50)
    log_g_n = float(frontier.log_g_n) + 0.05 * rng.standard_normal(50)
    band = intervals.band_from_draws(flops, log_g_n, a, -np.log(6.0) - log_g_n, 1.0 - a)
    lines = [plots.FrontierLine("Approach 3", frontier, (band,), band_labels=("95% <band> & co",))]
    written = plots.save_figure(plots.plot_params_vs_flops(lines), out, "flops", ("svg", "png"))
    written += plots.save_figure(plots.plot_params_vs_tokens(lines), out, "tokens", ("svg",))
    return written


def test_report_inlines_figures_and_escapes_text(tmp_path):
    figures = _two_figures(tmp_path)
    report = Report("scalinglaw test", {"resamples": 10, "out": "dir", "level": None}, "3 rows")
    report.table("Approach <3>", "a = 0.5 & b = 0.5", echo=False)
    report.warn("band left out: 7 of 10 resamples failed", echo=False)
    path = report.write(tmp_path, figures)
    assert path == tmp_path / "report.html"
    page = assert_self_contained(path, n_figures=2)
    text = "".join(page.text)
    for expected in ("Approach <3>", "a = 0.5 & b = 0.5", "7 of 10 resamples failed", "3 rows"):
        assert expected in text
    assert "resamples" in text and "(default)" not in text and "not set" in text
    # Band groups keep their id prefix inside the page, once per figure.
    assert sum(i.startswith("band-bootstrap-approach-3") for i in page.ids) == 2


def test_report_prints_what_it_records(capsys):
    report = Report("t")
    report.table("Heading", "body")
    report.warn("careful")
    captured = capsys.readouterr()
    assert "== Heading ==\nbody" in captured.out and "WARNING: careful" in captured.err
    assert report.tables == [("Heading", "body")] and report.warnings == ["careful"]


def test_inline_svg_suffixes_ids_and_their_references():
    svg = (
        '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "x" "http://www.w3.org/svg11.dtd">\n'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        "<metadata><rdf:RDF>http://purl.org</rdf:RDF></metadata>"
        '<defs><path id="m1" d="M 0 0"/><clipPath id="p2"><rect/></clipPath></defs>'
        '<g id="band-x" clip-path="url(#p2)"><use xlink:href="#m1" x="1" y="2"/></g></svg>'
    )
    out = inline_svg(svg, "fig3")
    assert "http" not in out and "<?xml" not in out and "DOCTYPE" not in out
    assert 'id="m1--fig3"' in out and 'xlink:href="#m1--fig3"' in out
    assert "url(#p2--fig3)" in out and 'id="band-x--fig3"' in out
    assert out.startswith("<svg>")


def test_settings_show_the_value_that_ran_and_its_source(tmp_path):
    """Flag, config file and default each named; values formatted for people, no reprs.
    (Settings are resolved by the command template, ``cli.template.resolve``.)"""
    from scalinglaw_jax.cli import bootstrap, build_parser, config, template

    path = tmp_path / "c.toml"
    path.write_text('out = "from-config"\n[data]\ndrop_highest_loss = 5\n[bootstrap]\nseed = 3\n')
    argv = ["bootstrap", "runs.csv", "--config", str(path), "--level=0.9"]
    parsed = vars(build_parser().parse_args(argv))
    record, resolved = template.resolve(bootstrap.Options, parsed, config.read_config(path))
    settings = {s.name: s for s in resolved}
    assert settings["config"].source == "flag" and settings["level"].source == "flag"
    assert settings["out"] == Setting("out", Path("from-config"), "config")
    assert settings["drop_highest_loss"] == Setting("drop_highest_loss", 5, "config")
    assert settings["seed"] == Setting("seed", 3, "config") and record.seed == 3
    assert settings["resamples"] == Setting("resamples", 1000, "default")
    assert settings["figure_formats"].source == "default"
    assert "command" not in settings and "func" not in settings
    report = Report("t")
    report.add_settings(settings.values())
    report.add_settings([("extra", [1e20, 2.5], "flag")])
    page = report.to_html()
    assert "('svg',)" not in page and "PosixPath" not in page
    row = re.search(r"<tr><td>figure_formats</td><td>([^<]*)</td><td[^>]*>([^<]*)</td>", page)
    assert row.groups() == ("svg", "default")
    assert re.search(r"<td>drop_highest_loss</td><td>5</td><td[^>]*>config</td>", page)
    assert re.search(r"<td>extra</td><td>1e\+20, 2.5</td><td[^>]*>flag</td>", page)
    with pytest.raises(ValueError, match="source must be one of"):
        report.add_settings([("x", 1, "guess")])


def test_out_left_to_the_command_is_filled_in_when_written(tmp_path):
    report = Report("t", [("out", None, "default")])
    page = report.write(tmp_path).read_text()
    assert f"<td>out</td><td>{tmp_path}</td>" in page


def test_format_value_for_people():
    assert format_value(("svg", "png")) == "svg, png"
    assert format_value(None) == "not set" and format_value(True) == "yes"
    assert format_value(3e21) == "3e+21" and format_value(0.2) == "0.2"
    assert format_value({"params": "Model Size"}) == "params = Model Size"
    assert format_value(Path("a/b")) == "a/b" and format_value(()) == "none"


def test_warning_lines_of_a_table_are_warning_rows_and_tables_wrap():
    report = Report("t")
    text = "law  a\nchinchilla 0.5\nWARNING: kaplan: posterior failed its checks (r_hat 1.3)"
    report.table("Laws compared", text, echo=False)
    page = report.to_html()
    assert (
        '<span class="warning-row">WARNING: kaplan: posterior failed its checks (r_hat 1.3)</span>'
        in page
    )
    assert "white-space: pre-wrap" in page and "overflow-x: auto" not in page
