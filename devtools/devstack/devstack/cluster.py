"""A throwaway Kubernetes control plane on loopback, for the tests and `make run-kubernetes`.

etcd, kube-apiserver (RBAC, Pod Security admission), kube-controller-manager,
kube-scheduler and kwok (one simulated node whose pods go Running/Ready), built from the
pinned tool modules in ``tools/go/`` into ``.tools/k8s/`` (``make k8s-tools``). Everything
binds 127.0.0.1 on free ports; certificates come from openssl; the admin authenticates
with a random static token. :func:`up` starts it and writes ``<dir>/kubeconfig`` and
``<dir>/cluster.json`` (the process ids); :func:`down` stops it by those ids. Pod and
Service IPs are only data: nothing listens on them and no traffic leaves loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]
TOOLS = REPO / ".tools" / "k8s"
TOOL_MODULES = [REPO / "tools" / "go" / name for name in ("etcd", "kwok", "kubernetes")]
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# Stopped in this order: clients first, etcd last.
STOP_ORDER = ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
KWOK_STAGES = (
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
)
NODE_NAME = "kwok-node-0"
NODE_CAPACITY = {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "500Gi", "pods": "250"}
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"
# Daemons started by this process, so stopping them also reaps them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ClusterError(RuntimeError):
    """The control plane could not be started (the message names the part and its log)."""


@dataclass(frozen=True)
class Cluster:
    """A running control plane: where it is, how to authenticate, what to stop."""

    directory: Path
    server: str
    token: str
    ca_file: Path
    kubeconfig: Path
    pids: dict[str, int]

    def to_json(self) -> str:
        return json.dumps(
            {
                "server": self.server,
                "token": self.token,
                "ca_file": str(self.ca_file),
                "kubeconfig": str(self.kubeconfig),
                "pids": self.pids,
            },
            indent=1,
        )

    @classmethod
    def load(cls, directory: Path) -> Cluster:
        raw = json.loads((directory / "cluster.json").read_text(encoding="utf-8"))
        return cls(
            directory=directory,
            server=str(raw["server"]),
            token=str(raw["token"]),
            ca_file=Path(raw["ca_file"]),
            kubeconfig=Path(raw["kubeconfig"]),
            pids={str(k): int(v) for k, v in raw["pids"].items()},
        )

    def http(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for the API server (admin unless ``token`` is given)."""
        return httpx.Client(
            base_url=self.server,
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=10,
        )


def missing_binaries(bin_dir: Path = TOOLS / "bin") -> list[str]:
    """The control-plane binaries not built yet."""
    return [name for name in BINARIES if not (bin_dir / name).exists()]


def build_binaries(out: Path = TOOLS) -> None:
    """Build (or take from the cache outside the clone) the pinned binaries."""
    subprocess.run(
        [str(REPO / "scripts" / "go-tools.sh"), str(out), *map(str, TOOL_MODULES)], check=True
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(pki: Path) -> None:
    """A CA, the API server's serving certificate and the service-account key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "7",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=hosted-wasteland-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=pki,
    )  # fmt: skip
    (pki / "serving.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n",
        encoding="utf-8",
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "apiserver.key",
        "-out", "apiserver.csr", "-subj", "/CN=kube-apiserver",
        cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "7", "-out", "apiserver.crt", "-extfile", "serving.ext",
        cwd=pki,
    )  # fmt: skip
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def kubeconfig_yaml(server: str, ca_file: Path, token: str, *, user: str = "admin") -> str:
    """A kubeconfig (JSON is valid YAML) for ``server`` with a bearer ``token``."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "wasteland-test",
                    "cluster": {"server": server, "certificate-authority": str(ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": user, "context": {"cluster": "wasteland-test", "user": user}}],
            "current-context": user,
        },
        indent=1,
    )


def _start(name: str, argv: list[str], logs: Path) -> subprocess.Popen[bytes]:
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `devstack cluster up`; stopped by pid
        )
    _CHILDREN[proc.pid] = proc
    return proc


def _wait(what: str, probe: Any, deadline: float, procs: dict[str, subprocess.Popen[bytes]]) -> Any:
    """Poll ``probe`` (returns a truthy value when done) until ``deadline``; fail early
    when a daemon exits."""
    last_error = ""
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise ClusterError(f"{name} exited with code {proc.returncode} (see its log)")
        try:
            if result := probe():
                return result
        except (httpx.HTTPError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise ClusterError(f"timed out waiting for {what} {last_error}".strip())


def up(
    directory: Path,
    *,
    bin_dir: Path = TOOLS / "bin",
    share_dir: Path = TOOLS / "share" / "kwok",
    timeout: float = 90.0,
) -> Cluster:
    """Start the control plane with its state in ``directory``; returns once the API
    server is ready, the controllers run and the kwok node is Ready."""
    missing = missing_binaries(bin_dir)
    if missing:
        raise ClusterError(f"missing {', '.join(missing)} in {bin_dir}: run `make k8s-tools`")
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    pki, logs = directory / "pki", directory / "logs"
    _certificates(pki)
    token = secrets.token_urlsafe(32)
    tokens = directory / "tokens.csv"
    tokens.write_text(f"{token},admin,admin-uid,system:masters\n", encoding="utf-8")
    tokens.chmod(0o600)
    etcd_client, etcd_peer, api_port = _free_port(), _free_port(), _free_port()
    server = f"https://127.0.0.1:{api_port}"
    ca_file = pki / "ca.crt"
    kubeconfig = directory / "kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(server, ca_file, token), encoding="utf-8")
    kubeconfig.chmod(0o600)
    stages = directory / "kwok-stages.yaml"
    stages.write_text(
        "\n---\n".join((share_dir / name).read_text(encoding="utf-8") for name in KWOK_STAGES),
        encoding="utf-8",
    )
    bins = {name: str(bin_dir / name) for name in BINARIES}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    deadline = time.monotonic() + timeout
    try:
        procs["etcd"] = _start(
            "etcd",
            [
                bins["etcd"],
                "--name=wasteland-test",
                f"--data-dir={directory / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=wasteland-test=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            logs,
        )
        procs["kube-apiserver"] = _start(
            "kube-apiserver",
            [
                bins["kube-apiserver"],
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                "--endpoint-reconciler-type=none",
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={ca_file}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=false",
                "--profiling=false",
                "--event-ttl=10m",
            ],
            logs,
        )
        api = httpx.Client(
            base_url=server,
            verify=ssl.create_default_context(cafile=str(ca_file)),
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        with api:
            _wait(
                "kube-apiserver /readyz",
                lambda: api.get("/readyz").status_code == 200,
                deadline,
                procs,
            )
            common = [f"--kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--profiling=false"]
            procs["kube-controller-manager"] = _start(
                "kube-controller-manager",
                [
                    bins["kube-controller-manager"],
                    *common,
                    f"--secure-port={_free_port()}",
                    "--leader-elect=false",
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
                    f"--service-account-private-key-file={pki / 'sa.key'}",
                    f"--root-ca-file={ca_file}",
                    f"--cluster-signing-cert-file={ca_file}",
                    f"--cluster-signing-key-file={pki / 'ca.key'}",
                ],
                logs,
            )
            procs["kube-scheduler"] = _start(
                "kube-scheduler",
                [
                    bins["kube-scheduler"],
                    *common[:2],
                    f"--secure-port={_free_port()}",
                    "--leader-elect=false",
                ],
                logs,
            )
            procs["kwok"] = _start(
                "kwok",
                [
                    bins["kwok"],
                    f"--kubeconfig={kubeconfig}",
                    f"--config={stages}",
                    "--manage-all-nodes=false",
                    "--manage-nodes-with-label-selector=type=kwok",
                    "--node-ip=127.0.0.1",
                    f"--cidr={POD_CIDR}",
                    # kwok renews the node's Lease (the heartbeat stage relies on it):
                    # without one the node lifecycle controller marks the node and its
                    # pods NotReady after about 50 s, and kwok never makes them Ready again.
                    "--node-lease-duration-seconds=40",
                ],
                logs,
            )
            created = api.post("/api/v1/nodes", json=_node())
            if created.status_code not in (201, 409):
                raise ClusterError(f"creating the kwok node: {created.status_code} {created.text}")
            _wait("the kwok node to be Ready", lambda: _node_ready(api), deadline, procs)
            _wait(
                "the controllers (the default ServiceAccount)",
                lambda: (
                    api.get("/api/v1/namespaces/default/serviceaccounts/default").status_code == 200
                ),
                deadline,
                procs,
            )
    except BaseException:
        _stop_all({name: proc.pid for name, proc in procs.items()})
        raise
    cluster = Cluster(
        directory=directory,
        server=server,
        token=token,
        ca_file=ca_file,
        kubeconfig=kubeconfig,
        pids={name: proc.pid for name, proc in procs.items()},
    )
    (directory / "cluster.json").write_text(cluster.to_json(), encoding="utf-8")
    return cluster


def _node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {},
        "status": {
            "capacity": NODE_CAPACITY,
            "allocatable": NODE_CAPACITY,
        },
    }


def _node_ready(api: httpx.Client) -> bool:
    reply = api.get(f"/api/v1/nodes/{NODE_NAME}")
    if reply.status_code != 200:
        return False
    conditions = reply.json().get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _state(pid: int) -> str | None:
    """The process state letter from /proc (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rpartition(")")[2].split()[0]


def _stopped(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is not None
    # Not our child (started by another command): a zombie waits for its parent.
    return _state(pid) in (None, "Z", "X")


def _stop_all(pids: dict[str, int], grace: float = 10.0) -> None:
    for name in [n for n in STOP_ORDER if n in pids] + [n for n in pids if n not in STOP_ORDER]:
        pid = pids[name]
        proc = _CHILDREN.pop(pid, None)
        if _stopped(pid, proc):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while not _stopped(pid, proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _stopped(pid, proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if proc is not None:
                proc.wait(timeout=10)


def down(directory: Path, *, grace: float = 10.0) -> bool:
    """Stop the control plane started in ``directory`` by its process ids; False when
    there was none."""
    state = directory / "cluster.json"
    if not state.exists():
        return False
    _stop_all(Cluster.load(directory).pids, grace=grace)
    state.unlink()
    return True


@contextlib.contextmanager
def running(directory: Path, **kwargs: Any) -> Iterator[Cluster]:
    """:func:`up`, yield, then stop everything (the daemons are our children)."""
    cluster = up(directory, **kwargs)
    try:
        yield cluster
    finally:
        down(directory)
