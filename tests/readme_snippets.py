#!/usr/bin/env python3
"""readme_snippets.py PORT [README] - runs the README's snippets as a reader would paste them.

Every fenced block marked sh, python or js runs, in order, in one scratch folder (so files made
by one block are there for the next), against the daemon on 127.0.0.1:PORT (the README's
localhost:8080 is rewritten to it). sh blocks run in bash with -e; python blocks
with python3; js blocks as an ES module with node. A block passes when it exits 0 and its
output holds no error object, except a block that says "# expect: error", whose output must
hold one. Blocks marked console (make run, docker, kubectl, tritonclient) are shown, not run.
Prints one line per block and "readme: N snippets, M failures"; exits 1 on a failure.
"""
import os
import re
import subprocess
import sys
import tempfile

port = sys.argv[1]
readme = sys.argv[2] if len(sys.argv) > 2 else "README.md"
repo = os.path.dirname(os.path.abspath(readme))
text = open(readme).read()
blocks = re.findall(r"^```(sh|python|js)\n(.*?)^```$", text, re.S | re.M)
work = tempfile.mkdtemp(prefix="ct-readme-")
os.symlink(os.path.join(repo, "examples"), os.path.join(work, "examples"))
# Debian's python3 (with python3-numpy from scripts/deps.sh), as on a user's machine, even
# where another python3 comes first on PATH
env = dict(os.environ, PATH="/usr/bin:" + os.environ.get("PATH", ""))
failures = 0
for i, (lang, code) in enumerate(blocks, 1):
    code = code.replace("http://localhost:8080", f"http://127.0.0.1:{port}").replace("localhost:8080", f"127.0.0.1:{port}")
    if lang == "sh":
        cmd = ["bash", "-e", "-c", code]  # no pipefail: "curl | head" is how people paste it
    elif lang == "python":
        cmd = ["python3", "-c", code]
    else:
        path = os.path.join(work, f"snippet{i}.mjs")
        open(path, "w").write(code)
        cmd = ["node", path]
    run = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    out = run.stdout + run.stderr
    expect_error = "# expect: error" in code
    has_error = '{"error"' in out
    ok = run.returncode == 0 and has_error == expect_error
    first = code.strip().splitlines()[0][:70]
    print(f"{'ok  ' if ok else 'FAIL'} {lang} block {i}: {first}")
    if not ok:
        failures += 1
        print(f"     exit {run.returncode}; output:\n" + "\n".join("     " + l for l in out.splitlines()[:20]))
print(f"readme: {len(blocks)} snippets, {failures} failures")
sys.exit(1 if failures else 0)
