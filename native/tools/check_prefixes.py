#!/usr/bin/env python3
"""Check that every external name of the firmware core carries the project prefix.

Two sources are checked (issue 15: "a bms_ prefix on every external symbol"):

* the external symbols the core objects define (``nm --defined-only -g``): each must
  start with ``bms_``;
* the public headers: every ``#define`` macro (include guards excepted), ``typedef`` name,
  enum constant, struct/union/enum tag and function or variable declaration must start with
  ``bms_`` or ``BMS_``.

Usage: check_prefixes.py [--nm NM] [--objects FILE ...] [--headers FILE ...]
Prints one line per offending name and exits 1 if there is any; exits 2 on bad input.
Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import glob
import re
import subprocess
import sys
from pathlib import Path

PREFIXES = ("bms_", "BMS_")
SYMBOL_PREFIX = "bms_"

_IDENT = re.compile(r"[A-Za-z_]\w*")
_KEYWORDS = frozenset(
    {
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Bool",
        "_Static_assert",
        "_Alignas",
        "_Alignof",
        "_Noreturn",
        "_Atomic",
        "_Thread_local",
    }
)


class CheckError(Exception):
    """Bad input: a file that cannot be read or an nm that cannot run."""


def object_symbols(objects: list[str], nm: str = "nm") -> list[tuple[str, str]]:
    """(object, symbol) for every external symbol the objects define."""
    out: list[tuple[str, str]] = []
    for obj in objects:
        try:
            proc = subprocess.run(
                [nm, "--defined-only", "-g", obj], capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise CheckError(f"cannot run {nm}: {exc}") from exc
        if proc.returncode != 0:
            msg = proc.stderr.strip().splitlines()
            raise CheckError(f"{nm} failed on {obj}: {msg[0] if msg else proc.returncode}")
        for line in proc.stdout.splitlines():
            fields = line.split()
            if len(fields) == 3:
                out.append((obj, fields[2]))
    return out


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _top_level_statements(code: str) -> list[str]:
    """Split C declarations (no directives) into statements ending at a top-level ';'."""
    stmts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(code):
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif ch == ";" and depth == 0:
            stmts.append(code[start:i].strip())
            start = i + 1
    return [s for s in stmts if s]


def _declared_name(decl: str) -> str | None:
    """The name a declaration (without its 'typedef') declares, or None."""
    # remove bodies: struct {...}, parameter lists and array sizes, keeping function pointer names
    body_free = decl
    while True:
        reduced = re.sub(r"\{[^{}]*\}", " ", body_free)
        if reduced == body_free:
            break
        body_free = reduced
    m = re.match(r"[^(]*\(\s*\*\s*([A-Za-z_]\w*)\s*\)", body_free)  # (*name)(...)
    if m:
        return m.group(1)
    head = body_free.split("(", 1)[0]  # a function: the name is before its parameters
    head = re.sub(r"\[[^\]]*\]", " ", head)
    idents = [w for w in _IDENT.findall(head) if w not in _KEYWORDS]
    return idents[-1] if idents else None


def header_names(text: str) -> list[tuple[str, str]]:
    """(kind, name) for every name a header makes visible to its includers."""
    text = re.sub(r"\\\n", " ", _strip_comments(text))  # a directive's continued lines
    names: list[tuple[str, str]] = []
    guards = set(re.findall(r"^\s*#\s*ifndef\s+(\w+)", text, flags=re.M))
    code_lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            m = re.match(r"#\s*define\s+(\w+)(.*)$", stripped)
            if m and not (m.group(1) in guards and not m.group(2).strip()):
                names.append(("macro", m.group(1)))
            code_lines.append("")
        else:
            code_lines.append(line)
    code = "\n".join(code_lines)
    for m in re.finditer(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)\s*\{", code):
        names.append((f"{m.group(1)} tag", m.group(2)))
    for m in re.finditer(r"\benum\b[^{;]*\{([^}]*)\}", code):
        for item in m.group(1).split(","):
            ident = _IDENT.match(item.strip())
            if ident:
                names.append(("enum constant", ident.group(0)))
    for stmt in _top_level_statements(code):
        if re.match(r"(struct|union|enum)\b[^{]*\{.*\}$", stmt, flags=re.S):
            continue  # a bare tagged definition: its tag is counted above
        is_typedef = re.match(r"typedef\b", stmt) is not None
        name = _declared_name(stmt[len("typedef") :] if is_typedef else stmt)
        if name is None:  # e.g. _Static_assert(...)
            continue
        kind = "typedef" if is_typedef else ("function" if "(" in stmt else "variable")
        names.append((kind, name))
    return names


def check(objects: list[str], headers: list[str], nm: str = "nm") -> list[str]:
    """One message per name without the prefix (empty: all good)."""
    problems = [
        f"{obj}: external symbol {sym} lacks the {SYMBOL_PREFIX} prefix"
        for obj, sym in object_symbols(objects, nm)
        if not sym.startswith(SYMBOL_PREFIX)
    ]
    for header in headers:
        try:
            text = Path(header).read_text(encoding="utf-8")
        except OSError as exc:
            raise CheckError(f"cannot read {header}: {exc.strerror}") from exc
        problems += [
            f"{header}: {kind} {name} lacks the bms_/BMS_ prefix"
            for kind, name in header_names(text)
            if not name.startswith(PREFIXES)
        ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nm", default="nm", help="the nm to run (default: nm)")
    parser.add_argument("--objects", nargs="*", default=None, help="default: build/core/*.o")
    parser.add_argument("--headers", nargs="*", default=None, help="default: native/include/bms/*.h")
    args = parser.parse_args(argv)
    objects = args.objects if args.objects is not None else sorted(glob.glob("build/core/*.o"))
    headers = args.headers if args.headers is not None else sorted(glob.glob("native/include/bms/*.h"))
    if not objects and not headers:
        print("check_prefixes: nothing to check (no objects, no headers)", file=sys.stderr)
        return 2
    try:
        problems = check(objects, headers, args.nm)
    except CheckError as exc:
        print(f"check_prefixes: {exc}", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    if problems:
        print(f"check_prefixes: {len(problems)} name(s) without the prefix", file=sys.stderr)
        return 1
    print(f"check_prefixes: {len(objects)} object(s), {len(headers)} header(s): all prefixed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
