"""The documentation runs as written.

Every ```yaml block of README.md and scenes/README.md is loaded and rendered
(cut to 1 s: what is tested is that the example is a valid scene whose files
exist and that it renders, not its length). A block written as one file of a
set (its first line a comment naming it, `# ep01/scene12.yaml`) is saved under
that name first, so an episode can extend the series block before it. A block
marked with `<!-- fragment -->` on the line before its fence is not a complete
scene (one key, a list entry): it is only parsed as YAML. Keep those rare.

Every ```python block of README.md is executed, from a working directory that
looks like the repository root (the README tells users to be there): the
scenes/ folder with its assets, and nothing else, so files a snippet writes
land in a temporary folder. A line that is a bare expression followed by a
comment holding a Python literal (`result.sample_rate  # 48000`) is a claim:
the expression must equal that literal.
"""
from __future__ import annotations

import ast
import dataclasses
import io
import re
import shutil
import tokenize
from pathlib import Path

import numpy as np
import pytest
import yaml

import spatial

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "scenes/README.md")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
NAMED = re.compile(r"#\s*([\w./-]+\.ya?ml)\s*$")


@dataclasses.dataclass
class Block:
    doc: str
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    fragment: bool

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def name(self) -> str | None:
        """The file name a block gives in its first line (`# series.yaml`), if any."""
        first = self.text.lstrip().splitlines()[0] if self.text.strip() else ""
        m = NAMED.fullmatch(first.strip())
        return m.group(1) if m else None


def blocks(doc: str) -> list[Block]:
    text = (ROOT / doc).read_text()
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        out.append(Block(doc, line, m.group(1), m.group(2),
                         before.strip() == "<!-- fragment -->"))
    return out


YAML = [b for doc in DOCS for b in blocks(doc) if b.lang == "yaml"]
PYTHON = [b for b in blocks("README.md") if b.lang == "python"]


def scenes_folder(root: Path) -> Path:
    """root/scenes: the shipped scene files (copies) and their assets (a link)."""
    folder = root / "scenes"
    folder.mkdir(parents=True)
    for path in (ROOT / "scenes").glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    (folder / "assets").symlink_to(ROOT / "scenes" / "assets", target_is_directory=True)
    return folder


def test_the_docs_have_examples():
    # the documents this test reads have the examples it is about
    assert len([b for b in YAML if b.doc == "README.md"]) >= 1
    assert len([b for b in YAML if b.doc == "scenes/README.md"]) >= 2
    assert len(PYTHON) >= 1
    assert any(not b.fragment for b in YAML if b.doc == "scenes/README.md")


@pytest.mark.parametrize("block", YAML, ids=lambda b: b.id)
def test_yaml_example_loads_and_renders(block, tmp_path):
    data = yaml.safe_load(block.text)  # a fragment (a few keys, a list entry) only parses
    if block.fragment:
        return
    assert isinstance(data, dict), "a scene file is a mapping"
    folder = scenes_folder(tmp_path)
    for other in YAML:  # the files of the same document it may extend
        if other.doc == block.doc and other.name:
            path = folder / other.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(other.text)
    path = folder / (block.name or f"example-{block.line}.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block.text)
    scene = spatial.load_scene(path)
    scene = dataclasses.replace(scene, duration=1.0)
    result = spatial.render(scene)
    assert result.audio.shape == (scene.sample_rate, len(result.channel_names))
    assert np.all(np.isfinite(result.audio)) and np.abs(result.audio).max() > 0


def claims(source: str) -> dict[int, object]:
    """Line -> the Python literal in that line's trailing comment, where there is one."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            try:
                out[tok.start[0]] = ast.literal_eval(tok.string[1:].strip())
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
    return out


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_example_runs_as_written(block, tmp_path, monkeypatch):
    scenes_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    tree = ast.parse(block.text, filename=block.id)
    literal = claims(block.text)
    namespace: dict = {"__name__": "__readme__"}
    for stmt in tree.body:
        where = f"{block.doc}:{block.line + stmt.lineno}"
        if isinstance(stmt, ast.Expr) and stmt.end_lineno in literal:
            value = eval(compile(ast.Expression(stmt.value), where, "eval"), namespace)
            expected = literal[stmt.end_lineno]
            assert value == expected, (
                f"{where}: {ast.unparse(stmt)} is {value!r}, not {expected!r}")
        else:
            exec(compile(ast.Module([stmt], type_ignores=[]), where, "exec"), namespace)
