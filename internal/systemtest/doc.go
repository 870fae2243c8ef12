// Package systemtest runs the real revenue-api binary as separate processes
// against a real PostgreSQL, the way it runs in production: three replicas
// behind nginx, a database that goes away and comes back, and a soak under
// mixed load. It has only tests; the binary is built once per run.
//
//	go test ./internal/systemtest                         # about 1.5 minutes
//	REVENUE_SOAK=5m go test ./internal/systemtest -run Soak -timeout 20m -v
//
// The replica test needs nginx (scripts/install-test-deps.sh installs it)
// and fails, rather than skips, without it. docs/scaling.md says what the
// tests prove.
package systemtest
