"""bench/broker_scale.py: how many agents one loads-broker merges.

Simulated agents speak the real protocol (docs/protocol.md) from one Python
process: each registers on the backend, answers PREPARE with READY, and once
started sends one RESULT per second (phases spread over the second), each
worth one hit. A runner submits a run over all of them; a SUB socket takes
the merged snapshots (interval 100 ms, the broker's minimum). The delay of a
batch is the time from its send to the snapshot that includes it (batches
are merged in arrival order, so the k hits of a snapshot are the next k
batches). Reports the p50/p99 delay and whether every batch arrived.

    /usr/bin/python3 bench/broker_scale.py --agents 1000 --seconds 10
    /usr/bin/python3 bench/broker_scale.py --agents 250,500,1000,2000   # a ladder

Needs Debian's python3-zmq and python3-msgpack. Loopback only, bounded.
"""
import argparse
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import msgpack
import zmq

ROOT = Path(__file__).resolve().parents[1]
V = 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def send(sock, command, body):
    sock.send_multipart([command.encode(), msgpack.packb({"v": V, **body}, use_bin_type=True)])


def histogram_one(ns):
    # One value: bucket index per docs/protocol.md section 7.
    if ns < 256:
        idx = ns
    else:
        e = ns.bit_length() - 1
        idx = 256 + (e - 8) * 128 + (ns >> (e - 7)) - 128
    return {"buckets": [idx, 1], "min": ns, "max": ns, "sum": ns, "clamped": 0}


COUNTERS = ["hits", "successes", "failures", "errors", "requests", "request_errors", "bytes_sent",
            "bytes_received", "ws_opened", "ws_closed", "ws_messages_sent", "ws_messages_received",
            "ws_bytes_sent", "ws_bytes_received", "tcp_opened", "tcp_closed", "tcp_bytes_sent",
            "tcp_bytes_received"]


def one_hit_stats():
    s = {c: 0 for c in COUNTERS}
    s.update(hits=1, successes=1, requests=1, bytes_sent=100, bytes_received=200)
    s.update(errors_by_kind={}, status_codes={200: 1}, messages={},
             latency=histogram_one(1_000_000), labels={})
    return s


def spec(seconds):
    return {"test": {"kind": "url", "url": "http://127.0.0.1:9/", "method": "GET", "headers": [],
                     "body": "", "expect": "", "until": "\n", "test_name": ""},
            "plan": {"cycles": [[1, 0, int(seconds * 1e9)]], "sleep_min_ns": 0, "sleep_max_ns": 0,
                     "startup_delay_ns": 0, "graceful_stop_ns": 0},
            "server_url": "",
            "client": {"connect_timeout_ns": 10**9, "timeout_ns": 10**9, "follow_redirects": False,
                       "max_redirects": 0, "insecure": False, "max_body": 0},
            "interval_ns": 100_000_000, "user_offset": 0}


def run(n, seconds, build):
    ports = [free_port() for _ in range(3)]
    fe, be, pub = (f"tcp://127.0.0.1:{p}" for p in ports)
    broker = subprocess.Popen([str(build / "broker" / "loads-broker"), "--frontend", fe, "--backend", be,
                               "--publisher", pub, "--log-level", "warn", "--liveness", "10s"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, preexec_fn=raise_nofile)
    ctx = zmq.Context()
    ctx.setsockopt(zmq.MAX_SOCKETS, n + 100)
    agents = []
    try:
        assert broker.stdout.readline()  # listening frontend
        while broker.stdout.readline().strip() != b"ready":
            pass
        poller = zmq.Poller()
        for i in range(n):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt_string(zmq.IDENTITY, f"fa-{i}")
            s.connect(be)
            send(s, "REGISTER", {"agent": {"id": f"fa-{i}", "host": "bench", "pid": i, "threads": 1,
                                           "version": "bench"}})
            poller.register(s, zmq.POLLIN)
            agents.append(s)
        index = {s: i for i, s in enumerate(agents)}

        welcomed, run_id, ready = set(), None, 0
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"run.")
        sub.connect(pub)
        runner = ctx.socket(zmq.DEALER)
        runner.connect(fe)

        def pump(timeout_ms):
            nonlocal run_id, ready
            for s, _ in poller.poll(timeout_ms):
                cmd, body = s.recv_multipart()
                b = msgpack.unpackb(body, strict_map_key=False)
                if cmd == b"WELCOME":
                    welcomed.add(index[s])
                elif cmd == b"PREPARE":
                    run_id = b["run"]
                    send(s, "READY", {"run": run_id})
                elif cmd == b"START":
                    ready += 1

        deadline = time.monotonic() + 60
        while len(welcomed) < n:
            assert time.monotonic() < deadline, f"{len(welcomed)} of {n} welcomed"
            pump(100)
        time.sleep(0.3)  # the SUB's subscription reaches the PUB (no readiness signal exists for it)
        send(runner, "SUBMIT", {"spec": spec(seconds), "test": "broker_scale", "agents": n, "wait": False,
                                "wait_timeout_ns": 0, "library": None})
        while ready < n:
            assert time.monotonic() < deadline, f"{ready} of {n} started"
            pump(100)

        # Every agent sends a batch a second, phases spread over the second.
        t0 = time.monotonic()
        phase = [random.random() for _ in range(n)]
        seq = [0] * n
        sent = deque()
        delays, merged = [], 0
        stats = one_hit_stats()
        end = t0 + seconds
        sub_poller = zmq.Poller()
        sub_poller.register(sub, zmq.POLLIN)
        due = sorted((t0 + phase[i], i) for i in range(n))
        import heapq
        heapq.heapify(due)
        while True:
            now = time.monotonic()
            while due and due[0][0] <= now:
                t, i = heapq.heappop(due)
                if t >= end:
                    continue
                seq[i] += 1
                sent.append(time.monotonic())
                send(agents[i], "RESULT", {"run": run_id, "seq": seq[i], "cycle": 0, "hits_done": seq[i],
                                           "elapsed_ns": int((now - t0) * 1e9), "stats": stats})
                heapq.heappush(due, (t + 1.0, i))
            if not due and now > end + 3:
                break
            wait = max(0, min(10, int(((due[0][0] if due else now + 0.01) - time.monotonic()) * 1000)))
            for _ in sub_poller.poll(wait):
                topic, body = sub.recv_multipart()
                got = time.monotonic()
                if topic.endswith(b".snapshot"):
                    k = msgpack.unpackb(body, strict_map_key=False)["delta"]["hits"]
                    for _ in range(min(k, len(sent))):
                        delays.append(got - sent.popleft())
                    merged += k
            while sub_poller.poll(0):
                topic, body = sub.recv_multipart()
                got = time.monotonic()
                if topic.endswith(b".snapshot"):
                    k = msgpack.unpackb(body, strict_map_key=False)["delta"]["hits"]
                    for _ in range(min(k, len(sent))):
                        delays.append(got - sent.popleft())
                    merged += k
            pump(0)
        for i in range(n):
            send(agents[i], "FINISHED", {"run": run_id, "last_seq": seq[i], "stopped": False,
                                         "started_ms": int(time.time() * 1000), "elapsed_ns": int(seconds * 1e9),
                                         "cycles": []})
        total_sent = sum(seq)
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)  # broker not reaped yet: read /proc instead
        with open(f"/proc/{broker.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        broker_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        delays.sort()
        q = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))] * 1000 if delays else float("nan")
        return {"agents": n, "batches_sent": total_sent, "batches_merged": merged,
                "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": delays[-1] * 1000 if delays else float("nan"),
                "broker_cpu_s": broker_cpu, "seconds": seconds}
    finally:
        for s in agents:
            s.close()
        ctx.destroy(linger=0)
        broker.terminate()
        broker.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", default="1000", help="a count or a comma-separated ladder")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--build", default=str(ROOT / "build"))
    args = ap.parse_args()
    raise_nofile()
    print("| agents | batches sent | merged | delay p50 | delay p99 | max | broker CPU |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in [int(x) for x in args.agents.split(",")]:
        r = run(n, args.seconds, Path(args.build))
        print(f"| {r['agents']} | {r['batches_sent']} | {r['batches_merged']} | {r['p50_ms']:.1f} ms | "
              f"{r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms | {r['broker_cpu_s'] / r['seconds'] * 100:.0f}% |",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
