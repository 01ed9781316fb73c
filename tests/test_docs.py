"""What can be checked of the README and docs/ without reading them: links lead somewhere, the commands name
scripts that exist, the README stays short, and CI runs the README's own test command."""
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README] + DOCS
# Pages written with a script that is not in this tree yet: a link to one is allowed to wait for the script, and
# becomes an error as soon as the script is here without its page.
COMES_WITH = {ROOT / "docs" / "frontier.md": ROOT / "frontier.py"}
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text):
    """The text outside fenced code blocks (links and headings there are not links and headings)."""
    return FENCE.sub("", text)


def anchors(path):
    """The anchors GitHub gives the headings of a Markdown file: lower case, punctuation dropped, spaces to
    hyphens, a repeated one suffixed -1, -2, ..."""
    seen, out = {}, set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", prose(path.read_text(encoding="utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def test_slugs_follow_githubs_rule(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Tool use (`sft.py --tools`)\n## The gold judge: a careful reader\n## Notes\n## Notes\n"
                    "```\n# not a heading\n```\n")
    assert anchors(page) == {"tool-use-sftpy---tools", "the-gold-judge-a-careful-reader", "notes", "notes-1"}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto: ... are not checked here
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists() and not (dest in COMES_WITH and not COMES_WITH[dest].exists()):
            broken.append(f"{target} (no file {dest.relative_to(ROOT) if ROOT in dest.parents else dest})")
        elif anchor and dest.exists() and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def commands(text):
    """Command lines of a page: the lines of its fenced code blocks, and inline code that starts a command."""
    lines = [ln for block in FENCE.findall(text) for ln in block.splitlines()[1:-1]]
    lines += re.findall(r"`((?:python|torchrun|pip) [^`]+)`", prose(text))
    return [part.split("#")[0].strip() for ln in lines for part in re.split(r"&&|\|", ln)]


def scripts_named(command):
    """(kind, name) for each program a command runs from this repository: ("file", "sft.py") or ("module", ...)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    if not words or words[0] not in ("python", "torchrun"):
        return []
    args = words[1:]
    while args and args[0].startswith("-") and args[0] not in ("-m", "-c"):  # torchrun --nproc_per_node=N ...
        args = args[1:]
    if not args or args[0] == "-c":
        return []
    return [("module", args[1])] if args[0] == "-m" and len(args) > 1 else [("file", args[0])]


def test_the_command_parser_finds_scripts_and_modules():
    found = [s for c in commands("```bash\npython sft.py --x 1 && python -m data.prepare --input f  # note\n"
                                 "torchrun --nproc_per_node=4 pretrain.py\necho hi | python -c 'print(1)'\n```\n"
                                 "Then `python chat.py --compare a b`.")
             for s in scripts_named(c)]
    assert found == [("file", "sft.py"), ("module", "data.prepare"), ("file", "pretrain.py"), ("file", "chat.py")]


def test_every_script_a_readme_command_names_exists():
    named = {s for c in commands(README.read_text(encoding="utf-8")) for s in scripts_named(c)}
    assert ("file", "pretrain.py") in named, "the README's quickstart should run pretrain.py"
    missing = []
    for kind, name in sorted(named):
        if kind == "file" and not (ROOT / name).is_file():
            missing.append(name)
        if kind == "module":
            top, local = name.split(".")[0], ROOT / name.replace(".", "/")
            if (ROOT / top).is_dir() or (ROOT / f"{top}.py").is_file():  # one of ours: data.prepare
                if not (local.with_suffix(".py").is_file() or (local / "__main__.py").is_file()):
                    missing.append(f"-m {name}")
            elif importlib.util.find_spec(top) is None:  # pytest, pip: installed, not ours
                missing.append(f"-m {name}")
    assert not missing, f"README.md runs scripts that do not exist: {missing}"


def test_the_readme_is_a_five_minute_read():
    words = len(README.read_text(encoding="utf-8").split())
    assert words < 2500, f"README.md has {words} words; the reference belongs in docs/"


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(ln for ln in ci.splitlines() if "pytest" in ln and not ln.startswith("#"))
    assert command.strip() in README.read_text(encoding="utf-8")
