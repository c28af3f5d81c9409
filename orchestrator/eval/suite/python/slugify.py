"""Turn article titles into URL slugs that are unique within a site."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^a-z0-9]+")
MAX_SLUG_LENGTH = 60


def slugify(title: str) -> str:
    """Lower-case ASCII words joined by hyphens; 'untitled' for a title with no letters."""
    ascii_title = (
        unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    )
    slug = _NOT_WORD.sub("-", ascii_title).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:
        cut = slug[:MAX_SLUG_LENGTH]
        # Cut at a word boundary when there is one, so no word is left half.
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug or "untitled"


def unique_slug(title: str, taken: set[str]) -> str:
    """A slug for `title` not in `taken`: the plain slug, else with -2, -3, ... appended."""
    base = slugify(title)
    if base not in taken:
        return base
    suffix = 2
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"


def assign_slugs(titles: list[str]) -> dict[str, str]:
    """A slug per title, in order, each unique among those assigned before it."""
    taken: set[str] = set()
    slugs: dict[str, str] = {}
    for title in titles:
        slug = unique_slug(title, taken)
        taken.add(slug)
        slugs[title] = slug
    return slugs
