#!/usr/bin/env python3
"""Checks the DOM Chromium dumped (--dump-dom) for expected text.

Usage: dom_text.py DOM_FILE [EXPECTED...]
An EXPECTED of the form #ID=TEXT requires the element with that id to
hold exactly TEXT; any other EXPECTED must occur in the page's text.
Whitespace is collapsed on both sides.  The page must have a body with
text and no <script> element.  Prints a summary and exits 0, or lists
what is missing and exits 1.
"""
import re
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


class Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.stack, self.by_id, self.scripts = [], [], {}, 0
        self.skip = 0  # inside <style>, <title> or <head>

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        if tag in VOID:
            return
        if tag in ("style", "script", "head"):
            self.skip += 1
        ident = dict(attrs).get("id")
        self.stack.append((tag, ident))
        if ident is not None:
            self.by_id.setdefault(ident, [])

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        # Pop to the matching open element (the DOM dump is well formed).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for t, _ in self.stack[i:]:
                    if t in ("style", "script", "head"):
                        self.skip -= 1
                del self.stack[i:]
                break

    def handle_data(self, data):
        if self.skip:
            return
        self.parts.append(data)
        for _, ident in self.stack:
            if ident is not None:
                self.by_id[ident].append(data)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: dom_text.py DOM_FILE [EXPECTED...]")
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        dom = f.read()
    p = Text()
    p.feed(dom)
    p.close()
    text = norm("".join(p.parts))
    missing = []
    if not text:
        missing.append("the page has no text at all")
    if p.scripts:
        missing.append("the page has %d <script> element(s)" % p.scripts)
    for want in sys.argv[2:]:
        m = re.match(r"#([^=]+)=(.*)$", want, re.S)
        if m:
            ident, value = m.group(1), norm(m.group(2))
            if ident not in p.by_id:
                missing.append("no element with id %s (wanted %r)" % (ident, value))
            elif norm("".join(p.by_id[ident])) != value:
                missing.append("#%s holds %r, expected %r"
                               % (ident, norm("".join(p.by_id[ident])), value))
        elif norm(want) not in text:
            missing.append("text not found: %r" % want)
    if missing:
        print("%d problem(s) in the page" % len(missing))
        for m in missing:
            print(m)
        return 1
    print("%d expected texts found in %d characters of page text"
          % (len(sys.argv) - 2, len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
