"""Pages read by element id: tests find what they check by id and attribute, not by wording,
which changes with the language."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Ids(HTMLParser):
    """``attrs`` and ``text`` of each element with an id, and every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.tags.append((tag, found))
        element_id = found.get("id")
        if element_id:
            self.attrs[element_id] = found
            self.text.setdefault(element_id, "")
        if tag not in VOID:
            self._open.append((tag, element_id))

    def handle_endtag(self, tag):
        # Pop to the matching tag: an unclosed <p> or <li> does not shift the rest.
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for _tag, element_id in self._open:
            if element_id:
                self.text[element_id] += data


def parse(html: str) -> Ids:
    parser = Ids()
    parser.feed(html)
    parser.close()
    return parser


def ids(response) -> Ids:
    """The ids of a test client's response."""
    return parse(response.get_data(as_text=True))
