#!/bin/sh
# Entrypoint of the NSO image of examples/container (README.md there).
#
#   ncs [NCS OPTIONS]  (default) prepare this container as root, then run NSO in the foreground
#                      as $NSO_RUN_AS_USER (NSO becomes this process: exec, no shell left behind)
#   prepare            only prepare (an init container, or a check), then exit
#   anything else      run it as it is, unprepared (a shell for debugging)
#
# Environment: NSO_RUN_AS_USER (from the image), NCS_RELOAD_PACKAGES=true|force (one start
# with package reload, as in ncs.systemd.conf), NSO_INSTALL_START_ARGS (more options for the
# re-run of the install below, e.g. "--crypto-keys /run/secrets/ncs.crypto_keys").
set -eu

NSO_RUN_AS_USER=${NSO_RUN_AS_USER:-nso}
NCS_INSTALL_DIR=${NCS_INSTALL_DIR:-/opt/ncs}
PROFILE=/etc/profile.d/ncs.sh

say() { printf 'nso-entrypoint: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

prepare() {
    [ "$(id -u)" = 0 ] || die "must start as root: it prepares the container, then runs NSO as $NSO_RUN_AS_USER"
    # The container-start run (--secrets-only), with the installed tree as the distribution. It
    # creates what a new container lacks and changes nothing else (the options recorded when the
    # image was built still apply; on volumes prepared before, only what a tmpfs /run lost):
    #  - ncs.crypto_keys, ipc_access, the SSH host key and TLS key (the image was built with
    #    --skip-secrets), each generated once with its owner and mode, never replaced;
    #  - ncs.conf and the directories of CONFIG_DIR, RUN_DIR (aaa_init.xml, cdb/, state/...) and
    #    LOG_DIR when a volume mounted there is empty;
    #  - /run/ncs, the IPC socket's directory, when /run is a tmpfs.
    # The install tree, accounts, privileges and profile scripts are the image's: not touched.
    # shellcheck disable=SC2086  # NSO_INSTALL_START_ARGS: words on purpose
    env -u PYTHONPATH nso-install install "$NCS_INSTALL_DIR/current" --system-install \
        --run-as-user "$NSO_RUN_AS_USER" --ignore-init-scripts --secrets-only ${NSO_INSTALL_START_ARGS:-} -q \
        || die "nso-install could not prepare this container (output above)"

    # The environment nso-install rendered for NSO's clients. `docker exec` runs no login shell,
    # so the image's ENV must carry the same values: say so when they differ.
    [ -r "$PROFILE" ] || die "$PROFILE is missing after the install"
    image_env=$(env | grep -E '^NCS_(DIR|CONFIG_DIR|RUN_DIR|LOG_DIR|IPC_PATH|IPC_ADDR|IPC_PORT)=' | sort || true)
    # shellcheck disable=SC1090
    . "$PROFILE"
    rendered=$(env | grep -E '^NCS_(DIR|CONFIG_DIR|RUN_DIR|LOG_DIR|IPC_PATH|IPC_ADDR|IPC_PORT)=' | sort || true)
    if [ "$image_env" != "$rendered" ]; then
        say "WARNING: the image's ENV differs from $PROFILE; \`docker exec\` clients will not find NSO."
        say "  image ENV: $(echo $image_env)"
        say "  rendered:  $(echo $rendered)   (set these with ENV in the Dockerfile)"
    fi
    [ -f "$NCS_CONFIG_DIR/ncs.conf" ] || die "$NCS_CONFIG_DIR/ncs.conf is missing after the install"
}

run_ncs() {
    case "${NCS_RELOAD_PACKAGES:-}" in
        true) reload=--with-package-reload ;;
        force) reload=--with-package-reload-force ;;
        ''|false) reload= ;;
        *) die "NCS_RELOAD_PACKAGES=$NCS_RELOAD_PACKAGES: use true, force or false" ;;
    esac
    cd "$NCS_RUN_DIR"
    umask 027
    # setpriv, not su/runuser: no PAM session and no parent process left behind, NSO is this
    # process. The uid switch as root drops every capability; NSO regains only what its files
    # carry (cap_net_bind_service on ncs.smp, the setuid epam), which is why no_new_privs must
    # stay off (README.md). --inh-caps=-all: nothing is inherited across the exec either.
    exec setpriv --reuid="$NSO_RUN_AS_USER" --regid="$NSO_RUN_AS_USER" --init-groups --inh-caps=-all \
        env HOME="$NCS_RUN_DIR" USER="$NSO_RUN_AS_USER" LOGNAME="$NSO_RUN_AS_USER" \
        "$NCS_DIR/bin/ncs" --foreground -c "$NCS_CONFIG_DIR/ncs.conf" ${reload:+"$reload"} "$@"
}

case "${1:-ncs}" in
    ncs)
        [ "$#" -gt 0 ] && shift  # what follows `ncs` goes to NSO as it is
        prepare
        run_ncs "$@"
        ;;
    prepare)
        prepare
        ;;
    *)
        exec "$@"
        ;;
esac
