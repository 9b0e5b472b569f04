"""qr3-webhookd on PostgreSQL: drain with 1, 2 and 4 daemons on one database, and latency.

Imported by bench/bench.py (scenarios `pg-drain` and `pg-latency`). Starts a throwaway PostgreSQL
cluster of its own (initdb and pg_ctl on a free port of 127.0.0.1, as the postgres user when run
as root), in the benchmark's temporary folder, stopped at the end. The server runs with fsync on;
the daemon's own commits use `synchronous_commit = off` as it does by default (the equivalent of
SQLite's `synchronous = NORMAL`: a crash of the server loses nothing committed, a power loss may
roll back the last commits), the producers' commits are durable.

The drain queues the same jobs as bench.py's SQLite drain (100 webhooks on the same nginx) and
starts N daemons at once; its rate is read from the attempts, first request to last answer, as the
SQLite drain's is, so the three rates and the SQLite one compare with the ceiling of the same run.
"""
import glob
import os
import subprocess
import time

import bench

PSYCOPG_VERSION = "3.3.9"


def psycopg():
    """psycopg (pinned; pure Python on the system's libpq), installed when missing."""
    try:
        import psycopg as module
        if module.__version__ == PSYCOPG_VERSION:
            return module
    except ImportError:
        pass
    for extra in ([], ["--break-system-packages"]):
        result = subprocess.run(["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                 *extra, f"psycopg=={PSYCOPG_VERSION}"])
        if result.returncode == 0:
            break
    import importlib
    importlib.invalidate_caches()
    import psycopg as module
    return module


class Cluster:
    """A PostgreSQL cluster in `folder`, on a free port."""

    def __init__(self, folder):
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not versions:
            raise RuntimeError("no PostgreSQL server binaries: install the postgresql package (scripts/bootstrap does)")
        self.bin = os.path.dirname(versions[-1])
        self.folder = os.path.join(folder, "postgres")
        os.makedirs(self.folder)
        os.chmod(folder, 0o711)  # the server's user passes through the benchmark's private folder
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if os.getuid() == 0:
            subprocess.run(["chown", "postgres:postgres", self.folder], check=True)
        self.data = os.path.join(self.folder, "data")
        subprocess.run(self.as_user + [f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                                       "-E", "UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
        self.port = bench.free_port()
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                   f"-c shared_buffers=512MB -c max_wal_size=4GB")
        subprocess.run(self.as_user + [f"{self.bin}/pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "log"),
                                       "-o", options, "-w", "start"], check=True, stdout=subprocess.DEVNULL)
        self.count = 0

    def cpu_seconds(self):
        """CPU time used so far by the server's processes (the postmaster and its backends)."""
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
                if not (command.startswith(b"postgres:") or (b"bin/postgres" in command and self.data.encode() in command)):
                    continue
                with open(f"/proc/{pid}/stat") as stat:
                    total += bench.stat_cpu_seconds(stat.read())
            except OSError:
                continue
        return total

    def url(self, name):
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def create(self, binary):
        """A new database, migrated by the daemon's binary; returns its URL."""
        self.count += 1
        name = f"bench_{self.count}"
        subprocess.run([f"{self.bin}/psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "-d", "postgres", "-c", f"CREATE DATABASE {name}"], check=True)
        url = self.url(name)
        subprocess.run([binary, "migrate", "--database", url], check=True, stdout=subprocess.DEVNULL)
        return url

    def stop(self):
        subprocess.run(self.as_user + [f"{self.bin}/pg_ctl", "-D", self.data, "stop", "-m", "fast"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Database:
    """bench.Database's preparation, on PostgreSQL."""

    def __init__(self, cluster, binary, folder, name):
        self.url = cluster.create(binary)
        self.path = os.path.join(folder, name)  # where the daemons' logs go
        self.connection = psycopg().connect(self.url, autocommit=True)
        self.webhooks = []

    def add_webhooks(self, count, url):
        now = int(time.time() * 1000)
        ids = [f"wh_bench{len(self.webhooks) + index:012d}" for index in range(count)]
        self.webhooks += ids
        with self.connection.transaction():
            self.connection.execute(
                "INSERT INTO webhooks (id, workspace_id, url, events, secret, created_at, updated_at) "
                "SELECT id, 'ws_bench', %s, '[\"*\"]', %s, %s, %s FROM unnest(%s::text[]) AS id",
                (url, bench.SECRET, now, now, ids))
        return ids

    def queue_jobs(self, events, webhooks):
        now = int(time.time() * 1000)
        with self.connection.transaction():
            self.connection.execute(
                "INSERT INTO events (id, workspace_id, type, payload, created_at, dispatched_at) "
                "SELECT 'evt_bench' || lpad(n::text, 10, '0'), 'ws_bench', 'qr.scanned', "
                "'{\"id\":\"evt_bench' || lpad(n::text, 10, '0') || '\",\"type\":\"qr.scanned\","
                "\"created\":\"2026-03-15T10:00:00.000Z\",\"data\":' || %s || '}', %s, %s "
                "FROM generate_series(0, %s - 1) AS n", (bench.DATA, now, now, events))
            self.connection.execute(
                "INSERT INTO jobs (event_id, webhook_id, available_at, created_at, updated_at) "
                "SELECT 'evt_bench' || lpad(n::text, 10, '0'), w, %s, %s, %s "
                "FROM generate_series(0, %s - 1) AS n, unnest(%s::text[]) AS w", (now, now, now, events, webhooks))
        self.connection.execute("ANALYZE")

    def count(self, sql, *arguments):
        return self.connection.execute(sql, arguments).fetchone()[0]

    def has_open_jobs(self):
        return bool(self.count(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'pending')"))


def Daemon(binary, database, index, extra=()):
    """bench.Daemon on the database's URL, with a log of its own."""
    return bench.Daemon(binary, type("Target", (), {"url": database.url, "path": f"{database.path}-{index}"})(), extra)


def drain(cluster, binary, folder, nginx, daemons, events, webhook_count=100):
    database = Database(cluster, binary, folder, f"pg-drain-{daemons}")
    webhooks = database.add_webhooks(webhook_count, nginx.url())
    database.queue_jobs(events, webhooks)
    total = events * webhook_count
    server_cpu = cluster.cpu_seconds()
    running = [Daemon(binary, database, index) for index in range(daemons)]
    begin = time.monotonic()
    finished = bench.wait_until(lambda: not database.has_open_jobs(), timeout=1800, interval=0.05)
    polled = time.monotonic() - begin
    cpu = sum(daemon.stats()[0] for daemon in running)
    peak = max(daemon.stats()[1] for daemon in running)
    server_cpu = cluster.cpu_seconds() - server_cpu
    for daemon in running:
        daemon.stop()
    attempts = database.count("SELECT count(*) FROM attempts")
    delivered = database.count("SELECT count(*) FROM jobs WHERE state = 'delivered'")
    if not finished or delivered != total or attempts != total:
        raise RuntimeError(f"pg-drain x{daemons}: delivered {delivered}, attempts {attempts} of {total}")
    first, last = database.connection.execute(
        "SELECT min(created_at - response_time_ms), max(created_at) FROM attempts").fetchone()
    seconds = (last - first) / 1000
    duplicates = attempts - database.count("SELECT count(DISTINCT job_id) FROM attempts")
    database.connection.close()
    return {"deliveries": total, "seconds": seconds, "rps": total / seconds, "daemons": daemons,
            "cpu_us_per_delivery": cpu / total * 1e6, "peak_rss_mib": peak / 1024, "polled_seconds": polled,
            "startup_seconds": first / 1000 - min(daemon.spawned for daemon in running), "duplicates": duplicates,
            "server_cpu_us_per_delivery": server_cpu / total * 1e6}


def scenario_drain(args, folder, nginx, cluster):
    results = {}
    for count in (int(n) for n in args.pg_daemons.split(",")):
        results[f"pg-drain-x{count}"] = drain(cluster, args.binary, folder, nginx, count, args.drain_events)
    return results


def scenario_latency(args, folder, nginx, cluster):
    """bench.scenario_latency on PostgreSQL: one event per producer transaction at a steady rate."""
    database = Database(cluster, args.binary, folder, "pg-latency")
    database.add_webhooks(1, nginx.url("/timed"))
    arrivals = os.path.join(nginx.folder, "arrivals.log")
    open(arrivals, "w").close()
    daemon = Daemon(args.binary, database, 0)
    bench.wait_until(lambda: "qr3-webhookd started" in open(daemon.log_path).read(), 30)
    producer = psycopg().connect(database.url, autocommit=True)
    committed = {}
    rate = args.latency_rate
    count = int(rate * args.latency_seconds)
    begin = time.monotonic()
    for index in range(count):
        pause = begin + index / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        event_id = f"evt_lat{index:010d}"
        producer.execute("INSERT INTO outbox (event_id, workspace_id, type, data) VALUES (%s, 'ws_bench', 'qr.scanned', %s)",
                         (event_id, bench.DATA))
        committed[event_id] = time.time()
    produce_seconds = time.monotonic() - begin

    def arrived():
        with open(arrivals) as log:
            return sum(1 for _ in log) >= count
    bench.wait_until(arrived, 60, 0.05)
    cpu, hwm = daemon.stats()
    daemon.stop()
    producer.close()
    latencies = []
    with open(arrivals) as log:
        for line in log:
            at, event_id = line.split()
            if event_id in committed:
                latencies.append((float(at) - committed.pop(event_id)) * 1000)
    if committed:
        raise RuntimeError(f"pg-latency: {len(committed)} events never arrived; see {daemon.log_path}")
    latencies.sort()

    def percentile(p):
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))]
    return {"pg-latency": {"deliveries": count, "seconds": produce_seconds, "rps": count / produce_seconds,
                           "cpu_us_per_delivery": cpu / count * 1e6, "peak_rss_mib": hwm / 1024,
                           "p50_ms": percentile(0.50), "p99_ms": percentile(0.99), "max_ms": latencies[-1]}}


def add_arguments(parser):
    parser.add_argument("--pg-daemons", default="1,2,4", help="daemon counts for pg-drain")


def notes(name, figures, results):
    if name == "pg-latency":
        return f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, max {figures['max_ms']:.1f} ms"
    text = f"{figures['daemons']} daemon(s) on one PostgreSQL database"
    single = results.get("pg-drain-x1")
    if single and figures["daemons"] > 1:
        text += f", {figures['rps'] / single['rps']:.2f}x one daemon"
    if "drain" in results:
        text += f", {figures['rps'] / results['drain']['rps']:.0%} of SQLite's drain"
    text += f", {figures['duplicates']} sent twice, server CPU {figures['server_cpu_us_per_delivery']:.0f} us/dlv"
    return text
