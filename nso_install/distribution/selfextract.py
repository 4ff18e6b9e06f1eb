"""Where the payload of a self-extracting shell script starts, found without running the script.

``installer.bin`` and ``signed.bin`` files are shell scripts with an archive appended.  Each
generator locates its payload its own way, so this module reads the script the way a careful
person would, never executing any of it:

1. **The script's own commands.**  Commands that read the script itself (``$0``, ``${0}``,
   ``$BASH_SOURCE``, or a variable set to one of them or to ``$(readlink -f "$0")``; also
   ``cat "$0" | CMD``) say where the payload is: a marker line they look for
   (``awk '/^__ARCHIVE__/ {print NR + 1; exit}' "$0"``,
   ``sed '1,/^__PAYLOAD__$/d' "$0"``, ``grep -an '^__DATA__$' "$0"``, also through a variable
   holding the marker) -- the payload then starts on the line after it -- or a position:
   ``tail -n +N``, ``tail -c +N``, ``head -n N "$0" | wc -c`` (makeself), ``dd if="$0"
   bs=B skip=N`` (``iflag=skip_bytes``), ``sed -n 'N,$p'`` / ``sed '1,Nd'``, with N a
   number or a variable set to a number or to ``$((...))`` arithmetic over such variables.
   A marker line is a whole line ``__NAME__``.  Every position found this way must agree;
   a marker the commands look for must appear exactly once in the script text and must
   exist.
2. **Otherwise** the first archive at a line start: gzip (``1f 8b 08``), bzip2
   (``BZh`` + level + block magic), xz (``fd 37 7a 58 5a 00``), or a plain tar (a 512-byte
   header with ``ustar`` at offset 257 and a valid header checksum).

The script text is what precedes the first line that holds binary bytes or starts an
archive.  Only the first :data:`HEADER_LIMIT` bytes are read: a script header is a few KiB,
so a file whose payload is not found there (or that puts it further) is refused.  Heredoc
bodies and comments are data, not commands: a marker or command inside them counts for
nothing.
"""

from __future__ import annotations

import io
import re
from typing import BinaryIO

from ..errors import DistributionError
from .common import _GET_AGAIN, HEADER_LIMIT
from ..record import record
from .tarstream import _magic

_MAX_VALUE = 1 << 62  # numbers in the script beyond this are not positions in a file

_UNPACK_YOURSELF = ("Download the file again from Cisco.  If it is genuine, unpack it by hand in an empty directory "
                    "(a signed.bin: `sh FILE`; an installer.bin: `sh FILE --local-install DIR`) and pass "
                    "nso-install the resulting installer.bin or directory.")


@record(frozen=True)
class Payload:
    """Where a script's payload starts: ``offset`` bytes into it, an archive of kind ``comp``
    (``gz``, ``bz2``, ``xz`` or ``tar``), found as ``how`` says."""

    offset: int
    comp: str
    how: str


# -- archives ----------------------------------------------------------------------------------

_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")  # not in a shell script (tab, CR, FF, ESC are)


def _tar_header_ok(block: bytes) -> bool:
    """``block`` is a ustar header with a valid checksum (the unsigned or signed sum tar accepts)."""
    if len(block) < 512 or block[257:262] != b"ustar":
        return False
    field = block[148:156].split(b"\0", 1)[0].strip(b" ")
    try:
        stored = int(field, 8)
    except ValueError:
        return False
    blanked = block[:148] + b" " * 8 + block[156:512]
    return stored in (sum(blanked), sum(b - 256 if b > 127 else b for b in blanked))


def _archive_at(block: bytes) -> str | None:
    """The kind of archive whose first bytes are ``block``, by strict magic (the fallback scan
    must not take a line of text for an archive)."""
    if block[:3] == b"\x1f\x8b\x08":
        return "gz"
    if re.match(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)", block):
        return "bz2"
    if block[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if _tar_header_ok(block):
        return "tar"
    return None


# -- reading the script ------------------------------------------------------------------------

_TOKEN = re.compile(r"(?<!\w)__\w+?__(?!\w)", re.ASCII)
_MARKER_LINE = re.compile(r"(__\w+?__)[ \t\r]*", re.ASCII)
_HEREDOC = re.compile(r"(?<!<)<<(?!<)(-?)\s*(['\"]?)([A-Za-z_]\w*)\2", re.ASCII)
# NAME=VALUE at the start of a command (after then/else/do/{/( and export/local...), never an
# argument such as dd's skip=N.
_ASSIGN = re.compile(r"\s*(?:(?:then|else|do|\{|\()\s+)*(?:(?:export|readonly|local|declare|typeset)\s+(?:-\w+\s+)*)?"
                     r"([A-Za-z_]\w*)=(\$\(\((?:[^()]|\([^()]*\))*\)\)|\$\((?:[^()]|\([^()]*\))*\)|`[^`]*`"
                     r"|\"[^\"]*\"|'[^']*'|[^\s;&|]*)", re.ASCII)
_VAR_REF = re.compile(r"\$\{?([A-Za-z_]\w*)", re.ASCII)  # $NAME, ${NAME}: the name
_SELF = re.compile(r"\$\{?0\}?(?!\w)|\$\{?BASH_SOURCE(?:\[0\])?\}?", re.ASCII)
# A variable holding the script's own path: $0, $(readlink -f $0), $(realpath $0), `...`.
_SELF_VALUE = re.compile(r"(?:\$\{?0\}?|\$\{?BASH_SOURCE(?:\[0\])?\}?"
                         r"|(?:\$\(|`)\s*(?:readlink\s+-[ef]|realpath)\s+\$\{?0\}?\s*(?:\)|`))", re.ASCII)
_EXPR = r"(\$\(\((?:[^()]|\([^()]*\))*\)\)|\$\{?[A-Za-z_]\w*\}?|\d+)"
_SEGMENT = r"\b{}\b([^|;&]*)"


@record
class _Line:
    """One logical line of a self-extracting script's shell header."""
    number: int  # 1-based, of the first physical line
    start: int  # byte offset of its start
    end: int  # byte offset just after its newline
    text: str  # latin-1: one character per byte
    kind: str  # "command" | "comment" | "body" (heredoc body or terminator)


class _Script:
    """The text of a script (everything before its first binary line) and what its commands say."""

    def __init__(self, head: bytes, text_end: int, where: str):
        self.head, self.text_end, self.where = head, text_end, where
        self.lines = self._lines(head[:text_end].decode("latin-1"))
        self.ints: dict[str, int | None] = {}
        self.self_vars: set[str] = set()
        self.token_vars: dict[str, str] = {}
        self._newlines: list[int] | None = None

    @staticmethod
    def _lines(text: str) -> list[_Line]:
        lines, pos, number, pending, open_doc = [], 0, 0, [], None
        for raw in re.findall(r"[^\n]*\n|[^\n]+$", text):  # lines end at \n only, as for sh, awk and tail
            number += 1
            start, pos = pos, pos + len(raw)
            body = raw.rstrip("\n")
            if open_doc is not None:
                delim, dash = open_doc
                if (body.lstrip("\t") if dash else body).rstrip("\r") == delim:
                    open_doc = pending.pop(0) if pending else None
                lines.append(_Line(number, start, pos, body, "body"))
                continue
            kind = "comment" if body.lstrip().startswith("#") else "command"
            if kind == "command":
                pending.extend((m[3], m[1] == "-") for m in _HEREDOC.finditer(body))
                if pending:
                    open_doc = pending.pop(0)
            lines.append(_Line(number, start, pos, body, kind))
        return lines

    def commands(self) -> list[_Line]:
        """Command lines, with backslash-continued lines joined (numbered by their first line)."""
        out: list[_Line] = []
        joining: _Line | None = None
        for ln in self.lines:
            if ln.kind != "command" and joining is None:
                continue
            text = ln.text.rstrip("\r")
            if joining is not None:
                joining.text += " " + text
                joining.end = ln.end
            else:
                joining = _Line(ln.number, ln.start, ln.end, text, "command")
            if joining.text.endswith("\\"):
                joining.text = joining.text[:-1]
                continue
            out.append(joining)
            joining = None
        if joining is not None:
            out.append(joining)
        return out

    # -- variables and arithmetic

    def learn(self, line: _Line) -> None:
        """Record the variables ``line`` assigns: numbers, references to the script, markers."""
        for pipeline in _pipelines(line.text):
            for stage in pipeline:
                pos = 0
                while m := _ASSIGN.match(stage, pos):
                    self._assign(m[1], m[2])
                    pos = m.end()

    def _assign(self, name: str, value: str) -> None:
        """Record one assignment ``name=value``."""
        if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
            value = value[1:-1]
        if _SELF_VALUE.fullmatch(value.replace('"', "")):
            self.self_vars.add(name)
        if _TOKEN.fullmatch(value):
            self.token_vars[name] = value
        number = self.evaluate(value)
        if name in self.ints and self.ints[name] != number:
            number = None  # assigned different values: which one applies is not knowable without running it
        self.ints[name] = number

    def evaluate(self, expr: str) -> int | None:
        """``expr`` (a number, ``$VAR``, ``${VAR}`` or ``$((...))`` with + - * and parentheses
        over numbers and variables known to be numbers) as an int, or None."""
        s = expr.strip().strip("\"'")
        if s.startswith("$((") and s.endswith("))"):
            s = s[3:-2]
        tokens = re.findall(r"\d+|\$?\{?[A-Za-z_]\w*\}?|[-+*()]|\S", s, re.ASCII)
        pos = 0

        def atom() -> int | None:
            nonlocal pos
            if pos >= len(tokens):
                return None
            t = tokens[pos]
            pos += 1
            if t == "(":
                v = sum_()
                if pos >= len(tokens) or tokens[pos] != ")":
                    return None
                pos += 1
                return v
            if t in "+-" and len(t) == 1:
                v = atom()
                return None if v is None else (v if t == "+" else -v)
            if t.isdigit():  # beyond 19 digits no position in a file (and int() refuses > 4300)
                return int(t) if len(t) <= 19 else None
            name = t.lstrip("$").strip("{}")
            if re.fullmatch(r"[A-Za-z_]\w*", name, re.ASCII) and t.count("{") == t.count("}"):
                return self.ints.get(name)
            return None

        def product() -> int | None:
            nonlocal pos
            v = atom()
            while v is not None and pos < len(tokens) and tokens[pos] == "*":
                pos += 1
                w = atom()
                v = None if w is None else v * w
                if v is not None and abs(v) > _MAX_VALUE:
                    return None
            return v

        def sum_() -> int | None:
            nonlocal pos
            v = product()
            while v is not None and pos < len(tokens) and tokens[pos] in ("+", "-"):
                op = tokens[pos]
                pos += 1
                w = product()
                v = None if w is None else (v + w if op == "+" else v - w)
            return v

        if not tokens or len(tokens) > 64:
            return None
        value = sum_()
        return value if value is not None and pos == len(tokens) and abs(value) <= _MAX_VALUE else None

    def reads_itself(self, text: str) -> bool:
        # one scan of the line's variable references against the set: a pattern per variable
        # would make a header of many `aN=$0` lines cost variables x lines regex compilations
        return bool(_SELF.search(text)) or not self.self_vars.isdisjoint(_VAR_REF.findall(text))

    # -- positions

    def line_offset(self, n: int, size: int, what: str) -> int:
        """Byte offset where line ``n`` (1-based) starts, as ``tail -n +n`` counts lines."""
        if n <= 1:
            return 0
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer(b"\n", self.head)]
        if n - 1 > len(self._newlines):
            if len(self.head) >= size:
                raise _past_end(self.where, what, f"line {n}", size)
            raise _too_far(self.where, what)
        return self._newlines[n - 2] + 1


def _past_end(where: str, what: str, position: str, size: int) -> DistributionError:
    return DistributionError("no-payload", f"{where}: {what} puts the payload at {position}, beyond the end of the "
                                           f"file ({size} bytes): the file is truncated or not a complete "
                                           "self-extracting archive.", _GET_AGAIN)


def _too_far(where: str, what: str) -> DistributionError:
    return DistributionError("no-payload", f"{where}: {what} puts the payload beyond the first "
                                           f"{HEADER_LIMIT >> 10} KiB; a self-extracting script's header is far "
                                           "smaller, so nso-install does not read that far for it.",
                             _UNPACK_YOURSELF)


# -- the hints a script's commands give --------------------------------------------------------

def _pipelines(text: str) -> list[list[str]]:
    """The commands of a shell line (split at ``;``, ``&&``, ``||`` and ``&`` outside quotes), each
    as its pipeline stages (split at ``|``).  Crude, but only ever used to see which command
    reads the script: a stage fed by ``tail`` does not read ``$0`` even if the line does.
    Each stage is a slice of ``text`` (cut at the separators, never grown a character at a
    time: that was quadratic in a hostile script's one-MiB line)."""
    commands, stages, start, quote, i = [], [], 0, "", 0
    while i < len(text):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "\\":
            i += 2
            continue
        elif c in ";&|":
            pair = text[i:i + 2]
            if c == "|" and pair != "||":
                stages.append(text[start:i])
                i += 1
                start = i
                continue
            if pair in (">&", "&>") or text[i - 1:i + 1] in (">&", "<&"):
                i += 1  # a redirection (2>&1, &>file), not a separator
                continue
            commands.append(stages + [text[start:i]])
            stages = []
            i += 2 if pair in ("&&", "||") else 1
            start = i
            continue
        i += 1
    commands.append(stages + [text[start:]])
    return commands


def _positions(script: _Script, stage: str, line: _Line, size: int, wc: bool) -> list[tuple[int, str]]:
    """(offset, description) of each payload position the pipeline ``stage`` (one command of
    ``line``, reading the script) states; ``wc``: ``line`` counts bytes with ``wc -c``."""
    text = stage.replace('"', "").replace("'", "")
    at = f"line {line.number}"
    found: list[tuple[int, str]] = []

    def number(expr: str) -> int | None:
        v = script.evaluate(expr)
        return v if v is not None and v >= 0 else None

    for m in re.finditer(_SEGMENT.format("tail"), text):
        seg = m[1]
        if b := re.search(r"(?:^|\s)(?:-c\s*|--bytes=)\+" + _EXPR, seg):
            if (n := number(b[1])) is not None:
                found.append((max(n - 1, 0), f"`tail -c +{n}` on {at}"))
        elif ln := re.search(r"(?:^|\s)(?:-n\s*|--lines=)?\+" + _EXPR, seg):
            if (n := number(ln[1])) is not None:
                what = f"`tail -n +{n}` on {at}"
                found.append((script.line_offset(n, size, what), what))
    if wc:
        for m in re.finditer(_SEGMENT.format("head"), text):
            if h := re.search(r"(?:^|\s)(?:-n\s*|--lines=|-)" + _EXPR + r"(?!\S)", m[1]):
                if (n := number(h[1])) is not None:
                    what = f"`head -n {n} | wc -c` on {at}"
                    found.append((script.line_offset(n + 1, size, what), what))
    for m in re.finditer(_SEGMENT.format("dd"), text):
        args = dict(re.findall(r"(?:^|\s)(\w+)=(\S+)", m[1], re.ASCII))
        if "skip" not in args or not script.reads_itself("if=" + args.get("if", "")):
            continue
        skip = number(args["skip"])
        block = 1 if "skip_bytes" in args.get("iflag", "") else number(args.get("ibs", args.get("bs", "512")))
        if skip is not None and block is not None:
            found.append((skip * block, f"`dd bs={block} skip={skip}` on {at}"))
    for m in re.finditer(_SEGMENT.format("sed"), text):
        seg = m[1]
        if d := re.search(r"(?:^|\s)1," + _EXPR + r"d(?!\w)", seg):
            if (n := number(d[1])) is not None:
                what = f"`sed 1,{n}d` on {at}"
                found.append((script.line_offset(n + 1, size, what), what))
        elif re.search(r"(?:^|\s)-n\b", seg) and (p := re.search(r"(?:^|\s)" + _EXPR + r",\$\s*p(?!\w)", seg)):
            if (n := number(p[1])) is not None:
                what = f"`sed -n {n},$p` on {at}"
                found.append((script.line_offset(n, size, what), what))
    return found


def _markers_referenced(script: _Script, line: _Line) -> set[str]:
    """The ``__NAME__`` markers ``line`` (reading the script) looks for, directly or through a variable."""
    names = set(_TOKEN.findall(line.text))
    # the variables the line refers to, looked up (a regex per variable and line was variables x lines)
    names.update(script.token_vars[v] for v in set(_VAR_REF.findall(line.text)) if v in script.token_vars)
    return names


def locate_payload(f: BinaryIO, where: str) -> Payload:
    """Where the payload of the self-extracting script ``f`` starts (see the module docstring);
    ``f`` is seekable and read from its start.  Raises DistributionError when the script is
    not one, names no payload, or names it ambiguously."""
    f.seek(0, io.SEEK_END)
    size = f.tell()
    f.seek(0)
    head = f.read(HEADER_LIMIT)
    if not head.startswith(b"#!"):
        # (a file given on the command line was told by its first bytes already: this is the
        # installer.bin inside a signed.bin, which is Cisco's, or not as Cisco made it)
        raise DistributionError("unknown-distribution-format", f"{where} is not a self-extracting script (it does "
                                                               "not start with #!).", _GET_AGAIN)
    text_end = _text_end(head)
    script = _Script(head, text_end, where)
    hints: list[tuple[int, str]] = []
    wanted: dict[str, int] = {}  # marker -> line of the first command looking for it
    for line in script.commands():
        script.learn(line)
        wc = bool(re.search(r"\bwc\s+-c\b", line.text))  # (once a line, not once a stage of it)
        for pipeline in _pipelines(line.text):
            for i, stage in enumerate(pipeline):
                fed = i > 0 and re.fullmatch(r"\s*cat\s+(\S+)\s*", pipeline[i - 1].replace('"', ""))
                if script.reads_itself(stage) or fed and script.reads_itself(fed[1]):
                    hints.extend(_positions(script, stage, line, size, wc))
        if script.reads_itself(line.text):
            for name in _markers_referenced(script, line):
                wanted.setdefault(name, line.number)
    marker_lines: dict[str, list[_Line]] = {}
    for ln in script.lines:
        if ln.kind != "body" and (m := _MARKER_LINE.fullmatch(ln.text)):
            marker_lines.setdefault(m[1], []).append(ln)
    for name, number in sorted(wanted.items(), key=lambda kv: kv[1]):
        found = marker_lines.get(name, [])
        if not found:
            if not re.fullmatch(r"__[A-Z][A-Z0-9_]*__", name):
                continue  # lower case: a Python dunder or similar, not a marker
            raise DistributionError("no-payload", f"{where}: the script's command on line {number} looks for the "
                                                  f"marker line {name}, but the script has no such line before its "
                                                  "binary data, so where its payload starts is unknown.",
                                    _UNPACK_YOURSELF)
        if len(found) > 1:
            raise DistributionError("ambiguous-payload",
                                    f"{where}: the marker line {name} (looked for on line {number}) appears "
                                    f"{len(found)} times (lines {', '.join(str(ln.number) for ln in found)}); "
                                    "extractors differ on which one counts, so nso-install does not guess.",
                                    _UNPACK_YOURSELF)
        hints.append((found[0].end, f"the marker line {name} (line {found[0].number}) that line {number} looks for"))
    offsets = sorted({o for o, _ in hints})
    if len(offsets) > 1:
        raise DistributionError("ambiguous-payload",
                                f"{where}: the script's own commands disagree on where its payload starts: "
                                + "; ".join(f"{how} says byte {o}" for o, how in hints)
                                + ". nso-install does not guess which one the script really uses.",
                                _UNPACK_YOURSELF)
    if not offsets and text_end >= len(head):
        if size > len(head):
            raise DistributionError("no-payload", f"{where}: the first {HEADER_LIMIT >> 10} KiB are all shell script "
                                                  "text with no archive; a self-extracting script's header is far "
                                                  "smaller, so this is not an NSO installer.bin/signed.bin (or it is "
                                                  "damaged).", _UNPACK_YOURSELF)
        raise DistributionError("no-payload", f"{where}: a shell script with no archive after it, so no NSO payload "
                                              "can be found in it.",
                                "Pass the nso-VSN.OS.ARCH.installer.bin or .signed.bin as downloaded, or the "
                                ".tar.gz / directory it unpacks to.")
    if not offsets:
        return _first_archive(head, text_end, where)
    offset, how = offsets[0], hints[0][1]
    if offset >= size:
        if offset > size:
            raise _past_end(where, how, f"byte {offset}", size)
        raise DistributionError("no-payload", f"{where}: {how} puts the payload at the very end of the file "
                                              f"(byte {offset}): there is nothing after it (truncated download?).",
                                _GET_AGAIN)
    if offset >= HEADER_LIMIT:
        raise _too_far(where, how)
    f.seek(offset)
    comp = _magic(f.read(512))
    if comp is None:
        raise DistributionError("corrupt-archive", f"{where}: {how} puts the payload at byte {offset}, but no "
                                                   "archive (gzip, bzip2, xz or tar) starts there.", _GET_AGAIN)
    return Payload(offset, comp, how)


def _text_end(head: bytes) -> int:
    """Offset of the first line that holds binary bytes or starts an archive (``len(head)``: none)."""
    pos = 0
    while pos < len(head):
        nl = head.find(b"\n", pos)
        end = len(head) if nl < 0 else nl + 1
        if _BINARY.search(head, pos, end) or _archive_at(head[pos:pos + 512]):
            return pos
        pos = end
    return len(head)


def _first_archive(head: bytes, start: int, where: str) -> Payload:
    """The first archive at a line start from ``start`` (the end of the script text) on."""
    pos = start
    while pos < len(head):
        if comp := _archive_at(head[pos:pos + 512]):
            return Payload(pos, comp, f"the first archive at a line start (byte {pos})")
        nl = head.find(b"\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    raise DistributionError("no-payload", f"{where}: no archive (gzip, bzip2, xz or tar) starts a line after the "
                                          f"script text (byte {start}) within the first {HEADER_LIMIT >> 10} KiB, "
                                          "and the script's own commands name no marker line or position to "
                                          "find one.", _UNPACK_YOURSELF)
