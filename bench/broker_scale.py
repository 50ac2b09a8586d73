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
    /usr/bin/python3 bench/broker_scale.py --agents 1000 --subscribers 50 --slow-subscribers 5
    /usr/bin/python3 bench/broker_scale.py --agents 1000 --compare-subscribers 50 --rounds 3
    /usr/bin/python3 bench/broker_scale.py --agents 1000 --curve              # every socket with CURVE keys
    /usr/bin/python3 bench/broker_scale.py --agents 1000 --compare-curve --rounds 3

--subscribers N attaches N more SUB sockets (dashboards) from one further
process, each subscribed to "run." and "cluster"; --slow-subscribers M of them
read one message every 100 ms instead of draining (ZeroMQ's PUB drops for a
subscriber at its high-water mark, so they must not hold the broker back).
--compare-subscribers N runs the same agents without and with N subscribers,
interleaved over --rounds rounds, and prints the ratio of the p99 delays.
--curve gives the broker a keypair and every agent, the runner and the timing
subscriber keys of their own (each agent's .pub in --allow-agents, as
deploy/keys.sh lays them out): every handshake goes through the broker's ZAP
handler and every message is encrypted. --compare-curve runs the same agents
without and with CURVE, interleaved, and prints the ratio of the p99 delays.

Needs Debian's python3-zmq and python3-msgpack. Loopback only, bounded.
"""
import argparse
import heapq
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import zmq

ROOT = Path(__file__).resolve().parents[1]
V = 2


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


COUNTERS = ["hits", "successes", "failures", "errors", "interrupted", "scheduled", "dropped", "late", "requests", "request_errors", "bytes_sent",
            "bytes_received", "ws_opened", "ws_closed", "ws_messages_sent", "ws_messages_received",
            "ws_bytes_sent", "ws_bytes_received", "tcp_opened", "tcp_closed", "tcp_bytes_sent",
            "tcp_bytes_received"]


def one_hit_stats():
    s = {c: 0 for c in COUNTERS}
    s.update(hits=1, successes=1, requests=1, bytes_sent=100, bytes_received=200)
    s.update(errors_by_kind={}, status_codes={200: 1}, messages={},
             latency=histogram_one(1_000_000),
             latency_from_schedule={"buckets": [], "min": 0, "max": 0, "sum": 0, "clamped": 0}, labels={})
    return s


def spec(seconds):
    return {"test": {"kind": "url", "url": "http://127.0.0.1:9/", "method": "GET", "headers": [],
                     "body": "", "expect": "", "until": "\n", "test_name": ""},
            "plan": {"model": "closed", "cycles": [[1, 0, int(seconds * 1e9), 0.0]], "sleep_min_ns": 0,
                     "sleep_max_ns": 0, "startup_delay_ns": 0, "graceful_stop_ns": 0, "ramp_ns": 0,
                     "arrivals": "uniform", "max_users": 0, "arrival_window_ns": 0},
            "server_url": "",
            "client": {"connect_timeout_ns": 10**9, "timeout_ns": 10**9, "follow_redirects": False,
                       "max_redirects": 0, "insecure": False, "max_body": 0},
            "interval_ns": 100_000_000, "agent_index": 0, "agent_count": 1}


def key_lines(public, secret=None):
    text = f'public-key = "{public.decode()}"\n'
    return text + (f'secret-key = "{secret.decode()}"\n' if secret else "")


class Keys:
    """A broker keypair and n agent keypairs plus a runner's, in a temporary
    directory laid out for the broker's --allow-* options."""

    def __init__(self, build, n):
        import tempfile
        self.dir = Path(tempfile.mkdtemp(prefix="loads-curve-"))
        for d in ("agents", "runners"):
            (self.dir / d).mkdir()
        subprocess.run([str(build / "broker" / "loads-broker"), "keygen", "broker", "--dir", str(self.dir)],
                       check=True, capture_output=True)
        self.broker_public = self.read(self.dir / "broker.key")[0]
        self.agents = []
        for i in range(n):
            pub, sec = zmq.curve_keypair()
            (self.dir / "agents" / f"fa-{i}.pub").write_text(key_lines(pub))
            self.agents.append((pub, sec))
        self.runner = zmq.curve_keypair()
        (self.dir / "runners" / "runner.pub").write_text(key_lines(self.runner[0]))
        self.runner_key = self.dir / "runner.key"
        self.runner_key.write_text(key_lines(*self.runner))
        os.chmod(self.runner_key, 0o600)

    @staticmethod
    def read(path):
        keys = {}
        for line in Path(path).read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                keys[k.strip()] = v.strip().strip('"').encode()
        return keys["public-key"], keys.get("secret-key")

    def broker_args(self):
        return ["--curve-key", str(self.dir / "broker.key"), "--allow-agents", str(self.dir / "agents"),
                "--allow-runners", str(self.dir / "runners")]

    def client(self, sock, pair):
        sock.curve_serverkey = self.broker_public
        sock.curve_publickey, sock.curve_secretkey = pair

    def close(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


def subscriber(endpoint):
    """Child process: times every snapshot on its own core, so the sending loop
    cannot delay the receive timestamps. Prints "subscribed" once the PUB
    delivers (the first cluster event), then one JSON list of
    [monotonic time, hits] per snapshot after the run's finished event."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"run.")
    sub.setsockopt(zmq.SUBSCRIBE, b"cluster")
    sub.setsockopt(zmq.RCVHWM, 0)
    if "," in endpoint:  # ENDPOINT,RUNNER.key,BROKER.key: with CURVE
        endpoint, own, broker = endpoint.split(",")
        sub.curve_publickey, sub.curve_secretkey = Keys.read(own)
        sub.curve_serverkey = Keys.read(broker)[0]
    sub.connect(endpoint)
    print("connected", flush=True)
    seen, subscribed = [], False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if not sub.poll(1000):
            continue
        topic, body = sub.recv_multipart()
        got = time.monotonic()
        if not subscribed:
            subscribed = True
            print("subscribed", flush=True)
        if topic.endswith(b".snapshot"):
            seen.append([got, msgpack.unpackb(body, strict_map_key=False)["delta"]["hits"]])
        elif topic.endswith(b".event") and msgpack.unpackb(body, strict_map_key=False)["event"] == "finished":
            break
    print(json.dumps(seen), flush=True)


def crowd(endpoint, count, slow):
    """Child process: `count` SUB sockets, like dashboards. The first
    count - slow drain every message; the last `slow` read one message every
    100 ms. Prints "connected", then after the run's finished event (or
    SIGTERM) one JSON object with the messages each socket received."""
    import signal
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, count + 100)
    socks = []
    for _ in range(count):
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"run.")
        sub.setsockopt(zmq.SUBSCRIBE, b"cluster")
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(endpoint)
        socks.append(sub)
    fast, slow_socks = socks[:count - slow], socks[count - slow:]
    poller = zmq.Poller()
    for s in fast:
        poller.register(s, zmq.POLLIN)
    got = {id(s): 0 for s in socks}
    finished = set()
    print("connected", flush=True)
    deadline = time.monotonic() + 600
    next_slow = time.monotonic() + 0.1
    while not stop and time.monotonic() < deadline and (not fast or len(finished) < len(fast)):
        try:
            ready = poller.poll(max(0, int((next_slow - time.monotonic()) * 1000)) if slow_socks else 1000)
        except zmq.ZMQError:
            break  # EINTR from SIGTERM
        for s, _ in ready:
            while True:
                try:
                    topic, body = s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                got[id(s)] += 1
                if topic.endswith(b".event") and msgpack.unpackb(body, strict_map_key=False)["event"] == "finished":
                    finished.add(id(s))
        if slow_socks and time.monotonic() >= next_slow:
            next_slow += 0.1
            for s in slow_socks:
                try:
                    s.recv_multipart(zmq.NOBLOCK)
                    got[id(s)] += 1
                except zmq.Again:
                    pass
    print(json.dumps({"fast": [got[id(s)] for s in fast], "fast_saw_finished": len(finished),
                      "slow": [got[id(s)] for s in slow_socks]}), flush=True)
    ctx.destroy(linger=0)


def proc_cpu(pid):
    """User + system seconds of a process (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, total) seconds over all cores from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK"), sum(v[:8]) / os.sysconf("SC_CLK_TCK")


def run(n, seconds, build, subscribers=0, slow=0, curve=False):
    ports = [free_port() for _ in range(3)]
    fe, be, pub = (f"tcp://127.0.0.1:{p}" for p in ports)
    keys = Keys(build, n) if curve else None
    assert not (curve and subscribers), "--curve with extra subscribers is not supported"
    broker = subprocess.Popen([str(build / "broker" / "loads-broker"), "--frontend", fe, "--backend", be,
                               "--publisher", pub, "--log-level", "warn", "--liveness", "10s",
                               *(keys.broker_args() if keys else [])],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watcher = crowd_proc = None
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, n + 100)  # a context option, not a socket default
    agents = []
    try:
        while broker.stdout.readline().strip() != b"ready":
            assert broker.poll() is None, "the broker did not start"
        watch = f"{pub},{keys.runner_key},{keys.dir / 'broker.key'}" if keys else pub
        watcher = subprocess.Popen([sys.executable, __file__, "--subscriber", watch], stdout=subprocess.PIPE)
        assert watcher.stdout.readline().strip() == b"connected"
        if subscribers:
            crowd_proc = subprocess.Popen([sys.executable, __file__, "--crowd", f"{pub},{subscribers},{slow}"],
                                          stdout=subprocess.PIPE)
            assert crowd_proc.stdout.readline().strip() == b"connected"
        poller = zmq.Poller()
        for i in range(n):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt_string(zmq.IDENTITY, f"fa-{i}")
            if keys:
                keys.client(s, keys.agents[i])
            s.connect(be)
            send(s, "REGISTER", {"agent": {"id": f"fa-{i}", "host": "bench", "pid": i, "threads": 1,
                                           "version": "bench"}})
            poller.register(s, zmq.POLLIN)
            agents.append(s)
        index = {s: i for i, s in enumerate(agents)}
        runner = ctx.socket(zmq.DEALER)
        if keys:
            keys.client(runner, keys.runner)
        runner.connect(fe)
        welcomed, run_id, started = set(), None, 0

        def pump(timeout_ms):
            nonlocal run_id, started
            for s, _ in poller.poll(timeout_ms):
                while s.poll(0):
                    cmd, body = s.recv_multipart()
                    b = msgpack.unpackb(body, strict_map_key=False)
                    if cmd == b"WELCOME":
                        welcomed.add(index[s])
                    elif cmd == b"PREPARE":
                        run_id = b["run"]
                        send(s, "READY", {"run": run_id})
                    elif cmd == b"START":
                        started += 1

        deadline = time.monotonic() + 60 + n / 50
        while len(welcomed) < n:
            assert time.monotonic() < deadline, f"{len(welcomed)} of {n} welcomed"
            pump(100)
        assert watcher.stdout.readline().strip() == b"subscribed"
        send(runner, "SUBMIT", {"spec": spec(seconds), "test": "broker_scale", "agents": n, "wait": False,
                                "wait_timeout_ns": 0, "library": None})
        while started < n:
            assert time.monotonic() < deadline, f"{started} of {n} started"
            pump(100)

        # Every agent sends a batch a second, phases spread over the second.
        # Only the changing fields are packed per batch.
        stats = msgpack.packb(one_hit_stats(), use_bin_type=True)
        ours = [os.getpid(), broker.pid, watcher.pid] + ([crowd_proc.pid] if crowd_proc else [])
        ours0, machine0 = sum(proc_cpu(p) for p in ours), machine_cpu()
        t0 = time.monotonic()
        due = [(t0 + random.random(), i) for i in range(n)]
        heapq.heapify(due)
        seq = [0] * n
        sent, lag = [], []
        end = t0 + seconds
        while due:
            now = time.monotonic()
            if due[0][0] > now:
                time.sleep(min(0.002, due[0][0] - now))
                continue
            t, i = heapq.heappop(due)
            if t >= end:
                continue
            seq[i] += 1
            body = msgpack.packb({"v": V, "run": run_id, "seq": seq[i], "cycle": 0, "hits_done": seq[i],
                                  "elapsed_ns": int((now - t0) * 1e9), "users": 1, "users_busy": 0},
                                 use_bin_type=True)
            # Splice the pre-packed stats in as the map's ninth entry.
            body = bytes([0x89]) + body[1:] + msgpack.packb("stats") + stats
            sent.append(time.monotonic())
            agents[i].send_multipart([b"RESULT", body])
            lag.append(sent[-1] - t)
            heapq.heappush(due, (t + 1.0, i))
        ours1, machine1 = sum(proc_cpu(p) for p in ours), machine_cpu()
        crowd_cpu = proc_cpu(crowd_proc.pid) if crowd_proc else 0.0
        total = machine1[1] - machine0[1]
        others = max(0.0, (machine1[0] - machine0[0]) - (ours1 - ours0)) / total if total else float("nan")
        for i in range(n):
            send(agents[i], "FINISHED", {"run": run_id, "last_seq": seq[i], "stopped": False,
                                         "started_ms": int(time.time() * 1000), "elapsed_ns": int(seconds * 1e9),
                                         "cycles": []})
        broker_cpu = proc_cpu(broker.pid)
        out, _ = watcher.communicate(timeout=60)
        seen = json.loads(out.splitlines()[-1])
        crowd_got = None
        if crowd_proc:
            try:
                cout, _ = crowd_proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                crowd_proc.terminate()
                cout, _ = crowd_proc.communicate(timeout=10)
            crowd_got = json.loads(cout.splitlines()[-1])
        # Batches are merged in arrival order: a snapshot of k hits holds the next k batches.
        delays, pos = [], 0
        for got, k in seen:
            for j in range(pos, min(pos + k, len(sent))):
                delays.append(got - sent[j])
            pos += k
        delays.sort()
        lag.sort()
        q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")
        return {"agents": n, "batches_sent": len(sent), "batches_merged": sum(k for _, k in seen),
                "p50_ms": q(delays, 0.5), "p99_ms": q(delays, 0.99), "max_ms": q(delays, 1.0),
                "send_lag_p99_ms": q(lag, 0.99), "broker_cpu_s": broker_cpu, "seconds": seconds,
                "subscribers": subscribers, "slow": slow, "crowd_cpu_s": crowd_cpu, "others_cpu": others,
                "crowd": crowd_got, "snapshots": len(seen), "curve": curve}
    finally:
        for s in agents:
            s.close()
        ctx.destroy(linger=0)
        broker.terminate()
        broker.wait(10)
        if keys:
            keys.close()
        for p in (watcher, crowd_proc):
            if p and p.poll() is None:
                p.kill()
                p.wait()


HEADER = ("| agents | subscribers (slow) | batches sent | merged | delay p50 | delay p99 | max | sender lag p99 "
          "| broker CPU | subscribers' CPU | others on the cores | subscribers' messages |\n"
          "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")


def row(r):
    c = r["crowd"]
    if c is None:
        msgs = "-"
    else:
        fast = c["fast"]
        msgs = (f"drainers {min(fast)}–{max(fast)} msgs (timer saw {r['snapshots']} snapshots), "
                f"{c['fast_saw_finished']}/{len(fast)} saw finished" if fast else "no drainers")
        if c["slow"]:
            msgs += f"; slow readers {min(c['slow'])}–{max(c['slow'])} msgs"
    return (f"| {r['agents']} | {r['subscribers']} ({r['slow']}) | {r['batches_sent']} | {r['batches_merged']} | "
            f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms | {r['send_lag_p99_ms']:.1f} ms | "
            f"{r['broker_cpu_s'] / r['seconds'] * 100:.0f}% | {r['crowd_cpu_s'] / r['seconds'] * 100:.0f}% | "
            f"{r['others_cpu'] * 100:.0f}% | {msgs} |")


def compare(n, seconds, build, subscribers, slow, rounds):
    """Same agents without and with `subscribers`, alternating which goes
    first, over `rounds` rounds; the p99 ratio per round and its median."""
    print(HEADER, flush=True)
    by = {0: [], subscribers: []}
    for k in range(rounds):
        order = [0, subscribers] if k % 2 == 0 else [subscribers, 0]
        for m in order:
            r = run(n, seconds, build, m, slow if m else 0)
            by[m].append(r)
            print(row(r), flush=True)
    med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
    ratios = [w["p99_ms"] / o["p99_ms"] for o, w in zip(by[0], by[subscribers])]
    print()
    print("| subscribers | p50 median [min–max] | p99 median [min–max] | max median [min–max] | broker CPU median | others on the cores |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    for m, rs in by.items():
        others = ", ".join("%.0f%%" % (r["others_cpu"] * 100) for r in rs)
        f = lambda key: f"{med([r[key] for r in rs]):.1f} ms [{min(r[key] for r in rs):.1f}–{max(r[key] for r in rs):.1f}]"
        print(f"| {m} | {f('p50_ms')} | {f('p99_ms')} | {f('max_ms')} | "
              f"{med([r['broker_cpu_s'] / r['seconds'] for r in rs]) * 100:.0f}% | {others} |")
    print()
    per_round = ", ".join("%.3f" % x for x in ratios)
    print(f"p99 with {subscribers} / without, per round: {per_round}; "
          f"median {med(ratios):.3f} -> {'within' if med(ratios) <= 1.10 else 'NOT within'} 10%", flush=True)


def compare_curve(n, seconds, build, rounds):
    """The same agents without and with CURVE, alternating which goes first."""
    print(HEADER, flush=True)
    by = {False: [], True: []}
    for k in range(rounds):
        for c in ([False, True] if k % 2 == 0 else [True, False]):
            r = run(n, seconds, build, curve=c)
            by[c].append(r)
            print(row(r) + (" CURVE" if c else ""), flush=True)
    med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
    for c, rs in by.items():
        print(f"{'CURVE' if c else 'plain'}: p99 median {med([r['p99_ms'] for r in rs]):.1f} ms "
              f"[{min(r['p99_ms'] for r in rs):.1f}-{max(r['p99_ms'] for r in rs):.1f}], broker CPU median "
              f"{med([r['broker_cpu_s'] / r['seconds'] for r in rs]) * 100:.0f}%, every batch merged: "
              f"{all(r['batches_merged'] == r['batches_sent'] for r in rs)}")
    ratios = [w["p99_ms"] / o["p99_ms"] for o, w in zip(by[False], by[True])]
    print(f"p99 CURVE / plain per round: {', '.join('%.3f' % x for x in ratios)}; median {med(ratios):.3f}; "
          f"CURVE p99 median {'<' if med([r['p99_ms'] for r in by[True]]) < 100 else '>='} 100 ms", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", default="1000", help="a count or a comma-separated ladder")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--subscribers", type=int, default=0, help="extra SUB sockets (dashboards), in their own process")
    ap.add_argument("--slow-subscribers", type=int, default=0,
                    help="how many of the extra subscribers read one message every 100 ms instead of draining")
    ap.add_argument("--compare-subscribers", type=int, default=0, metavar="N",
                    help="run each agent count without and with N subscribers, interleaved over --rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--curve", action="store_true", help="keys on every socket (docs/security.md)")
    ap.add_argument("--compare-curve", action="store_true", help="each agent count without and with CURVE")
    ap.add_argument("--subscriber", help=argparse.SUPPRESS)
    ap.add_argument("--crowd", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.subscriber:
        return subscriber(args.subscriber)
    if args.crowd:
        endpoint, count, slow = args.crowd.rsplit(",", 2)
        return crowd(endpoint, int(count), int(slow))
    raise_nofile()
    if args.compare_curve:
        for n in [int(x) for x in args.agents.split(",")]:
            compare_curve(n, args.seconds, Path(args.build), args.rounds)
        return
    if args.compare_subscribers:
        assert args.slow_subscribers <= args.compare_subscribers
        for n in [int(x) for x in args.agents.split(",")]:
            compare(n, args.seconds, Path(args.build), args.compare_subscribers, args.slow_subscribers, args.rounds)
        return
    assert args.slow_subscribers <= args.subscribers
    print(HEADER, flush=True)
    for n in [int(x) for x in args.agents.split(",")]:
        print(row(run(n, args.seconds, Path(args.build), args.subscribers, args.slow_subscribers, args.curve)),
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
