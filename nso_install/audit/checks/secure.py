"""``NSO-SD-*`` and ``NSO-IPC-001``: the Secure Deployment table of :mod:`nso_install.conf.secure`,
judged on the target's ncs.conf (the same rows the production profile is tested against)."""

from __future__ import annotations

from ...conf.secure import SECURE_DEPLOYMENT, Recommendation, applies, conf_text, judge, production_values
from ...conf.variables import VARIABLES
from ..model import Check, failed, passed, skipped
from ..registry import register

DEFAULT_VERSION = "6.5.3"  # the values to expect when no installed version says otherwise


def _remediation(rec: Recommendation) -> str:
    want = production_values(DEFAULT_VERSION, fips=rec.fips_only)
    if rec.rule == "off":
        sets = [f"{v}=false" for v in rec.variables]
    elif rec.rule == "bounded":
        sets = [f"{v}={conf_text(want[v])}" for v in rec.variables]
        return ("Set limits (nso-install's production values: --set " + " --set ".join(sets) + "; tune them to "
                "your load) and restart NSO.")
    elif rec.rule == "one-of":
        sets = [f"{v}={rec.allowed[-1]}" for v in rec.variables]
    elif rec.rule == "external-keys":
        return ("Use external keys (crypto.mechanism=external: the ncs_crypto_keys command reading "
                "CONFIG_DIR/ncs.crypto_keys) and remove the inline keys from ncs.conf; keep the old keys as generation "
                "-1 when moving to key rotation.")
    elif rec.rule == "ipc":
        return ("Use the Unix IPC socket (NSO 6.4+: --set ipc.transport=unix), or keep TCP IPC on 127.0.0.1 with "
                "--set ipc.access_check=true and NCS_IPC_ACCESS_FILE for the clients.")
    elif rec.rule == "host-name":
        return "--set webui.match_host_name=true --set webui.server_name=YOUR.HOST.NAME (and webui server-alias as needed)."
    elif rec.rule == "https":
        sets = ["webui.ssl.enabled=true"]
    else:
        sets = [f"{v}={conf_text(want[v])}" for v in rec.variables if want.get(v) is not None]
    elements = ", ".join(VARIABLES[v].element.removeprefix("/ncs-config/") for v in rec.variables)
    return f"nso-install install DIST --set {' --set '.join(sets)} (ncs.conf: {elements}), then restart NSO."


def _run(rec: Recommendation):
    def run(ctx):
        if not applies(rec, ctx.intent.fips):
            return skipped("not a FIPS install")
        if ctx.conf.root is None:
            return skipped(f"{ctx.conf_path} cannot be read ({ctx.conf.problem}; see NSO-PERM-001)")
        want = production_values(ctx.version or DEFAULT_VERSION, ctx.intent.fips)
        problems, evidence = judge(rec, ctx.conf, want)
        # One setting written twice (ncs.conf and an ncs.conf.d fragment) with different values:
        # whichever NSO takes, the verdict above may have judged the other one.
        problems += ctx.conf.conflicts(VARIABLES[v].element for v in rec.variables if VARIABLES[v].element)
        if problems:
            return failed(problems[0], problems, [ctx.conf_path])
        return passed("as recommended" if len(evidence) > 1 else evidence[0], evidence, [ctx.conf_path])
    return run


for _rec in SECURE_DEPLOYMENT:
    register(Check(_rec.id, _rec.title, _rec.severity, _rec.id.split("-")[1].lower(), _remediation(_rec),
                   _rec.source, "documented", _run(_rec)))
