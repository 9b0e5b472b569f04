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

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build

# Benchmarks: the daemon against the bare libcurl ceiling (starts and stops its own nginx).
bench: release
	scripts/bootstrap
	command -v nginx >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
	python3 bench/bench.py --json bench-results.json
