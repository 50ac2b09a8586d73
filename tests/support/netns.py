"""Hosts of their own for integration tests: Linux network namespaces joined
by a bridge (we run as root). Each host gets an address in 10.213.N.0/24;
traffic stays inside the namespaces the test made, which it removes
afterwards. `Net.cut(name)` sets a host's link down (a partition) and
`Net.heal(name)` brings it back; `Sniffer` records what crosses a host's
link with a raw AF_PACKET socket."""
import os
import subprocess

from loads_procs import Proc, require_tool


def ip(*args, ns=None, check=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["ip", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {p.stderr.strip()}")
    return p


class Net:
    """A switch namespace with a bridge, and hosts plugged into it."""

    def __init__(self, *hosts, subnet=None):
        require_tool("ip", "iproute2")
        tag = f"lt{os.getpid() % 100000}"
        self.subnet = subnet or f"10.213.{os.getpid() % 200 + 20}"
        self.switch = f"{tag}-sw"
        self.ns = {}
        self.addr = {}
        self._made = []
        try:
            ip("netns", "add", self.switch)
            self._made.append(self.switch)
            ip("link", "add", "br0", "type", "bridge", ns=self.switch)
            ip("link", "set", "br0", "up", ns=self.switch)
            for i, h in enumerate(hosts, start=1):
                self.add(h, f"{tag}-{h}", i)
        except Exception:
            self.close()
            raise

    def add(self, host, ns, n):
        ip("netns", "add", ns)
        self._made.append(ns)
        self.ns[host] = ns
        self.addr[host] = f"{self.subnet}.{n}"
        # A veth pair: "eth0" in the host, "p-HOST" on the switch's bridge.
        ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"p{n}", "netns", self.switch)
        ip("link", "set", f"p{n}", "master", "br0", ns=self.switch)
        ip("link", "set", f"p{n}", "up", ns=self.switch)
        ip("addr", "add", f"{self.addr[host]}/24", "dev", "eth0", ns=ns)
        ip("link", "set", "eth0", "up", ns=ns)
        ip("link", "set", "lo", "up", ns=ns)

    def proc(self, host, args):
        """A process on `host` (a Proc: wait_for, stderr_text, kill)."""
        return Proc(["ip", "netns", "exec", self.ns[host], *[str(a) for a in args]])

    def run(self, host, args, timeout=60):
        p = subprocess.run(["ip", "netns", "exec", self.ns[host], *[str(a) for a in args]], capture_output=True,
                           text=True, timeout=timeout)
        return p

    def cut(self, host):
        ip("link", "set", "eth0", "down", ns=self.ns[host])

    def heal(self, host):
        ip("link", "set", "eth0", "up", ns=self.ns[host])

    def close(self):
        for ns in reversed(self._made):
            ip("netns", "del", ns, check=False)
        self._made = []


SNIFF = r"""
import signal, socket, sys
out = open(sys.argv[2], "wb")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((sys.argv[1], 0))
s.settimeout(0.1)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
print("sniffing", flush=True)
while not stop:
    try:
        frame = s.recv(65536)
        out.write(len(frame).to_bytes(4, "big") + frame)
    except socket.timeout:
        continue
    except InterruptedError:
        continue
out.close()
print("stopped", flush=True)
"""


class Sniffer:
    """Every frame that crosses `host`'s eth0 while it runs (a raw AF_PACKET
    socket in that namespace; we are root)."""

    def __init__(self, net, host, path):
        self.path = path
        self.p = net.proc(host, ["/usr/bin/python3", "-c", SNIFF, "eth0", path])
        self.p.wait_for(lambda l: l == "sniffing")

    def stop(self):
        """The bytes seen (every frame's, one after the other); the frames
        themselves are in `self.frames`."""
        import signal
        self.p.signal(signal.SIGTERM)
        self.p.wait_for(lambda l: l == "stopped")
        self.p.p.wait(timeout=10)
        with open(self.path, "rb") as f:
            raw = f.read()
        self.frames, i = [], 0
        while i + 4 <= len(raw):
            n = int.from_bytes(raw[i:i + 4], "big")
            self.frames.append(raw[i + 4:i + 4 + n])
            i += 4 + n
        return b"".join(self.frames)

    def ipv4_from(self, address):
        """The IPv4 packets seen whose source is `address` (ARP is not IP)."""
        src = bytes(int(x) for x in address.split("."))
        return [f for f in self.frames if len(f) >= 34 and f[12:14] == b"\x08\x00" and f[26:30] == src]
