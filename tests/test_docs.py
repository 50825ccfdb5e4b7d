"""The API reference stays complete: docstrings on exported names, docs pages that exist."""

import inspect
import re
from pathlib import Path

import pytest

import scalinglaw_jax
from scalinglaw_jax import approaches

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXPORTS = [(scalinglaw_jax, name) for name in scalinglaw_jax.__all__] + [
    (approaches, name) for name in approaches.__all__
]


def _docs_text() -> str:
    return "\n".join(page.read_text() for page in sorted(DOCS.glob("*.md")))


@pytest.mark.parametrize(("module", "name"), EXPORTS, ids=lambda v: getattr(v, "__name__", v))
def test_exported_name_has_docstring_and_docs_entry(module, name):
    obj = getattr(module, name)
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
        # Its own docstring, not one inherited from a base class such as tuple.
        assert (obj.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"
    # Constants (tuples, NamedTuple instances) cannot carry their own docstring: the docs
    # pages document them instead, and every exported name must be mentioned there.
    word = re.compile(rf"\b{re.escape(name)}\b")
    text = _docs_text()
    fenced = re.findall(r"```.*?```", text, flags=re.S)
    spans = fenced + re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    assert any(word.search(span) for span in spans), f"{module.__name__}.{name} not in docs/"


def test_index_links_exist():
    index = (DOCS / "index.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+\.md)\)", index)
    assert links, "docs/index.md links no pages"
    missing = [link for link in links if not (DOCS / link).is_file()]
    assert not missing, f"docs/index.md links missing pages: {missing}"


def test_every_page_is_linked_from_index():
    index = (DOCS / "index.md").read_text()
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    unlinked = sorted(p for p in pages if f"({p})" not in index)
    assert not unlinked, f"docs pages not linked from docs/index.md: {unlinked}"
