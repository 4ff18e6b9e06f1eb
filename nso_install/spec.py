"""The install spec: every option of an install in one immutable object, and where it came from.

Built and validated here and nowhere else (:func:`resolve`): the command line (or any other
caller) only says what it was given (:class:`SpecInput`).  Every cross-option rule lives in
this module.

**Remembered.**  After a successful run the effective spec is recorded in the state file (no
secret values).  On the next run an option that is not given takes its recorded value, not
the built-in default, like debconf remembering answers; ``--reset-options`` starts from the
defaults again.  Each setting carries its source (flag, values file, ``--set``, recorded,
default) and the run shows what changed against the recorded spec.

**Withdrawing hardening needs words.**  Dropping the run-as user, going from the production
to the development profile, leaving FIPS, or turning the IPC access check off must be asked
for explicitly (``--no-run-as-user``, ``--profile development``, ``--no-fips-install``,
``--set ipc.access_check=false``); a reset or a changed values file alone is refused.  What
the old setting granted is then withdrawn by the plan (:mod:`nso_install.plan`).
"""

from __future__ import annotations

from dataclasses import field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from .errors import UsageError, require_one_of
from .record import record
from .secret import Secret
from .target import check_shell_safe, normalize

SPEC_FORMAT = 1
KINDS = ("system", "local")
INIT_SYSTEMS = ("systemd", "sysv", "none")
PROFILES = ("production", "development")
SECRETS_MODES = ("all", "skip", "only")
DIR_FIELDS = ("install_dir", "config_dir", "run_dir", "log_dir")
# What a local install has no use for (its one directory holds everything; no account, no service,
# no privileged binaries): never shown for one, as if the system install's defaults applied.
LOCAL_UNUSED = (*DIR_FIELDS, "run_as_user", "setuid_cmdwrapper", "init_system", "keep_ncs_setup")
DEFAULT_DIRS = {"install_dir": "/opt/ncs", "config_dir": "/etc/ncs", "run_dir": "/var/opt/ncs",
                "log_dir": "/var/log/ncs"}

# Sources, as shown to the operator.
FLAG, RECORDED, DEFAULT, FOUND = "flag", "recorded", "default", "found on the target"


@record(frozen=True)
class Option:
    """One remembered setting: its spec field, how it is shown, and its flags."""

    field: str
    label: str
    flag: str  # the option that sets it
    off_flag: str | None = None  # the option that explicitly withdraws it (hardening settings)


# The remembered settings, in the order they are shown.  ncs.conf values come after them.
OPTIONS = (
    Option("install_dir", "install-dir", "--install-dir"),
    Option("config_dir", "config-dir", "--config-dir"),
    Option("run_dir", "run-dir", "--run-dir"),
    Option("log_dir", "log-dir", "--log-dir"),
    Option("run_as_user", "run-as-user", "--run-as-user", off_flag="--no-run-as-user"),
    Option("setuid_cmdwrapper", "setuid-cmdwrapper", "--setuid-cmdwrapper", off_flag="--no-setuid-cmdwrapper"),
    Option("keep_ncs_setup", "keep-ncs-setup", "--keep-ncs-setup", off_flag="--no-keep-ncs-setup"),
    Option("init_system", "init-system", "--init-system"),
    Option("fips_install", "fips-install", "--fips-install", off_flag="--no-fips-install"),
    Option("profile", "profile", "--profile"),
)
OPTION_BY_FIELD = {o.field: o for o in OPTIONS}


@record(frozen=True)
class InstallSpec:
    """Everything one install run does.  Paths are target paths (as NSO sees them)."""

    kind: str = "system"
    local_dir: str | None = None
    install_dir: str = DEFAULT_DIRS["install_dir"]
    config_dir: str = DEFAULT_DIRS["config_dir"]
    run_dir: str = DEFAULT_DIRS["run_dir"]
    log_dir: str = DEFAULT_DIRS["log_dir"]
    run_as_user: str | None = None
    setuid_cmdwrapper: bool = False
    keep_ncs_setup: bool = False
    init_system: str = "systemd"
    fips_install: bool = False
    profile: str = "production"
    # ncs.conf variables the operator set (flat: name -> value); profile defaults are not here.
    values: tuple[tuple[str, Any], ...] = ()
    # This run only (never recorded):
    activate: bool = False
    secrets: str = "all"  # all | skip (image builds) | only (container start)
    force_conf: bool = False
    crypto_keys: Secret | None = None  # --crypto-keys FILE, already read
    secret_values: tuple[tuple[str, Secret], ...] = ()  # secret ncs.conf variables, never recorded

    @property
    def system(self) -> bool:
        return self.kind == "system"

    @property
    def state_path(self) -> str:
        return state_path(self.kind, self.local_dir)

    @property
    def ipc_users(self) -> tuple[str, ...]:
        """Accounts granted IPC access (``--ipc-user``, ``ipc.users``)."""
        from .conf.values import account_names

        return account_names(dict(self.values).get("ipc.users"))

    @property
    def ipc_groups(self) -> tuple[str, ...]:
        """Groups whose members are granted IPC access (``--ipc-group``, ``ipc.groups``)."""
        from .conf.values import account_names

        return account_names(dict(self.values).get("ipc.groups"))

    def conf_values(self) -> dict:
        """Nested ncs.conf values (secrets included) for :mod:`nso_install.conf`."""
        from .conf.values import nest

        return nest({**dict(self.values), **{k: v.reveal().decode() for k, v in self.secret_values}})

    def record(self) -> dict:
        """What is remembered for the next run (no secret values, no per-run options)."""
        return {"format": SPEC_FORMAT, "kind": self.kind,
                **{o.field: getattr(self, o.field) for o in OPTIONS},
                "values": dict(self.values),
                "secret_names": [k for k, _ in self.secret_values]}


def state_path(kind: str, local_dir: str | None) -> str:
    return "/var/lib/nso-install/state.json" if kind == "system" else f"{local_dir}/.nso-install/state.json"


@record
class SpecInput:
    """What the caller was given this run; ``None`` / absent means "not given"."""

    kind: str | None = None
    local_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # Option.field -> value given on the command line
    values_files: Sequence[Path] = ()
    sets: Sequence[str] = ()  # NAME=VALUE
    set_files: Sequence[str] = ()  # NAME=PATH: a secret value read from a file
    unsets: Sequence[str] = ()  # NAME: back to the profile's default
    reset: bool = False  # --reset-options: start from the defaults, not the recorded spec
    activate: bool = False
    secrets: str = "all"
    force_conf: bool = False
    crypto_keys: Secret | None = None
    crypto_keys_file: str | None = None  # for messages
    # IPC grants from the command line: variable ("ipc.users", "ipc.groups") -> (names, option);
    # names () withdraws them (--no-ipc-user, --no-ipc-group).  They win over values files and --set.
    grants: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)


@record(frozen=True)
class Setting:
    """One setting of the effective spec, for the plan's header and the JSON."""

    name: str  # label ("run-as-user") or ncs.conf variable ("cli.ssh.enabled")
    value: Any
    source: str
    previous: Any = None
    changed: bool = False

    def as_dict(self) -> dict:
        d = {"name": self.name, "value": self.value, "source": self.source}
        if self.changed:
            d["previous"] = self.previous
        return d


@record(frozen=True)
class Resolution:
    """The effective install spec, each setting with where it came from, and the previous spec."""
    spec: InstallSpec
    settings: tuple[Setting, ...]
    previous: InstallSpec | None  # the spec the target was last installed with (recorded or found)
    warnings: tuple[str, ...] = ()  # about the inputs: values files others could have written

    @property
    def changes(self) -> list[Setting]:
        return [s for s in self.settings if s.changed]

    def as_dict(self) -> dict:
        return {"settings": [s.as_dict() for s in self.settings], "changed": [s.name for s in self.changes]}


# --- options of a run that are not part of the spec ---------------------------------------------

def check_run_flags(*, skip_secrets: bool = False, secrets_only: bool = False, quiet: bool = False,
                    verbose: int = 0) -> str:
    """The rules between options that shape a run but are not remembered (which secrets,
    output); returns the secrets mode (``all``, ``skip`` or ``only``).  (--lock-timeout's
    values are click's: cli.common.LOCK_TIMEOUT_OPTION.)"""
    if skip_secrets and secrets_only:
        raise UsageError("conflicting-options", "--skip-secrets and --secrets-only exclude each other: one leaves "
                         "the keys out, the other does nothing but the keys.",
                         "Image build: --skip-secrets; container start: --secrets-only. Give one of them.")
    if quiet and verbose:
        raise UsageError("conflicting-options", "-q/--quiet and -v/--verbose exclude each other.",
                         "Give -q for only the summary line, or -v for every action and setting.")
    return "skip" if skip_secrets else "only" if secrets_only else "all"


# --- building ------------------------------------------------------------------------------

def _default_profile(kind: str) -> str:
    return "production" if kind == "system" else "development"


def from_record(record: dict | None) -> InstallSpec | None:
    """The spec a state file recorded, or None when there is none or it cannot be used."""
    if not isinstance(record, dict) or record.get("format") != SPEC_FORMAT or record.get("kind") not in KINDS:
        return None
    kw: dict[str, Any] = {"kind": record["kind"]}
    for o in OPTIONS:
        if o.field in record:
            value = record[o.field]
            expected = bool if isinstance(getattr(InstallSpec, o.field), bool) else str
            if not (isinstance(value, expected) or (value is None and o.field == "run_as_user")):
                return None  # a damaged record: start from the defaults (withdrawals still need words)
            kw[o.field] = value
    values = record.get("values", {})
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        return None
    kw["values"] = tuple(sorted(values.items()))
    try:
        return InstallSpec(**kw)
    except TypeError:
        return None


def resolve(given: SpecInput, recorded: dict | None = None, found: dict[str, Any] | None = None) -> Resolution:
    """The effective spec: given > recorded (unless ``reset``) > default, validated.

    ``found``: settings observed on a target that has no recorded spec (an install by an
    older nso-install or by NSO's own installer), e.g. ``{"run_as_user": "nso"}`` from the
    run directory's owner; they count as the previous spec for the withdrawal rules."""
    from .conf.values import read_values, secret_variables

    kind = _check_kind(given)
    previous = from_record(recorded)
    if previous is not None and previous.kind != kind:
        previous = None  # a local install's record never describes a system install
    base = previous if previous is not None and not given.reset else None
    default = InstallSpec(kind=kind, local_dir=given.local_dir, profile=_default_profile(kind))

    kw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for o in OPTIONS:
        if o.field in given.options:
            kw[o.field], sources[o.field] = given.options[o.field], FLAG
        elif base is not None:
            kw[o.field], sources[o.field] = getattr(base, o.field), RECORDED
        else:
            kw[o.field], sources[o.field] = getattr(default, o.field), DEFAULT

    if kw["run_as_user"] is None and kw["setuid_cmdwrapper"] and sources["setuid_cmdwrapper"] == RECORDED:
        # a grant that only exists with a run-as user goes with it
        kw["setuid_cmdwrapper"], sources["setuid_cmdwrapper"] = False, "withdrawn with run-as-user"

    # ncs.conf values: recorded overrides, then values files, then --set; --unset drops one.
    values: dict[str, Any] = dict(base.values) if base is not None else {}
    vsources: dict[str, str] = {k: RECORDED for k in values}
    warnings: list[str] = []
    loaded = read_values(given.values_files, given.sets, given.set_files, warnings)
    for name, (value, source) in loaded.items():
        values[name], vsources[name] = value, source
    for name, (names, option) in given.grants.items():
        _check_grant_flag(names, option)
        if names:
            values[name], vsources[name] = ",".join(names), option
        else:
            values.pop(name, None)
            vsources[name] = option
    for name in GRANT_VARIABLES:  # one canonical text "a,b" (sorted, unique), so re-runs compare equal
        if name in values:
            from .conf.values import _coerce_names
            from .conf.variables import VARIABLES

            canonical = _coerce_names(VARIABLES[name], values[name]) if values[name] is not None else None
            if canonical is None:
                values.pop(name)
            else:
                values[name] = canonical
    for name in given.unsets:
        _known_variable(name, "--unset")
        values.pop(name, None)
        vsources[name] = "--unset"
    secret_names = secret_variables()
    secret_values = tuple(sorted((k, Secret(str(values.pop(k)))) for k in list(values)
                                 if k in secret_names and values.get(k) is not None))
    for k in secret_names:
        values.pop(k, None)

    spec = InstallSpec(kind=kind, local_dir=given.local_dir, values=tuple(sorted(values.items())),
                       activate=given.activate, secrets=given.secrets, force_conf=given.force_conf,
                       crypto_keys=given.crypto_keys, secret_values=secret_values, **kw)
    spec = _validated(spec, given)

    if previous is None and found:
        previous = replace(default, **found)
    settings = _settings(spec, previous, sources, vsources, given.reset)
    _check_withdrawals(spec, previous, sources, vsources, given)
    _check_secret_values_given(spec, None if given.reset else recorded, given.unsets)
    return Resolution(spec, tuple(settings), previous, tuple(warnings))


def _check_kind(given: SpecInput) -> str:
    if given.kind not in KINDS:
        raise UsageError("no-install-kind", "neither --system-install nor a local install directory was given.",
                         "Pass --system-install, or --local-install DIR.")
    if given.kind == "local" and not given.local_dir:
        raise UsageError("no-install-kind", "a local install needs its directory.", "Pass --local-install DIR.")
    return given.kind


def _known_variable(name: str, where: str) -> None:
    from .conf.values import unknown_variable
    from .conf.variables import VARIABLES

    if name not in VARIABLES:
        raise unknown_variable(name, where)


GRANT_VARIABLES = ("ipc.users", "ipc.groups")
GRANT_HINT = ("Give the accounts again (--ipc-user/--ipc-group, or ipc.users/ipc.groups in a values file), or "
              "withdraw the grants with --no-ipc-user / --no-ipc-group.")


def _check_grant_flag(names: tuple[str, ...], option: str) -> None:
    from .conf.values import ACCOUNT_NAME

    for name in names:
        if not isinstance(name, str) or not ACCOUNT_NAME.fullmatch(name):
            what = "group" if "group" in option else "user"
            raise UsageError(f"bad-ipc-{what}", f"{option} {name!r} is not an account {what} name.",
                             f"Name an existing {what} of the target: letters, digits, '_', '.', '-' (at most 32, "
                             "not all digits).")


def _check_grants(spec: InstallSpec) -> None:
    """IPC grants: who may use NSO's Unix socket besides root and NSO's own account
    (docs/security.md, "IPC access for operators").  The accounts themselves are looked up
    on the target by the plan (:mod:`nso_install.access`)."""
    users, groups = spec.ipc_users, spec.ipc_groups
    if not (users or groups):
        return
    if spec.kind == "local":
        raise UsageError("system-only-option", "IPC grants (--ipc-user, --ipc-group, ipc.users, ipc.groups) apply "
                         "to system installs only.", "A local install belongs to the one account that runs it; "
                         "drop the grants.")
    if "root" in users:
        raise UsageError("ipc-user-is-root", "--ipc-user root: NSO admits root on its IPC socket without any entry.",
                         "Leave root out of the IPC grants.")
    if spec.run_as_user and spec.run_as_user in users:
        raise UsageError("ipc-user-is-run-as-user", f"--ipc-user {spec.run_as_user}: NSO's own account "
                         "(--run-as-user) is always admitted on its IPC socket.",
                         f"Leave {spec.run_as_user} out of the IPC grants.")


def _validated(spec: InstallSpec, given: SpecInput) -> InstallSpec:
    """Every rule that combines options, with the message naming the options."""
    local = spec.kind == "local"
    if local:
        for name in DIR_FIELDS:
            if name in given.options:
                raise UsageError("system-only-option", f"--{name.replace('_', '-')} applies to system installs only.",
                                 "Drop it for a local install (everything goes into the one directory).")
        for name, flag in (("run_as_user", "--run-as-user"), ("init_system", "--init-system")):
            if given.options.get(name) is not None and name in given.options:
                raise UsageError("system-only-option", f"{flag} applies to system installs only.",
                                 "Drop it, or use --system-install.")
        if spec.crypto_keys is not None:
            raise UsageError("system-only-option", "--crypto-keys applies to system installs only.",
                             "Drop it: a local install makes its own keys, in ncs.conf (development profile) or in "
                             "DIR/etc/ncs/ncs.crypto_keys (production profile), and never replaces them.")
        if spec.activate:
            raise UsageError("system-only-option", "--activate applies to system installs only.",
                             "A local install has one version in its directory; drop --activate.")
    require_one_of(spec.profile, PROFILES, "bad-profile", "profile", "Use --profile production or --profile development.")
    require_one_of(spec.init_system, INIT_SYSTEMS, "bad-init-system", "--init-system", "Use systemd, sysv or none.")
    require_one_of(spec.secrets, SECRETS_MODES, "bad-secrets-mode", "secrets mode", "Use all, skip or only.")
    if spec.run_as_user is not None:
        from .actions.accounts import validate_name

        if spec.run_as_user == "root":
            raise UsageError("run-as-user-is-root", "--run-as-user root is the default (NSO runs as root).",
                             "Leave the option out, or name an unprivileged account.")
        validate_name(spec.run_as_user, "user")
    _check_grants(spec)
    if spec.setuid_cmdwrapper and not spec.run_as_user:
        raise UsageError("setuid-needs-run-as-user",
                         "--setuid-cmdwrapper only matters with --run-as-user (NSO running as root already "
                         "runs action programs as root).", "Add --run-as-user USER, or drop the option.")
    if spec.crypto_keys is not None and spec.secrets == "skip":
        raise UsageError("conflicting-options", "--crypto-keys and --skip-secrets exclude each other.",
                         "Import the keys where the secrets are created (with --secrets-only).")
    paths = {}
    for name in (*DIR_FIELDS, "local_dir"):
        value = getattr(spec, name)
        if value is None or (local and name != "local_dir") or (not local and name == "local_dir"):
            continue
        flag = "--local-install" if name == "local_dir" else f"--{name.replace('_', '-')}"
        try:
            p = normalize(value)
        except UsageError as e:  # say which option the path came from
            raise UsageError(e.reference, f"{flag}: {e.message}", e.hint) from None
        if p == PurePosixPath("/"):
            raise UsageError("root-dir", f"{flag} cannot be '/'.", "Give a dedicated directory.")
        check_shell_safe(flag, str(p))
        if ":" in str(p) and name in ("install_dir", "local_dir"):
            # NCS_DIR/bin, /man and /src/ncs/pyapi are put in front of PATH, MANPATH and
            # PYTHONPATH (ncsrc, profile.d, the unit's PATH): a ':' splits the entry, leaving a
            # relative one (commands and Python modules then found below the working directory)
            raise UsageError("unsafe-path-characters",
                             f"{flag} {str(p)!r}: the path contains ':', which separates the entries of PATH, "
                             "MANPATH and PYTHONPATH: NSO's bin/ would not be found, and the part after the ':' "
                             "would become a relative entry (commands and Python modules then found below "
                             "whatever the working directory is).",
                             "Use a path without ':' (ASCII letters, digits and . _ + @ , = / - only).")
        paths[name] = p
    _check_overlaps(paths)
    _check_system_dirs(paths)
    return replace(spec, **{k: str(v) for k, v in paths.items()})


# Directories of the OS: an install must never take one over (its owner, mode and content
# would follow the spec, e.g. --config-dir /etc giving /etc/ssh's host key to the NSO account).
SYSTEM_DIRS = frozenset(map(PurePosixPath, (
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local",
    "/usr/sbin", "/usr/share", "/var", "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/log",
    "/var/mail", "/var/opt", "/var/run", "/var/spool", "/var/tmp")))
# What nso-install keeps or writes besides the four directories: none of them may be one of
# these, contain one or lie inside one.
RESERVED_DIRS = tuple(map(PurePosixPath, ("/var/lib/nso-install", "/run/ncs", "/etc/profile.d", "/etc/systemd",
                                          "/etc/init.d", "/etc/logrotate.d", "/etc/tmpfiles.d")))


def check_real_directories(real: dict[str, PurePosixPath]) -> None:
    """The directory rules again for where the directories really are (any of them, or a
    directory above, may be a root-owned symbolic link): a link must not lead into the
    operating system's directories or make two of them overlap."""
    _check_overlaps(real)
    _check_system_dirs(real)


def _check_system_dirs(paths: dict[str, PurePosixPath]) -> None:
    for name, p in paths.items():
        flag = "--local-install" if name == "local_dir" else f"--{name.replace('_', '-')}"
        if p in SYSTEM_DIRS:
            raise UsageError("system-directory", f"{flag} {p} is a directory of the operating system; an install "
                             "would take over its owner, mode and content.",
                             "Give a directory of NSO's own (the defaults: /opt/ncs, /etc/ncs, /var/opt/ncs, "
                             "/var/log/ncs).")
        for r in RESERVED_DIRS:
            if p == r or p.is_relative_to(r) or r.is_relative_to(p):
                raise UsageError("reserved-directory", f"{flag} {p} {'is' if p == r else 'overlaps'} {r}, which "
                                 "nso-install keeps or writes itself.",
                                 "Give a directory of NSO's own (the defaults: /opt/ncs, /etc/ncs, /var/opt/ncs, "
                                 "/var/log/ncs).")


def _check_overlaps(paths: dict[str, PurePosixPath]) -> None:
    """Install, config, run and log directories must be apart: nested directories would give
    one owner's files to another (the NSO account owns the run and log directories)."""
    items = [(n, p) for n, p in paths.items() if n in DIR_FIELDS]
    for i, (a, pa) in enumerate(items):
        for b, pb in items[i + 1:]:
            if pa == pb or pa.is_relative_to(pb) or pb.is_relative_to(pa):
                if pb.is_relative_to(pa) and pa != pb:  # name the inner one first
                    (a, pa), (b, pb) = (b, pb), (a, pa)
                how = "is the same directory as" if pa == pb else "is inside"
                raise UsageError("overlapping-directories",
                                 f"--{a.replace('_', '-')} {pa} {how} --{b.replace('_', '-')} {pb}.",
                                 "Give the install, config, run and log directories separate places, none inside "
                                 "another (NSO's defaults: /opt/ncs, /etc/ncs, /var/opt/ncs, /var/log/ncs).")


def _settings(spec: InstallSpec, previous: InstallSpec | None, sources: dict[str, str],
              vsources: dict[str, str], reset: bool) -> list[Setting]:
    out = []
    for o in OPTIONS:
        if spec.kind == "local" and o.field in LOCAL_UNUSED:
            continue
        value = getattr(spec, o.field)
        before = getattr(previous, o.field) if previous is not None else None
        changed = previous is not None and before != value
        source = sources[o.field] + (" (--reset-options)" if reset and sources[o.field] == DEFAULT else "")
        out.append(Setting(o.label, value, source, before, changed))
    now, then = dict(spec.values), dict(previous.values) if previous is not None else {}
    for name in sorted(set(now) | set(then) | {k for k, _ in spec.secret_values}):
        if any(k == name for k, _ in spec.secret_values):
            out.append(Setting(name, "<secret>", vsources.get(name, "given")))
            continue
        unset = "(none)" if name in GRANT_VARIABLES else "(profile default)"
        value = now.get(name, unset)
        before = then.get(name, unset)
        source = vsources.get(name, DEFAULT + (" (--reset-options)" if reset else ""))
        out.append(Setting(name, value, source, before, previous is not None and before != value))
    return out


# --- withdrawing hardening -------------------------------------------------------------------

def _explicit(source: str) -> bool:
    return source not in (RECORDED, DEFAULT)


def _check_withdrawals(spec: InstallSpec, previous: InstallSpec | None, sources: dict[str, str],
                       vsources: dict[str, str], given: SpecInput) -> None:
    if previous is None:
        return
    why = None
    if previous.run_as_user and not spec.run_as_user and not _explicit(sources["run_as_user"]):
        why = (f"would stop running NSO as {previous.run_as_user} (NSO would run as root)", "--no-run-as-user")
    elif previous.profile == "production" and spec.profile == "development" and not _explicit(sources["profile"]):
        why = ("would switch ncs.conf from the production to the development profile", "--profile development")
    elif previous.fips_install and not spec.fips_install and not _explicit(sources["fips_install"]):
        why = ("would leave FIPS mode", "--no-fips-install")
    else:
        before, now = dict(previous.values).get("ipc.access_check"), dict(spec.values).get("ipc.access_check")
        if before is True and now is not True and not _explicit(vsources.get("ipc.access_check", DEFAULT)):
            why = ("would turn the IPC access check off", "--set ipc.access_check=false")
    if why:
        cause = "--reset-options" if given.reset else "the options given"
        raise UsageError("withdrawal-needs-confirmation",
                         f"{cause} {why[0]}; withdrawing a hardening setting must be asked for explicitly.",
                         f"Add {why[1]} to withdraw it (everything it granted is withdrawn too), or keep it "
                         "by giving the setting again.")


def _check_secret_values_given(spec: InstallSpec, recorded: dict | None, unsets: Sequence[str]) -> None:
    """Secret ncs.conf values (inline keys) are never recorded, only their names: a re-run
    must be given them again, or it would silently fall back to other keys (and CDB's
    encrypted strings would no longer decrypt)."""
    if not isinstance(recorded, dict):
        return
    given = {k for k, _ in spec.secret_values}
    missing = [k for k in recorded.get("secret_names", []) if isinstance(k, str) and k not in given and k not in unsets]
    if missing:
        raise UsageError("secret-values-not-recorded",
                         f"the last run was given {' and '.join(missing)}, and secret values are never recorded.",
                         "Give them again with --values FILE or --set-file NAME=PATH (or --unset NAME to go back "
                         "to the profile's default, which changes the keys CDB's encrypted strings need).")
