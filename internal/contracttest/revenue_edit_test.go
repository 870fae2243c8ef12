package contracttest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// The months the revenue write rows set, remove and import; the demo data
// has none of them.
const (
	editedMonth   = "2031-04"
	cliMonth      = "2031-03"
	importedFile  = "month,amount\n2040-01,12345.67\n2040-02,-80\n"
	importedCents = "month,amount_cents\n2040-01,1234567\n"
)

// revenueWriteExchanges change the revenue as carol (admin), in an order
// where each If-Match row finds the figures where it expects them: stale
// is the ETag before the first write of the rows, current until then.
// Before the rows, an operator sets a month at the command line, so the
// changes list an actor of each kind.
func revenueWriteExchanges(svc *service) []exchange {
	carol := svc.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	alice := svc.Login(apitest.AliceEmail, apitest.AlicePassword).AccessToken
	bob := svc.Login(apitest.BobEmail, apitest.BobPassword).AccessToken
	svc.setMonthAtTheCommandLine(carol, cliMonth, 4200)
	stale := svc.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: carol}).Header().Get("ETag")

	month := "/revenue/months/" + editedMonth
	amount := func(cents int64) string { return `{"amount_cents":` + strconv.FormatInt(cents, 10) + `}` }
	ifMatch := func(tag string) map[string]string { return map[string]string{"If-Match": tag} }
	csv := map[string]string{"Content-Type": "text/csv"}
	staleCSV := map[string]string{"Content-Type": "text/csv", "If-Match": stale}
	trail := &etagTrail{last: stale}

	return []exchange{
		{name: "revenue with its ETag", req: request{method: "GET", path: "/revenue", token: carol}, status: 200, then: trail.unchanged},
		{name: "revenue the client holds already", req: request{method: "GET", path: "/revenue?from=2025-01", token: carol,
			header: map[string]string{"If-None-Match": stale}}, status: 304, then: trail.unchanged},

		{name: "set a month that has no figure, if the revenue is as read",
			req:    request{method: "PUT", path: month, token: carol, body: amount(1234567), header: ifMatch(stale)},
			status: 201, then: trail.created(month)},
		{name: "set a month with the ETag read before the last write",
			req:    request{method: "PUT", path: month, token: carol, body: amount(999), header: ifMatch(stale)},
			status: 412, code: "precondition_failed"},
		{name: "set a month to another amount", req: request{method: "PUT", path: month, token: carol, body: amount(-500)},
			status: 200, then: trail.changed},
		{name: "set a month to the amount it has", req: request{method: "PUT", path: month, token: carol, body: amount(-500)},
			status: 200, then: trail.unchanged},
		{name: "set a month before 1900", req: request{method: "PUT", path: "/revenue/months/1899-12", token: carol, body: amount(1)},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "set a month that is not one", req: request{method: "PUT", path: "/revenue/months/2031-13", token: carol, body: amount(1)},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "set a month beyond 10^15 cents", req: request{method: "PUT", path: month, token: carol, body: amount(revenue.MaxAmountCents + 1)},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "set a month without an amount", req: request{method: "PUT", path: month, token: carol, body: `{}`},
			status: 400, code: "invalid_request", refused: bySchema},
		{name: "set a month to a fraction of a cent", req: request{method: "PUT", path: month, token: carol, body: `{"amount_cents":12.5}`},
			status: 400, code: "invalid_json", refused: bySchema},
		{name: "set a month of another organization", req: request{method: "PUT", path: month, token: carol,
			body: `{"amount_cents":1,"org_id":"00000000-0000-4000-8000-000000000000"}`},
			status: 400, code: "unknown_member", refused: bySchema},
		{name: "set a month with a member twice", req: request{method: "PUT", path: month, token: carol, body: `{"amount_cents":1,"amount_cents":2}`},
			status: 400, code: "duplicate_member", refused: inProse},
		{name: "set a month with a query string", req: request{method: "PUT", path: month + "?org_id=x", token: carol, body: amount(1)},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "set a month with a body over the limit", req: request{method: "PUT", path: month, token: carol,
			body: amount(1) + strings.Repeat(" ", 17<<10)}, status: 413, code: "body_too_large"},
		{name: "set a month with a text body", req: request{method: "PUT", path: month, token: carol, body: "1",
			header: map[string]string{"Content-Type": "text/plain"}}, status: 415, code: "unsupported_media_type", refused: bySchema},
		{name: "set a month without a body", req: request{method: "PUT", path: month, token: carol},
			status: 400, code: "invalid_json", refused: bySchema},
		{name: "set a month without a token", req: request{method: "PUT", path: month, body: amount(1)},
			status: 401, code: "missing_token", refused: bySchema},
		{name: "set a month with a malformed token", req: request{method: "PUT", path: month, token: "not.a.jwt", body: amount(1)},
			status: 401, code: "invalid_token"},
		{name: "set a month without the revenue:write scope", req: request{method: "PUT", path: month, token: alice, body: amount(1)},
			status: 403, code: "insufficient_scope", then: scopeChallenge("revenue:write")},

		{name: "remove a month without the revenue:write scope", req: request{method: "DELETE", path: month, token: bob},
			status: 403, code: "insufficient_scope", then: scopeChallenge("revenue:write")},
		{name: "remove a month with a stale ETag", req: request{method: "DELETE", path: month, token: carol, header: ifMatch(stale)},
			status: 412, code: "precondition_failed"},
		{name: "remove a month", req: request{method: "DELETE", path: month, token: carol}, status: 204, then: trail.changed},
		{name: "remove a month that has no figure", req: request{method: "DELETE", path: month, token: carol},
			status: 404, code: "not_found"},
		{name: "remove a month after 2999", req: request{method: "DELETE", path: "/revenue/months/3000-01", token: carol},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "remove a month with a query string", req: request{method: "DELETE", path: month + "?org_id=x", token: carol},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "remove a month without a token", req: request{method: "DELETE", path: month}, status: 401, code: "missing_token", refused: bySchema},

		{name: "import, dry run", req: request{method: "POST", path: "/revenue/imports?dry_run=true", token: carol, body: importedFile, header: csv},
			status: 200, then: trail.imported(importResult{DryRun: true, Months: 2, Inserted: 2})},
		{name: "import", req: request{method: "POST", path: "/revenue/imports", token: carol, body: importedFile, header: csv},
			status: 200, then: trail.imported(importResult{Months: 2, Inserted: 2})},
		{name: "import in cents, the amount a month has", req: request{method: "POST", path: "/revenue/imports?dry_run=false", token: carol,
			body: importedCents, header: csv}, status: 200, then: trail.imported(importResult{Months: 1, Unchanged: 1})},
		{name: "import with a stale ETag", req: request{method: "POST", path: "/revenue/imports", token: carol, body: importedFile, header: staleCSV},
			status: 412, code: "precondition_failed"},
		{name: "import a file with bad lines", req: request{method: "POST", path: "/revenue/imports", token: carol,
			body: "month,amount\n2040-03,1\n2040-04,\"12,5\"\n2040-13,1\n", header: csv},
			status: 400, code: "invalid_csv", then: csvErrors("line 3: amount \"12,5\"", 3, 9, "line 4: month \"2040-13\"")},
		{name: "import a file with another header", req: request{method: "POST", path: "/revenue/imports", token: carol,
			body: "month,amount,org_id\n2040-03,1,x\n", header: csv},
			status: 400, code: "invalid_csv", then: csvErrors(`line 1: header "month,amount,org_id"`, 1, 1)},
		{name: "import a file with a stray quote", req: request{method: "POST", path: "/revenue/imports", token: carol,
			body: "month,amount\n2040-03,\"1\n", header: csv}, status: 400, code: "invalid_csv", refused: bySchema},
		{name: "import with dry_run not a boolean", req: request{method: "POST", path: "/revenue/imports?dry_run=maybe", token: carol,
			body: importedFile, header: csv}, status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "import for another organization", req: request{method: "POST", path: "/revenue/imports?org_id=x", token: carol,
			body: importedFile, header: csv}, status: 400, code: "invalid_query", refused: inProse},
		{name: "import a JSON body", req: request{method: "POST", path: "/revenue/imports", token: carol, body: `{"month":"2040-03"}`},
			status: 415, code: "unsupported_media_type", refused: bySchema},
		{name: "import a file in Latin-1", req: request{method: "POST", path: "/revenue/imports", token: carol, body: importedFile,
			header: map[string]string{"Content-Type": "text/csv; charset=iso-8859-1"}},
			status: 415, code: "unsupported_media_type", refused: inProse},
		{name: "import a file over 1 MiB", req: request{method: "POST", path: "/revenue/imports", token: carol,
			body: "month,amount\n" + strings.Repeat("2040-03,1\n", revenue.MaxImportBytes/10+1), header: csv},
			status: 413, code: "body_too_large"},
		{name: "import without a token", req: request{method: "POST", path: "/revenue/imports", body: importedFile, header: csv},
			status: 401, code: "missing_token", refused: bySchema},
		{name: "import without the revenue:write scope", req: request{method: "POST", path: "/revenue/imports", token: alice,
			body: importedFile, header: csv}, status: 403, code: "insufficient_scope", then: scopeChallenge("revenue:write")},

		{name: "revenue the client holds no longer", req: request{method: "GET", path: "/revenue", token: carol,
			header: map[string]string{"If-None-Match": stale}}, status: 200, then: trail.unchanged},
		{name: "changes, newest first", req: request{method: "GET", path: "/revenue/changes", token: carol},
			status: 200, then: changesNewestFirst},
		{name: "changes of some months", req: request{method: "GET", path: "/revenue/changes?from=2040-01&to=2040-12", token: carol},
			status: 200, then: changeMonths(false, "2040-02", "2040-01")},
		{name: "changes a page at a time", req: request{method: "GET", path: "/revenue/changes?limit=2", token: carol},
			status: 200, then: changeMonths(true, "2040-02", "2040-01")},
		{name: "changes before a cursor", req: request{method: "GET", path: "/revenue/changes?cursor=1000000000", token: carol},
			status: 200},
		{name: "changes with a limit over 200", req: request{method: "GET", path: "/revenue/changes?limit=201", token: carol},
			status: 400, code: "invalid_parameter", refused: bySchema},
		{name: "changes with a cursor that is no next_cursor", req: request{method: "GET", path: "/revenue/changes?cursor=abc", token: carol},
			status: 400, code: "invalid_parameter"},
		{name: "changes with from after to", req: request{method: "GET", path: "/revenue/changes?from=2040-02&to=2040-01", token: carol},
			status: 400, code: "invalid_parameter"},
		{name: "changes of another organization", req: request{method: "GET", path: "/revenue/changes?org_id=x", token: carol},
			status: 400, code: "invalid_query", refused: inProse},
		{name: "changes without a token", req: request{method: "GET", path: "/revenue/changes"}, status: 401, code: "missing_token", refused: bySchema},
		{name: "changes without the revenue:write scope", req: request{method: "GET", path: "/revenue/changes", token: alice},
			status: 403, code: "insufficient_scope", then: scopeChallenge("revenue:write")},
	}
}

// setMonthAtTheCommandLine sets a month of the organization of the holder
// of accessToken as the revenue-api revenue set command does: as an
// operator, not a user.
func (s *service) setMonthAtTheCommandLine(accessToken, month string, cents int64) {
	s.T.Helper()
	p, err := s.Verifier.Verify(accessToken)
	if err != nil {
		s.T.Fatal(err)
	}
	m, err := revenue.ParseEditableMonth(month)
	if err != nil {
		s.T.Fatal(err)
	}
	w := revenue.Write{OrgID: p.OrgID, Author: revenue.Author{OSUser: "operator"}, Source: revenue.SourceCLI}
	if _, err := revenue.NewService(postgres.NewRevenueStore(s.DB)).SetMonth(context.Background(), w,
		revenue.Figure{Month: m, AmountCents: cents}); err != nil {
		s.T.Fatal(err)
	}
}

// etagTrail follows the revenue's ETag through the rows: each check
// compares an answer's ETag with the last one it saw.
type etagTrail struct{ last string }

// changed checks that a write gave the figures a new ETag.
func (e *etagTrail) changed(t *testing.T, a answer) {
	t.Helper()
	got := a.Header.Get("ETag")
	if got == e.last {
		t.Errorf("ETag %s after a change, the same as before: the document says a change gives a new one", got)
	}
	e.last = got
}

// unchanged checks that the figures kept their ETag.
func (e *etagTrail) unchanged(t *testing.T, a answer) {
	t.Helper()
	if got := a.Header.Get("ETag"); got != e.last {
		t.Errorf("ETag %s, want %s: nothing changed the figures since", got, e.last)
	}
}

// created checks the Location of a new month and its new ETag.
func (e *etagTrail) created(location string) func(t *testing.T, a answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		if got := a.Header.Get("Location"); got != location {
			t.Errorf("Location %q, want %q", got, location)
		}
		e.changed(t, a)
	}
}

// importResult is the body of an import's answer.
type importResult struct {
	DryRun    bool `json:"dry_run"`
	Months    int  `json:"months"`
	Inserted  int  `json:"inserted"`
	Updated   int  `json:"updated"`
	Unchanged int  `json:"unchanged"`
}

// imported checks an import's counts, and that the ETag changed only when
// a month was written.
func (e *etagTrail) imported(want importResult) func(t *testing.T, a answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		var got importResult
		if err := json.Unmarshal(a.body, &got); err != nil || got != want {
			t.Errorf("import answered %s, want %+v", a.body, want)
		}
		if !want.DryRun && want.Inserted+want.Updated > 0 {
			e.changed(t, a)
		} else {
			e.unchanged(t, a)
		}
	}
}

// scopeChallenge checks that a 403 names the scope the operation needs.
func scopeChallenge(scope string) func(t *testing.T, a answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		if got := a.Header.Get("WWW-Authenticate"); !strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, `scope="`+scope+`"`) {
			t.Errorf("WWW-Authenticate %q, want an insufficient_scope challenge naming %s", got, scope)
		}
	}
}

// csvErrors checks that an invalid_csv problem locates its mistakes: the
// first at line and column, with a message starting with first, and one
// more error for each of more, in file order.
func csvErrors(first string, line, column int, more ...string) func(t *testing.T, a answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		var p struct {
			Errors []struct {
				Line, Column int
				Message      string
			}
		}
		if err := json.Unmarshal(a.body, &p); err != nil || len(p.Errors) != 1+len(more) {
			t.Fatalf("errors of %s, want %d", a.body, 1+len(more))
		}
		if e := p.Errors[0]; e.Line != line || e.Column != column || !strings.HasPrefix(e.Message, first) {
			t.Errorf("first error %+v, want line %d, column %d, a message starting %q", e, line, column, first)
		}
		for i, m := range more {
			if !strings.HasPrefix(p.Errors[i+1].Message, m) {
				t.Errorf("error %d %+v, want a message starting %q", i+2, p.Errors[i+1], m)
			}
		}
	}
}

// changeList is the body of GET /revenue/changes.
type changeList struct {
	Changes []struct {
		ID    string
		Month string
		Old   *int64 `json:"old_amount_cents"`
		New   *int64 `json:"new_amount_cents"`
		Actor struct {
			Type, Email string
			OSUser      string `json:"os_user"`
		}
		Source    string
		RequestID *string `json:"request_id"`
	}
	NextCursor *string `json:"next_cursor"`
}

func decodeChanges(t *testing.T, a answer) changeList {
	t.Helper()
	var l changeList
	if err := json.Unmarshal(a.body, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// changesNewestFirst checks the record of what the rows before it did:
// the import's two months, the removal, the two amounts set (not the third
// PUT, of the same amount, nor any refused write), and the operator's
// change before the rows, newest first, each with its author.
func changesNewestFirst(t *testing.T, a answer) {
	t.Helper()
	l := decodeChanges(t, a)
	var got []string
	for i, c := range l.Changes {
		who := c.Actor.Type + " " + c.Actor.Email + c.Actor.OSUser
		got = append(got, c.Month+" "+amountText(c.Old)+"→"+amountText(c.New)+" "+c.Source+" by "+who)
		if i > 0 {
			prev, _ := strconv.ParseInt(l.Changes[i-1].ID, 10, 64)
			if id, _ := strconv.ParseInt(c.ID, 10, 64); id >= prev {
				t.Errorf("change %s listed after %d: want the newest first", c.ID, prev)
			}
		}
		if (c.RequestID == nil) != (c.Source == "cli") {
			t.Errorf("change %s of source %s has request_id %v: want one for a change through the API only", c.ID, c.Source, c.RequestID)
		}
	}
	carol := "by user " + apitest.CarolEmail
	want := []string{
		"2040-02 null→-8000 import " + carol,
		"2040-01 null→1234567 import " + carol,
		editedMonth + " -500→null api " + carol,
		editedMonth + " 1234567→-500 api " + carol,
		editedMonth + " null→1234567 api " + carol,
		cliMonth + " null→4200 cli by cli operator",
	}
	if !slices.Equal(got, want) || l.NextCursor != nil {
		t.Errorf("changes:\n%s\nnext_cursor %v; want:\n%s\nnext_cursor null", strings.Join(got, "\n"), l.NextCursor, strings.Join(want, "\n"))
	}
}

// changeMonths checks the months of a page of changes, and whether it
// says there are more.
func changeMonths(more bool, months ...string) func(t *testing.T, a answer) {
	return func(t *testing.T, a answer) {
		t.Helper()
		l := decodeChanges(t, a)
		var got []string
		for _, c := range l.Changes {
			got = append(got, c.Month)
		}
		if !slices.Equal(got, months) || (l.NextCursor != nil) != more {
			t.Errorf("months %v, next_cursor %v; want %v and a next_cursor: %v", got, l.NextCursor, months, more)
		}
	}
}

func amountText(cents *int64) string {
	if cents == nil {
		return "null"
	}
	return strconv.FormatInt(*cents, 10)
}
