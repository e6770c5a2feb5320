#!/usr/bin/env python3
"""Checks that a crate's modules import one another without a circle.

Every `crate::`, `super::` and `self::` path counts, in `use` lines and inline alike
(`crate::clock::unix_now()`), grouped imports (`use crate::{a, b::c}`) included. A path
names the longest module it starts with; one file is one module (`foo.rs` or
`foo/mod.rs`). Circles are reported between files and between the top-level modules.

Usage: check_modules.py SRC_DIR [SRC_DIR ...]; exits 1 on a circle.
"""
import os
import re
import sys

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def code_only(src):
    """The source with comments, strings and char literals blanked out."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif (m := re.compile(r'b?r(#*)"').match(src, i)) and (i == 0 or not src[i - 1].isalnum()):
            end = '"' + m.group(1)
            j = src.find(end, m.end())
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"' or (c == "b" and src.startswith('b"', i) and (i == 0 or not src[i - 1].isalnum())):
            i += 2 if c == "b" else 1
            while i < n and src[i] != '"':
                i += 2 if src[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a).
            m = re.compile(r"'(\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'])'", re.S).match(src, i)
            if m:
                out.append("' '")
                i = m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def use_tree(base, s, i):
    """Paths of the use tree (or plain path) at s[i:], and where it ends."""
    i = skip_space(s, i)
    if i < len(s) and s[i] == "{":
        paths, i = [], i + 1
        while True:
            i = skip_space(s, i)
            if s[i] == "}":
                return paths, i + 1
            sub, i = use_tree(base, s, i)
            paths += sub
            i = skip_space(s, i)
            if s[i] == ",":
                i += 1
    m = IDENT.match(s, i)
    if not m:
        return [base], i
    path, i = base + [m.group(0)], m.end()
    j = skip_space(s, i)
    if s.startswith("::", j):
        return use_tree(path, s, j + 2)
    return [path], i


def skip_space(s, i):
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def modules(src_dir):
    found = {}
    for folder, _, names in os.walk(src_dir):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, src_dir)[:-3].split(os.sep)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in (["lib"], ["main"]):
                parts = []
            with open(path, encoding="utf-8") as f:
                found[tuple(parts)] = (path, f.read())
    return found


def inline_modules(code):
    """(start, end, name) of every inline `mod name { ... }` block."""
    blocks = []
    for m in re.finditer(r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{", code):
        depth, i = 1, m.end()
        while i < len(code) and depth:
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        blocks.append((m.end(), i, m.group(1)))
    return blocks


def imports(found):
    edges = {}
    for module, (_, src) in found.items():
        code = code_only(src)
        blocks = inline_modules(code)
        targets = set()

        def add(paths):
            for path in paths:
                for n in range(len(path), -1, -1):
                    if tuple(path[:n]) in found:
                        if tuple(path[:n]) != module:
                            targets.add(tuple(path[:n]))
                        break

        for m in re.finditer(r"(?<![A-Za-z0-9_:$])(crate|super|self)\s*::", code):
            # Inside `mod tests { ... }`, `super` is the file's own module.
            here = list(module) + [name for start, end, name in blocks if start <= m.start() < end]
            base = {"crate": [], "super": here[:-1], "self": here}[m.group(1)]
            i = m.end()
            while (k := re.compile(r"\s*super\s*::").match(code, i)):
                base, i = base[:-1], k.end()
            add(use_tree(base, code, i)[0])
        # A child module named without `self::`, e.g. `use queue_folder::QueueFolder;`.
        declared = re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code, re.M)
        for child in declared:
            if tuple(module) + (child,) not in found:
                continue
            for m in re.finditer(r"(?<![A-Za-z0-9_:$])" + child + r"\s*::", code):
                add(use_tree(list(module) + [child], code, m.end())[0])
        edges[module] = targets
    return edges


def circles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return result


def name(module):
    return "::".join(module) or "crate"


def main(src_dirs):
    failed = False
    for src_dir in src_dirs:
        edges = imports(modules(src_dir))
        top = {}
        for module, targets in edges.items():
            a = module[:1]
            top.setdefault(a, set())
            top[a] |= {t[:1] for t in targets if t[:1] != a and t[:1]}
        for level, graph in (("file", edges), ("top-level module", top)):
            for circle in circles(graph):
                failed = True
                print(f"{src_dir}: {level} circle: " + " <-> ".join(name(m) for m in circle))
                for m in circle:
                    inside = sorted(name(t) for t in graph[m] if t in circle)
                    print(f"    {name(m)} imports {', '.join(inside)}")
    if not failed:
        print(f"no import circles in {', '.join(src_dirs)}")
    return 1 if failed else 0


if __name__ == "__main__":
    if "--graph" in sys.argv:
        for d in sys.argv[2:]:
            for m, t in sorted(imports(modules(d)).items()):
                print(name(m), "->", ", ".join(sorted(name(x) for x in t)))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
