package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// revenueCommand is `revenue import` and `revenue set`: an operator loads
// or corrects an organization's figures, with the validation and messages
// of the API, and each change recorded with the operating-system user.
func revenueCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" && args[0] != "set" {
		return errors.New("revenue: want: revenue import -org NAME [-dry-run] FILE.csv|-  or  revenue set -org NAME -month YYYY-MM -amount 12345.67")
	}
	fs := flag.NewFlagSet("revenue "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	org := fs.String("org", "", "organization name (required)")
	var dryRun *bool
	var month, amount *string
	if args[0] == "import" {
		dryRun = fs.Bool("dry-run", false, "check the file and report what would change, writing nothing")
	} else {
		month = fs.String("month", "", "the month, YYYY-MM (required)")
		amount = fs.String("amount", "", "its amount in the currency's major unit, at most two decimals (required)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *org == "" {
		return fmt.Errorf("revenue %s: -org is required", args[0])
	}

	// Everything the operator typed is checked before the database is opened.
	var figures []revenue.Figure
	switch args[0] {
	case "import":
		if fs.NArg() != 1 {
			return errors.New("revenue import: want one file (or - for standard input) after the flags")
		}
		data, err := readInput(fs.Arg(0), stdin)
		if err != nil {
			return err
		}
		if figures, err = revenue.ParseCSV(data); err != nil {
			return csvProblem(fs.Arg(0), err)
		}
	case "set":
		m, err := revenue.ParseEditableMonth(*month)
		if err != nil {
			return fmt.Errorf("revenue set: -month: %w", err)
		}
		cents, err := revenue.ParseAmount(*amount)
		if err != nil {
			return fmt.Errorf("revenue set: -amount: %w", err)
		}
		figures = []revenue.Figure{{Month: m, AmountCents: cents}}
	}

	return withAdmin(ctx, getenv, stderr, func(a *admin) error {
		orgID, err := a.revenue.OrganizationID(ctx, *org)
		if errors.Is(err, apperr.ErrNotFound) {
			return fmt.Errorf("no organization named %q", *org)
		} else if err != nil {
			return err
		}
		w := revenue.Write{OrgID: orgID, Author: revenue.Author{OSUser: osUser(getenv)}, Source: revenue.SourceCLI}
		if args[0] == "set" {
			res, err := a.revenue.SetMonth(ctx, w, figures[0])
			if err != nil {
				return adminError(err)
			}
			verb := "unchanged (it already had that amount)"
			switch {
			case res.Created:
				verb = "added"
			case res.Changed:
				verb = "changed"
			}
			fmt.Fprintf(stdout, "%s %s: %s %s\n", *org, figures[0].Month, major(figures[0].AmountCents), verb)
			return nil
		}
		res, err := a.revenue.Import(ctx, w, figures, *dryRun)
		if err != nil {
			return adminError(err)
		}
		did := "imported"
		if res.DryRun {
			did = "checked (dry run, nothing written)"
		}
		fmt.Fprintf(stdout, "%s: %d months %s: %d inserted, %d updated, %d unchanged\n",
			*org, res.Months, did, res.Inserted, res.Updated, res.Unchanged)
		return nil
	})
}

// readInput reads the file name, or standard input for "-".
func readInput(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	// The API's limit, so a file the command accepts the API accepts too.
	data, err := io.ReadAll(io.LimitReader(r, revenue.MaxImportBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > revenue.MaxImportBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes (the import limit)", name, revenue.MaxImportBytes)
	}
	return data, nil
}

// csvProblem is every mistake of a file, one per line, as the API lists them.
func csvProblem(name string, err error) error {
	var e *apperr.Error
	if !errors.As(err, &e) || len(e.Details) == 0 {
		return err
	}
	lines := make([]string, len(e.Details))
	for i, d := range e.Details {
		lines[i] = "  " + d.Message
	}
	return fmt.Errorf("%s: nothing was written; fix these lines:\n%s", name, strings.Join(lines, "\n"))
}

// osUser names the operator in the record of changes.
func osUser(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// major formats cents in the major unit: 1234567 → "12345.67".
func major(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}
