"""Files shipped beside the code: schema.sql and templates/.

In a checkout they sit at the top of the repository; in a wheel they are
copied into the package (see pyproject.toml).
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource(name: str) -> Path:
    for base in (_PACKAGE, _PACKAGE.parent):
        candidate = base / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"exteri-mail resource missing: {name}")
