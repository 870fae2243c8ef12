package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/token"
)

const keysUsage = `keys: want a subcommand:
  keys generate [-bits N]   add a key: next if a key is current (published, not signing), else current
  keys list                 every key with its kid, state, age and file
  keys rotate [-force]      next -> current and current -> retired, once the next key has been
                            published for REVENUE_JWKS_MAX_AGE; generates a next key if there is none
  keys prune                delete retired keys whose tokens have all expired`

func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return keysCommandAt(ctx, args, getenv, stdout, time.Now)
}

// keysCommandAt is keysCommand with its clock made explicit, for tests.
func keysCommandAt(_ context.Context, args []string, getenv func(string) string, stdout io.Writer, now func() time.Time) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	bits, force := token.MinKeyBits, false
	switch args[0] {
	case "generate", "rotate":
		fs.IntVar(&bits, "bits", token.MinKeyBits, fmt.Sprintf("RSA modulus size of a generated key, %d to %d", token.MinKeyBits, token.MaxKeyBits))
		if args[0] == "rotate" {
			fs.BoolVar(&force, "force", false, "let the next key sign even if verifiers may not know it yet (emergencies only)")
		}
	case "list", "prune":
	default:
		return fmt.Errorf("keys: unknown subcommand %q\n%s", args[0], keysUsage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys %s takes no arguments, got %q", args[0], fs.Args())
	}
	// Absolute, so that every path printed says where the keys are: a
	// command run from another directory than the service's would see
	// another keys directory.
	keysDir, err := filepath.Abs(cfg.KeysDir)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		// `keys generate` would make the directory, and a key the service
		// never sees, when it is not where the service looks.
		if _, err := os.Stat(keysDir); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no keys directory %s: run the command from the directory the service runs in, or set REVENUE_KEYS_DIR to the service's", keysDir)
		}
	} else {
		// From reading the state to writing it, so that two commands, or a
		// command and a service generating its first key, take turns.
		unlock, err := token.LockDir(keysDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	dir, err := token.OpenDir(keysDir)
	if err != nil {
		return err
	}
	// The keys commands must see the environment the service runs with.
	lc := token.LifecycleFor(cfg.JWKSMaxAge, cfg.AccessTokenTTL+cfg.ClockLeeway, cfg.KeysReloadInterval)
	switch args[0] {
	case "generate":
		k, err := dir.Generate(bits, now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "generated %s (kid %s, %d bits, mode 0600) as %s\n", k.File, k.ID, bits, k.State)
		if k.State == token.StateNext {
			printNextSteps(stdout, k, lc, now())
		}
		return nil
	case "list":
		return listKeys(stdout, dir, lc, now())
	case "rotate":
		r, err := dir.Rotate(lc, bits, force, now())
		if err != nil {
			return err
		}
		switch {
		case r.Generated != nil && r.Generated.State == token.StateNext:
			fmt.Fprintf(stdout, "no next key: generated %s (kid %s) as next\n", r.Generated.File, r.Generated.ID)
			printNextSteps(stdout, r.Generated, lc, now())
		case r.Generated != nil:
			fmt.Fprintf(stdout, "no keys: generated %s (kid %s) as current\n", r.Generated.File, r.Generated.ID)
		default:
			when := fmt.Sprintf("within %s, or at once on SIGHUP", cfg.KeysReloadInterval)
			if cfg.KeysReloadInterval <= 0 {
				when = "send it SIGHUP: REVENUE_KEYS_RELOAD_INTERVAL is 0"
			}
			fmt.Fprintf(stdout, "kid %s is now current: it signs new tokens once the service reloads (%s)\n", r.Promoted.ID, when)
			if r.Retired != nil {
				fmt.Fprintf(stdout, "kid %s is retired: it verifies tokens until %s; then run `revenue-api keys prune`\n",
					r.Retired.ID, r.Retired.Due(lc).Format(time.RFC3339))
			}
		}
		return nil
	case "prune":
		pruned, err := dir.Prune(lc, now())
		for _, k := range pruned {
			fmt.Fprintf(stdout, "pruned kid %s (%s): its tokens are no longer accepted\n", k.ID, k.File)
		}
		if err != nil {
			return err
		}
		for _, k := range dir.Keys {
			if k.State == token.StateRetired {
				fmt.Fprintf(stdout, "kept retired kid %s: tokens it signed may be valid until %s\n", k.ID, k.Due(lc).Format(time.RFC3339))
			}
		}
		if len(pruned) == 0 {
			fmt.Fprintln(stdout, "nothing to prune")
		}
		return nil
	}
	return nil
}

func printNextSteps(w io.Writer, k *token.Key, lc token.Lifecycle, now time.Time) {
	fmt.Fprintf(w, "it is published in the JWKS once the service reloads; run `revenue-api keys rotate` after %s (in %s) to let it sign\n",
		k.Due(lc).Format(time.RFC3339), k.Due(lc).Sub(now).Round(time.Second))
}

func listKeys(w io.Writer, dir *token.Dir, lc token.Lifecycle, now time.Time) error {
	if len(dir.Keys) == 0 && len(dir.Unlisted) == 0 {
		fmt.Fprintf(w, "no keys in %s: run `revenue-api keys generate`\n", dir.Path)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tSTATE\tAGE\tSINCE\tBITS\tFILE\tNEXT STEP")
	for _, k := range dir.Keys {
		since := "unknown"
		if !k.Since.IsZero() {
			since = k.Since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", k.ID, k.State, age(now.Sub(k.Created)), since,
			k.Public.N.BitLen(), k.File, nextStep(k, lc, now))
	}
	for _, name := range dir.Unlisted {
		fmt.Fprintf(tw, "-\tunlisted\t-\t-\t-\t%s\tignored: not in %s\n", name, filepath.Join(dir.Path, token.StateFile))
	}
	return tw.Flush()
}

func nextStep(k *token.Key, lc token.Lifecycle, now time.Time) string {
	due := k.Due(lc)
	switch {
	case k.State == token.StateCurrent:
		return "signs"
	case k.Since.IsZero():
		return "prune after " + lc.Retire.String() + " from the first `keys` change"
	case k.State == token.StateNext && now.Before(due):
		return "rotate after " + due.Format(time.RFC3339)
	case k.State == token.StateNext:
		return "ready: keys rotate"
	case now.Before(due):
		return "prune after " + due.Format(time.RFC3339)
	}
	return "ready: keys prune"
}

// age prints a duration the way a person reads a key's age.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}
