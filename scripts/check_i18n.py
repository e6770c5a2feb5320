"""Checks the resource files of the app and of the conversation module: every language has
the same keys, every key the code names literally (text(lang, "key"), format(lang, "key",
...)) exists, and every error code of the API has its words in the app. Prints what is
wrong."""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
problems = []


def check(resources: str, sources: str, naming: str) -> set:
    """The keys of the resource files in `resources`, after checking them and the keys the
    code under `sources` names (through the functions in `naming`)."""
    languages = {p.stem: json.loads(p.read_text()) for p in sorted((root / resources).glob("*.json"))}
    keys = set().union(*(set(t) for t in languages.values()))
    for code, table in languages.items():
        for key in sorted(keys - set(table)):
            problems.append(f"{resources}/{code}.json lacks {key}")
    used = set()
    pattern = rf'\b(?:{naming})\(\s*[\w.()]+\s*,\s*"([a-z0-9_]+)"'
    for source in (root / sources).rglob("*.rs"):
        used |= set(re.findall(pattern, source.read_text()))
    for key in sorted(used - keys):
        problems.append(f"{sources} names {key}, which no resource file has")
    print(f"{resources}: {len(languages)} languages, {len(keys)} keys, {len(used)} named in the code")
    return keys


app_keys = check("app/i18n", "app/src", "text|format")
# The conversation module (answers) has words of its own.
check("conversation/i18n", "conversation/src", "text|format|timed")
# Every error code the server can answer (wire/src/error.rs) is worded: `error_<code>`.
codes = re.findall(r'^\s*[A-Z]\w* = "([a-z0-9_]+)",$', (root / "wire/src/error.rs").read_text(), re.M)
if not codes:
    problems.append("no error codes found in wire/src/error.rs")
for code in codes:
    if f"error_{code}" not in app_keys:
        problems.append(f"the error code {code} has no words (error_{code})")
for problem in problems:
    print(problem)
print(f"{len(codes)} error codes worded")
sys.exit(1 if problems else 0)
