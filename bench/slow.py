"""Slow-receiver scenarios of `make bench`: receivers that answer after 100 ms, 500 ms and 2 s.

The daemon runs at its default settings (no --concurrency), 200 webhooks, against a bare libcurl
loop (curl-ceiling) with `--slow-inflight` transfers in flight at the same receiver in the same
run, and against the theoretical rate, in flight / latency. The receiver is bench-receiver
(SwiftNIO, an event loop per core): it answers after the delay its path names, `/d/<ms>/...`.
The mix scenario has 10 slow webhooks (2 s) among 190 fast ones and compares the fast ones' rate
with a run of the 190 alone.
"""
import json
import os
import socket
import subprocess
import threading
import time

import bench


class SlowReceiver:
    """bench-receiver on 127.0.0.1; ends when its standard input closes."""

    def __init__(self, binary):
        self.process = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline().strip())

    def url(self, delay_ms, path="hook"):
        return f"http://127.0.0.1:{self.port}/d/{delay_ms}/{path}"

    def stop(self):
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def scrape(port, series):
    """One series of the daemon's metrics (None when absent or unreachable)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
            text = b""
            while chunk := connection.recv(65536):
                text += chunk
    except OSError:
        return None
    for line in text.decode(errors="replace").splitlines():
        if line.startswith(series + " "):
            return float(line.split()[1])
    return None


def ceiling(folder, url, count, inflight):
    tool = os.path.join(folder, "curl-ceiling")
    if not os.path.exists(tool):
        subprocess.run(["cc", "-O2", "-o", tool, os.path.join(bench.ROOT, "bench", "curl-ceiling.c"), "-lcurl"],
                       check=True)
    body = os.path.join(folder, "body.json")
    with open(body, "w") as out:
        out.write(f'{{"id":"evt_bench0000000000","type":"qr.scanned","created":"2026-03-15T10:00:00.000Z",'
                  f'"data":{bench.DATA}}}')
    result = subprocess.run([tool, url, str(count), str(inflight), body], check=True, capture_output=True, text=True)
    figures = json.loads(result.stdout)
    return {"deliveries": figures["requests"], "seconds": figures["seconds"], "rps": figures["rps"],
            "cpu_us_per_delivery": figures["cpu_seconds"] / figures["requests"] * 1e6,
            "peak_rss_mib": figures["max_rss_kib"] / 1024}


def run_daemon(binary, folder, name, urls, events, timeout, extra=()):
    """The daemon at its defaults delivering `events` events to one webhook per url.

    The daemon starts on the empty queue (its base RSS is read then), the jobs are queued, and
    the requests in flight are read from its metrics while it works.
    """
    database = bench.Database(binary, folder, name)
    groups = {}
    for url in urls:
        groups.setdefault(url, []).extend(database.add_webhooks(1, url))
    webhooks = [webhook for group in groups.values() for webhook in group]
    daemon = bench.Daemon(binary, database, extra, defaults=True)
    bench.wait_until(lambda: scrape(daemon.metrics_port, "qr3_webhookd_requests_in_flight") is not None, 30)
    time.sleep(0.5)
    base_rss_kib = bench.current_rss_kib(daemon.process.pid)
    most_in_flight = [0.0]
    done = threading.Event()

    def sample():
        while not done.wait(0.1):
            value = scrape(daemon.metrics_port, "qr3_webhookd_requests_in_flight")
            if value is not None:
                most_in_flight[0] = max(most_in_flight[0], value)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    database.queue_jobs(events, webhooks)
    total = events * len(webhooks)
    finished = bench.wait_until(lambda: not database.has_open_jobs(), timeout=timeout, interval=0.05)
    done.set()
    sampler.join()
    cpu, hwm = daemon.stats()
    daemon.stop()
    delivered = database.count("SELECT COUNT(*) FROM jobs WHERE state = 'delivered'")
    if not finished or delivered != total:
        raise RuntimeError(f"{name}: delivered {delivered} of {total}; see {daemon.log_path}")
    seconds, _ = bench.sending_window(database, daemon)
    extra_kib = max(0, hwm - base_rss_kib)
    figures = {"deliveries": total, "seconds": seconds, "rps": total / seconds,
               "cpu_us_per_delivery": cpu / total * 1e6, "peak_rss_mib": hwm / 1024,
               "base_rss_mib": base_rss_kib / 1024, "most_in_flight": int(most_in_flight[0]),
               "kib_per_request_in_flight": extra_kib / most_in_flight[0] if most_in_flight[0] else None}
    return figures, database, webhooks


def scenario_slow(args, folder, receiver):
    """For each delay: the bare loop, the daemon at its defaults, and in flight / latency."""
    results = {}
    for delay in [int(d) for d in args.slow_delays.split(",")]:
        url = receiver.url(delay)
        bare = ceiling(folder, url, args.slow_deliveries, args.slow_inflight)
        events = max(1, args.slow_deliveries // args.slow_webhooks)
        urls = [receiver.url(delay, f"hook{index}") for index in range(args.slow_webhooks)]
        daemon, _, _ = run_daemon(args.binary, folder, f"slow-{delay}", urls, events, timeout=600)
        theory = args.slow_inflight / (delay / 1000) if delay else None
        results[f"slow-{delay}ms"] = dict(daemon, ceiling=bare, theoretical_rps=theory,
                                         ratio=daemon["rps"] / bare["rps"])
    return results


def scenario_mix(args, folder, receiver):
    """10 webhooks at 2 s among 190 that answer at once: the fast ones' rate, with and without."""
    events = args.mix_events
    fast_urls = [receiver.url(0, f"fast{index}") for index in range(190)]
    slow_urls = [receiver.url(2000, f"slow{index}") for index in range(10)]
    alone, _, _ = run_daemon(args.binary, folder, "mix-alone", fast_urls, events, timeout=600)
    mixed, database, webhooks = run_daemon(args.binary, folder, "mix", fast_urls + slow_urls, events, timeout=600)
    fast = webhooks[:190]
    marks = ",".join("?" * len(fast))
    first, last = database.connection.execute(
        f"SELECT MIN(created_at - response_time_ms), MAX(created_at) FROM attempts WHERE webhook_id IN ({marks})",
        fast).fetchone()
    fast_seconds = (last - first) / 1000
    fast_rps = events * 190 / fast_seconds
    return {"mix-fast-alone": alone,
            "mix": dict(mixed, fast_rps=fast_rps, fast_seconds=fast_seconds, fast_alone_rps=alone["rps"],
                        fast_ratio=fast_rps / alone["rps"])}


def scenario_memory(args, folder, receiver):
    """Memory per request in flight: the daemon's peak RSS at two in-flight counts, the same jobs.

    The slope between them leaves out what does not grow with the requests in flight (the
    code, SQLite's page cache, the API), which the peak over the idle RSS would count.
    """
    low, high = args.memory_inflight
    events = max(1, 2 * high // args.slow_webhooks)
    urls = [receiver.url(2000, f"hook{index}") for index in range(args.slow_webhooks)]
    runs = {}
    for inflight in (low, high):
        figures, _, _ = run_daemon(args.binary, folder, f"memory-{inflight}", urls, events, timeout=600,
                                   extra=("--concurrency", str(inflight)))
        runs[inflight] = figures
    bare = {inflight: ceiling(folder, receiver.url(2000), 2 * high, inflight) for inflight in (low, high)}
    slope_kib = (runs[high]["peak_rss_mib"] - runs[low]["peak_rss_mib"]) * 1024 / (high - low)
    bare_slope_kib = (bare[high]["peak_rss_mib"] - bare[low]["peak_rss_mib"]) * 1024 / (high - low)
    return {"memory": dict(runs[high], low_inflight=low, high_inflight=high,
                           low_peak_rss_mib=runs[low]["peak_rss_mib"], kib_per_request=slope_kib,
                           bare_kib_per_request=bare_slope_kib)}


def add_arguments(parser):
    parser.add_argument("--memory-inflight", type=lambda text: [int(n) for n in text.split(",")], default=[1024, 4096],
                        help="the two in-flight counts of the memory scenario")
    parser.add_argument("--slow-delays", default="100,500,2000", help="receiver delays in ms, for the slow scenario")
    parser.add_argument("--slow-deliveries", type=int, default=30000, help="per delay, for the bare loop and the daemon")
    parser.add_argument("--slow-webhooks", type=int, default=200)
    parser.add_argument("--slow-inflight", type=int, default=4096, help="transfers in flight of the bare loop")
    parser.add_argument("--mix-events", type=int, default=500, help="x 200 webhooks (10 slow, 190 fast)")
    parser.add_argument("--receiver", default=os.path.join(bench.ROOT, ".build/release/bench-receiver"))


def notes(name, figures):
    """The table's notes for a slow-receiver row."""
    parts = []
    if "ceiling" in figures:
        bare = figures["ceiling"]
        parts.append(f"bare loop {bare['rps']:.0f}/s ({bare['peak_rss_mib']:.0f} Mi), daemon {figures['ratio']:.0%} of it")
        if figures.get("theoretical_rps"):
            parts.append(f"in flight / latency {figures['theoretical_rps']:.0f}/s")
    if "most_in_flight" in figures:
        parts.append(f"most in flight {figures['most_in_flight']}")
        if figures.get("kib_per_request_in_flight") is not None:
            parts.append(f"{figures['kib_per_request_in_flight']:.1f} KiB each above the base {figures['base_rss_mib']:.0f} Mi")
    if "kib_per_request" in figures:
        parts = [f"peak RSS {figures['low_peak_rss_mib']:.0f} Mi at {figures['low_inflight']} in flight, "
                 f"{figures['peak_rss_mib']:.0f} Mi at {figures['high_inflight']}: "
                 f"{figures['kib_per_request']:.1f} KiB a request in flight "
                 f"(bare libcurl loop {figures['bare_kib_per_request']:.1f} KiB)"]
    if "fast_ratio" in figures:
        parts.append(f"the 190 fast webhooks: {figures['fast_rps']:.0f}/s, {figures['fast_ratio']:.0%} of their rate alone")
    return "; ".join(parts)
