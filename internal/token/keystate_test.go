package token_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/syncbuf"
	"github.com/revenue-api/revenue-api/internal/testclock"
	"github.com/revenue-api/revenue-api/internal/token"
)

const (
	lcIssuer   = "https://issuer.test"
	lcAudience = "revenue-api-test"
	lcTTL      = 15 * time.Minute
	lcLeeway   = 30 * time.Second
)

// lcPolicy is the lifecycle of the default settings: JWKS max-age 5m plus a
// 5s reload interval before a next key signs; token lifetime 15m plus 30s
// leeway plus the reload interval before a retired key goes.
var lcPolicy = token.LifecycleFor(5*time.Minute, lcTTL+lcLeeway, 5*time.Second)

// stepClock is a clock the test moves by hand.
type stepClock = testclock.Clock

func newStepClock() *stepClock {
	return testclock.New(time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC))
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer = syncbuf.Buffer

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func openDir(t *testing.T, path string) *token.Dir {
	t.Helper()
	d, err := token.OpenDir(path)
	if err != nil {
		t.Fatalf("OpenDir(%s): %v", path, err)
	}
	return d
}

// states returns "kid:state" for every key of the directory on disk.
func states(t *testing.T, path string) map[string]token.KeyState {
	t.Helper()
	out := map[string]token.KeyState{}
	for _, k := range openDir(t, path).Keys {
		out[k.ID] = k.State
	}
	return out
}

func jwksKids(ks *token.KeySet) []string {
	var out []string
	for _, j := range token.PublicJWKS(ks).Keys {
		out = append(out, j.Kid)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestKeyLifecycle walks one rotation with a controlled clock: publish,
// sign, retire, prune, and what verifiers accept at each step.
func TestKeyLifecycle(t *testing.T) {
	clock := newStepClock()
	dir := filepath.Join(t.TempDir(), "keys")
	id := auth.Identity{UserID: "u1", OrgID: "o1", SessionID: "s1", Email: "alice@example.com", Roles: []string{"finance"}}

	// One key: current, signing.
	k1, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if k1.State != token.StateCurrent {
		t.Fatalf("first key is %s, want current", k1.State)
	}
	ring := token.NewKeyring(mustKeySet(t, dir))
	signer := token.NewSigner(ring, lcIssuer, lcAudience, lcTTL, clock.Now)
	verifier := token.NewVerifier(ring, lcIssuer, lcAudience, lcLeeway, clock.Now)

	// A second key is next: published, not signing.
	clock.Advance(time.Hour)
	k2, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if k2.State != token.StateNext {
		t.Fatalf("key generated beside a current one is %s, want next", k2.State)
	}
	ring.Replace(mustKeySet(t, dir))
	if got, want := jwksKids(ring.Set()), sorted(k1.ID, k2.ID); !slices.Equal(got, want) {
		t.Errorf("JWKS with a next key lists %v, want %v (current and next)", got, want)
	}
	if kid := kidOf(t, issue(t, signer, id)); kid != k1.ID {
		t.Errorf("a next key signs (kid %s), want the current key %s to sign until rotation", kid, k1.ID)
	}

	// Rotation waits until every verifier's cached JWKS holds the next key.
	clock.Advance(lcPolicy.Publish - time.Second)
	if _, err := openDir(t, dir).Rotate(lcPolicy, 2048, false, clock.Now()); !errors.Is(err, token.ErrTooEarly) {
		t.Fatalf("rotate 1s before the next key has been published for %s: err %v, want ErrTooEarly", lcPolicy.Publish, err)
	}
	if got := states(t, dir); got[k1.ID] != token.StateCurrent || got[k2.ID] != token.StateNext {
		t.Fatalf("a refused rotation changed the states: %v", got)
	}
	clock.Advance(time.Second)
	signedBefore := issue(t, signer, id) // by k1, the moment before rotation
	rotatedAt := clock.Now()
	r, err := openDir(t, dir).Rotate(lcPolicy, 2048, false, clock.Now())
	if err != nil {
		t.Fatalf("rotate once the next key has been published for %s: %v", lcPolicy.Publish, err)
	}
	if r.Promoted.ID != k2.ID || r.Retired.ID != k1.ID || r.Generated != nil {
		t.Errorf("rotation promoted %v, retired %v, generated %v; want %s promoted and %s retired", r.Promoted, r.Retired, r.Generated, k2.ID, k1.ID)
	}
	ring.Replace(mustKeySet(t, dir))
	if kid := kidOf(t, issue(t, signer, id)); kid != k2.ID {
		t.Errorf("after rotation tokens are signed by %s, want %s", kid, k2.ID)
	}
	if got, want := jwksKids(ring.Set()), sorted(k1.ID, k2.ID); !slices.Equal(got, want) {
		t.Errorf("JWKS after rotation lists %v, want %v (current and retired)", got, want)
	}

	// A token signed before the rotation stays valid until it expires.
	if _, err := verifier.Verify(signedBefore); err != nil {
		t.Errorf("token signed by the now retired key: %v, want accepted", err)
	}
	clock.Advance(lcTTL + lcLeeway - time.Second)
	if _, err := verifier.Verify(signedBefore); err != nil {
		t.Errorf("token signed by the retired key, 1s before expiry and leeway end: %v, want accepted", err)
	}
	clock.Advance(time.Second)
	if reason := reasonOf(verifier.Verify(signedBefore)); reason != token.ReasonExpired {
		t.Errorf("token signed by the retired key, at expiry: %q, want expired", reason)
	}

	// Prune waits until every token of the retired key has expired.
	clock.Advance(rotatedAt.Add(lcPolicy.Retire).Sub(clock.Now()) - time.Second)
	pruned, err := openDir(t, dir).Prune(lcPolicy, clock.Now())
	if err != nil || len(pruned) != 0 {
		t.Fatalf("prune 1s early: pruned %v, err %v; want nothing", pruned, err)
	}
	clock.Advance(time.Second)
	pruned, err = openDir(t, dir).Prune(lcPolicy, clock.Now())
	if err != nil || len(pruned) != 1 || pruned[0].ID != k1.ID {
		t.Fatalf("prune when due: pruned %v, err %v; want %s", pruned, err, k1.ID)
	}
	if _, err := os.Stat(k1.File); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pruned key file %s: stat err %v, want it deleted", k1.File, err)
	}
	ring.Replace(mustKeySet(t, dir))
	if got := jwksKids(ring.Set()); !slices.Equal(got, []string{k2.ID}) {
		t.Errorf("JWKS after prune lists %v, want only %s", got, k2.ID)
	}

	// A pruned key's tokens are rejected for the key, whatever the time: a
	// verifier whose clock says the token is fresh still refuses it.
	fresh := token.NewVerifier(ring, lcIssuer, lcAudience, lcLeeway, func() time.Time { return rotatedAt })
	if reason := reasonOf(fresh.Verify(signedBefore)); reason != token.ReasonUnknownKey {
		t.Errorf("token of a pruned key: %q, want unknown_kid", reason)
	}
}

// reasonOf returns why Verify rejected a token, "" when it accepted it.
func reasonOf(_ auth.Principal, err error) token.Reason {
	if err == nil {
		return ""
	}
	if reason, ok := token.ReasonOf(err); ok {
		return reason
	}
	return token.Reason("unexpected error: " + err.Error())
}

func mustKeySet(t *testing.T, dir string) *token.KeySet {
	t.Helper()
	ks, err := token.LoadDir(dir)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	return ks
}

func issue(t *testing.T, s *token.Signer, id auth.Identity) string {
	t.Helper()
	raw, _, err := s.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestStateFileIsReadableAndRoundTrips(t *testing.T) {
	clock := newStepClock()
	dir := t.TempDir()
	k1, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(90*time.Second + 300*time.Millisecond)
	k2, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, token.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{
		filepath.Base(k1.File) + "  current  2026-03-01T10:15:00Z  " + k1.ID,
		// A state change is recorded rounded up to the second, so a key never
		// looks published (or retired) earlier than it was.
		filepath.Base(k2.File) + "  next     2026-03-01T10:16:31Z  " + k2.ID,
		"# file", "next: published in the JWKS, not signing yet",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("state file lacks %q:\n%s", want, text)
		}
	}
	info, err := os.Stat(filepath.Join(dir, token.StateFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v (err %v), want 0600", info.Mode().Perm(), err)
	}
	d := openDir(t, dir)
	if d.Current().ID != k1.ID || d.Next().ID != k2.ID {
		t.Errorf("read back current %s next %s, want %s and %s", d.Current().ID, d.Next().ID, k1.ID, k2.ID)
	}
	if want := time.Date(2026, 3, 1, 10, 16, 31, 0, time.UTC); !d.Next().Since.Equal(want) {
		t.Errorf("next key since %s, want %s", d.Next().Since, want)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestDirectoryWithoutStateFileKeepsWorking(t *testing.T) {
	clock := newStepClock()
	dir := t.TempDir()
	// As `make run` left it before state files: one key, no metadata.
	k1, err := token.Generate(dir, 2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ks := mustKeySet(t, dir)
	if ks.Signing() == nil || ks.Signing().ID != k1.ID {
		t.Fatalf("a lone key without a state file does not sign: %v", ks.Signing())
	}

	// Two such keys: the newest signs, the older verifies.
	clock.Advance(time.Hour)
	k2, err := token.Generate(dir, 2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := openDir(t, dir)
	if d.Current().ID != k2.ID {
		t.Errorf("newest key is not current: current %s, want %s", d.Current().ID, k2.ID)
	}
	if got := states(t, dir)[k1.ID]; got != token.StateRetired {
		t.Errorf("older key is %s, want retired", got)
	}

	// The first prune records the states; an older key retires from now,
	// since when it retired is unknown, so nothing goes yet.
	clock.Advance(24 * time.Hour)
	pruned, err := d.Prune(lcPolicy, clock.Now())
	if err != nil || len(pruned) != 0 {
		t.Fatalf("first prune of a directory without state: pruned %v, err %v; want nothing", pruned, err)
	}
	if _, err := os.Stat(filepath.Join(dir, token.StateFile)); err != nil {
		t.Fatalf("prune wrote no state file: %v", err)
	}
	clock.Advance(lcPolicy.Retire)
	pruned, err = openDir(t, dir).Prune(lcPolicy, clock.Now())
	if err != nil || len(pruned) != 1 || pruned[0].ID != k1.ID {
		t.Fatalf("second prune: pruned %v, err %v; want %s", pruned, err, k1.ID)
	}
}

func TestRotateWithoutNextKeyGeneratesOne(t *testing.T) {
	clock := newStepClock()
	dir := t.TempDir()
	k1, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	r, err := openDir(t, dir).Rotate(lcPolicy, 2048, false, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Generated == nil || r.Generated.State != token.StateNext || r.Promoted != nil || r.Retired != nil {
		t.Fatalf("rotate without a next key: %+v, want a generated next key and nothing promoted", r)
	}
	if got := states(t, dir)[k1.ID]; got != token.StateCurrent {
		t.Errorf("current key became %s, want it still current", got)
	}
}

func TestGenerateRefusesASecondNextKey(t *testing.T) {
	clock := newStepClock()
	dir := t.TempDir()
	generateTwo(t, dir, clock)
	_, err := openDir(t, dir).Generate(2048, clock.Now())
	if err == nil || !strings.Contains(err.Error(), "already holds a next key") {
		t.Fatalf("third generate: err %v, want a refusal naming the next key", err)
	}
	if pems, _ := filepath.Glob(filepath.Join(dir, "*.pem")); len(pems) != 2 {
		t.Errorf("a refused generate left %d key files, want 2", len(pems))
	}
}

func TestForcedRotationSkipsThePublishWait(t *testing.T) {
	clock := newStepClock()
	dir := t.TempDir()
	generateTwo(t, dir, clock)
	next := openDir(t, dir).Next()
	if _, err := openDir(t, dir).Rotate(lcPolicy, 2048, true, clock.Now()); err != nil {
		t.Fatalf("forced rotation: %v", err)
	}
	if got := openDir(t, dir).Current().ID; got != next.ID {
		t.Errorf("after forced rotation current is %s, want %s", got, next.ID)
	}
}

func TestUnlistedKeyFileIsIgnored(t *testing.T) {
	clock := newStepClock()
	dir := t.TempDir()
	k1, err := openDir(t, dir).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	stray, err := token.Generate(dir, 2048, clock.Now().Add(time.Minute)) // no state recorded
	if err != nil {
		t.Fatal(err)
	}
	d := openDir(t, dir)
	if !slices.Equal(d.Unlisted, []string{stray.File}) {
		t.Errorf("Unlisted = %v, want [%s]", d.Unlisted, stray.File)
	}
	ks, err := d.KeySet()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ks.Lookup(stray.ID); ok {
		t.Error("a key file missing from the state file verifies tokens; want it ignored")
	}
	if ks.Signing().ID != k1.ID {
		t.Errorf("signing key %s, want %s", ks.Signing().ID, k1.ID)
	}
}

// TestBadStateFileRefusesToLoad: each fault stops the load with a reason
// naming the file.
func TestBadStateFileRefusesToLoad(t *testing.T) {
	clock := newStepClock()
	base := t.TempDir()
	k1, err := openDir(t, base).Generate(2048, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	pemName := filepath.Base(k1.File)
	line := func(file, state, kid string) string {
		return file + " " + state + " 2026-03-01T10:15:00Z " + kid + "\n"
	}
	tests := []struct {
		name    string
		state   string
		mode    os.FileMode
		wantErr []string
	}{
		{"a listed key file is missing", line(pemName, "current", k1.ID) + line("20260101T000000.000000000Z.pem", "retired", "x"),
			0o600, []string{"20260101T000000.000000000Z.pem", "no such file", token.StateFile}},
		{"a listed file escapes the directory", line("../"+pemName, "current", k1.ID),
			0o600, []string{"line 1", "not a *.pem file name"}},
		{"unknown state", line(pemName, "active", k1.ID),
			0o600, []string{"line 1", `state "active"`}},
		{"bad time", pemName + " current yesterday " + k1.ID + "\n",
			0o600, []string{"line 1", "RFC 3339"}},
		{"wrong number of fields", pemName + " current\n",
			0o600, []string{"line 1", "want `file state since kid`"}},
		{"kid does not match the file", line(pemName, "current", "not-the-kid"),
			0o600, []string{pemName, "was replaced"}},
		{"the same key twice", line(pemName, "current", k1.ID) + line(pemName, "retired", k1.ID),
			0o600, []string{"same key"}},
		{"two current keys", "", 0o600, nil}, // filled below
		{"state file others may change", line(pemName, "current", k1.ID),
			0o622, []string{token.StateFile, "group or others change it"}},
		{"no current key", line(pemName, "retired", k1.ID),
			0o600, []string{"no current key", "keys rotate"}},
	}
	// Two current keys need a second real key file.
	k2, err := token.Generate(base, 2048, clock.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	tests[7].state = line(pemName, "current", k1.ID) + line(filepath.Base(k2.File), "current", k2.ID)
	tests[7].wantErr = []string{"2 keys are current"}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(base, token.StateFile)
			if err := os.WriteFile(name, []byte(tt.state), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(name, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := token.LoadDir(base)
			if err == nil {
				t.Fatalf("LoadDir succeeded, want an error containing %q", tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// generateTwo generates a current key and then a next one, a second apart.
func generateTwo(t *testing.T, dir string, clock *stepClock) {
	t.Helper()
	for range 2 {
		if _, err := openDir(t, dir).Generate(2048, clock.Now()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
}
