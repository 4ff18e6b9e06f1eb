"""Write nso_install/data/ncs-conf-versions.tsv: the ncs.conf elements that are not in the
ncs.conf(5) of every NSO release 6.1-6.7, with the first and last release that documents them.

Input: a clone of NSO-developer/nso-gitbook (its release branches 6.1 ... 6.7; ncs.conf(5) is
``man/section5.md`` up to 6.4, ``resources/man/ncs.conf.5.md`` from 6.5)::

    python tools/ncs_conf_versions.py /path/to/nso-gitbook > nso_install/data/ncs-conf-versions.tsv
"""

from __future__ import annotations

import re
import subprocess
import sys

RELEASES = ("6.1", "6.2", "6.3", "6.4", "6.5", "6.6", "6.7")


def paths(repo: str, release: str) -> set[str]:
    page = "man/section5.md" if release <= "6.4" else "resources/man/ncs.conf.5.md"
    text = subprocess.run(["git", "-C", repo, "show", f"{release}:{page}"], check=True, capture_output=True,
                          text=True).stdout
    found = {m.group(1).replace("\\", "") for m in re.finditer(r"^(/ncs-config\S*)", text, re.M)}
    for p in list(found):  # containers the page only implies
        parts = p.split("/")
        found.update("/".join(parts[:i]) for i in range(2, len(parts)))
    return found


def main(repo: str) -> None:
    sets = {r: paths(repo, r) for r in RELEASES}
    commits = [subprocess.run(["git", "-C", repo, "rev-parse", "--short", r], check=True, capture_output=True,
                              text=True).stdout.strip() for r in RELEASES]
    print("# ncs.conf elements not documented in the ncs.conf(5) of every NSO release 6.1-6.7: path, first")
    print("# release that documents it (empty: 6.1 or earlier), last release that does (empty: 6.7 or later).")
    print("# Every other element of ncs-conf-elements.tsv is in all of them. Source: NSO-developer/nso-gitbook,")
    print("# man/section5.md (6.1-6.4), resources/man/ncs.conf.5.md (6.5-6.7), on the release branches ("
          + ", ".join(f"{r} {c}" for r, c in zip(RELEASES, commits)) + "); a branch documents the")
    print("# release's latest maintenance version. Written by tools/ncs_conf_versions.py.")
    print("path\tfirst\tlast")
    for p in sorted(set().union(*sets.values())):
        have = [r for r in RELEASES if p in sets[r]]
        if len(have) == len(RELEASES):
            continue
        print(f"{p}\t{have[0] if have[0] != RELEASES[0] else ''}\t{have[-1] if have[-1] != RELEASES[-1] else ''}")


if __name__ == "__main__":
    main(sys.argv[1])
