#!/usr/bin/env python3
"""house.py - checks the shape of the code (issue: a house a newcomer reads in an hour).

  house.py BUILD_DIR

Fails (exit 1, one line per breach) when a source file of compute/, api/, server/ or include/
passes MAX_FILE_LINES, a function passes MAX_FUNCTION_LINES, a source includes across the
layers by a relative path (the compiler's -I flags enforce the rest: see the Makefile), or
object files call each other's functions in a circle (read from the objects' symbol tables
with nm: file A calls B's function and B, perhaps through others, calls A's)."""
import collections
import glob
import os
import re
import subprocess
import sys

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 120
LAYERS = ("include", "compute", "api", "server")


def sources():
    for layer in LAYERS:
        for path in sorted(glob.glob(f"{layer}/**/*.[ch]", recursive=True)):
            yield path


def function_spans(lines):
    """(name, first line, line count) of each function defined at file level: a signature
    line at column 0 ending in '{' (or followed by a lone '{'), to the next '}' at column 0."""
    i = 0
    while i < len(lines):
        line = lines[i]
        opens = re.match(r"^[A-Za-z_].*\)\s*\{\s*$", line) or (line == "{" and i > 0 and lines[i - 1].rstrip().endswith(")"))
        if opens and not line.startswith(("typedef", "struct", "enum", "union")):
            start = i if line != "{" else i - 1
            while start > 0 and not re.match(r"^[A-Za-z_].*\(", lines[start]):
                start -= 1  # a signature over several lines: its first
            j = i + 1
            while j < len(lines) and not lines[j].startswith("}"):
                j += 1
            yield lines[start].split("(")[0].split()[-1].lstrip("*"), start + 1, j - start + 1
            i = j
        i += 1


def cycles(build):
    objects = [o for layer in ("compute", "api", "server") for o in glob.glob(f"{build}/obj/{layer}/**/*.o", recursive=True)]
    defined, calls = {}, collections.defaultdict(set)
    for obj in objects:
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "T":
                defined[parts[2]] = obj
            elif len(parts) == 2 and parts[0] == "U":
                calls[obj].add(parts[1])
    graph = {o: {defined[s] for s in calls[o] if s in defined and defined[s] != o} for o in objects}
    # Tarjan's strongly connected components: any with two or more files is a circle.
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(os.path.relpath(w, f"{build}/obj"))
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in objects:
        if v not in index:
            visit(v)
    return found


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    breaches = []
    for path in sources():
        lines = open(path, encoding="utf-8").read().split("\n")
        if len(lines) - 1 > MAX_FILE_LINES:
            breaches.append(f"{path}: {len(lines) - 1} lines, more than {MAX_FILE_LINES}")
        for name, first, count in function_spans(lines):
            if count > MAX_FUNCTION_LINES:
                breaches.append(f"{path}:{first}: {name} is {count} lines, more than {MAX_FUNCTION_LINES}")
        for n, line in enumerate(lines, 1):
            if re.match(r'\s*#\s*include\s*"\.\./', line):
                breaches.append(f"{path}:{n}: includes by a relative path across the layers")
    for comp in cycles(build):
        breaches.append("files calling each other's functions in a circle: " + " ".join(comp))
    for b in breaches:
        print(b)
    print(f"house: {sum(1 for _ in sources())} files checked, {len(breaches)} breaches")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
