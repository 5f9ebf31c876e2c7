"""The dashboard's files, read once from the package at start-up (they ship as package data)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Assets:
    shell: bytes  # index.html
    files: dict[str, tuple[bytes, str]]  # name under /ui/assets/ -> (body, content type)


def load_assets() -> Assets:
    folder = resources.files(__package__).joinpath("static")
    files = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in TYPES:
            files[entry.name] = (entry.read_bytes(), TYPES[suffix])
    return Assets(shell=folder.joinpath("index.html").read_bytes(), files=files)
