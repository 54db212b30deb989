"""The README's settings table, generated from `tap-helpdesk --about --format=markdown`.

    python scripts/readme_settings.py --write   # replace the marked block in README.md
    python scripts/readme_settings.py --check   # exit 1 if the block differs (CI)
    python scripts/readme_settings.py --print   # print the block

README.md holds the table between two marker lines:

    <!-- settings:start -->
    ...generated...
    <!-- settings:end -->

The table is the `## Settings` section of the tap's own `--about` output (the real console
script, so it is exactly what users see), without its heading.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
NOTE = (
    "<!-- Generated from `tap-helpdesk --about --format=markdown` by "
    "scripts/readme_settings.py --write; do not edit by hand. -->"
)
_BLOCK = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)


def about_markdown() -> str:
    """`tap-helpdesk --about --format=markdown`, run as users run it."""
    executable = shutil.which("tap-helpdesk", path=str(Path(sys.executable).parent))
    command = [executable] if executable else [sys.executable, "-m", "tap_helpdesk"]
    completed = subprocess.run(  # noqa: S603 (argv: this environment's tap, fixed arguments)
        [*command, "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return completed.stdout


def settings_section(markdown: str) -> str:
    """The body of the `## Settings` section (up to the next `## ` heading)."""
    lines = markdown.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "## Settings")
    except StopIteration:
        raise SystemExit(
            "tap-helpdesk --about --format=markdown printed no '## Settings'"
        ) from None
    body: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        body.append(line.rstrip())
    text = "\n".join(body).strip()
    if "| Setting |" not in text:
        raise SystemExit("the '## Settings' section of --about holds no settings table")
    return text


def block(markdown: str | None = None) -> str:
    """The marked block README.md must contain."""
    section = settings_section(markdown if markdown is not None else about_markdown())
    return f"{START}\n{NOTE}\n\n{section}\n\n{END}"


def replace_block(readme: str, new_block: str) -> str:
    """README text with its marked block replaced; SystemExit if the markers are missing."""
    if readme.count(START) != 1 or readme.count(END) != 1 or not _BLOCK.search(readme):
        raise SystemExit(
            f"README.md needs exactly one '{START}' line followed by one '{END}' line "
            "where the settings table goes"
        )
    return _BLOCK.sub(lambda _match: new_block, readme)


def main() -> None:
    """Rewrite the README's settings table (--write), check it (--check) or --print it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="update README.md")
    group.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    group.add_argument("--print", action="store_true", help="print the generated block")
    args = parser.parse_args()
    new_block = block()
    if args.print:
        sys.stdout.write(new_block + "\n")
        return
    current = README.read_text(encoding="utf-8")
    updated = replace_block(current, new_block)
    if args.write:
        if updated != current:
            README.write_text(updated, encoding="utf-8")
        return
    if updated != current:
        sys.stderr.write(
            "README.md's settings table differs from tap-helpdesk --about --format=markdown: "
            "run python scripts/readme_settings.py --write\n"
        )
        raise SystemExit(1)


if __name__ == "__main__":
    main()
