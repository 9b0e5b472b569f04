# qr3-webhookd: `make run` sets up and runs the daemon, `make test` runs every test.
SWIFT ?= swift
DATABASE ?= qr3-webhookd.sqlite
# The local walkthrough delivers to receivers on this machine, which the default address
# policy refuses (SSRF protection); allow loopback for development only.
RUN_ARGS ?= --allow-networks 127.0.0.0/8,::1/128

.PHONY: run build release test bench chaos format clean install uninstall

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
