"""Review findings for privileges.py."""

import pytest

from nso_install import privileges
from nso_install.errors import ApplyError


@pytest.mark.parametrize("out", ["{p} cap_net_raw=ep [rootid=1000]\n", "{p} something odd\n"])
def test_unparsable_getcap_output_is_an_apply_error_not_a_crash(tmp_path, monkeypatch, out):
    """getcap -n and newer libcap print namespaced file capabilities with ``[rootid=N]``;
    anything getcap prints that we cannot parse must be a clear error, not a ValueError."""
    f = tmp_path / "ncs.smp"
    f.write_bytes(b"")
    monkeypatch.setattr(privileges, "system_tool", lambda name: (lambda *a: out.format(p=a[-1])))
    with pytest.raises(ApplyError) as e:
        privileges.get_caps(f)
    assert e.value.reference == "getcap-unparsable"
    assert str(f) in e.value.message
