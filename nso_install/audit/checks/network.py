"""``NSO-NET``: the northbound listeners that run and where they listen."""

from __future__ import annotations

import ipaddress

from ..model import verdict
from ..registry import check


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _where(ip: str, port: str) -> str:
    shown = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    if ip in ("0.0.0.0", "::"):
        return f"{shown} (every address)"
    return shown + (" (loopback)" if _loopback(ip) else "")


@check("NSO-NET-001", "Unencrypted northbound listeners (HTTP, NETCONF over TCP) listen on loopback only", "high",
       "Turn the listener off (--set webui.tcp.enabled=false, --set netconf.tcp.enabled=false) or bind it to "
       "127.0.0.1, extra-listen and ha-primary-listen entries included; reach NSO remotely over HTTPS or SSH.",
       "NSO Secure Deployment guidance (6.5): disable unused interfaces, HTTPS only; "
       "plain HTTP and NETCONF over TCP carry credentials unencrypted")
def listeners(ctx):
    if ctx.conf.root is None:
        return ctx.conf_unreadable()
    problems, evidence = [], []
    for lst in ctx.conf.listeners():
        if not lst.enabled:
            continue
        # (ha-primary-listen: the node listens there too whenever it is the HA primary)
        shown = [(ip, _where(ip, port)) for ip, port in lst.addresses] + \
            [(ip, _where(ip, port) + " (while HA primary)") for ip, port in lst.ha_addresses]
        evidence.append(f"{lst.name}: {', '.join(s for _, s in shown)}")
        if lst.plaintext:
            off_host = [s for ip, s in shown if not _loopback(ip)]
            if off_host:
                problems.append(f"{lst.name} (unencrypted) listens on {', '.join(off_host)}")
    for lst in ctx.conf.listeners():  # a switch or address written twice with different values: either may hold
        problems += ctx.conf.conflicts([f"{lst.element}/enabled", f"{lst.element}/ip", f"{lst.element}/port"])
    if not evidence:
        evidence.append("no northbound listener is on (IPC only)")
    return verdict(problems, "; ".join(evidence), "an unencrypted listener is reachable from other hosts", evidence,
                   [ctx.conf_path])
