"""What a command may write: never one of the scene's own inputs, never one file twice,
never outside a sandbox. Checked before any work, by every command that writes.

    refuse_unsafe_outputs(scene, [("binaural", Path("out.wav")), ...], sandbox=None)

Inputs of a scene (:func:`scene_inputs`): the scene file itself, every file it was
merged from (``extends`` bases, the room preset), each source's audio file and the
HRTF file. Paths are compared resolved (relative paths, ``..`` and symlinks
followed, the folder's symlinks too) and, for files that exist, by device and inode
(hard links), so no spelling of an input slips through. ``sandbox``: every input and
output must lie inside that folder (resolved: a symlink out of it is outside), for
scenes made by untrusted generators (``spatial render --sandbox DIR``; batch can
call :func:`check_sandbox` per scene).
"""
from __future__ import annotations

import os
from pathlib import Path

from spatial.errors import Problem, SceneError


def _identity(path: Path):
    """(resolved path, (dev, inode) or None) of a path."""
    try:
        resolved = Path(os.path.realpath(path))
    except (OSError, ValueError):
        resolved = Path(os.path.abspath(path))
    try:
        st = os.stat(resolved)
        return resolved, (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        return resolved, None


def scene_inputs(scene) -> list[tuple[Path, str, str | None]]:
    """Every file the scene reads: (path, what it is, the key that names it)."""
    out: list[tuple[Path, str, str | None]] = []
    if getattr(scene, "path", None):
        out.append((Path(scene.path), "the scene file", None))
    seen_files = {str(scene.path)} if getattr(scene, "path", None) else set()
    for file, _line in dict(getattr(scene, "locations", {}) or {}).values():
        if file and file not in seen_files and not str(file).startswith("-"):
            seen_files.add(file)  # a base scene (extends) or a room preset
            out.append((Path(file), "a file the scene is merged from", "extends"))
    for i, s in enumerate(scene.sources):
        out.append((Path(s.file), f"the file of source {s.name!r}", f"sources[{i}].file"))
    hrtf = getattr(scene.output, "hrtf", "default")
    if hrtf and hrtf != "default":
        out.append((Path(hrtf), "the HRTF file", "output.hrtf"))
    return out


def refuse_unsafe_outputs(scene, outputs, sandbox: str | Path | None = None,
                          key: str = "--output") -> None:
    """Raise SceneError (one problem per clash, naming `key`) when an output would
    overwrite an input of the scene, two outputs would be one file, or (with a
    sandbox) an input or output is outside it. outputs: (what, path) pairs."""
    problems: list[Problem] = []
    inputs = {}
    for path, what, _ in scene_inputs(scene):
        resolved, ident = _identity(path)
        inputs[resolved] = what
        if ident is not None:
            inputs[ident] = what
    seen: dict = {}
    for what, path in outputs:
        resolved, ident = _identity(Path(path))
        clash = inputs.get(resolved) or (inputs.get(ident) if ident else None)
        if clash:
            problems.append(Problem(f"the {what} would overwrite {path}, {clash}; choose "
                                    "another output name", key=key))
        other = seen.get(resolved) or (seen.get(ident) if ident else None)
        if other:
            problems.append(Problem(f"the {what} and the {other} would both be written to "
                                    f"{path}", key=key))
        seen[resolved] = what
        if ident is not None:
            seen[ident] = what
    if sandbox is not None:
        problems += sandbox_problems(scene, outputs, sandbox, key)
    if problems:
        raise SceneError(problems)


def _inside(path: Path, folder: Path) -> bool:
    resolved, _ = _identity(path)
    return resolved == folder or folder in resolved.parents


def sandbox_problems(scene, outputs, sandbox, key: str = "--output") -> list[Problem]:
    """Problems of every input or output of the scene outside the folder `sandbox`."""
    folder, _ = _identity(Path(sandbox))
    if not folder.is_dir():
        return [Problem(f"sandbox folder not found: {sandbox}", key="--sandbox")]
    problems = []
    for path, what, at in scene_inputs(scene):
        if at == "extends" and Path(path).is_relative_to(_PACKAGE):
            continue  # the package's own room presets
        if not _inside(path, folder):
            problems.append(Problem(f"{what} {path} is outside the sandbox {sandbox}",
                                    file=str(scene.path) if scene.path else None,
                                    line=scene.where(at)["line"] if at else None, key=at))
    for what, path in outputs:
        if not _inside(Path(path), folder):
            problems.append(Problem(f"the {what} {path} is outside the sandbox {sandbox}",
                                    key=key))
    return problems


def check_sandbox(scene, outputs, sandbox, key: str = "--output") -> None:
    """Raise SceneError if an input or output of the scene is outside `sandbox`."""
    problems = sandbox_problems(scene, outputs, sandbox, key)
    if problems:
        raise SceneError(problems)


_PACKAGE = Path(__file__).resolve().parent
