"""``NSO-PAM``, ``NSO-SVC``, ``NSO-PROC``: the host around NSO -- its PAM service, the systemd
unit's exposure (``systemd-analyze security``) and the environment files it reads with its
drop-ins (:mod:`..unitfiles`), and the NSO daemon that runs now (psutil)."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from ...actions.accounts import PAM_DIR, pam_services
from ...capabilities import NAMES
from ...facts import FILE
from ...proc import nso_daemons
from ...record import record
from ...systools import system_tool
from .. import unitfiles
from ..context import UNIT
from ..model import failed, passed, skipped, verdict
from ..registry import check


@check("NSO-PAM-001", "The PAM service ncs.conf names exists", "medium",
       "Set aaa.pam.service to a service the host has (Debian/Ubuntu: common-auth; RHEL and relatives: "
       "system-auth), or create /etc/pam.d/SERVICE for NSO; then restart NSO.",
       "ncs.conf(5) aaa/pam/service and the Secure Deployment guidance: pick a "
       "suitable service; a missing one falls back to PAM's 'other' (Debian: common-auth; RHEL: deny)")
def pam_service(ctx):
    if ctx.conf.root is None:
        return ctx.conf_unreadable()
    if not ctx.conf.on("/ncs-config/aaa/pam/enabled"):
        return skipped(f"PAM is off ({ctx.conf.shown('aaa.pam.enabled')})")
    svc = ctx.conf.value("aaa.pam.service") or ""
    shown = ctx.conf.shown("aaa.pam.service")
    if "${" in svc:
        return skipped(f"the service comes from the environment ({shown})")
    services = pam_services(ctx.facts)
    if services is None:
        return skipped(f"the target has no {PAM_DIR} nor /etc/pam.conf (a staging root or a minimal image)")
    if "/" in svc or svc in ("", ".", "..") or svc not in services:
        return failed(f"PAM service {svc!r} does not exist on the target", [shown, f"{PAM_DIR}: "
                      + ", ".join(sorted(services)[:20])], [f"{PAM_DIR}/{svc}"])
    return passed(f"{PAM_DIR}/{svc} exists", [shown], [f"{PAM_DIR}/{svc}"])


# --- the unit's exposure --------------------------------------------------------------------

_SCORE = re.compile(r"Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)\s*(\S*)")
TOLERANCE = 0.05


def exposure(root: Path, name: str = "ncs.service") -> tuple[float | None, str]:
    """systemd-analyze's exposure score of the unit under ``root`` (offline), or (None, why not)."""
    tool = system_tool("systemd-analyze")
    if tool is None:
        return None, "systemd-analyze is not installed (in /usr/bin, /bin...)"
    from plumbum import ProcessExecutionError

    try:
        rc, out, err = tool.with_env(LC_ALL="C", SYSTEMD_COLORS="0", SYSTEMD_PAGER="").run(
            ["security", "--no-pager", "--offline=true", f"--root={root}", name], retcode=None, timeout=60)
    except (ProcessExecutionError, OSError) as e:
        return None, f"systemd-analyze failed ({e})"
    m = _SCORE.search(out + err)
    if not m:
        last = (err or out).strip().splitlines()[-1:] or ["no output"]
        return None, f"systemd-analyze gave no score ({last[0][:200]})"
    return float(m.group(1)), m.group(2)


def reference_unit(ctx) -> bytes | None:
    """The unit nso-install writes for this install (spec, directories, run-as user)."""
    from ...plan import UNIT as PLAN_UNIT, TargetView, config_actions

    spec = replace(ctx.spec, run_as_user=ctx.intent.run_as_user, init_system="systemd",
                   values=tuple((k, v) for k, v in ctx.spec.values if not k.startswith("ipc.")))
    for action in config_actions(spec, ctx.version or "6.5.3", TargetView()):
        if action.path == PLAN_UNIT:
            return action.content
    return None


@check("NSO-SVC-001", "ncs.service is no more exposed than the unit nso-install writes (systemd-analyze "
       "security)", "medium",
       "Restore nso-install's unit (nso-install install DIST --force-conf, which keeps a backup) or put the "
       "hardening it has back into yours; systemd-analyze security ncs.service lists each setting.",
       "systemd-analyze security: the exposure of the service's sandboxing; nso-install's own unit is the "
       "baseline", inferred=True)
def unit_exposure(ctx):
    unit = ctx.facts.path(UNIT)
    if ctx.intent.init_system != "systemd" or unit.kind != FILE:
        return skipped(f"no systemd unit ({UNIT}: {'present' if unit.exists else 'absent'}; init system "
                       f"{ctx.intent.init_system})")
    text = ctx.facts.read(UNIT) or b""
    try:
        ref = reference_unit(ctx)
    except Exception as e:  # noqa: BLE001 - the baseline is optional: say why it is missing
        return skipped(f"nso-install's unit for this install cannot be rendered ({type(e).__name__}: {e})")
    if ref is None:
        return skipped("nso-install writes no unit for this install")
    if ctx.cheap and ref == text:
        return passed("ncs.service is nso-install's own unit", [f"{UNIT}: as nso-install writes it"], [UNIT])
    have, level = exposure(ctx.target.root)
    if have is None:
        return skipped(level)
    import tempfile  # (only this check, only when the unit differs: not on install's audit of its own)

    with tempfile.TemporaryDirectory(prefix="nso-install-audit.") as tmp:  # outside the target
        d = Path(tmp, "etc/systemd/system")
        d.mkdir(parents=True)
        (d / "ncs.service").write_bytes(ref)
        want, wlevel = exposure(Path(tmp))
    evidence = [f"{UNIT}: exposure {have} {level}", "nso-install's unit for this install: "
                + (f"{want} {wlevel}" if want is not None else f"no score ({wlevel})")]
    problems = [f"{UNIT} is more exposed ({have}) than nso-install's unit ({want})"] \
        if want is not None and have > want + TOLERANCE else []
    return verdict(problems, f"exposure {have} {level}, as nso-install's unit", "ncs.service lost hardening",
                   evidence, [UNIT])


@check("NSO-SVC-002", "ncs.service reads no environment file, drop-in or unit another account can change",
       "critical",
       "Remove the EnvironmentFile= line (or the drop-in) named, then systemctl daemon-reload: nso-install's unit "
       "reads ncs.systemd.conf itself, as the NSO account after dropping root, and takes only NSO's settings from "
       "it. An environment file the unit does need, and every drop-in, belongs in a file root owns and alone can "
       "write (chown root:root, chmod go-w), in directories root owns and alone can write.",
       "systemd.exec(5) EnvironmentFile=: the service manager reads the file and hands its variables "
       "(LD_PRELOAD included) to every command of the unit, and with no User=, or a command started with + or ! "
       "(nso-install's run-as-user start), to one running as root; docs/security.md, \"What a drop-in's "
       "EnvironmentFile= cannot do\"", inferred=True)
def unit_environment_files(ctx):
    unit = ctx.unit
    if unit.path is None:
        return skipped(f"no ncs.service in systemd's unit search path ({UNIT}...)")
    if unit.masked:
        return skipped(f"{unit.path} masks ncs.service")
    me = frozenset({0, os.geteuid()})  # (a staging root made by an ordinary user is that user's)
    root_part = unitfiles.runs_as_root(unit)
    user = unit.last("User")
    uid = ctx.accounts.uid(user.value) if user else None
    # without a root part, the account the unit runs as may feed its own commands
    allowed = me if root_part or uid is None else me | {uid}
    problems, evidence, seen = [], [], set()

    def add(lines):
        for line in lines:
            if line not in seen:
                seen.add(line)
                problems.append(line)

    for f in unit.files:
        found = [f"{f}: {p}; systemd reads it as root" for p in
                 unitfiles.others_could_change(ctx.facts, unitfiles.resolve(ctx.facts, f), me)]
        add(found)
    evidence.append(f"{unit.path}" + (f" and its drop-ins {', '.join(unit.dropins)}" if unit.dropins else
                                      " (no drop-ins)"))
    evidence.append(f"root part: {root_part}" if root_part else
                    f"every command runs as {user.value}: that account may own its environment files")
    for setting, path, optional in unitfiles.environment_files(unit):
        named = f"{setting.source}: EnvironmentFile={setting.value}"
        files, listed, problem = unitfiles.expand(ctx.facts, path)
        if problem:
            add([f"{named}: {problem}"])
            continue
        if listed is not None:
            r = unitfiles.resolve(ctx.facts, listed)
            add([f"{named}: {p} (new files there would match)"
                 for p in unitfiles.others_could_change(ctx.facts, r, allowed, listing=True)])
        for file in files:
            r = unitfiles.resolve(ctx.facts, file)
            if r.path is None:
                shown = f"{file}: {r.why}"
            elif r.fact.exists:
                shown = ctx.shown(r.fact)
            else:
                shown = f"{file}: absent" + (" (optional)" if optional else "")
            evidence.append(f"{named}: {shown}")
            found = unitfiles.others_could_change(ctx.facts, r, allowed)
            add([f"{named}: {p}" + (f"; {root_part}" if root_part else "") for p in found])
    paths = [*unit.files, *(p for _, p, _ in unitfiles.environment_files(unit))]
    return verdict(problems, "root alone can change the unit, its drop-ins and the environment files they name",
                   "another account can change what ncs.service's commands are started with", evidence, paths)


# --- the running NSO ---------------------------------------------------------------------------

@record(frozen=True)
class NsoProcess:
    """A running process of an NSO binary: its ids and capabilities."""
    pid: int
    command: str  # the NSO binary it runs (under INSTALL_DIR)
    uids: tuple[int, int, int]  # real, effective, saved
    effective: frozenset[str]  # capabilities
    permitted: frozenset[str]


def _caps(mask: int) -> frozenset[str]:
    return frozenset(f"cap_{NAMES[b]}" if b < len(NAMES) else f"cap_{b}" for b in range(64) if mask >> b & 1)


def nso_processes(ctx) -> list[NsoProcess]:
    """The NSO daemons running from this install (their binary or argv[0] under INSTALL_DIR)."""
    prefixes = [d.rstrip("/") + "/" for d in (ctx.spec.install_dir, ctx.inst.real_dir) if d]
    return [NsoProcess(pid, hit, tuple(uids), _caps(eff), _caps(prm))
            for pid, hit, uids, eff, prm in nso_daemons(prefixes)]


def _running(ctx):
    if ctx.target.staged:
        return None, skipped("a staging root (--root): no NSO runs from it")
    procs = nso_processes(ctx)
    if not procs:
        return None, skipped(f"NSO is not running from {ctx.spec.install_dir}")
    return procs, None


@check("NSO-PROC-001", "The running NSO runs as its intended non-root account", "critical",
       "Stop NSO and start it through its service (systemctl start ncs), which runs it as the run-as user; "
       "never start the daemon as root by hand.",
       "NSO Secure Deployment guidance (6.5): run NSO as non-root")
def process_user(ctx):
    procs, skip = _running(ctx)
    if skip:
        return skip
    want = ctx.user_uid if ctx.intent.run_as_user else None
    problems, evidence = [], []
    for p in procs:
        names = "/".join(ctx.user(u) for u in p.uids)
        evidence.append(f"pid {p.pid} {p.command}: uids {names} (real/effective/saved)")
        if 0 in p.uids:
            problems.append(f"pid {p.pid} runs as root")
        elif want is not None and set(p.uids) != {want}:
            problems.append(f"pid {p.pid} runs as {names}, not {ctx.intent.run_as_user}")
    if want is None and not problems:
        problems.append("no run-as user is intended (see NSO-USER-001)")
    return verdict(problems, f"NSO runs as {ctx.intent.run_as_user}", "NSO runs as root or another account",
                   evidence, [ctx.spec.install_dir])


ALLOWED_CAPS = frozenset({"cap_net_bind_service"})


@check("NSO-PROC-002", "The running NSO holds no capability but cap_net_bind_service", "high",
       "Start NSO through its unit as the run-as user; remove AmbientCapabilities/CapabilityBoundingSet grants "
       "beyond CAP_NET_BIND_SERVICE, and file capabilities beyond those NSO-PRIV-002 lists.",
       "NSO installer's --run-as-user privileges (G-INST): only cap_net_bind_service for "
       "the daemon (ip and arping are separate helpers)")
def process_caps(ctx):
    procs, skip = _running(ctx)
    if skip:
        return skip
    problems, evidence = [], []
    for p in procs:
        extra = sorted((p.effective | p.permitted) - ALLOWED_CAPS)
        evidence.append(f"pid {p.pid}: effective {', '.join(sorted(p.effective)) or 'none'}; permitted "
                        f"{', '.join(sorted(p.permitted)) or 'none'}")
        if extra:
            shown = ", ".join(extra[:6]) + (f" and {len(extra) - 6} more" if len(extra) > 6 else "")
            problems.append(f"pid {p.pid} holds {shown}")
    return verdict(problems, "no capability beyond cap_net_bind_service", "NSO holds capabilities it does not need",
                   evidence, [ctx.spec.install_dir])
