"""Review findings for accounts.py."""

import pytest

from nso_install.accounts import account_actions, validate_name
from nso_install.errors import UsageError
from nso_install.layout import InstallOptions


@pytest.mark.parametrize("name", ["ncsadmin", "ncsoper", "nobody"])
def test_shared_groups_and_accounts_cannot_be_the_run_as_user(name):
    """The run-as user's own group is "only the NSO account": it may execute setuid epam and
    read ncs.crypto_keys/host keys.  ncsadmin/ncsoper are shared NACM groups (every operator
    in ncsoper would get the keys) and nobody is shared by unrelated services."""
    with pytest.raises(UsageError) as e:
        InstallOptions(system=True, run_as_user=name)
    assert e.value.reference == "reserved-user-name"
    with pytest.raises(UsageError):
        account_actions(name, "/var/opt/ncs")


def test_reserved_names_are_still_valid_group_names():
    assert validate_name("ncsadmin", "group") == "ncsadmin"
