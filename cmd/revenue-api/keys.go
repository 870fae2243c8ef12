package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/token"
)

func keysCommand(_ context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("keys: want a subcommand: generate or list")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	switch args[0] {
	case "generate":
		fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
		fs.SetOutput(stdout)
		bits := fs.Int("bits", 2048, "RSA modulus size in bits (at least 2048)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		k, err := token.Generate(cfg.KeysDir, *bits, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "generated %s (kid %s, %d bits, mode 0600)\n", k.File, k.ID, *bits)
		return nil
	case "list":
		ks, err := token.LoadDir(cfg.KeysDir)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tFILE\tBITS\tAGE\tSIGNS")
		for _, k := range ks.Keys() {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%v\n", k.ID, k.File, k.Public.N.BitLen(),
				time.Since(k.Created).Round(time.Second), k == ks.Signing())
		}
		return tw.Flush()
	}
	return fmt.Errorf("keys: unknown subcommand %q (want generate or list)", args[0])
}
