"""Where keys sit in a TOML text: tomllib keeps no positions, so error messages about a valid
file's content get their line numbers from this small scanner."""

from __future__ import annotations

import re
import tomllib

KeyPath = tuple[str | int, ...]  # a key's place: ("milestone", 2, "text", "en")


class TomlPositions:
    """The line of every key of a valid TOML text, by its path: ("milestone", 2, "date").

    Array-of-tables headers count their blocks from 0; elements of inline arrays are indexed
    too, so the third word of a multi-line audience list has its own line. A path not found
    falls back to its longest known prefix (a missing key points at its block's header)."""

    _BARE = re.compile(r"[A-Za-z0-9_-]+")
    _SCALAR = re.compile(r"[^,\]}#\r\n]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.lineno = 1
        self.at: dict[KeyPath, int] = {}
        self.counts: dict[KeyPath, int] = {}
        self.arrays: set[tuple[str, ...]] = set()

    @classmethod
    def of(cls, text: str) -> TomlPositions:
        scanner = cls(text)
        try:
            scanner.document()
        except Exception:  # a construct this scanner misreads (or nests too deep)
            pass  # keep what was found: a line less is better than no report
        return scanner

    def line(self, path: KeyPath) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.at:
                return self.at[path[:end]]
        return None

    # -- characters

    def peek(self, count: int = 1) -> str:
        return self.text[self.i : self.i + count]

    def advance(self, count: int = 1) -> None:
        self.lineno += self.text.count("\n", self.i, self.i + count)
        self.i += count

    def blank(self, newlines: bool) -> None:
        """Skip spaces (and newlines and comments when `newlines`)."""
        while self.i < len(self.text):
            char = self.text[self.i]
            if char in " \t" or (newlines and char in "\r\n"):
                self.advance()
            elif char == "#" and newlines:
                end = self.text.find("\n", self.i)
                self.advance((len(self.text) if end < 0 else end) - self.i)
            else:
                return

    # -- structure

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.blank(newlines=True)
            if self.i >= len(self.text):
                return
            line = self.lineno
            if self.peek(2) == "[[":
                self.advance(2)
                names = self.dotted_key()
                self.blank(False)
                self.advance(2)
                parent = self.resolve(names[:-1])
                array = (*parent, names[-1])
                self.counts[array] = self.counts.get(array, -1) + 1
                self.arrays.add(tuple(names))
                self.at.setdefault(array, line)
                table = (*array, self.counts[array])
                self.at[table] = line
            elif self.peek() == "[":
                self.advance()
                table = self.resolve(self.dotted_key())
                self.blank(False)
                self.advance()
                self.at.setdefault(table, line)
            else:
                self.pair(table)

    def resolve(self, names: list[str]) -> KeyPath:
        path: KeyPath = ()
        for end, name in enumerate(names, 1):
            path = (*path, name)
            if tuple(names[:end]) in self.arrays:
                path = (*path, self.counts.get(path, 0))
        return path

    def pair(self, table: KeyPath) -> None:
        line = self.lineno
        names = self.dotted_key()
        for end in range(1, len(names) + 1):
            self.at.setdefault((*table, *names[:end]), line)
        self.blank(False)
        self.advance()  # "="
        self.blank(False)
        self.value((*table, *names))

    def dotted_key(self) -> list[str]:
        names = []
        while True:
            self.blank(False)
            names.append(self.simple_key())
            self.blank(False)
            if self.peek() != ".":
                return names
            self.advance()

    def simple_key(self) -> str:
        char = self.peek()
        if char in "\"'":
            start = self.i
            self.string()
            return tomllib.loads(f"k = {self.text[start : self.i]}")["k"]
        found = self._BARE.match(self.text, self.i)
        if not found:
            raise ValueError(f"no key at offset {self.i}")
        self.advance(found.end() - self.i)
        return found[0]

    def value(self, path: KeyPath) -> None:
        char = self.peek()
        if char in "\"'":
            self.string()
        elif char == "[":
            self.advance()
            index = 0
            while True:
                self.blank(True)
                if self.peek() == "]":
                    self.advance()
                    return
                self.at.setdefault((*path, index), self.lineno)
                self.value((*path, index))
                index += 1
                self.blank(True)
                if self.peek() == ",":
                    self.advance()
        elif char == "{":
            self.advance()
            while True:
                self.blank(True)
                if self.peek() == "}":
                    self.advance()
                    return
                self.pair(path)
                self.blank(True)
                if self.peek() == ",":
                    self.advance()
        else:  # number, boolean, date, time: up to the next delimiter
            found = self._SCALAR.match(self.text, self.i)
            scalar = found[0].rstrip() if found else ""
            if not scalar:
                raise ValueError(f"no value at offset {self.i}")
            self.advance(len(scalar))

    def string(self) -> None:
        quote = self.peek()
        if self.peek(3) == quote * 3:
            end = self.text.index(quote * 3, self.i + 3)
            if quote == '"':
                end = self._unescaped(quote * 3, self.i + 3)
            end += 3
            for _ in range(2):  # up to two quotes may end the content: """a""""" is 'a""'
                if self.text[end : end + 1] == quote:
                    end += 1
            self.advance(end - self.i)
            return
        if quote == "'":
            self.advance(self.text.index("'", self.i + 1) + 1 - self.i)
        else:
            self.advance(self._unescaped('"', self.i + 1) + 1 - self.i)

    def _unescaped(self, closing: str, start: int) -> int:
        at = start
        while True:
            char = self.text[at]
            if char == "\\":
                at += 2
            elif self.text.startswith(closing, at):
                return at
            else:
                at += 1
