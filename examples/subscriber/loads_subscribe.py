#!/usr/bin/python3
"""Prints the live result stream of a loads cluster, written from
docs/protocol.md alone: a SUB socket on the broker's publisher endpoint,
two frames per message (topic, msgpack map with "v": 2).

    /usr/bin/python3 loads_subscribe.py --publisher tcp://127.0.0.1:7782 [--run RUN]
        [--curve-key me.key --broker-pub broker.pub]    # a broker with CURVE (docs/security.md)

Needs Debian's python3-zmq and python3-msgpack. Prints one line per message:

    snapshot run=r1 seq=3 cycle=0 hits=1200/6000 rps=812.0 p50=1.2ms p99=4.0ms errors=0
    event run=r1 started - agents a0,a1
    finished run=r1 hits=6000 successes=6000 failures=0 errors=0 p50=1.1ms p99=3.9ms
      metric cart_items counter count=6000 total=18000
    cluster agent-registered a3

and exits 0 after the first run finishes (or after --count runs), 1 on --timeout.
"""
import argparse
import sys
import time

import msgpack
import zmq

VERSION = 2
LINEAR, HALF = 256, 128  # docs/protocol.md, "Histograms"


def bucket_range(index):
    """The lowest and highest nanosecond value of a histogram bucket."""
    if index < LINEAR:
        return index, index
    j = index - LINEAR
    e = 8 + j // HALF
    low = (j % HALF + HALF) << (e - 7)
    return low, low + (1 << (e - 7)) - 1


def percentile(latency, q):
    """The value at quantile q of a wire histogram, in ns (midpoint of its bucket)."""
    b = latency["buckets"]
    pairs = list(zip(b[0::2], b[1::2]))
    total = sum(c for _, c in pairs)
    if total == 0:
        return 0
    rank = max(1, int(q * total + 0.999999))
    seen = 0
    for index, count in pairs:
        seen += count
        if seen >= rank:
            low, high = bucket_range(index)
            return min(max(low + (high - low) // 2, latency["min"]), latency["max"])
    return latency["max"]


def ms(ns):
    return f"{ns / 1e6:.1f}ms"


def stats_line(s):
    lat = s["latency"]
    return (f"hits={s['hits']} successes={s['successes']} failures={s['failures']} "
            f"errors={s['errors']} p50={ms(percentile(lat, 0.5))} p99={ms(percentile(lat, 0.99))}")


def metric_line(name, m):
    """One custom metric of a Stats map (docs/protocol.md, Metric)."""
    kind, n = m["kind"], m["count"]
    if kind == "counter":
        what = f"total={m['sum']:g}"
    elif kind == "gauge":
        what = f"last={m['last']:g} min={m['min']:g} max={m['max']:g}"
    elif kind == "rate":
        what = f"rate={m['nonzero'] / n:.4f} ({m['nonzero']} of {n})"
    else:  # trend: the histogram's unit is 0.001 of the test's
        h = m["values"]
        what = (f"mean={m['sum'] / n:g} p50={percentile(h, 0.5) / 1000:g} p99={percentile(h, 0.99) / 1000:g} "
                f"max={m['max']:g}")
    return f"metric {name} {kind} count={n} {what}"


def read_key_file(path, secret):
    """The Z85 keys of a loads key file (loads-broker keygen): `name = "value"` lines."""
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                keys[name.strip()] = value.strip().strip('"')
    want = ["public-key", "secret-key"] if secret else ["public-key"]
    missing = [k for k in want if len(keys.get(k, "")) != 40]
    if missing:
        raise SystemExit(f"{path}: no {' or '.join(missing)} of 40 Z85 characters")
    return keys


def wait_handshake(monitor, curve, timeout):
    """None once the handshake succeeded, else why not (docs/security.md)."""
    from zmq.utils.monitor import recv_monitor_message
    deadline = time.monotonic() + timeout
    why = None
    while time.monotonic() < deadline:
        if not monitor.poll(int(max(1, (deadline - time.monotonic()) * 1000))):
            break
        event = recv_monitor_message(monitor)
        e, value = event["event"], event["value"]
        if e == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            return None
        if e == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            return f"the broker refused this key (status {value}): its .pub is not among the allowed subscribers"
        if e == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
            return ("the broker does not use CURVE: drop --curve-key/--broker-pub" if curve
                    else "the broker requires CURVE: give --curve-key and --broker-pub")
        if e == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:
            why = (f"the CURVE handshake failed ({zmq.strerror(value)}): is --broker-pub the broker's key?" if curve
                   else f"the handshake failed ({zmq.strerror(value)}): the broker likely requires CURVE: "
                        "give --curve-key and --broker-pub")
        if e == zmq.EVENT_DISCONNECTED and curve and not why:
            why = "the broker closed the connection during the CURVE handshake: is --broker-pub its key?"
    return why or f"no handshake with the publisher within {timeout:g} s (is the broker there?)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--publisher", default="tcp://127.0.0.1:7782", help="the broker's PUB endpoint")
    ap.add_argument("--run", default="", help="only this run (default: every run)")
    ap.add_argument("--count", type=int, default=1, help="exit after this many runs finished (0: never)")
    ap.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")
    ap.add_argument("--ready", action="store_true", help='print "subscribed" once connected')
    ap.add_argument("--curve-key", default="", help="this subscriber's keypair file (loads-broker keygen NAME)")
    ap.add_argument("--broker-pub", default="", help="the broker's public key file, with --curve-key")
    args = ap.parse_args()
    if bool(args.curve_key) != bool(args.broker_pub):
        ap.error("--curve-key and --broker-pub go together")

    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    # Topics are "run.<id>.snapshot", "run.<id>.event" and "cluster".
    prefix = f"run.{args.run}." if args.run else "run."
    sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    if not args.run:
        sub.setsockopt(zmq.SUBSCRIBE, b"cluster")
    if args.curve_key:
        own, broker = read_key_file(args.curve_key, True), read_key_file(args.broker_pub, False)
        sub.curve_secretkey = own["secret-key"].encode()
        sub.curve_publickey = own["public-key"].encode()
        sub.curve_serverkey = broker["public-key"].encode()
    # ZeroMQ connects in the background: wait for the handshake (or say why
    # the broker refused it) before saying we are subscribed.
    monitor = sub.get_monitor_socket()
    sub.connect(args.publisher)
    why = wait_handshake(monitor, bool(args.curve_key), args.timeout or 10)
    sub.disable_monitor()
    if why:
        print(f"cannot subscribe to {args.publisher}: {why}", file=sys.stderr, flush=True)
        return 1
    if args.ready:
        print("subscribed", args.publisher, flush=True)
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)

    deadline = time.monotonic() + args.timeout if args.timeout else None
    finished = 0
    while True:
        wait_ms = 1000 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        if deadline is not None and wait_ms == 0:
            print(f"timeout after {args.timeout}s", file=sys.stderr)
            return 1
        if not poller.poll(min(wait_ms, 1000)):
            continue
        frames = sub.recv_multipart()
        if len(frames) != 2:
            print(f"skipped a message of {len(frames)} frames", file=sys.stderr)
            continue
        topic = frames[0].decode(errors="replace")
        try:
            body = msgpack.unpackb(frames[1], strict_map_key=False)
        except Exception as e:  # a subscriber must never die on one bad message
            print(f"skipped {topic}: not msgpack ({e})", file=sys.stderr)
            continue
        if not isinstance(body, dict) or body.get("v") != VERSION:
            print(f"skipped {topic}: protocol version {body.get('v') if isinstance(body, dict) else '?'}",
                  file=sys.stderr)
            continue

        if topic == "cluster":
            print(f"cluster {body['event']} {body['agent']['id']}", flush=True)
        elif topic.endswith(".snapshot"):
            d = body["delta"]
            total = body["hits_total"]
            secs = body["elapsed_ns"] / 1e9
            print(f"snapshot run={body['run']} seq={body['seq']} cycle={body['cycle']} "
                  f"hits={body['hits_done']}{'/' + str(total) if total is not None else ''} "
                  f"agents={body['agents_running']} elapsed={secs:.1f}s delta: {stats_line(d)}", flush=True)
        elif topic.endswith(".event"):
            agent = body["agent"] or "-"
            print(f"event run={body['run']} {body['event']} {agent} {body['message']}", flush=True)
            summary = body.get("summary")
            if body["event"] == "finished" and summary is not None:
                t = summary["total"]
                print(f"finished run={body['run']} {stats_line(t)} agents={','.join(summary['agents'])} "
                      f"incomplete={summary['incomplete']}", flush=True)
                for name, m in sorted(t.get("metrics", {}).items()):
                    print(f"  {metric_line(name, m)}", flush=True)
                for line in summary["events"]:
                    print(f"  {line}", flush=True)
                finished += 1
                if args.count and finished >= args.count:
                    return 0


if __name__ == "__main__":
    sys.exit(main())
