"""A big test library (issue 12): ~100 MB to 3 agents travels in slices
(FETCH/CHUNK) from the one copy the broker holds, without blocking its loop:
the run succeeds, no agent is lost (liveness 1.5 s), STATUS answers within
200 ms throughout, the broker's peak RSS stays below 3x the library, and a
second run uses the agents' cached copies."""
import hashlib
import os
import subprocess
import threading
import time

import msgpack
import zmq

from loads_procs import WEBSITE_LIB, Cluster, run_runner

PAD = 100 << 20


def big_library(tmp_path):
    """libwebsite.so with a 100 MiB non-loaded section: still a loads test
    library (ELF shared object exporting loads_registry_v1)."""
    pad = tmp_path / "pad.bin"
    with open(pad, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(PAD >> 20):
            f.write(hashlib.sha256(block + bytes([i % 256])).digest() * 32768)  # 1 MiB, not compressible
    out = tmp_path / "libbig.so"
    subprocess.run(["objcopy", "--add-section", f".loads_pad={pad}", "--set-section-flags",
                    ".loads_pad=readonly", str(WEBSITE_LIB), str(out)], check=True)
    pad.unlink()
    return out


def log_time(log, marker):
    """The wall time (unix s) of the broker's first log line containing marker."""
    import datetime
    line = next(l for l in log.splitlines() if marker in l)
    stamp = " ".join(line.split()[:2])
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def vm_hwm_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


class StatusProbe(threading.Thread):
    """STATUS every 50 ms over one held connection; keeps each answer's time."""

    def __init__(self, endpoint):
        super().__init__(daemon=True)
        self.s = zmq.Context.instance().socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(endpoint)
        self.times, self.when, self.missed, self.states = [], [], 0, []
        self.stop = False

    def run(self):
        while not self.stop:
            t0 = time.monotonic()
            sent = time.time()
            self.s.send_multipart([b"STATUS", msgpack.packb({"v": 2})])
            if self.s.poll(2000):
                _, body = self.s.recv_multipart()
                self.times.append(time.monotonic() - t0)
                self.when.append(sent)
                self.states.append([a["state"] for a in msgpack.unpackb(body, strict_map_key=False)["agents"]])
            else:
                self.missed += 1
            time.sleep(0.05)

    def close(self):
        self.stop = True
        self.join(timeout=10)
        self.s.close()


def test_a_100_mb_library_reaches_three_agents_without_stalling_the_broker(tmp_path, target, monkeypatch):
    if os.environ.get("LOADS_SANITIZED"):
        # Under ASan (.ci/sanitize) freed blocks wait in a quarantine of 256 MB
        # before reuse (there, 417 MB at the peak): this cluster gets 16 MB
        # (a use after free of a recent block is still caught), and the bound
        # on the broker's peak stays the same.
        monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16")
    lib = big_library(tmp_path)
    size = lib.stat().st_size
    assert size > PAD
    c = Cluster(3, tmp_path)  # heartbeat 200 ms, liveness 1.5 s: a stalled loop loses agents
    probe = StatusProbe(c.broker.frontend)
    try:
        probe.start()
        t0 = time.monotonic()
        r = run_runner(f"{lib}:WebSite.test_home", "--server-url", target.url, "-u", "1", "-c", "5",
                       "--agents", "3", "--broker", c.broker.frontend, "--output", "json", timeout=120)
        took = time.monotonic() - t0
        assert r.rc == 0, r.stderr[-3000:]
        assert r.json["total"]["hits"] == 15
        assert r.json["incomplete"] is False and r.json["events"] == [], r.json["events"]
        assert target.stats()["http_requests"] == 15
        # Every agent fetched it (in slices) and keeps it by its hash.
        sha = hashlib.sha256(lib.read_bytes()).hexdigest()
        for i, a in enumerate(c.agents):
            cached = tmp_path / f"cache-{i}" / f"{sha}.so"
            assert cached.stat().st_size == size
            assert "fetching library libbig.so" in a.stderr_text()
        # The transfer: from the broker's 'submitted' line (the SUBMIT is
        # decoded: one 100 MB message, not the transfer) to 'started'.
        log = c.broker.stderr_text()
        begin, end = (log_time(log, f" {word} ") for word in ("submitted:", "started on"))
        during = [t for w, t in zip(list(probe.when), list(probe.times)) if begin <= w <= end]
        hwm = vm_hwm_kb(c.broker.p.pid) * 1024
        print(f"{size / 1e6:.0f} MB to 3 agents in {end - begin:.1f} s (run {took:.1f} s); STATUS during it: "
              f"{len(during)} answers, worst {max(during) * 1000:.0f} ms; broker VmHWM {hwm / 1e6:.0f} MB")
        assert probe.missed == 0
        assert len(during) >= 5, (begin, end, probe.when[:3])
        assert max(during) < 0.2, sorted(during)[-5:]
        assert hwm < 3 * size, hwm
        # No agent was lost, and all three are registered and idle.
        assert sorted(a["agent"]["id"] for a in c.broker.status()["agents"]) == ["a0", "a1", "a2"]
        assert "lost" not in c.broker.stderr_text()
        # A second run with the same library: no transfer, the cached copies serve.
        r = run_runner(f"{lib}:WebSite.test_home", "--server-url", target.url, "-u", "1", "-c", "1",
                       "--agents", "3", "--broker", c.broker.frontend, "--output", "json", timeout=120)
        assert r.rc == 0 and r.json["total"]["hits"] == 3, r.stderr[-2000:]
        for a in c.agents:
            assert a.stderr_text().count("fetching library libbig.so") == 1
    finally:
        probe.close()
        c.kill()
