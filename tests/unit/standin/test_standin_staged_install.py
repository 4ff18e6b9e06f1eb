"""What nso-install writes starts the stand-in: a production system install staged under --root
(NSO as root here; the run-as user and the service scripts are the integration tests')."""

import os
import subprocess
import tempfile

import pytest

from support import install_json

from standin_support import PATH, free_ports

V = "6.5.3"


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_a_staged_production_install_starts(tmp_path, sample_dists, transport):
    root = tmp_path / "root"
    webui, ipc_port = free_ports(2)
    extra = ["--set", f"ipc.transport={transport}", "--set", f"ipc.port={ipc_port}"] if transport == "tcp" else []
    install_json(sample_dists["tar.gz"], root, "--system-install", "--set", f"webui.ssl.port={webui}", *extra)
    sock_dir = tempfile.mkdtemp(prefix="standin-", dir="/tmp")  # /run/ncs is the host's: the socket goes here
    env = {"PATH": PATH, "NCS_DIR": f"{root}/opt/ncs/current", "NCS_CONFIG_DIR": f"{root}/etc/ncs",
           "NCS_RUN_DIR": f"{root}/var/opt/ncs", "NCS_LOG_DIR": f"{root}/var/log/ncs"}
    client = env | ({"NCS_IPC_PATH": f"{sock_dir}/nso-ipc"} if transport == "unix" else
                    {"NCS_IPC_PORT": str(ipc_port), "NCS_IPC_ACCESS_FILE": f"{root}/etc/ncs/ipc_access"})
    ncs = f"{root}/opt/ncs/current/bin/ncs"

    def run(*argv, env=client, input=None):
        return subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True, timeout=30,
                              input=input, cwd=f"{root}/var/opt/ncs")
    try:
        start = run(ncs, "-c", f"{root}/etc/ncs/ncs.conf", env=client if transport == "unix" else env)
        assert start.returncode == 0, start.stderr
        status = run(ncs, "--status").stdout
        assert "status: started" in status and f"listener: webui-ssl 0.0.0.0:{webui}" in status
        cli = run(f"{root}/opt/ncs/current/bin/ncs_cli", "-C", input="show ncs-state version\n")
        assert cli.returncode == 0 and f"ncs-state version {V}" in cli.stdout, cli.stderr
        log = (root / "var/log/ncs/ncs.log").read_text()
        assert f"NCS started vsn: {V}" in log
        assert (root / "var/opt/ncs/cdb/A.cdb").exists()  # CDB initialised from aaa_init.xml
    finally:
        run(ncs, "--stop")
        os.rmdir(sock_dir) if not os.listdir(sock_dir) else None
