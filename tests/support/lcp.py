"""Bodies of the broker's PUB stream (docs/protocol.md 4.5, 4.6, 7) built in
Python, for tests that play the broker's publisher to loads-dashboard: a
histogram from latencies, Stats, snapshots, run and cluster events. Each
function returns what msgpack packs; `frames()` gives the two frames."""
import msgpack

V = 2

STAT_COUNTERS = ["hits", "successes", "failures", "errors", "interrupted", "scheduled", "dropped", "late",
                 "requests", "request_errors", "bytes_sent", "bytes_received", "ws_opened", "ws_closed",
                 "ws_messages_sent", "ws_messages_received", "ws_bytes_sent", "ws_bytes_received", "tcp_opened",
                 "tcp_closed", "tcp_bytes_sent", "tcp_bytes_received"]


def bucket(x):
    """The histogram bucket of x ns (docs/protocol.md 7)."""
    if x < 256:
        return x
    e = x.bit_length() - 1
    return 256 + (e - 8) * 128 + (x >> (e - 7)) - 128


def hist(values_ns):
    """The wire Histogram of these latencies (ns)."""
    if not values_ns:
        return {"buckets": [], "min": 0, "max": 0, "sum": 0, "clamped": 0}
    counts = {}
    for v in values_ns:
        b = bucket(v)
        counts[b] = counts.get(b, 0) + 1
    flat = []
    for k in sorted(counts):
        flat += [k, counts[k]]
    return {"buckets": flat, "min": min(values_ns), "max": max(values_ns), "sum": sum(values_ns), "clamped": 0}


def stats(latencies_ns=(), errors=None, messages=None, labels=None, **counters):
    """Stats of successful hits, one request each, with these latencies;
    `errors` {kind: n} adds errored hits; `labels` {name: [latencies]}."""
    s = {k: 0 for k in STAT_COUNTERS}
    n = len(latencies_ns)
    errors = errors or {}
    n_err = sum(errors.values())
    s.update(hits=n + n_err, successes=n, errors=n_err, requests=n, bytes_sent=120 * n, bytes_received=900 * n)
    s.update(counters)
    s.update(errors_by_kind=dict(errors), status_codes={200: n} if n else {}, messages=dict(messages or {}),
             latency=hist(list(latencies_ns)), latency_from_schedule=hist([]),
             labels={name: {"count": len(v), "errors": 0, "latency": hist(v)} for name, v in (labels or {}).items()})
    return s


def snapshot(run, seq, elapsed_ns, delta, hits_done, agents=(), users=0, users_busy=0, cycle=0,
             hits_total=None, duration_total_ns=None):
    """A run.<id>.snapshot body; `agents` is a list of SnapshotAgent dicts."""
    return {"v": V, "run": run, "seq": seq, "cycle": cycle, "elapsed_ns": elapsed_ns, "hits_done": hits_done,
            "hits_total": hits_total, "duration_total_ns": duration_total_ns, "agents_running": len(agents),
            "users": users, "users_busy": users_busy, "delta": delta, "agents": list(agents)}


def agent(id, host, pid, threads=2, version="0.1.0"):
    """An Agent (4.6)."""
    return {"id": id, "host": host, "pid": pid, "threads": threads, "version": version}


def summary(run, total, agents, started_ms, elapsed_ns, test="http://127.0.0.1/", agent_info=(), cycles=()):
    """A RunSummary (4.6)."""
    return {"run": run, "test": test, "started_ms": started_ms, "elapsed_ns": elapsed_ns, "stopped": False,
            "incomplete": False, "error": "", "agents": list(agents), "agent_info": list(agent_info),
            "events": [], "cycles": list(cycles), "total": total}


def run_event(run, event, time_ms, message="", agent="", summary=None):
    return {"v": V, "run": run, "event": event, "agent": agent, "message": message, "time_ms": time_ms,
            "summary": summary}


def cluster_event(event, agent_body, time_ms):
    return {"v": V, "event": event, "agent": agent_body, "time_ms": time_ms}


def frames(body):
    """The two frames of a published body: topic, msgpack."""
    if "seq" in body:
        topic = f"run.{body['run']}.snapshot"
    elif "run" in body:
        topic = f"run.{body['run']}.event"
    else:
        topic = "cluster"
    return [topic.encode(), msgpack.packb(body, use_bin_type=True)]


def merge_stats(into, s):
    """Adds Stats s to into (counters, kinds, codes, messages; histograms
    by bucket), as the broker merges deltas into a summary's total."""
    for k in STAT_COUNTERS:
        into[k] += s[k]
    for field in ("errors_by_kind", "status_codes", "messages"):
        for k, n in s[field].items():
            into[field][k] = into[field].get(k, 0) + n
    into["latency"] = merge_hist(into["latency"], s["latency"])
    for name, row in s["labels"].items():
        mine = into["labels"].setdefault(name, {"count": 0, "errors": 0, "latency": hist([])})
        mine["count"] += row["count"]
        mine["errors"] += row["errors"]
        mine["latency"] = merge_hist(mine["latency"], row["latency"])
    return into


def merge_hist(a, b):
    if not b["buckets"]:
        return a
    if not a["buckets"]:
        return dict(b)
    counts = dict(zip(a["buckets"][::2], a["buckets"][1::2]))
    for k, n in zip(b["buckets"][::2], b["buckets"][1::2]):
        counts[k] = counts.get(k, 0) + n
    flat = []
    for k in sorted(counts):
        flat += [k, counts[k]]
    return {"buckets": flat, "min": min(a["min"], b["min"]), "max": max(a["max"], b["max"]),
            "sum": a["sum"] + b["sum"], "clamped": a["clamped"] + b["clamped"]}


class Publisher:
    """A PUB socket on a free loopback port playing the broker's publisher:
    `publisher` is its endpoint (what DashboardProc wants of a broker).
    sndhwm=0 queues without limit, so a subscriber's pace is the sender's."""

    def __init__(self, sndhwm=1000):
        import zmq
        self.sock = zmq.Context.instance().socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, sndhwm)
        self.publisher = f"tcp://127.0.0.1:{self.sock.bind_to_random_port('tcp://127.0.0.1')}"

    def send(self, body):
        self.sock.send_multipart(frames(body))

    def send_frames(self, raw):
        self.sock.send_multipart(raw)

    def close(self):
        self.sock.close()
