"""One exception family for everything a user can get wrong.

Every problem carries where it was found (file, line, key path) so the CLI can
print one line per problem, ``scene.yaml:12: sources[0].positon: unknown key
(did you mean 'position'?)``, and exit with status 2.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, and where."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    key: str | None = None  # dotted key path, e.g. "sources[0].position"

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "")
        parts = [p for p in (where, self.key) if p]
        return ": ".join(parts + [self.message])


class SpatialError(Exception):
    """Base class of every error spatial raises on purpose."""


class SceneError(SpatialError, ValueError):
    """The scene (or a file it names) is wrong. Holds every problem found."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, message: str, file: str | Path | None = None, line: int | None = None,
           key: str | None = None) -> "SceneError":
        return cls(Problem(message, None if file is None else str(file), line, key))


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 sample', '2 samples' (words: an irregular plural)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
