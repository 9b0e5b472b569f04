# qr3-webhookd: `make run` sets up and runs the daemon, `make test` runs every test.
SWIFT ?= swift
DATABASE ?= qr3-webhookd.sqlite
# The local walkthrough delivers to receivers on this machine, which the default address
# policy refuses (SSRF protection); allow loopback for development only.
RUN_ARGS ?= --allow-networks 127.0.0.0/8,::1/128

.PHONY: run build release test bench bench-store chaos format clean install uninstall

run: release
	.build/release/qr3-webhookd run --database $(DATABASE) $(RUN_ARGS)

build:
	scripts/bootstrap
	$(SWIFT) build

release:
	scripts/bootstrap
	$(SWIFT) build -c release --product qr3-webhookd

test:
	scripts/test

# The storage side of a drain alone (no HTTP): the delivery loop's rounds against SQLite, with
# filing and checkpoints. Steadier than `make bench`, so the place to try storage changes.
STORE_EVENTS ?= 1000
bench-store:
	scripts/bootstrap
	$(SWIFT) build -c release -Xswiftc -enable-testing --build-tests
	QR3_STORE_BENCH=$(STORE_EVENTS) $(SWIFT) test -c release -Xswiftc -enable-testing --skip-build --filter RoundBenchmark

# The long crash-safety run (RELIABILITY.md): more events and SIGKILLs than `make test`.
# Override with e.g. `make chaos QR3_CHAOS_EVENTS=200000 QR3_CHAOS_KILLS=300`; the figures are
# printed and written to $(CHAOS_REPORT).
CHAOS_REPORT ?= chaos-report.json
chaos:
	scripts/bootstrap
	$(SWIFT) build --build-tests
	QR3_CHAOS_EVENTS=$${QR3_CHAOS_EVENTS:-50000} QR3_CHAOS_KILLS=$${QR3_CHAOS_KILLS:-100} \
	QR3_CHAOS_REPORT=$(abspath $(CHAOS_REPORT)) \
	$(SWIFT) test --skip-build --filter 'CrashSafetyTests|SharedDatabaseTests'

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build

# Benchmarks: the daemon against the bare libcurl ceiling (starts and stops its own nginx), and
# against slow receivers (bench-receiver, answering after 100 ms, 500 ms, 2 s) at its defaults.
bench: release
	scripts/bootstrap
	$(SWIFT) build -c release --product bench-receiver
	command -v nginx >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
	python3 bench/bench.py --json bench-results.json

# Installs the daemon as a systemd service (see README, "Operating"). DESTDIR stages the files
# elsewhere (for packaging); PREFIX is /usr/local by default.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= /etc/systemd/system
CONFDIR ?= /etc/qr3-webhookd

install: release
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 .build/release/qr3-webhookd $(DESTDIR)$(BINDIR)/qr3-webhookd
	sed 's|^ExecStart=/usr/local/bin/qr3-webhookd |ExecStart=$(BINDIR)/qr3-webhookd |' systemd/qr3-webhookd.service \
		> $(DESTDIR)$(UNITDIR)/qr3-webhookd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/qr3-webhookd.service
	@if [ -e $(DESTDIR)$(CONFDIR)/qr3-webhookd.env ]; then \
		echo "kept $(DESTDIR)$(CONFDIR)/qr3-webhookd.env (see systemd/qr3-webhookd.env for new settings)"; \
	else \
		install -m 0640 systemd/qr3-webhookd.env $(DESTDIR)$(CONFDIR)/qr3-webhookd.env; \
	fi
	@echo "Installed. Now: systemctl daemon-reload; systemctl enable --now qr3-webhookd"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/qr3-webhookd $(DESTDIR)$(UNITDIR)/qr3-webhookd.service
	@echo "Removed the binary and the unit; kept $(CONFDIR)/qr3-webhookd.env and the database in /var/lib/qr3-webhookd."
	@echo "First, if it runs: systemctl disable --now qr3-webhookd; afterwards: systemctl daemon-reload"
