"""The README's "Use it in your Tauri app" steps, applied to an app.

scripts/check-outside applies each step with this helper, so the README and
the test cannot drift: a step's snippet is the fenced block after an HTML
comment `<!-- check-outside: <what to do> -->`, and the helper knows these:

    run in src-tauri                 shell commands, run in src-tauri/
    run in the app's folder          shell commands, run in the app's folder
    plugin in <file>                 `.plugin(...)` lines, put after
                                     `tauri::Builder::default()` in <file>
    merge into <file>                JSON merged into <file>
    add to the page                  HTML put before </body> of the page

Usage, from the repository's root:

    readme_steps.py check README.md           the section has five steps and
                                              every marker is one it knows
    readme_steps.py block README.md MARKER    print that block
    readme_steps.py apply README.md MARKER APP_DIR [PAGE]
                                              apply a file step to the app
"""

import json
import re
import sys
from pathlib import Path

SECTION = "## Use it in your Tauri app"
MARKER = re.compile(r"^\s*<!-- check-outside: (.+?) -->\s*$")
STEPS = 5


def section(readme: str) -> list[str]:
    """The lines of the section, up to the next `## ` heading."""
    lines = readme.splitlines()
    try:
        start = lines.index(SECTION)
    except ValueError:
        sys.exit(f"README.md has no `{SECTION}` section")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start + 1 : end]


def blocks(readme: str) -> dict[str, str]:
    """Marker text → the fenced block right after it, dedented."""
    lines = section(readme)
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        fence = lines[i + 1] if i + 1 < len(lines) else ""
        if not fence.strip().startswith("```"):
            sys.exit(f"README.md: `{line.strip()}` is not followed by a fenced block")
        indent = len(fence) - len(fence.lstrip())
        body = []
        for inner in lines[i + 2 :]:
            if inner.strip() == "```":
                break
            body.append(inner[indent:])
        if m.group(1) in found:
            sys.exit(f"README.md: two blocks are marked `{m.group(1)}`")
        found[m.group(1)] = "\n".join(body) + "\n"
    return found


def check(readme: str) -> None:
    lines = section(readme)
    numbered = [line for line in lines if re.match(r"^\d+\. ", line)]
    if [int(line.split(".")[0]) for line in numbered] != list(range(1, STEPS + 1)):
        sys.exit(f"README.md: `{SECTION}` should have exactly {STEPS} numbered steps, has {len(numbered)}")
    known = ("run in src-tauri", "run in the app's folder", "plugin in ", "merge into ", "add to the page")
    for marker in blocks(readme):
        if not marker.startswith(known):
            sys.exit(f"README.md: check-outside does not know the step `{marker}`")


def merge(into, add):
    """`add` merged into `into`: objects key by key, lists extended with
    what they lack, anything else replaced."""
    if isinstance(into, dict) and isinstance(add, dict):
        for key, value in add.items():
            into[key] = merge(into[key], value) if key in into else value
        return into
    if isinstance(into, list) and isinstance(add, list):
        return into + [item for item in add if item not in into]
    return add


def apply(marker: str, snippet: str, app: Path, page: Path | None) -> None:
    if marker.startswith("merge into "):
        path = app / marker.removeprefix("merge into ")
        merged = merge(json.loads(path.read_text()), json.loads(snippet))
        path.write_text(json.dumps(merged, indent=2) + "\n")
    elif marker.startswith("plugin in "):
        path = app / marker.removeprefix("plugin in ")
        source = path.read_text().splitlines()
        plugin = [line for line in snippet.splitlines() if line.strip().startswith(".plugin(")]
        rest = [line.strip() for line in snippet.splitlines() if line.strip() and line not in plugin]
        missing = [line for line in rest if line not in (s.strip() for s in source)]
        if not plugin or missing:
            sys.exit(f"README.md: the `{marker}` block does not fit {path}: no `.plugin(` line, or {missing}")
        at = next((i for i, s in enumerate(source) if s.strip() == "tauri::Builder::default()"), None)
        if at is None:
            sys.exit(f"{path} has no `tauri::Builder::default()` line")
        indent = source[at + 1][: len(source[at + 1]) - len(source[at + 1].lstrip())]
        source[at + 1 : at + 1] = [indent + line.strip() for line in plugin]
        path.write_text("\n".join(source) + "\n")
    elif marker == "add to the page":
        if page is None:
            sys.exit("`add to the page` needs the page's path")
        html = page.read_text()
        if "</body>" not in html:
            sys.exit(f"{page} has no </body>")
        page.write_text(html.replace("</body>", snippet + "</body>", 1))
    else:
        sys.exit(f"`{marker}` is not a step to apply to files")


def main(argv: list[str]) -> None:
    if len(argv) < 3:
        sys.exit(__doc__)
    command, readme = argv[1], Path(argv[2]).read_text()
    if command == "check":
        check(readme)
    elif command == "block" and len(argv) == 4:
        found = blocks(readme)
        if argv[3] not in found:
            sys.exit(f"README.md has no block marked `{argv[3]}`")
        sys.stdout.write(found[argv[3]])
    elif command == "apply" and len(argv) in (5, 6):
        found = blocks(readme)
        if argv[3] not in found:
            sys.exit(f"README.md has no block marked `{argv[3]}`")
        apply(argv[3], found[argv[3]], Path(argv[4]), Path(argv[5]) if len(argv) == 6 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
