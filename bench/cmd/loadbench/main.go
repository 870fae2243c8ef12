// Command loadbench measures revenue-api under HTTP load on loopback, next
// to three baselines serving the same handlers: no authentication, a
// minimal golang-jwt middleware, and a server-side session looked up in
// PostgreSQL. bench/run.sh (make bench) builds and runs it.
//
//	loadbench run -server PATH [-rounds 3] [-duration 5s] ...
//	loadbench baseline -mode noauth|jwt|session ...   (started by run)
//	loadbench logouts -issuer URL -replica URL ...    (started by run)
//
// run starts a private PostgreSQL, one process per variant (so that CPU and
// peak memory are each variant's own), and drives each with wrk pinned to
// one CPU while the servers and PostgreSQL share the other. Rounds are
// interleaved and the table shows medians.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: loadbench run|baseline|logouts [flags]")
	}
	switch args[0] {
	case "run":
		return runCommand(ctx, args[1:], stdout, stderr)
	case "baseline":
		return baselineCommand(ctx, args[1:], stderr)
	case "logouts":
		return logoutsCommand(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (want run, baseline or logouts)", args[0])
}
