package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/config"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// migrate applies the migrations and exits.
func migrate(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	return withAdmin(ctx, getenv, stderr, func(*admin) error {
		fmt.Fprintln(stdout, "migrations applied")
		return nil
	})
}

// admin is the auth service without a token signer, and the revenue
// service, for the admin commands.
type admin struct {
	svc     *auth.Service
	revenue *revenue.Service
}

func withAdmin(ctx context.Context, getenv func(string) string, stderr io.Writer, f func(*admin) error) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(stderr, max(cfg.LogLevel, 4)) // warnings and errors only
	b, err := openAdminBackend(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer b.close(ctx)
	svc := auth.NewService(postgres.NewUserStore(b.db), postgres.NewSessionStore(b.db), postgres.NewEventStore(b.db),
		nil, b.hasher, cfg.AuthPolicy(), log, time.Now)
	return f(&admin{svc: svc, revenue: revenue.NewService(postgres.NewRevenueStore(b.db))})
}

func orgsCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("orgs: want: orgs add -name NAME [-currency USD]")
	}
	fs := flag.NewFlagSet("orgs add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "organization name (required)")
	currency := fs.String("currency", "USD", "ISO 4217 currency of its revenue")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return withAdmin(ctx, getenv, stderr, func(a *admin) error {
		o, err := a.svc.CreateOrganization(ctx, *name, *currency)
		if errors.Is(err, apperr.ErrConflict) {
			return fmt.Errorf("an organization named %q already exists", *name)
		}
		if err != nil {
			return adminError(err)
		}
		fmt.Fprintf(stdout, "organization %q created (id %s, currency %s)\n", o.Name, o.ID, o.Currency)
		return nil
	})
}

func usersCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("users: want a subcommand: add, passwd, disable, enable, roles or logout")
	}
	fs := flag.NewFlagSet("users "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email (required)")
	var org, roles *string
	switch args[0] {
	case "add":
		org = fs.String("org", "", "organization name (required)")
		roles = fs.String("roles", "member", "comma-separated roles: member, finance, admin")
	case "roles":
		roles = fs.String("roles", "", "comma-separated roles: member, finance, admin (required)")
	}
	session := ""
	if args[0] == "logout" {
		fs.StringVar(&session, "session", "", "end only this session (its id); default: every session")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("users %s: -email is required", args[0])
	}
	var password string
	switch args[0] {
	case "add", "passwd":
		var err error
		if password, err = readPassword(stdin, stderr); err != nil {
			return err
		}
	case "disable", "enable", "roles", "logout":
	default:
		return fmt.Errorf("users: unknown subcommand %q (want add, passwd, disable, enable, roles or logout)", args[0])
	}
	return withAdmin(ctx, getenv, stderr, func(a *admin) error {
		var err error
		switch args[0] {
		case "add":
			var u auth.User
			u, err = a.svc.CreateUser(ctx, auth.NewUser{Organization: *org, Email: *email, Password: password, Roles: splitList(*roles)})
			switch {
			case errors.Is(err, apperr.ErrNotFound):
				return fmt.Errorf("no organization named %q (add it with: revenue-api orgs add -name %q)", *org, *org)
			case errors.Is(err, apperr.ErrConflict):
				return fmt.Errorf("a user with email %s already exists", auth.NormalizeEmail(*email))
			case err == nil:
				fmt.Fprintf(stdout, "user %s created (id %s, roles %s)\n", u.Email, u.ID, strings.Join(u.Roles, ","))
			}
		case "passwd":
			if err = a.svc.SetPassword(ctx, *email, password); err == nil {
				fmt.Fprintf(stdout, "password of %s changed; all their sessions ended\n", *email)
			}
		case "disable":
			if err = a.svc.SetDisabled(ctx, *email, true); err == nil {
				fmt.Fprintf(stdout, "user %s disabled; all their sessions ended\n", *email)
			}
		case "enable":
			if err = a.svc.SetDisabled(ctx, *email, false); err == nil {
				fmt.Fprintf(stdout, "user %s enabled\n", *email)
			}
		case "logout":
			var n int
			if n, err = a.svc.EndSessionsOf(ctx, *email, session); err == nil {
				fmt.Fprintf(stdout, "%d sessions of %s ended; their access tokens are revoked\n", n, *email)
			}
			if errors.Is(err, apperr.ErrNotFound) && session != "" {
				return fmt.Errorf("%s has no active session %s", auth.NormalizeEmail(*email), session)
			}
		case "roles":
			if err = a.svc.SetRoles(ctx, *email, splitList(*roles)); err == nil {
				fmt.Fprintf(stdout, "roles of %s set to %s; their access tokens issued until now are revoked\n", *email, *roles)
			}
		}
		if errors.Is(err, apperr.ErrNotFound) {
			return fmt.Errorf("no user with email %s", auth.NormalizeEmail(*email))
		}
		return adminError(err)
	})
}

func adminError(err error) error {
	var e *apperr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e) && e.Code == apperr.CodeInvalidParameter:
		return fmt.Errorf("invalid %s", e.Message) // "field: reason"
	case errors.Is(err, auth.ErrWeakPassword):
		return fmt.Errorf("weak password: %w", err)
	}
	return err
}

// readPassword reads a password from the terminal without echo (asking
// twice), or the first line of stdin when it is not a terminal. Passwords
// never come from the command line, where other users and shell history see them.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Repeat password: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the passwords do not match")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input (pipe it in, or run in a terminal to be asked)")
	}
	return line, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
