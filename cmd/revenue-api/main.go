// Command revenue-api serves an organization's revenue to callers who prove
// who they are with RS256 access tokens, and administers its users and keys.
//
//	revenue-api [serve]            run the HTTP service (the default)
//	revenue-api migrate            apply database migrations
//	revenue-api keys generate|list|rotate|prune  manage signing keys in REVENUE_KEYS_DIR
//	revenue-api orgs add           add an organization
//	revenue-api users add|passwd|disable|enable|roles|logout
//	revenue-api healthcheck        exit 0 if the running server's /healthz answers 200 (for containers)
//
// Settings come from the environment; see README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/revenue-api/revenue-api/internal/passwordhash"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "revenue-api:", err)
		stop()
		os.Exit(1)
	}
}

// run is the whole program with its inputs made explicit, so tests can run
// it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := "serve", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stderr)
	case "migrate":
		return migrate(ctx, getenv, stdout, stderr)
	case "keys":
		return keysCommand(ctx, rest, getenv, stdout)
	case "orgs":
		return orgsCommand(ctx, rest, getenv, stdout, stderr)
	case "users":
		return usersCommand(ctx, rest, getenv, stdin, stdout, stderr)
	case "revenue":
		return revenueCommand(ctx, rest, getenv, stdin, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, getenv)
	case "hash-worker":
		// Started by serve (and the admin commands), one per hashing worker.
		return passwordhash.ServeWorker(stdin, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (want serve, migrate, keys, orgs, users, revenue, healthcheck or help)", cmd)
}

const usage = `usage: revenue-api <command> [flags]

  serve                   run the HTTP service (default)
  migrate                 apply database migrations and exit
  keys generate [-bits N] add an RSA key: next (published, not signing) or, if none signs, current
  keys list               list keys with kid, state, age and their next step
  keys rotate [-force]    next -> current, current -> retired (once the next key is published long enough)
  keys prune              delete retired keys whose tokens have all expired
  orgs add -name NAME [-currency USD]
  users add -org NAME -email EMAIL -roles member|finance|admin[,...]   (password from stdin)
  users passwd -email EMAIL                                            (password from stdin)
  users disable -email EMAIL
  users enable -email EMAIL
  users roles -email EMAIL -roles member|finance|admin[,...]         (revokes the user's access tokens)
  users logout -email EMAIL [-session ID]                              (ends sessions, revokes their tokens)
  revenue import -org NAME [-dry-run] FILE.csv|-                       (header month,amount; all months or none)
  revenue set -org NAME -month YYYY-MM -amount 12345.67
  healthcheck             GET /healthz on REVENUE_HTTP_ADDR (":8080": 127.0.0.1:8080); exit 0 on a 200, else 1
  hash-worker             (internal) a password-hashing worker process; serve starts its own

Settings are environment variables (DATABASE_URL, REVENUE_*); see README.md.
Without DATABASE_URL the commands use the private PostgreSQL under REVENUE_DATA_DIR.
`
