"""Checks the resource files of the app and of the conversation module: every language has
the same keys, every key the code names literally (text(lang, "key"), format(lang, "key",
...)) exists, and every error code of the API has its words in the app. Prints what is
wrong."""
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
languages = {p.stem: json.loads(p.read_text()) for p in sorted((root / "app/i18n").glob("*.json"))}
problems = []
all_keys = set().union(*(set(t) for t in languages.values()))
for code, table in languages.items():
    for key in sorted(all_keys - set(table)):
        problems.append(f"{code}.json lacks {key}")
used = set()
for source in (root / "app/src").rglob("*.rs"):
    used |= set(re.findall(r'\b(?:text|format)\(\s*[\w.()]+\s*,\s*"([a-z0-9_]+)"', source.read_text()))
for key in sorted(used - all_keys):
    problems.append(f"the code names {key}, which no resource file has")
# Every error code the server can answer (wire/src/error.rs) is worded: `error_<code>`.
codes = re.findall(r'^\s*[A-Z]\w* = "([a-z0-9_]+)",$', (root / "wire/src/error.rs").read_text(), re.M)
if not codes:
    problems.append("no error codes found in wire/src/error.rs")
for code in codes:
    if f"error_{code}" not in all_keys:
        problems.append(f"the error code {code} has no words (error_{code})")
# The conversation module's own words (conversation/i18n, conversation/src).
words = {p.stem: json.loads(p.read_text()) for p in sorted((root / "conversation/i18n").glob("*.json"))}
module_keys = set().union(*(set(t) for t in words.values()))
for code, table in words.items():
    for key in sorted(module_keys - set(table)):
        problems.append(f"conversation/i18n/{code}.json lacks {key}")
module_used = set()
for source in (root / "conversation/src").rglob("*.rs"):
    module_used |= set(re.findall(r'\b(?:text|format|timed)\(\s*[\w.()]+\s*,\s*"([a-z0-9_]+)"', source.read_text()))
for key in sorted(module_used - module_keys):
    problems.append(f"the conversation module names {key}, which no resource file has")
for problem in problems:
    print(problem)
print(f"{len(languages)} languages, {len(all_keys)} keys, {len(used)} named in the code, "
      f"{len(codes)} error codes worded")
sys.exit(1 if problems else 0)
