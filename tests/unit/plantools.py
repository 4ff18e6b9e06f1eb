"""Applying a hand-made plan to a staging root (tmp_path), for the action tests."""

from nso_install.actions import Attrs
from nso_install.engine import Env, State, apply
from nso_install.target import Target

ME = Attrs(0o644, None, None)  # owner left alone: whoever runs the tests


def env_for(root, force=False):
    t = Target.at(root)
    return Env(t, State(t, "/state/state.json"), force_conf=force)


def run(root, actions, force=False):
    return apply(actions, env_for(root, force))
