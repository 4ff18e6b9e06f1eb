"""NSO-USER-001 judges the service file in force, not only the record: an edited unit or SysV
script that starts NSO as root fails it (a security review kept such a script through a change
of the run-as user; the audit passed)."""

from __future__ import annotations

import os

import pytest
from support import cli, host_accounts_root
from support_audit import findings, rewrite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates accounts and sets owners (root only)")

UNIT = "etc/systemd/system/ncs.service"


def _edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    rewrite(path, text.replace(old, new).encode())


def test_the_units_own_setpriv_start_passes(staged):
    f = findings(staged.get("nso"))["NSO-USER-001"]
    assert f.status == "pass" and any("starts NSO as nso (ExecStart=!/usr/bin/setpriv" in e for e in f.evidence)


@pytest.mark.parametrize("old, new, why", [
    ("ExecStart=!/usr/bin/setpriv", "ExecStart=!/usr/bin/env", "runs as root (!)"),
    ("User=nso\n", "", "no User="),
])
def test_a_unit_that_starts_nso_as_root_fails(staged, old, new, why):
    root = staged.get("nso")
    if "setpriv" in old:
        _edit(root / UNIT, old, new)
    else:  # the ! start goes too: then User= decides
        _edit(root / UNIT, "ExecStart=!/usr/bin/setpriv", "ExecStart=/usr/bin/setpriv")
        _edit(root / UNIT, old, new)
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and f"/{UNIT} starts NSO as root, not nso" in f.summary + " ".join(f.evidence)
    assert why in " ".join(f.evidence)


def test_a_drop_in_that_changes_the_start_is_judged_too(staged):
    root = staged.get("nso")
    d = root / "etc/systemd/system/ncs.service.d"
    d.mkdir()
    (d / "override.conf").write_text("[Service]\nExecStart=\nExecStart=!/opt/ncs/ncs-service-start\n")
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and "override.conf" in " ".join(f.evidence)


def test_a_sysv_script_is_judged_by_its_run_line(tmp_path, sample_dists):
    root = host_accounts_root(tmp_path / "root")
    cli("install", sample_dists["tar.gz"], "--system-install", "--root", root, "--run-as-user", "nso",
        "--init-system", "sysv")
    f = findings(root)["NSO-USER-001"]
    assert f.status == "pass" and 'RUN="runuser -u nso --"' in " ".join(f.evidence)
    _edit(root / "etc/init.d/ncs", 'RUN="runuser -u nso --"', 'RUN=""')
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and "/etc/init.d/ncs starts NSO as root, not nso" in f.summary + " ".join(f.evidence)


# A security review found NSO-USER-001 passing an account NSO runs as that could be logged in to:
# a password set, another account sharing its uid, a sudoers rule; a login shell was shown only
# with -v.

def _passwd_line(root, name):
    return next(line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith(f"{name}:"))


def _replace_line(path, prefix, new):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(new if line.startswith(prefix) else line for line in lines) + "\n")


def test_a_locked_password_and_no_login_shell_pass(staged):
    f = findings(staged.get("nso"))["NSO-USER-001"]
    assert f.status == "pass" and "nso's password: locked" in f.evidence


@pytest.mark.parametrize("field, shown", [("$6$salt$hash", "usable (a hash is set)"),
                                          ("", "usable (empty: no password asked)")])
def test_a_usable_password_fails_and_the_hash_is_never_shown(staged, field, shown):
    root = staged.get("nso")
    shadow = root / "etc/shadow"
    entry = next(line for line in shadow.read_text().splitlines() if line.startswith("nso:"))
    _replace_line(shadow, "nso:", ":".join(["nso", field, *entry.split(":")[2:]]))
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and f"nso's password: {shown}" in f.evidence
    assert any("has a usable password" in e for e in f.evidence)
    assert not any("salt" in e or "hash$" in e for e in (f.summary, *f.evidence))


def test_another_account_with_the_same_uid_fails(staged):
    root = staged.get("nso")
    uid = _passwd_line(root, "nso").split(":")[2]
    with open(root / "etc/passwd", "a") as out:
        out.write(f"nsoadmin:x:{uid}:100::/home/nsoadmin:/bin/bash\n")
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail" and any(e.startswith(f"nsoadmin shares uid {uid} with nso") for e in f.evidence)


@pytest.mark.parametrize("rule, named", [("nso ALL=(ALL) NOPASSWD: ALL", "nso"),
                                         ("%ncsadmin ALL=(root) /usr/bin/systemctl", "%ncsadmin"),
                                         ("User_Alias OPS = alice, nso\nOPS ALL=(ALL) ALL", "OPS")])
def test_a_sudoers_rule_for_the_account_or_its_groups_fails(staged, rule, named):
    root = staged.get("nso")
    (root / "etc/sudoers.d").mkdir(exist_ok=True)
    (root / "etc/sudoers.d/ops").write_text(f"Defaults env_reset\n{rule}\n")
    (root / "etc/sudoers.d/ignored.conf").write_text("nso ALL=(ALL) ALL\n")  # sudo skips names with a dot
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail", f
    assert [e for e in f.evidence if "sudo rights" in e] == [f"/etc/sudoers.d/ops grants {named} sudo rights, "
                                                             "which cover nso"]


@pytest.mark.parametrize("sudoers, extra, where", [
    # a rule in a file an include line brings in: @include, #include (relative to the file), @includedir
    ("@include /etc/sudoers.local\n", {"etc/sudoers.local": "nso ALL=(ALL) ALL\n"}, "/etc/sudoers.local"),
    ("#include sudoers.local\n", {"etc/sudoers.local": "nso ALL=(ALL) ALL\n"}, "/etc/sudoers.local"),
    ("@includedir /etc/sudo.rules\n", {"etc/sudo.rules/ops": "nso ALL=(ALL) ALL\n",
                                         "etc/sudo.rules/skipped.bak": "x\n"}, "/etc/sudo.rules/ops"),
    # an alias an included file defines, used by a rule after the include line (read where it is
    # included, as sudo does: the included file was read after the whole file including it)
    ("@include /etc/sudoers.aliases\nOPS ALL=(ALL) ALL\n", {"etc/sudoers.aliases": "User_Alias OPS = nso\n"},
     "/etc/sudoers"),
    # the account given by its uid (#UID), which a comment-skipping reader took for a comment
    ("#{uid} ALL=(ALL) NOPASSWD: ALL\n", {}, "/etc/sudoers"),
    # a rule continued over two lines
    ("Defaults env_reset\nUser_Alias OPS = alice, \\\n    bob, nso\nOPS ALL=(ALL) ALL\n", {}, "/etc/sudoers"),
])
def test_a_sudoers_rule_wherever_sudo_reads_it_fails(staged, sudoers, extra, where):
    """The rules were read from /etc/sudoers and /etc/sudoers.d only, and every line starting with
    "#" was a comment: a rule in an included file, or naming the account by uid, passed."""
    root = staged.get("nso")
    uid = _passwd_line(root, "nso").split(":")[2]
    (root / "etc/sudoers").write_text(sudoers.format(uid=uid))
    for rel, text in extra.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    f = findings(root)["NSO-USER-001"]
    assert f.status == "fail", f
    assert any(e.startswith(f"{where} grants ") and e.endswith("sudo rights, which cover nso") for e in f.evidence), \
        f.evidence


def test_sudoers_comments_and_an_include_loop_pass(staged):
    root = staged.get("nso")
    (root / "etc/sudoers").write_text("# nso ALL=(ALL) ALL\n#nso ALL=(ALL) ALL\n@include /etc/sudoers\n"
                                      "root ALL=(ALL) ALL\n")
    assert findings(root)["NSO-USER-001"].status == "pass"


def test_a_sudoers_file_for_others_passes(staged):
    root = staged.get("nso")
    (root / "etc/sudoers.d").mkdir(exist_ok=True)
    (root / "etc/sudoers.d/ops").write_text("root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n@includedir /x\n")
    assert findings(root)["NSO-USER-001"].status == "pass"


def test_a_login_shell_alone_warns(staged):
    root = staged.get("nso")
    line = _passwd_line(root, "nso")
    _replace_line(root / "etc/passwd", "nso:", line.rsplit(":", 1)[0] + ":/bin/bash")
    f = findings(root)["NSO-USER-001"]
    assert f.status == "warn" and "login shell (/bin/bash)" in f.summary
