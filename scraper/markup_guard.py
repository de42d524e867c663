"""A linear pre-scan of HTML that refuses markup the parser would take unbounded time on.

Lexbor (selectolax) builds the tree as the HTML standard says, and some of its steps walk the
stack of open elements or a list on every tag: parsing time grows with the square of the nesting
depth (50,000 nested `<div>` take 7.5 s, 100,000 take 50 s), of the number of formatting
elements left open (`<b class=1><b class=2>…`), of the `<option>`s directly in one `<select>`,
and of the attributes of one tag. `check_markup` runs a model of tree construction over the
bytes (tags only: text is skipped at C speed): the stack with namespaces and scopes, implied end
tags, the active formatting elements (markers, reconstruction, the adoption agency as far as
depth goes), tables and foster parenting, foreign content. It counts the steps those walks cost
and raises a ParseError naming the shape before the parser sees it. Where it is unsure it keeps
an element open rather than closing it, so a page cannot hide depth from it; tests check its
depth against Lexbor's own tree on random tag soup.

Parsers call `refuse_costly_markup(body)` first (bytes or str): a body small enough that no shape
of it can cost Lexbor much (at most SMALL_DOCUMENT_TAGS tag openings and no tag longer than
LONG_TAG_BYTES; measured worst ~0.15 s: 6,000 `<option>`s in one `<select>`, 10,000 attributes
in one 64 KB tag) is let through after two C-speed scans (~0.3-0.5 ms on a real page); anything
larger goes through the model, `check_markup` (8-18 ms on a real page, linear). Both raise ParseError, which the fetch records
as a `parse_error`.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ticker.base import ParseError

MAX_DEPTH = 512  # Chromium's HTML parser stops nesting at 512 too; real pages stay under 40
MAX_FORMATTING = 200  # formatting elements left open at once (real pages: a handful)
MAX_WORK = 100_000_000  # estimated parser steps: under a second of Lexbor here; a real page: ~10^4
SMALL_DOCUMENT_TAGS = 6_000  # "<" in a body the model need not look at (real pages: 2,400-3,600)
LONG_TAG_BYTES = 65_536  # a longer tag may carry over 10,000 attributes: the model looks at it
MAX_TAGS = 250_000  # "<" in the body: real pages 1,000-4,000, a 10,000-item ticker 120,000; ~5 µs a tag
# Relative cost of one step, measured: a walk down the stack 1, an <option> walk 4, an attribute 2.
OPTION_STEP, ATTRIBUTE_STEP = 4, 2

_TOKEN = re.compile(
    rb"<(?:(!--)|([!?]|/(?![A-Za-z]))|(/?)([A-Za-z][^\t\n\f\r />]*+)"
    rb"((?:[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r />=]*+"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >]*+))?+)*+)"
    rb"([\t\n\f\r /]*+)(>)?)"
)
_ATTRIBUTE = re.compile(
    rb"([^\t\n\f\r />][^\t\n\f\r />=]*+)"
    rb"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >]*+))?+"
)
_NOT_SPACE = re.compile(rb"[^\t\n\f\r ]")
_COMMENT_END = re.compile(rb"--!?>")
_FONT_BREAKOUT = frozenset((b"color", b"face", b"size"))
_RAW_END = {
    name: re.compile(rb"</" + name.encode() + rb"[\t\n\f\r />]", re.IGNORECASE)
    for name in ("script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title")
}


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


VOID = _names(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param source track wbr"
)
IGNORED_START = _names("html head body")
IMPLIED_END = _names("dd dt li optgroup option p rb rp rt rtc")
RUBY = _names("rb rtc rp rt")
FORMATTING = _names("a b big code em font i nobr s small strike strong tt u")
MARKERS = _names("applet marquee object template td th caption")
CLEARS_MARKER = _names("td th caption")  # when popped; template, applet… by their end tag
SPECIAL = _names(
    "address applet area article aside base basefont bgsound blockquote body br button caption center col "
    "colgroup dd details dir div dl dt embed fieldset figcaption figure footer form frame frameset h1 h2 h3 "
    "h4 h5 h6 head header hgroup hr html iframe img input keygen li link listing main marquee menu meta nav "
    "noembed noframes noscript object ol p param plaintext pre script search section select source style "
    "summary table tbody td template textarea tfoot th thead title tr track ul wbr xmp "
    "mi mo mn ms mtext annotation-xml foreignobject desc"
)
CLOSES_P = _names(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption figure footer "
    "header hgroup main menu nav ol p search section summary ul h1 h2 h3 h4 h5 h6 pre listing form "
    "plaintext table hr xmp li dd dt"
)
HEADINGS = _names("h1 h2 h3 h4 h5 h6")
TABLE_SECTIONS = _names("tbody thead tfoot")
FOREIGN = _names("svg math")
SVG, MATH = 1, 2  # namespaces of foreign elements (0: HTML)
SVG_INTEGRATION = _names("foreignobject desc title")
MATH_INTEGRATION = _names("mi mo mn ms mtext annotation-xml")  # annotation-xml: when encoding says HTML
INTEGRATION = SVG_INTEGRATION | MATH_INTEGRATION
_HTML_ENCODING = re.compile(
    rb"encoding[\t\n\f\r ]*=[\t\n\f\r ]*[\"']?(?:text/html|application/xhtml\+xml)", re.I
)
BREAKOUT = _names(
    "b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img li listing "
    "menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var"
)

# Each tracked kind of element keeps the stack positions of its open elements, so that every
# "is X in scope" question the parser asks costs the model O(1). MathML and SVG names are
# special only as foreign elements; in HTML they are ordinary (as `<mi>` outside <math> is).
_SCOPE = _names("applet caption html table td th marquee object template select")  # Lexbor: select too
_HTML_KINDS = {
    "scope": _SCOPE,
    "button": _SCOPE | {"button"},
    "list": _SCOPE | {"ol", "ul"},
    "table": _names("html table template"),
    "special": SPECIAL - INTEGRATION | {"title"},
    "block_li": SPECIAL - INTEGRATION - {"address", "div", "p", "li"} | {"title"},
    "block_dd": SPECIAL - INTEGRATION - {"address", "div", "p", "dd", "dt"} | {"title"},
    "heading": HEADINGS,
    "cell": _names("td th"),
    "section": TABLE_SECTIONS,
    "template": _names("template"),
}


def _kinds_of(table: dict[str, frozenset[str]]) -> dict[str, tuple[str, ...]]:
    names = frozenset().union(*table.values())
    return {name: tuple(kind for kind, members in table.items() if name in members) for name in names}


_KINDS_OF_HTML = _kinds_of(_HTML_KINDS)
_FOREIGN_BOUNDARY = ("scope", "button", "list", "special", "block_li", "block_dd")
_KINDS_OF_FOREIGN = {
    SVG: _kinds_of(dict.fromkeys(_FOREIGN_BOUNDARY, SVG_INTEGRATION)),
    MATH: _kinds_of(dict.fromkeys(_FOREIGN_BOUNDARY, MATH_INTEGRATION)),
}
_ALL_KINDS = (*_HTML_KINDS, "integration", "html")
_PREFIX = {0: "", SVG: "s:", MATH: "m:"}
SCOPED_END = _names(
    "address article aside blockquote button center details dialog dir div dl fieldset figcaption "
    "figure footer header hgroup listing main menu nav ol pre search section summary ul "
    "applet marquee object dd dt"
)
TABLE_ONLY = _names("caption colgroup col")
_TABLE_CONTEXT = {
    "td": ("tr", "tbody", "thead", "tfoot", "table", "template"),
    "th": ("tr", "tbody", "thead", "tfoot", "table", "template"),
    "tr": ("tbody", "thead", "tfoot", "table", "template"),
    **dict.fromkeys(TABLE_SECTIONS | TABLE_ONLY, ("table", "template")),
}
SELECT_CLOSERS = _names("select input")  # in Lexbor; <textarea> and <keygen> stay inside


@dataclass(frozen=True, slots=True)
class MarkupShape:
    """What the scan measured: the deepest nesting, the most formatting elements open, the most
    options in one select, the most attributes on one tag, and the estimated parser steps."""

    depth: int
    formatting: int
    options: int
    attributes: int
    work: int
    tags: int


class _Model:
    """The stack of open elements and the list of active formatting elements, as the HTML tree
    builder keeps them, reduced to names, namespaces and positions. A foreign element is kept
    under its name prefixed with "s:" (SVG) or "m:" (MathML)."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.ns: list[int] = []  # 0 for an HTML element, else SVG or MATH
        self.top: dict[str, list[int]] = {}
        self.kinds: dict[str, list[int]] = {kind: [] for kind in _ALL_KINDS}
        self.formatting: list[list | None] = []  # [name, stack position or -1]; None is a marker
        self.open_formatting = 0  # entries that are not markers
        self.entry_at: dict[int, list] = {}
        self.options: list[int] = []  # options and optgroups in each open <select>
        self.depth = self.max_depth = 0
        self.work = self.max_formatting = self.max_options = 0
        self.push("html")
        self.push("body")

    # positions ---------------------------------------------------------------------------
    def last(self, kind: str) -> int:
        positions = self.kinds[kind]
        return positions[-1] if positions else -1

    def last_named(self, key: str) -> int:
        positions = self.top.get(key)
        return positions[-1] if positions else -1

    def in_scope(self, name: str, kind: str = "scope") -> int:
        """The position of the topmost open `name` if no `kind` boundary lies above it, else -1;
        the parser walks the stack down to it: that walk is counted as work."""
        position, boundary = self.last_named(name), self.last(kind)
        self.work += self.depth - max(position, boundary)
        return position if position >= 0 and position >= boundary else -1

    def in_foreign(self) -> bool:
        """The current node is an SVG/MathML element, not an HTML integration point: start tags
        there make foreign elements."""
        return self.ns[-1] != 0 and self.last("integration") != self.depth - 1

    def in_select(self) -> bool:
        return bool(self.options) and self.last_named("select") > self.last("template")

    # stack -------------------------------------------------------------------------------
    def push(self, name: str, ns: int = 0, integration: bool = False) -> None:
        position = self.depth
        key = _PREFIX[ns] + name
        self.stack.append(key)
        self.ns.append(ns)
        self.top.setdefault(key, []).append(position)
        for kind in (_KINDS_OF_FOREIGN[ns] if ns else _KINDS_OF_HTML).get(name, ()):
            self.kinds[kind].append(position)
        if ns == 0:
            self.kinds["html"].append(position)
            if name == "select":
                self.options.append(0)
        elif integration:
            self.kinds["integration"].append(position)
        self.depth += 1
        if self.depth > self.max_depth:
            self.max_depth = self.depth

    def pop_to(self, position: int, clear_markers: bool = True) -> None:
        """Pop every element from the top down to `position`, that one included."""
        while self.depth > position:
            self.depth -= 1
            key = self.stack.pop()
            ns = self.ns.pop()
            self.top[key].pop()
            if self.kinds["integration"] and self.kinds["integration"][-1] == self.depth:
                self.kinds["integration"].pop()
            name = key[2:] if ns else key
            for kind in (_KINDS_OF_FOREIGN[ns] if ns else _KINDS_OF_HTML).get(name, ()):
                self.kinds[kind].pop()
            if ns == 0:
                self.kinds["html"].pop()
                if name == "select":
                    self.options.pop()
                entry = self.entry_at.pop(self.depth, None)
                if entry is not None:
                    entry[1] = -1
                if name in CLEARS_MARKER and clear_markers:
                    self._clear_to_marker()

    # active formatting elements ----------------------------------------------------------
    def _clear_to_marker(self) -> None:
        while self.formatting:
            if self.formatting.pop() is None:
                return
            self.open_formatting -= 1

    def _entry(self, name: str) -> list | None:
        for entry in reversed(self.formatting):
            if entry is None:
                return None
            if entry[0] == name:
                return entry
        return None

    def _forget(self, entry: list) -> None:
        for index in range(len(self.formatting) - 1, -1, -1):
            if self.formatting[index] is entry:
                del self.formatting[index]
                self.open_formatting -= 1
                return

    def reconstruct(self) -> None:
        """Re-open the formatting elements that a closed block left active."""
        missing = 0
        for entry in reversed(self.formatting):
            if entry is None or entry[1] >= 0:
                break
            missing += 1
        if not missing:
            return
        self.work += missing
        for entry in self.formatting[len(self.formatting) - missing :]:
            self.push(entry[0])
            entry[1] = self.depth - 1
            self.entry_at[entry[1]] = entry

    def push_formatting(self, name: str) -> None:
        self.reconstruct()
        self.push(name)
        entry = [name, self.depth - 1]
        self.entry_at[entry[1]] = entry
        self.work += len(self.formatting)  # the "Noah's Ark" comparison with earlier entries
        self.formatting.append(entry)
        self.open_formatting += 1
        if self.open_formatting > self.max_formatting:
            self.max_formatting = self.open_formatting

    def end_formatting(self, name: str) -> None:
        """The adoption agency algorithm, as far as depth goes."""
        entry = self._entry(name)
        if entry is None:
            self.end_other(name)
            return
        position = entry[1]
        self.work += self.depth - max(position, 0)
        if position < 0:
            self._forget(entry)
        elif position >= self.last("scope"):
            if self.last("special") > position:
                return  # a furthest block: the elements stay open (the model keeps this one too)
            self._forget(entry)
            self.pop_to(position)

    def end_other(self, name: str) -> None:
        position, boundary = self.last_named(name), self.last("special")
        self.work += self.depth - max(position, boundary)
        if position >= 0 and position >= boundary:
            self.pop_to(position)

    # tags --------------------------------------------------------------------------------
    def start(
        self, name: str, self_closing: bool, breakout: bool = False, html_encoding: bool = False
    ) -> None:
        if self.in_foreign():
            if name not in BREAKOUT and not breakout:
                ns = SVG if name == "svg" and self.stack[-1] == "m:annotation-xml" else self.ns[-1]
                if not self_closing:
                    self._push_foreign(name, ns, html_encoding)
                return
            while self.in_foreign():  # HTML content ends the <svg>/<math>
                self.pop_to(self.depth - 1)
        if name in IGNORED_START:
            return
        if self.in_select() and self._select_start(name):
            return
        if name in FOREIGN:
            self.reconstruct()
            if not self_closing:
                self._push_foreign(name, SVG if name == "svg" else MATH, html_encoding)
            return
        if name in FORMATTING:
            if name == "a" and self._entry("a") is not None:
                self.end_formatting("a")
            elif name == "nobr" and self.in_scope("nobr") >= 0:
                self.end_formatting("nobr")
            self.push_formatting(name)
            return
        if name in CLOSES_P:
            self._block(name)
            return
        if name in ("td", "th", "tr") or name in TABLE_SECTIONS or name in TABLE_ONLY:
            self._table_part(name)
            return
        if name == "button":
            position = self.in_scope("button")
            if position >= 0:
                self.pop_to(position)
        if name in ("option", "optgroup") and self.stack[-1] == "option":
            self.pop_to(self.depth - 1)
        if name in RUBY and self.in_scope("ruby") >= 0:
            self.close_implied(keep="rtc" if name in ("rp", "rt") else None)
        self.reconstruct()
        if name not in VOID:
            self.push(name)
            if name in MARKERS:
                self.formatting.append(None)

    def _push_foreign(self, name: str, ns: int, html_encoding: bool) -> None:
        if ns == SVG:
            integration = name in SVG_INTEGRATION
        else:
            integration = name in MATH_INTEGRATION and (name != "annotation-xml" or html_encoding)
        self.push(name, ns, integration)

    def _table_in_table(self) -> None:
        """A <table> straight inside a table (not in a cell) closes the open one."""
        table = self.last_named("table")
        if table >= 0 and table > max(self.last("cell"), self.last_named("caption"), self.last("template")):
            self.work += self.depth - table
            self.pop_to(table)

    def _block(self, name: str) -> None:
        if name == "table":
            self._table_in_table()
        position = self.in_scope("p", "button") if name != "table" else -1  # quirks: <table> keeps <p>
        if position >= 0:
            self.pop_to(position)
        if name in ("li", "dd", "dt"):
            siblings = ("li",) if name == "li" else ("dd", "dt")
            block = self.last("block_li" if name == "li" else "block_dd")
            self.work += self.depth - block
            for sibling in siblings:
                position = self.last_named(sibling)
                if position > block:
                    self.pop_to(position)
        elif name in HEADINGS and self.stack[-1] in HEADINGS:
            self.pop_to(self.depth - 1)
        if name == "xmp":
            self.reconstruct()
        if name != "hr":
            self.push(name)

    def close_implied(self, keep: str | None = None) -> None:
        """ "Generate implied end tags": pop <p>, <li>, <option>… from the top."""
        while self.stack[-1] in IMPLIED_END and self.stack[-1] != keep:
            self.pop_to(self.depth - 1)

    def _select_start(self, name: str) -> bool:
        """A start tag in a <select> (Lexbor parses its content as body content, the newer
        HTML rule): True when handled here."""
        if name in ("option", "optgroup"):
            self.close_implied(keep="optgroup" if name == "option" else None)
            if self.stack[-1] == "select":  # a child of the <select>: its options are walked
                self.work += OPTION_STEP * self.options[-1]
            self.options[-1] += 1
            self.max_options = max(self.max_options, self.options[-1])
            self.push(name)
            return True
        if name in SELECT_CLOSERS:
            position = self.in_scope("select")
            if position >= 0:
                self.pop_to(position)
                return name == "select"
        return False

    def _table_part(self, name: str) -> None:
        if self.last_named("table") < 0:
            return  # outside a table these start tags are ignored
        if name in ("td", "th"):
            position = self.in_scope_any(("td", "th"), "cell")
        elif name == "tr":
            position = self.in_scope("tr", "table")
        elif name in TABLE_SECTIONS:
            position = self.in_scope_any(TABLE_SECTIONS, "section")
        else:
            position = -1
        if position >= 0:
            self.pop_to(position)
        context = _TABLE_CONTEXT.get(name)
        if context is not None:  # "clear the stack back to a table context": foster-parented content
            self.pop_to(max(self.last_named(element) for element in context) + 1)
        current = self.stack[-1]
        if name in ("td", "th", "tr") and current == "table":
            self.push("tbody")
            current = "tbody"
        if name in ("td", "th") and current in TABLE_SECTIONS:
            self.push("tr")
        if name == "col":
            if current == "table":
                self.push("colgroup")
            return
        self.push(name)
        if name in ("td", "th", "caption"):
            self.formatting.append(None)

    def in_scope_any(self, names, kind: str) -> int:
        position, boundary = self.last(kind), self.last("table")
        self.work += self.depth - max(position, boundary)
        return position if position > boundary and self.stack[position] in names else -1

    def end(self, name: str) -> None:
        if self.ns[-1]:  # end tags at a foreign current node follow the foreign rules
            position = max(self.last_named("s:" + name), self.last_named("m:" + name))
            if position > self.last("html"):
                self.pop_to(position)
                return
            if name in ("br", "p"):
                while self.in_foreign():
                    self.pop_to(self.depth - 1)
        if name == "select":
            position = self.in_scope("select")
            if position >= 0:
                self.pop_to(position)
        elif name == "template":
            position = self.last_named("template")
            if position >= 0:
                self.pop_to(position, clear_markers=False)
                self._clear_to_marker()
        elif name in FORMATTING:
            self.end_formatting(name)
        elif name in ("body", "html", "br", "form"):
            return  # </form> takes the form out of the stack, the rest stays: kept (over-counted)
        elif name == "p":
            position = self.in_scope("p", "button")
            if position >= 0:
                self.pop_to(position)
        elif name == "li":
            position = self.in_scope("li", "list")
            if position >= 0:
                self.pop_to(position)
        elif name in HEADINGS:
            position, boundary = self.last("heading"), self.last("scope")
            self.work += self.depth - max(position, boundary)
            if position >= 0 and position >= boundary:
                self.pop_to(position)
        elif name in ("td", "th", "tr", "table", "caption", "colgroup") or name in TABLE_SECTIONS:
            position = self.in_scope(name, "table")
            if position >= 0:
                self.pop_to(position)
        elif name in SCOPED_END:
            position = self.in_scope(name)
            if position >= 0:
                self.pop_to(position)
                if name in MARKERS:
                    self._clear_to_marker()
        else:
            self.end_other(name)


def _as_bytes(body: bytes | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return body.decode("utf-16", "replace").encode("utf-8", "surrogatepass")
    return body


def measure_markup(body: bytes | str) -> MarkupShape:
    """Scan `body` once and return its shape (see MarkupShape). Linear in its size."""
    data = _as_bytes(body)
    model = _Model()
    tags = attributes = 0
    position, size = 0, len(data)
    text_from = 0
    search = _TOKEN.search
    names_of: dict[bytes, str] = {}
    while True:
        token = search(data, position)
        if token is None:
            break
        start = token.start()
        raw_name = token.group(4)
        if raw_name is None:
            if token.group(1):  # a comment; "<!-->" and "<!--->" end at once
                if data.startswith(b">", start + 4) or data.startswith(b"->", start + 4):
                    position = data.index(b">", start + 4) + 1
                else:
                    close = _COMMENT_END.search(data, start + 4)
                    position = size if close is None else close.end()
            else:  # <!DOCTYPE>, <?…>, </ …>: bogus comments up to ">"
                close = data.find(b">", start + 2)
                position = size if close < 0 else close + 1
            continue
        if token.group(7) is None:
            break  # a tag cut by the end of the document: the parser drops it
        position = token.end()
        tags += 1
        name = names_of.get(raw_name)
        if name is None:
            name = names_of[raw_name] = (
                "img" if raw_name.lower() == b"image" else raw_name.lower().decode("latin-1")
            )
        if token.group(3):
            if model.formatting and not model.in_foreign() and _NOT_SPACE.search(data, text_from, start):
                model.reconstruct()
            model.end(name)
            text_from = position
            continue
        attribute_text = token.group(5)
        names: set[bytes] = set()
        if len(attribute_text) > 40 or name == "font":
            names = {attribute.lower() for attribute in _ATTRIBUTE.findall(attribute_text)}
            model.work += ATTRIBUTE_STEP * len(names) * len(names) // 2  # each checked against the earlier
            attributes = max(attributes, len(names))
        if model.formatting and not model.in_foreign() and _NOT_SPACE.search(data, text_from, start):
            model.reconstruct()  # text re-opens formatting elements a block closed
        model.start(
            name,
            token.group(6).endswith(b"/"),
            name == "font" and bool(names & _FONT_BREAKOUT),
            name == "annotation-xml" and bool(_HTML_ENCODING.search(attribute_text)),
        )
        text_from = position
        if name in _RAW_END and model.stack[-1] == name:  # an HTML element: its text is raw
            close = _RAW_END[name].search(data, position)
            if close is None:
                break
            position = text_from = close.start()  # its end tag closes it, next
        elif name == "plaintext" and model.stack[-1] == name:
            break
        if model.open_formatting > MAX_FORMATTING or tags > MAX_TAGS:
            break  # refused below; the model itself must stay linear
    return MarkupShape(
        depth=model.max_depth - 2,  # <html> and <body> not counted
        formatting=model.max_formatting,
        options=model.max_options,
        attributes=attributes,
        work=model.work,
        tags=tags,
    )


def check_markup(body: bytes | str) -> MarkupShape:
    """Raise ParseError when `body` would make the HTML parser blow up: nesting deeper than
    MAX_DEPTH, more than MAX_FORMATTING formatting elements open, or more than MAX_WORK estimated
    parser steps (the message names the shape that costs most). Else return the shape."""
    data = _as_bytes(body)
    openings = data.count(b"<")
    if openings > MAX_TAGS:
        raise ParseError(f"markup has {openings} tag openings (limit {MAX_TAGS}): refused before parsing")
    shape = measure_markup(data)
    if shape.depth > MAX_DEPTH:
        raise ParseError(f"markup nested {shape.depth} deep (limit {MAX_DEPTH}): refused before parsing")
    if shape.formatting > MAX_FORMATTING:
        raise ParseError(
            f"markup leaves more than {MAX_FORMATTING} formatting elements (<b>, <i>, <font>…) open:"
            " refused before parsing"
        )
    if shape.work > MAX_WORK:
        if OPTION_STEP * shape.options * shape.options // 2 > MAX_WORK // 4:
            what = f"{shape.options} <option>s in one <select>"
        elif ATTRIBUTE_STEP * shape.attributes * shape.attributes // 2 > MAX_WORK // 4:
            what = f"{shape.attributes} attributes on one tag"
        else:
            what = f"{shape.tags} tags nested up to {shape.depth} deep"
        raise ParseError(
            f"markup too costly to parse: {what} (about {shape.work:.1e} parser steps,"
            f" limit {MAX_WORK:.1e}): refused before parsing"
        )
    return shape


def refuse_costly_markup(body: bytes | str) -> None:
    """What every HTML parser calls first: ParseError for markup that would hold the parser
    (see `check_markup`); a body too small to cost much in any shape skips the model."""
    data = _as_bytes(body)
    # A tag lies between two ">": no stretch without one as long as LONG_TAG_BYTES, no long tag.
    if data.count(b"<") <= SMALL_DOCUMENT_TAGS and max(map(len, data.split(b">"))) < LONG_TAG_BYTES:
        return
    check_markup(data)
