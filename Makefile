# revenue-api: `make run` starts the service, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
BIN := bin/revenue-api
NPM_CI := npm ci --no-audit --no-fund --loglevel=error

.PHONY: all run build web test test-go test-web test-api test-e2e test-readme test-revocation test-ha test-cleanup-load vet lint bench bench-data-tier fuzz fuzz-ci soak clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/revenue-api

# The SPA (and the /docs page) is built when npm is present and a source
# changed; without npm the API still runs and only `/` and `/docs` are missing.
web/dist/index.html: $(shell find web/src web/docs web/build web/public -type f 2>/dev/null) web/index.html web/docs.html web/package.json web/vite.config.js
	@if command -v npm >/dev/null; then \
		(cd web && $(NPM_CI) && npm run build) || echo "make: the SPA did not build; the API runs without it" >&2; \
	else echo "make: npm not found; the SPA is not built (the API runs without it)" >&2; fi

web: web/dist/index.html

# Without DATABASE_URL the service starts a private PostgreSQL under .data/,
# seeds the demo organization and users, and generates a signing key in keys/.
# The Vite dev server's origin is allowed so `cd web && npm run dev` works too.
# It listens on loopback only: the demo users' passwords are in the README.
run: build web
	REVENUE_HTTP_ADDR=$${REVENUE_HTTP_ADDR:-127.0.0.1:8080} REVENUE_CORS_ORIGINS=$${REVENUE_CORS_ORIGINS:-http://localhost:5173} REVENUE_METRICS_ADDR=$${REVENUE_METRICS_ADDR-127.0.0.1:9464} ./$(BIN) serve

test: vet test-go test-web test-api test-e2e test-readme

vet:
	$(GO) vet ./...

test-go:
	$(GO) test -race -count=1 -timeout 20m ./...

# Vitest, then the Dockerfile's web stage built from only the files it copies.
test-web:
	cd web && $(NPM_CI) && npm test
	scripts/check-dockerfile-web.sh

# The Postman collection, run by newman against a live server.
test-api:
	cd api && $(NPM_CI)
	scripts/with-server.sh bash -c 'cd api && npm test'

# The SPA in Debian's Chromium against the real API, with a 4 s access-token
# lifetime so silent refresh happens during the test.
test-e2e:
	cd web && $(NPM_CI) && npm run build
	REVENUE_ACCESS_TOKEN_TTL=4s REVENUE_E2E_TTL_SECONDS=4 REVENUE_WEB_DIR=$(CURDIR)/web/dist \
		scripts/with-server.sh bash -c 'cd web && npm run e2e'

# The README's curl walkthrough, pasted against a fresh server; also checks
# README.md is at most 25,000 bytes and every relative link in it and docs/ resolves.
test-readme:
	scripts/with-server.sh scripts/check-readme.sh

lint: vet
	$(GO) vet -tags ha,cleanupload ./...
	$(GO) mod verify
	test -z "$$(gofmt -l cmd internal api migrations)" || { gofmt -l cmd internal api migrations; exit 1; }

bench: build
	bench/run.sh

# Fuzz each target for FUZZTIME (default 60s); fuzz-ci runs each for a fixed
# number of executions (see scripts/fuzz.sh for why not a duration).
FUZZTIME ?= 60s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

fuzz-ci:
	scripts/fuzz.sh ci

# Revocation across three replicas and a verifier-only process, 50 of each
# kind (make test runs 5), with p50/p99/max time to refusal in the log.
test-revocation:
	REVENUE_REVOCATION_ROUNDS=$${REVENUE_REVOCATION_ROUNDS:-50} $(GO) test -count=1 -timeout 20m -run 'TestRevocation' -v ./internal/systemtest/ | grep -v '^=== '

# Failover under load: etcd, two PostgreSQL nodes under Patroni (synchronous
# mode) and two replicas; SIGKILLs the primary and checks no refresh chain
# breaks (docs/scaling.md). Installs etcd and Patroni if missing.
test-ha:
	scripts/install-ha-deps.sh
	$(GO) test -tags ha -count=1 -timeout 10m -run 'TestFailover' -v ./internal/systemtest/ | grep -v '^=== '

# What the data tier costs a refresh and a login (docs/scaling.md): one
# PostgreSQL, Patroni with synchronous_mode on and off, PgBouncer in front;
# prints a table. About four minutes of full load; not part of make test.
bench-data-tier:
	scripts/install-ha-deps.sh
	$(GO) test -tags ha -count=1 -timeout 20m -run 'TestDataTierCost' -v ./internal/systemtest/ | grep -v '^=== '

# Refresh p99 while session cleanup deletes a backlog of ended sessions
# (200,000; set REVENUE_CLEANUP_LOAD_SESSIONS for more): at most 2× the p99
# without cleanup. Not part of make test: about a minute of full load.
test-cleanup-load:
	$(GO) test -tags cleanupload -count=1 -timeout 10m -run 'TestCleanupUnderRefreshLoad' -v ./internal/postgres/ | grep -v '^=== '

soak:
	REVENUE_SOAK=$${REVENUE_SOAK:-5m} $(GO) test -count=1 -timeout 30m -run Soak -v ./internal/systemtest/

clean:
	rm -rf bin web/dist web/test-results
