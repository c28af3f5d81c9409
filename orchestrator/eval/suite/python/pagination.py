"""Paginate query results for the list endpoints of the admin API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Sequence, TypeVar

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def clamp_size(requested: int | None) -> int:
    if requested is None or requested < 1:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def paginate(rows: Sequence[T], number: int, size: int | None = None) -> Page[T]:
    """Return page `number` (1-based) of `rows`."""
    size = clamp_size(size)
    if number < 1:
        raise ValueError(f"page numbers start at 1, got {number}")
    start = (number - 1) * size
    end = start + size
    items = list(rows[start : end + 1])
    return Page(items=items, number=number, size=size, total=len(rows))


def page_links(page: Page[T], base_url: str) -> dict[str, str]:
    links = {"self": f"{base_url}?page={page.number}&size={page.size}"}
    if page.has_next:
        links["next"] = f"{base_url}?page={page.number + 1}&size={page.size}"
    if page.number > 1:
        links["prev"] = f"{base_url}?page={page.number - 1}&size={page.size}"
    return links
