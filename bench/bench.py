#!/usr/bin/env python3
"""qr3-webhookd benchmark: the daemon against the bare libcurl ceiling, in one run.

Run through `make bench`, which builds the release binary first. Starts its own nginx on
127.0.0.1 (stopped by pid at the end), compiles bench/curl-ceiling.c, then runs the
scenarios and prints one table. Every figure is also given as a ratio to the ceiling
measured in the same run, because absolute numbers depend on the machine and its load.

Scenarios: ceiling, drain, latency, backlog, neighbour, fanout, commits, soak, slow, mix, memory, pg-drain,
pg-latency (default: all; slow, mix and memory, in bench/slow.py, need the release build of bench-receiver;
pg-drain and pg-latency, in bench/postgres.py, start a PostgreSQL cluster of their own). Ceiling and drain
run as `--pairs` back-to-back pairs (3 by default) and the pair with the median ratio is shown,
with every pair's ratio beside it: on a machine whose speed changes from minute to minute, one
pair can read far too high or too low.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = ('{"code_id":"qr_abc123","short_code":"r7f3Kx","scan_id":"scn_xyz",'
        '"country":"AT","device_type":"mobile","os":"iOS"}')
SECRET = "bench-secret-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Nginx:
    """nginx on 127.0.0.1 with its own configuration and folder, stopped by pid."""

    def __init__(self, folder):
        self.folder = folder
        self.port = free_port()
        with open(os.path.join(ROOT, "bench", "nginx.conf.in")) as template:
            conf = template.read().replace("@DIR@", folder).replace("@PORT@", str(self.port))
        self.conf = os.path.join(folder, "nginx.conf")
        with open(self.conf, "w") as out:
            out.write(conf)
        subprocess.run(["nginx", "-c", self.conf, "-p", folder, "-e", os.path.join(folder, "nginx-error.log")],
                       check=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        try:
            with open(os.path.join(self.folder, "nginx.pid")) as pid_file:
                pid = int(pid_file.read().strip())
            os.kill(pid, signal.SIGQUIT)
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass


class BlackHole:
    """A TCP listener that never accepts: requests to it connect, then time out."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(4096)
        self.port = self.socket.getsockname()[1]

    def close(self):
        self.socket.close()


def stat_cpu_seconds(text):
    """User + system CPU seconds from the text of a /proc/PID/stat (or .../task/TID/stat)."""
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as stat:
        cpu = stat_cpu_seconds(stat.read())
    hwm = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, hwm


def thread_cpu(pid):
    """CPU seconds by thread name (the delivery thread, the task pool, SQLite's queues...)."""
    totals = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as stat:
                text = stat.read()
        except FileNotFoundError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        totals[name] = totals.get(name, 0) + stat_cpu_seconds(text)
    return totals


class Database:
    """A database prepared directly with SQL, as fast as possible, before the daemon starts."""

    def __init__(self, binary, folder, name):
        self.path = os.path.join(folder, name + ".sqlite")
        subprocess.run([binary, "migrate", "--database", self.path], check=True, stdout=subprocess.DEVNULL)
        self.connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.connection.execute("PRAGMA busy_timeout = 30000")
        self.webhooks = []

    def add_webhooks(self, count, url, events='["*"]', workspace="ws_bench"):
        now = int(time.time() * 1000)
        rows = []
        for index in range(count):
            webhook_id = f"wh_bench{len(self.webhooks):012d}"
            self.webhooks.append(webhook_id)
            rows.append((webhook_id, workspace, url, events, SECRET, now, now))
        self.connection.execute("BEGIN IMMEDIATE")
        self.connection.executemany(
            "INSERT INTO webhooks (id, workspace_id, url, events, secret, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self.connection.execute("COMMIT")
        return self.webhooks[-count:]

    def queue_jobs(self, events, webhooks, prefix="evt_bench"):
        """Adds `events` events, each with one pending job per webhook in `webhooks`."""
        now = int(time.time() * 1000)
        self.connection.execute("BEGIN IMMEDIATE")
        for start in range(0, events, 1000):
            batch = range(start, min(events, start + 1000))
            event_rows = []
            job_rows = []
            for index in batch:
                event_id = f"{prefix}{index:010d}"
                payload = (f'{{"id":"{event_id}","type":"qr.scanned","created":"2026-03-15T10:00:00.000Z",'
                           f'"data":{DATA}}}').encode()
                event_rows.append((event_id, "ws_bench", "qr.scanned", payload, now, now))
                for webhook_id in webhooks:
                    job_rows.append((event_id, webhook_id, now, now, now))
            self.connection.executemany(
                "INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", event_rows)
            self.connection.executemany(
                "INSERT INTO jobs (event_id, webhook_id, available_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?)", job_rows)
        self.connection.execute("COMMIT")

    def count(self, sql, *arguments):
        return self.connection.execute(sql, arguments).fetchone()[0]

    def has_open_jobs(self, except_webhook=""):
        """Whether any job (other than `except_webhook`'s) is still to send or in flight.

        Two probes of the daemon's partial indexes: the poll costs the same whatever the backlog,
        where a COUNT over a million jobs every 50 ms would take CPU from the daemon it measures.
        """
        return bool(self.count(
            "SELECT EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_due "
            "               WHERE state = 'pending' AND lease_owner IS NULL AND webhook_id <> ?1) "
            "    OR EXISTS (SELECT 1 FROM jobs INDEXED BY jobs_leased "
            "               WHERE lease_owner IS NOT NULL AND webhook_id <> ?1)", except_webhook))


class Daemon:
    # Set by main: the concurrency the ceiling runs with, so daemon and ceiling always match.
    common = []

    def __init__(self, binary, database, extra=(), defaults=False):
        """`defaults`: without the benchmark's common settings (the slow-receiver scenarios)."""
        self.log_path = database.path + ".log"
        self.log = open(self.log_path, "w")
        self.metrics_port = free_port()
        self.process = subprocess.Popen(
            [binary, "run", "--database", getattr(database, "url", database.path), "--allow-networks", "127.0.0.0/8", "--listen", "127.0.0.1:0",
             "--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--log-level", "notice", *([] if defaults else Daemon.common), *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.started = time.monotonic()
        self.spawned = time.time()

    def stats(self):
        return proc_stats(self.process.pid)

    def longest_write_ms(self):
        """The longest write transaction of the daemon, from its metrics; None when it has none."""
        try:
            with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=5) as connection:
                connection.sendall(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
                text = b""
                while chunk := connection.recv(65536):
                    text += chunk
        except OSError:
            return None
        for line in text.decode(errors="replace").splitlines():
            if line.startswith("qr3_webhookd_database_write_longest_seconds "):
                return float(line.split()[1]) * 1000
        return None

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def wait_until(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def sending_window(database, daemon, except_webhook=""):
    """When the daemon sent its first request and recorded its last attempt, from the attempts.

    The ceiling's clock runs from its first request to its last answer, without its process
    start; the daemon's is read the same way from what it recorded: an attempt's time minus its
    response time is when its request went out. Returns (seconds sending, seconds from the
    daemon's spawn to its first request). Polling for the end alone would add the daemon's
    start (opening and checking the database, the API's socket: about 45 ms) and up to one poll
    interval to a 4-second drain, about 2% that the ceiling's figure does not carry.
    """
    first, last = database.connection.execute(
        "SELECT MIN(created_at - response_time_ms), MAX(created_at) FROM attempts WHERE webhook_id <> ?",
        (except_webhook,)).fetchone()
    return (last - first) / 1000, first / 1000 - daemon.spawned


def drain(binary, folder, nginx, name, events, webhook_count, extra=()):
    """Queues events x webhooks jobs, then times the daemon until none is pending."""
    database = Database(binary, folder, name)
    webhooks = database.add_webhooks(webhook_count, nginx.url())
    database.queue_jobs(events, webhooks)
    total = events * webhook_count
    daemon = Daemon(binary, database, extra)
    begin = time.monotonic()
    finished = wait_until(
        lambda: not database.has_open_jobs(), timeout=1800, interval=0.05)
    polled = time.monotonic() - begin
    cpu, hwm = daemon.stats()
    threads = thread_cpu(daemon.process.pid)
    longest_write = daemon.longest_write_ms()
    daemon.stop()
    attempts = database.count("SELECT COUNT(*) FROM attempts")
    delivered = database.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'")
    if not finished or delivered != total or attempts != total:
        raise RuntimeError(f"{name}: delivered {delivered}, attempts {attempts} of {total}; see {daemon.log_path}")
    seconds, startup = sending_window(database, daemon)
    return {"deliveries": total, "seconds": seconds, "rps": total / seconds,
            "cpu_us_per_delivery": cpu / total * 1e6, "peak_rss_mib": hwm / 1024,
            "startup_seconds": startup, "polled_seconds": polled, "longest_write_ms": longest_write,
            "thread_cpu_us_per_delivery": {name: seconds / total * 1e6 for name, seconds in threads.items()}}


def scenario_ceiling(args, folder, nginx):
    tool = os.path.join(folder, "curl-ceiling")
    subprocess.run(["cc", "-O2", "-o", tool, os.path.join(ROOT, "bench", "curl-ceiling.c"), "-lcurl"], check=True)
    body = os.path.join(folder, "body.json")
    with open(body, "w") as out:
        out.write(f'{{"id":"evt_bench0000000000","type":"qr.scanned","created":"2026-03-15T10:00:00.000Z",'
                  f'"data":{DATA}}}')
    result = subprocess.run([tool, nginx.url(), str(args.drain_events * 100), str(args.concurrency), body],
                            check=True, capture_output=True, text=True)
    figures = json.loads(result.stdout)
    return {"deliveries": figures["requests"], "seconds": figures["seconds"], "rps": figures["rps"],
            "cpu_us_per_delivery": figures["cpu_seconds"] / figures["requests"] * 1e6,
            "peak_rss_mib": figures["max_rss_kib"] / 1024}


def scenario_latency(args, folder, nginx, binary):
    database = Database(binary, folder, "latency")
    database.add_webhooks(1, nginx.url("/timed"))
    arrivals = os.path.join(nginx.folder, "arrivals.log")
    open(arrivals, "w").close()
    daemon = Daemon(binary, database)
    wait_until(lambda: "qr3-webhookd started" in open(daemon.log_path).read(), 30)
    producer = sqlite3.connect(database.path, timeout=5, isolation_level=None)
    producer.execute("PRAGMA busy_timeout = 5000")
    committed = {}
    rate = args.latency_rate
    count = int(rate * args.latency_seconds)
    begin = time.monotonic()
    for index in range(count):
        target = begin + index / rate
        pause = target - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        event_id = f"evt_lat{index:010d}"
        producer.execute("BEGIN IMMEDIATE")
        producer.execute("INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (?, 'ws_bench', 'qr.scanned', ?)",
                         (event_id, DATA))
        producer.execute("COMMIT")
        committed[event_id] = time.time()
    produce_seconds = time.monotonic() - begin

    def arrived():
        with open(arrivals) as log:
            return sum(1 for _ in log) >= count
    wait_until(arrived, 60, 0.05)
    cpu, hwm = daemon.stats()
    daemon.stop()
    latencies = []
    with open(arrivals) as log:
        for line in log:
            at, event_id = line.split()
            if event_id in committed:
                latencies.append((float(at) - committed.pop(event_id)) * 1000)
    if committed:
        raise RuntimeError(f"latency: {len(committed)} events never arrived; see {daemon.log_path}")
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]
    return {"deliveries": count, "seconds": produce_seconds, "rps": count / produce_seconds,
            "cpu_us_per_delivery": cpu / count * 1e6, "peak_rss_mib": hwm / 1024,
            "p50_ms": percentile(0.50), "p99_ms": percentile(0.99), "max_ms": latencies[-1]}


def scenario_neighbour(args, folder, nginx, binary):
    hole = BlackHole()
    try:
        database = Database(binary, folder, "neighbour")
        healthy = database.add_webhooks(100, nginx.url())
        bad = database.add_webhooks(1, f"http://127.0.0.1:{hole.port}/never")
        database.queue_jobs(args.neighbour_bad_jobs, bad, prefix="evt_bad")
        database.queue_jobs(args.drain_events, healthy)
        total = args.drain_events * 100
        daemon = Daemon(binary, database)
        begin = time.monotonic()
        finished = wait_until(lambda: not database.has_open_jobs(except_webhook=bad[0]), timeout=1800, interval=0.05)
        polled = time.monotonic() - begin
        cpu, hwm = daemon.stats()
        daemon.stop()
        delivered = database.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered' AND webhook_id <> ?", bad[0])
        if not finished or delivered != total:
            raise RuntimeError(f"neighbour: {delivered} of {total} healthy jobs delivered; see {daemon.log_path}")
        seconds, startup = sending_window(database, daemon, except_webhook=bad[0])
        return {"deliveries": total, "seconds": seconds, "rps": total / seconds,
                "cpu_us_per_delivery": cpu / total * 1e6, "peak_rss_mib": hwm / 1024,
                "startup_seconds": startup, "polled_seconds": polled}
    finally:
        hole.close()


def scenario_fanout(args, folder, nginx, binary):
    database = Database(binary, folder, "fanout")
    database.add_webhooks(args.fanout_webhooks, nginx.url())
    daemon = Daemon(binary, database)
    wait_until(lambda: "qr3-webhookd started" in open(daemon.log_path).read(), 30)
    begin = time.monotonic()
    database.connection.execute(
        "INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_bench', 'qr.scanned', ?)", (DATA,))
    finished = wait_until(
        lambda: database.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'") == args.fanout_webhooks,
        timeout=120, interval=0.005)
    seconds = time.monotonic() - begin
    cpu, hwm = daemon.stats()
    daemon.stop()
    if not finished:
        raise RuntimeError(f"fanout: not all delivered; see {daemon.log_path}")
    return {"deliveries": args.fanout_webhooks, "seconds": seconds, "rps": args.fanout_webhooks / seconds,
            "cpu_us_per_delivery": cpu / args.fanout_webhooks * 1e6, "peak_rss_mib": hwm / 1024}


def scenario_commits(args, folder, nginx, binary):
    """A producer's commit latency while the daemon fans 200 events out to 5,000 webhooks.

    The webhooks are disabled, so the million jobs are made (held) and none is sent: what is
    measured is the fan-out's hold on the write lock, which the producer's commits wait for.
    """
    database = Database(binary, folder, "commits")
    webhooks = database.add_webhooks(args.commit_webhooks, nginx.url())
    database.connection.execute(
        "UPDATE webhooks SET is_active = 0, disabled_at = 1, disabled_reason = 'bench', disabled_by = 'operator'")
    daemon = Daemon(binary, database)
    wait_until(lambda: "qr3-webhookd started" in open(daemon.log_path).read(), 30)
    producer = sqlite3.connect(database.path, timeout=5, isolation_level=None)
    producer.execute("PRAGMA busy_timeout = 5000")
    producer.execute("BEGIN IMMEDIATE")
    for _ in range(args.commit_events):
        producer.execute("INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_bench', 'qr.scanned', ?)", (DATA,))
    producer.execute("COMMIT")
    total = args.commit_events * len(webhooks)
    commits, errors = [], 0
    begin = time.monotonic()
    while time.monotonic() - begin < 600:
        started = time.monotonic()
        try:
            producer.execute("BEGIN IMMEDIATE")
            producer.execute("INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_other', 'qr.created', '{}')")
            producer.execute("COMMIT")
        except sqlite3.OperationalError:
            errors += 1
        commits.append((time.monotonic() - started) * 1000)
        if len(commits) % 50 == 0 and database.count("SELECT COUNT(*) FROM jobs") >= total:
            break
        time.sleep(0.01)
    seconds = time.monotonic() - begin
    cpu, hwm = daemon.stats()
    longest_write = daemon.longest_write_ms()
    daemon.stop()
    made = database.count("SELECT COUNT(*) FROM jobs")
    if made != total:
        raise RuntimeError(f"commits: {made} of {total} jobs made; see {daemon.log_path}")
    commits.sort()
    return {"deliveries": total, "seconds": seconds, "rps": total / seconds,
            "cpu_us_per_delivery": cpu / total * 1e6, "peak_rss_mib": hwm / 1024,
            "commits": len(commits), "errors": errors, "p50_ms": commits[len(commits) // 2],
            "p99_ms": commits[min(len(commits) - 1, len(commits) * 99 // 100)], "max_ms": commits[-1],
            "longest_write_ms": longest_write}


def scenario_soak(args, folder, nginx, binary):
    """A steady rate with a short retention: database size and RSS sampled, to show them flat."""
    database = Database(binary, folder, "soak")
    database.add_webhooks(1, nginx.url())
    daemon = Daemon(binary, database, ["--retention", f"{args.soak_retention}s"])
    wait_until(lambda: "qr3-webhookd started" in open(daemon.log_path).read(), 30)
    producer = sqlite3.connect(database.path, timeout=5, isolation_level=None)
    producer.execute("PRAGMA busy_timeout = 5000")
    rate, batch = args.soak_rate, max(1, int(args.soak_rate / 20))
    samples, produced = [], 0
    begin = time.monotonic()
    next_sample = 0.0
    while (elapsed := time.monotonic() - begin) < args.soak_seconds:
        if elapsed >= next_sample:
            _, hwm = daemon.stats()
            rss = current_rss_kib(daemon.process.pid)
            size = os.path.getsize(database.path) + (
                os.path.getsize(database.path + "-wal") if os.path.exists(database.path + "-wal") else 0)
            samples.append((round(elapsed), size, rss))
            next_sample += args.soak_seconds / 12
        producer.execute("BEGIN IMMEDIATE")
        for _ in range(batch):
            producer.execute("INSERT INTO outbox (workspace_id, type, data) VALUES ('ws_bench', 'qr.scanned', ?)", (DATA,))
        producer.execute("COMMIT")
        produced += batch
        pause = begin + produced / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    cpu, hwm = daemon.stats()
    daemon.stop()
    settled = [size for at, size, _ in samples if at >= 2 * args.soak_retention]
    return {"deliveries": produced, "seconds": args.soak_seconds, "rps": produced / args.soak_seconds,
            "cpu_us_per_delivery": cpu / produced * 1e6, "peak_rss_mib": hwm / 1024,
            "samples": samples, "settled_growth": (max(settled) / min(settled) - 1) if len(settled) > 1 else None}


def compare(args, folder, nginx):
    """`--compare`: several builds side by side, alternating, each beside the same ceilings.

    Each round runs the ceiling, then every build's drain (in reverse order every other round,
    so no build always runs right after the ceiling); the latency runs alternate the same way.
    The memory and slow scenarios run once per build, one build after the other.
    """
    builds = [entry.split("=", 1) for entry in args.compare.split(",")]
    wanted = args.scenarios.split(",")
    figures = {name: {"drain": [], "latency": []} for name, _ in builds}
    for round_index in range(max(1, args.pairs)):
        order = builds if round_index % 2 == 0 else builds[::-1]
        if "drain" in wanted:
            ceiling = scenario_ceiling(args, folder, nginx)
            for name, binary in order:
                drained = drain(binary, folder, nginx, f"drain-{name}-{round_index}", args.drain_events, 100)
                drained["ratio"] = drained["rps"] / ceiling["rps"]
                figures[name]["drain"].append(drained)
                print(f"round {round_index + 1}: {name:<8} drain {drained['ratio']:.0%} of the ceiling "
                      f"({drained['rps']:.0f}/s against {ceiling['rps']:.0f}/s), "
                      f"{drained['cpu_us_per_delivery']:.1f} us/dlv; by thread: "
                      + ", ".join(f"{thread} {us:.1f}" for thread, us in
                                  sorted(drained["thread_cpu_us_per_delivery"].items(), key=lambda item: -item[1])
                                  if us >= 0.1), flush=True)
        if "latency" in wanted:
            for name, binary in order:
                latency_folder = os.path.join(folder, f"latency-{name}-{round_index}")
                os.makedirs(latency_folder)
                latency = scenario_latency(args, latency_folder, nginx, binary)
                figures[name]["latency"].append(latency)
                print(f"round {round_index + 1}: {name:<8} latency p50 {latency['p50_ms']:.1f} ms, "
                      f"p99 {latency['p99_ms']:.1f} ms, max {latency['max_ms']:.1f} ms, "
                      f"{latency['cpu_us_per_delivery']:.1f} us/dlv", flush=True)
    if "memory" in wanted or "slow" in wanted:
        receiver = slow.SlowReceiver(args.receiver)
        try:
            for name, binary in builds:
                build_args = argparse.Namespace(**vars(args))
                build_args.binary = binary
                build_folder = os.path.join(folder, name)
                os.makedirs(build_folder, exist_ok=True)
                if "memory" in wanted:
                    figures[name].update(slow.scenario_memory(build_args, build_folder, receiver))
                    print(f"{name:<8} memory: {slow.notes('memory', figures[name]['memory'])}", flush=True)
                if "slow" in wanted:
                    for key, slow_figures in slow.scenario_slow(build_args, build_folder, receiver).items():
                        figures[name][key] = slow_figures
                        print(f"{name:<8} {key}: {slow_figures['rps']:.0f}/s, {slow.notes(key, slow_figures)}, "
                              f"peak RSS {slow_figures['peak_rss_mib']:.0f} Mi", flush=True)
        finally:
            receiver.stop()

    def median(values):
        values = sorted(values)
        return values[len(values) // 2] if values else None
    print(f"\n{'build':<8} {'drain of ceiling (median; rounds)':<36} {'CPU us/dlv':>10}  latency p50/p99/max ms")
    for name, _ in builds:
        drains, latencies = figures[name]["drain"], figures[name]["latency"]
        ratios = ", ".join(f"{run['ratio']:.0%}" for run in drains)
        drain_text = f"{median([run['ratio'] for run in drains]):.0%} ({ratios})" if drains else "-"
        cpu = median([run["cpu_us_per_delivery"] for run in drains])
        cpu_text = f"{cpu:.1f}" if cpu is not None else "-"
        latency_text = ", ".join(f"{run['p50_ms']:.1f}/{run['p99_ms']:.1f}/{run['max_ms']:.1f}" for run in latencies)
        print(f"{name:<8} {drain_text:<36} {cpu_text:>10}  {latency_text or '-'}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)


def current_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/qr3-webhookd"))
    parser.add_argument("--scenarios",
                        default="ceiling,drain,latency,backlog,neighbour,fanout,commits,soak,slow,mix,memory,pg-drain,pg-latency")
    parser.add_argument("--concurrency", type=int, default=128,
                        help="transfers in flight, for the ceiling and the daemon alike, in the scenarios against nginx "
                             "(the daemon's default until 4096; the slow-receiver scenarios run it at its defaults)")
    parser.add_argument("--drain-events", type=int, default=1000, help="x 100 webhooks")
    parser.add_argument("--latency-rate", type=float, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--backlog-small", type=int, default=100, help="events x 100 webhooks")
    parser.add_argument("--backlog-large", type=int, default=10000, help="events x 100 webhooks")
    parser.add_argument("--neighbour-bad-jobs", type=int, default=10000)
    parser.add_argument("--fanout-webhooks", type=int, default=1000)
    parser.add_argument("--commit-events", type=int, default=200, help="x --commit-webhooks, for the commits scenario")
    parser.add_argument("--commit-webhooks", type=int, default=5000)
    parser.add_argument("--soak-rate", type=float, default=500, help="events a second in the soak")
    parser.add_argument("--soak-seconds", type=float, default=180)
    parser.add_argument("--soak-retention", type=float, default=30, help="seconds of retention in the soak")
    parser.add_argument("--pairs", type=int, default=3,
                        help="ceiling and drain are run this many times, each pair side by side; the median pair is shown")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--compare",
                        help="NAME=BINARY,NAME=BINARY...: run drain, latency, memory and slow (those of --scenarios) "
                             "for each build side by side instead, alternating, --pairs rounds")
    slow.add_arguments(parser)
    postgres.add_arguments(parser)
    args = parser.parse_args()
    wanted = args.scenarios.split(",")
    Daemon.common = ["--concurrency", str(args.concurrency)]
    folder = tempfile.mkdtemp(prefix="qr3-bench-")
    nginx = Nginx(folder)
    results = {}
    pairs = []
    try:
        if args.compare:
            compare(args, folder, nginx)
            return
        if "ceiling" in wanted and "drain" in wanted:
            # The machine's speed can change between two scenarios, and the ratio with it: each
            # pair is measured back to back, and the pair with the median ratio is the one shown.
            for index in range(max(1, args.pairs)):
                ceiling = scenario_ceiling(args, folder, nginx)
                drained = drain(args.binary, folder, nginx, f"drain-{index}", args.drain_events, 100)
                pairs.append({"ceiling": ceiling, "drain": drained, "ratio": drained["rps"] / ceiling["rps"]})
            median = sorted(pairs, key=lambda pair: pair["ratio"])[len(pairs) // 2]
            results["ceiling"], results["drain"] = median["ceiling"], median["drain"]
        elif "ceiling" in wanted:
            results["ceiling"] = scenario_ceiling(args, folder, nginx)
        elif "drain" in wanted:
            results["drain"] = drain(args.binary, folder, nginx, "drain", args.drain_events, 100)
        if "latency" in wanted:
            results["latency"] = scenario_latency(args, folder, nginx, args.binary)
        if "backlog" in wanted:
            results["backlog-small"] = drain(args.binary, folder, nginx, "backlog-small", args.backlog_small, 100)
            results["backlog-large"] = drain(args.binary, folder, nginx, "backlog-large", args.backlog_large, 100)
        if "neighbour" in wanted:
            results["neighbour"] = scenario_neighbour(args, folder, nginx, args.binary)
        if "fanout" in wanted:
            results["fanout"] = scenario_fanout(args, folder, nginx, args.binary)
        if "commits" in wanted:
            results["commits"] = scenario_commits(args, folder, nginx, args.binary)
        if "soak" in wanted:
            results["soak"] = scenario_soak(args, folder, nginx, args.binary)
        if "slow" in wanted or "mix" in wanted or "memory" in wanted:
            receiver = slow.SlowReceiver(args.receiver)
            try:
                if "slow" in wanted:
                    results.update(slow.scenario_slow(args, folder, receiver))
                if "mix" in wanted:
                    results.update(slow.scenario_mix(args, folder, receiver))
                if "memory" in wanted:
                    results.update(slow.scenario_memory(args, folder, receiver))
            finally:
                receiver.stop()
        if "pg-drain" in wanted or "pg-latency" in wanted:
            cluster = postgres.Cluster(folder)
            try:
                if "pg-drain" in wanted:
                    results.update(postgres.scenario_drain(args, folder, nginx, cluster))
                if "pg-latency" in wanted:
                    results.update(postgres.scenario_latency(args, folder, nginx, cluster))
            finally:
                cluster.stop()
    finally:
        nginx.stop()
        shutil.rmtree(folder, ignore_errors=True)
    ceiling = results.get("ceiling", {}).get("rps")
    print(f"{'scenario':<14} {'deliveries':>10} {'seconds':>8} {'per s':>9} {'of ceiling':>10} "
          f"{'CPU us/dlv':>10} {'peak RSS':>9}  notes")
    for name, figures in results.items():
        is_slow = name.startswith("slow-") or name.startswith("mix") or name == "memory"
        ratio = (f"{figures['rps'] / ceiling:.0%}" if ceiling and name not in ("latency", "fanout", "commits", "soak", "pg-latency")
                 and not is_slow else f"{figures['ratio']:.0%}" if "ratio" in figures else "-")
        notes = ""
        if name == "drain" and len(pairs) > 1:
            ratios = ", ".join(f"{pair['ratio']:.0%}" for pair in pairs)
            notes = f"median of {len(pairs)} side-by-side pairs: {ratios}"
        if name == "latency":
            notes = f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms"
        if name == "backlog-large" and "backlog-small" in results:
            notes = f"{figures['rps'] / results['backlog-small']['rps']:.0%} of the small backlog's rate"
        if name == "neighbour" and "drain" in results:
            notes = f"healthy endpoints at {figures['rps'] / results['drain']['rps']:.0%} of the drain rate"
        if name == "fanout":
            notes = f"1 event to {figures['deliveries']} webhooks in {figures['seconds'] * 1000:.0f} ms"
        if name == "commits":
            notes = (f"jobs made; {figures['commits']} producer commits meanwhile, {figures['errors']} errors, "
                     f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms")
        if name == "soak":
            notes = "size/RSS: " + ", ".join(f"{at}s {size / 2**20:.1f}/{rss / 1024:.0f}Mi"
                                              for at, size, rss in figures["samples"])
            if figures["settled_growth"] is not None:
                notes += f"; after two retentions the size varies {figures['settled_growth']:.0%}"
        if is_slow:
            notes = slow.notes(name, figures)
        if name.startswith("pg-"):
            notes = postgres.notes(name, figures, results)
        if figures.get("longest_write_ms") is not None:
            notes += ("; " if notes else "") + f"longest write lock hold {figures['longest_write_ms']:.1f} ms"
        if "startup_seconds" in figures:
            # The rate is taken from the first request to the last attempt recorded, as the
            # ceiling's is; the daemon's start before its first request is shown here.
            with_start = figures["deliveries"] / (figures["startup_seconds"] + figures["seconds"])
            notes += ("; " if notes else "") + (
                f"first request {figures['startup_seconds'] * 1000:.0f} ms after start ({with_start:.0f}/s counting it)")
        print(f"{name:<14} {figures['deliveries']:>10} {figures['seconds']:>8.2f} {figures['rps']:>9.0f} {ratio:>10} "
              f"{figures['cpu_us_per_delivery']:>10.1f} {figures['peak_rss_mib']:>7.1f}Mi  {notes}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(results, pairs=pairs), out, indent=2)


if __name__ == "__main__":
    sys.modules["bench"] = sys.modules[__name__]
    import postgres
    import slow
    main()
