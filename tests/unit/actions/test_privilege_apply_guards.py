"""The hash check before a privilege, at apply time on its own: a binary swapped between the
check and the change (the engine checks right before applying, but the NSO account or anyone
with access to the tree can act in between) must not get the setuid bit or the capability.
And set_caps on its own sets exactly what it is given, none included (the actions also chown
first, which drops capabilities, but set_caps must not rely on that)."""

from __future__ import annotations

import os
import stat

import pytest

from nso_install.actions.base import Attrs
from nso_install.actions.privileges import Capability, Setuid, set_caps
from nso_install.capabilities import parse_text
from nso_install.errors import UnsafePathError
from nso_install.facts import Facts
from nso_install.target import Target

from support import PlanRun, unpacked_by_us

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sets setuid bits and file capabilities (root only)")


def _tree(tmp_path, rel: str):
    root = tmp_path / "r"
    f = root / "v" / rel
    f.parent.mkdir(parents=True)
    for d in (root, root / "v", *[p for p in f.parents if root / "v" in p.parents]):
        os.chmod(d, 0o755)
    (root / "v/VERSION").write_text("6.5.3\n")
    f.write_text("#!/bin/sh\necho the real one\n")
    os.chmod(f, 0o755)
    return root, f


def _checked_then_swapped(root, act, f):
    """Check as the engine does right before applying, then swap the file's content."""
    run = unpacked_by_us(root, "/v", [str(f.relative_to(root / "v"))])
    ctx = run.ctx()
    facts = Facts(ctx.target)
    outcome = act.check(facts, ctx)
    assert outcome.changed
    f.write_text("#!/bin/sh\nexec /bin/sh -p\n")  # swapped in after the check
    return facts, ctx, outcome


def test_a_capability_binary_swapped_after_the_check_gets_no_capability(tmp_path):
    root, f = _tree(tmp_path, "bin/ip")
    act = Capability("/v/bin/ip", "/v", ("bin/ip",), Attrs(0o750, "root", "root"), caps=parse_text("cap_net_admin=ep"))
    facts, ctx, outcome = _checked_then_swapped(root, act, f)
    with pytest.raises(UnsafePathError) as e:
        act.apply(facts, ctx, outcome)
    assert e.value.reference == "privileged-file-changed"
    assert Facts(Target.at(root)).caps("/v/bin/ip") == {}


def test_a_setuid_helper_swapped_after_the_check_is_not_made_setuid(tmp_path):
    root, f = _tree(tmp_path, "lib/ncs/lib/core/pam/priv/epam")
    act = Setuid("/v/lib/ncs/lib/core/pam/priv/epam", "/v", ("lib/ncs/lib/core/pam/priv/epam",),
                 Attrs(0o4750, "root", "root"))
    facts, ctx, outcome = _checked_then_swapped(root, act, f)
    with pytest.raises(UnsafePathError) as e:
        act.apply(facts, ctx, outcome)
    assert e.value.reference == "privileged-file-changed"
    assert not os.stat(f).st_mode & stat.S_ISUID


def test_a_setuid_helper_of_an_unrecorded_tree_is_refused_at_check_time(tmp_path):
    """--check already says no: the setuid bit alone (no capability) is a grant too."""
    root, f = _tree(tmp_path, "lib/ncs/lib/core/pam/priv/epam")
    act = Setuid("/v/lib/ncs/lib/core/pam/priv/epam", "/v", ("lib/ncs/lib/core/pam/priv/epam",),
                 Attrs(0o4750, "root", "root"))
    with pytest.raises(UnsafePathError) as e:
        PlanRun(root).check([act])
    assert e.value.reference == "unrecorded-tree"


def test_set_caps_with_no_capabilities_removes_them(tmp_path):
    f = tmp_path / "ip"
    f.write_text("#!/bin/sh\n")
    fd = os.open(f, os.O_RDONLY)
    try:
        set_caps(fd, parse_text("cap_net_admin,cap_net_raw=ep"), "ip")
        assert Facts(Target.at(tmp_path)).caps("/ip") == parse_text("cap_net_admin,cap_net_raw=ep")
        set_caps(fd, parse_text("cap_net_raw=ep"), "ip")
        assert Facts(Target.at(tmp_path)).caps("/ip") == parse_text("cap_net_raw=ep")
        set_caps(fd, {}, "ip")
    finally:
        os.close(fd)
    assert Facts(Target.at(tmp_path)).caps("/ip") == {}
    with pytest.raises(OSError):
        os.getxattr(f, "security.capability")
