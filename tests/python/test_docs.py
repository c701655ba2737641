"""The documentation a clone has: the README points inside the repository,
the user guide names every public type, method and property, and the
license pyproject.toml declares is there."""

import os
import re

import horus

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def test_readme_links_resolve_inside_the_repository():
    readme = read("README.md")
    assert "../shared" not in readme
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        assert os.path.exists(os.path.join(ROOT, target)), target
    assert "docs/guide.md" in readme


def test_guide_names_every_public_type_method_and_property():
    guide = read("docs", "guide.md")
    missing = []
    for name in horus.__all__:
        if name.startswith("_"):
            continue
        if not re.search(rf"\b{re.escape(name)}\b", guide):
            missing.append(name)
        obj = getattr(horus, name)
        if isinstance(obj, type):
            # What a builtin base gives (an exception's args, add_note...) is
            # Python's, not horus's API.
            inherited = set(dir(BaseException)) if issubclass(obj, BaseException) else set()
            for attr in dir(obj):
                if attr.startswith("_") or attr in inherited:
                    continue
                if not re.search(rf"\b{re.escape(attr)}\b", guide):
                    missing.append(f"{name}.{attr}")
    assert not missing, missing


def test_code_and_docs_cite_nothing_outside_the_repository():
    """No comment or document points at the design brief or spec that live
    outside the repository (the guide is docs/guide.md)."""
    bad = []
    for top in ("src/horus", "tools", "docs", "examples", "scripts", "tests/python"):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith((".py", ".pyi", ".c", ".h", ".md", ".sh")) and f != "test_docs.py":
                    text = read(d, f)
                    if "DESIGN.md" in text or "shared/spec" in text:
                        bad.append(os.path.relpath(os.path.join(d, f), ROOT))
    assert not bad, bad


def test_license_is_the_apache_2_text():
    text = read("LICENSE")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
