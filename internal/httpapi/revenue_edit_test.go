package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// csvRequest is POST /revenue/imports with body as text/csv.
func csvRequest(tok, query, body string) apitest.Request {
	return apitest.Request{Method: http.MethodPost, Path: "/revenue/imports" + query, Token: tok, Body: body,
		Header: http.Header{"Content-Type": {"text/csv"}}}
}

func putMonth(tok, month string, body any, ifMatch ...string) apitest.Request {
	r := apitest.Request{Method: http.MethodPut, Path: "/revenue/months/" + month, Token: tok, Body: body}
	if len(ifMatch) > 0 {
		r.Header = http.Header{"If-Match": ifMatch}
	}
	return r
}

// amountOf returns the figure of month in GET /revenue, and whether it has one.
func amountOf(t *testing.T, env *apitest.Env, tok, month string) (int64, bool) {
	t.Helper()
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?from=" + month + "&to=" + month, Token: tok})
	if resp.Code != http.StatusOK {
		t.Fatalf("GET /revenue: %d %s", resp.Code, resp.Body)
	}
	months := resp.JSON(t)["months"].([]any)
	if len(months) == 0 {
		return 0, false
	}
	return int64(months[0].(map[string]any)["amount_cents"].(float64)), true
}

func revenueETag(t *testing.T, env *apitest.Env, tok string) string {
	t.Helper()
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tok})
	etag := resp.Header().Get("ETag")
	if resp.Code != http.StatusOK || !strings.HasPrefix(etag, `"rev-`) {
		t.Fatalf("GET /revenue: %d, ETag %q, want 200 and a strong ETag", resp.Code, etag)
	}
	return etag
}

func TestAdminSetsAndDeletesAMonth(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	alice := env.Login(apitest.AliceEmail, apitest.AlicePassword).AccessToken
	before := revenueETag(t, env, carol)

	resp := env.Do(putMonth(carol, "2031-04", map[string]any{"amount_cents": 1234567}))
	if resp.Code != http.StatusCreated || resp.JSON(t)["amount_cents"] != float64(1234567) || resp.JSON(t)["month"] != "2031-04" {
		t.Fatalf("PUT a new month: %d %s, want 201 with the stored row", resp.Code, resp.Body)
	}
	created := resp.Header().Get("ETag")
	if created == before || created == "" {
		t.Errorf("ETag after a change = %q, before %q: want a new one", created, before)
	}
	if got, ok := amountOf(t, env, alice, "2031-04"); !ok || got != 1234567 {
		t.Errorf("alice reads %d (%v), want the new figure 1234567", got, ok)
	}

	resp = env.Do(putMonth(carol, "2031-04", map[string]any{"amount_cents": -500}))
	if resp.Code != http.StatusOK || resp.JSON(t)["amount_cents"] != float64(-500) {
		t.Fatalf("PUT a changed month: %d %s, want 200", resp.Code, resp.Body)
	}
	changed := resp.Header().Get("ETag")
	resp = env.Do(putMonth(carol, "2031-04", map[string]any{"amount_cents": -500}))
	if resp.Code != http.StatusOK || resp.Header().Get("ETag") != changed {
		t.Errorf("PUT the same amount: %d, ETag %q, want 200 and the ETag unchanged (%q)", resp.Code, resp.Header().Get("ETag"), changed)
	}

	resp = env.Do(apitest.Request{Method: http.MethodDelete, Path: "/revenue/months/2031-04", Token: carol})
	if resp.Code != http.StatusNoContent || resp.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %s, want 204", resp.Code, resp.Body)
	}
	if _, ok := amountOf(t, env, alice, "2031-04"); ok {
		t.Error("the deleted month is still there")
	}
	resp = env.Do(apitest.Request{Method: http.MethodDelete, Path: "/revenue/months/2031-04", Token: carol})
	if resp.Code != http.StatusNotFound || resp.ProblemCode(t) != "not_found" {
		t.Errorf("DELETE an absent month: %d %s, want 404 not_found", resp.Code, resp.Body)
	}

	// Who changed what: three changes (the same amount twice is not one), newest first.
	resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue/changes?from=2031-04&to=2031-04", Token: carol})
	if resp.Code != http.StatusOK {
		t.Fatalf("GET /revenue/changes: %d %s", resp.Code, resp.Body)
	}
	changes := resp.JSON(t)["changes"].([]any)
	if len(changes) != 3 {
		t.Fatalf("%d changes, want 3 (create, change, delete): %s", len(changes), resp.Body)
	}
	del, create := changes[0].(map[string]any), changes[2].(map[string]any)
	if del["old_amount_cents"] != float64(-500) || del["new_amount_cents"] != nil ||
		create["old_amount_cents"] != nil || create["new_amount_cents"] != float64(1234567) {
		t.Errorf("changes = %s, want the delete first (-500 → null) and the create last (null → 1234567)", resp.Body)
	}
	actor := del["actor"].(map[string]any)
	if actor["type"] != "user" || actor["email"] != apitest.CarolEmail || actor["user_id"] == "" ||
		del["source"] != "api" || del["request_id"] == nil || del["changed_at"] == nil {
		t.Errorf("change %v: want carol as the actor, source api, a request id and a time", del)
	}
}

func TestWritesNeedTheWriteScope(t *testing.T) {
	env := apitest.New(t)
	for _, u := range [][2]string{{apitest.AliceEmail, apitest.AlicePassword}, {apitest.BobEmail, apitest.BobPassword}} {
		tok := env.Login(u[0], u[1]).AccessToken
		for _, req := range []apitest.Request{
			putMonth(tok, "2030-01", map[string]any{"amount_cents": 1}),
			{Method: http.MethodDelete, Path: "/revenue/months/2025-01", Token: tok},
			csvRequest(tok, "", "month,amount\n2030-01,1\n"),
			{Method: http.MethodGet, Path: "/revenue/changes", Token: tok},
		} {
			resp := env.Do(req)
			if resp.Code != http.StatusForbidden || resp.ProblemCode(t) != "insufficient_scope" ||
				!strings.Contains(resp.Header().Get("WWW-Authenticate"), `scope="revenue:write"`) {
				t.Errorf("%s %s as %s: %d %s, want 403 insufficient_scope naming revenue:write", req.Method, req.Path, u[0], resp.Code, resp.Body)
			}
		}
	}
	// Nothing was written by the refused requests.
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	if _, ok := amountOf(t, env, carol, "2030-01"); ok {
		t.Error("a refused write stored a month")
	}
	resp := env.Do(apitest.Request{Method: http.MethodPut, Path: "/revenue/months/2030-01", Body: map[string]any{"amount_cents": 1}})
	if resp.Code != http.StatusUnauthorized {
		t.Errorf("PUT without a token: %d, want 401", resp.Code)
	}
}

func TestIfMatchGuardsEveryWrite(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	stale := revenueETag(t, env, carol)
	if resp := env.Do(putMonth(carol, "2032-01", map[string]any{"amount_cents": 100}, stale)); resp.Code != http.StatusCreated {
		t.Fatalf("PUT with the current ETag: %d %s, want 201", resp.Code, resp.Body)
	}
	for name, req := range map[string]apitest.Request{
		"PUT":        putMonth(carol, "2032-01", map[string]any{"amount_cents": 999}, stale),
		"DELETE":     {Method: http.MethodDelete, Path: "/revenue/months/2032-01", Token: carol, Header: http.Header{"If-Match": {stale}}},
		"import":     {Method: http.MethodPost, Path: "/revenue/imports", Token: carol, Body: "month,amount\n2032-01,9.99\n", Header: http.Header{"Content-Type": {"text/csv"}, "If-Match": {stale}}},
		"weak tag":   putMonth(carol, "2032-01", map[string]any{"amount_cents": 999}, "W/"+revenueETag(t, env, carol)),
		"not a tag":  putMonth(carol, "2032-01", map[string]any{"amount_cents": 999}, "banana"),
		"other list": putMonth(carol, "2032-01", map[string]any{"amount_cents": 999}, `"rev-999999", "x"`),
	} {
		resp := env.Do(req)
		if resp.Code != http.StatusPreconditionFailed || resp.ProblemCode(t) != "precondition_failed" {
			t.Errorf("%s with a stale If-Match: %d %s, want 412 precondition_failed", name, resp.Code, resp.Body)
		}
	}
	if got, _ := amountOf(t, env, carol, "2032-01"); got != 100 {
		t.Errorf("after the refused writes the month is %d, want 100 (nothing changed)", got)
	}
	for i, ifMatch := range []func(current string) string{
		func(current string) string { return current },
		func(current string) string { return `"rev-999999", ` + current },
		func(string) string { return "*" },
	} {
		header := ifMatch(revenueETag(t, env, carol))
		if resp := env.Do(putMonth(carol, "2032-01", map[string]any{"amount_cents": 200 + i}, header)); resp.Code != http.StatusOK {
			t.Errorf("PUT with If-Match %s: %d %s, want 200", header, resp.Code, resp.Body)
		}
	}
	current := revenueETag(t, env, carol)

	// GET answers 304 to a client that has the current figures, 200 after a change.
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?from=2025-01", Token: carol, Header: http.Header{"If-None-Match": {current}}})
	if resp.Code != http.StatusNotModified || resp.Body.Len() != 0 || resp.Header().Get("ETag") != current {
		t.Errorf("GET with If-None-Match of the current ETag: %d (%d bytes), want 304 without a body", resp.Code, resp.Body.Len())
	}
	env.Do(putMonth(carol, "2032-01", map[string]any{"amount_cents": 300}))
	resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: carol, Header: http.Header{"If-None-Match": {current}}})
	if resp.Code != http.StatusOK {
		t.Errorf("GET with If-None-Match of a stale ETag: %d, want 200", resp.Code)
	}
}

// Every organization's figures start at the same version and count their
// own changes, and GET /revenue is one URL for all of them: the ETag must
// name the organization, or one organization's tag would match another's
// figures whenever their counters agree.
func TestETagNamesTheOrganization(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	dave := globexAdmin(t, env)
	// One change each: both counters at the same version.
	for _, tok := range []string{carol, dave} {
		if resp := env.Do(putMonth(tok, "2240-01", map[string]any{"amount_cents": 1})); resp.Code != http.StatusCreated {
			t.Fatalf("PUT 2240-01: %d %s, want 201", resp.Code, resp.Body)
		}
	}
	acme, globex := revenueETag(t, env, carol), revenueETag(t, env, dave)
	if acme == globex {
		t.Errorf("Acme and Globex at the same version both have the ETag %s: want a tag that names its organization", acme)
	}
	for _, tok := range []string{carol, dave} {
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tok})
		id := resp.JSON(t)["organization"].(map[string]any)["id"].(string)
		if tag := resp.Header().Get("ETag"); strings.Contains(tag, id) || strings.Contains(tag, strings.ReplaceAll(id, "-", "")) {
			t.Errorf("ETag %s holds the organization's id %s: want an opaque tag", tag, id)
		}
	}

	importAcme := csvRequest(dave, "", "month,amount\n2240-01,9\n")
	importAcme.Header.Set("If-Match", acme)
	tests := []struct {
		name   string
		req    apitest.Request
		status int
		code   string
	}{
		{"GET If-None-Match: Acme's ETag", apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: dave,
			Header: http.Header{"If-None-Match": {acme}}}, 200, ""},
		{"GET If-None-Match: Acme's ETag, weak", apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: dave,
			Header: http.Header{"If-None-Match": {"W/" + acme}}}, 200, ""},
		{"PUT If-Match: Acme's ETag", putMonth(dave, "2240-01", map[string]any{"amount_cents": 9}, acme), 412, "precondition_failed"},
		{"DELETE If-Match: Acme's ETag", apitest.Request{Method: http.MethodDelete, Path: "/revenue/months/2240-01", Token: dave,
			Header: http.Header{"If-Match": {acme}}}, 412, "precondition_failed"},
		{"import If-Match: Acme's ETag", importAcme, 412, "precondition_failed"},
	}
	for _, tt := range tests {
		resp := env.Do(tt.req)
		if resp.Code != tt.status || (tt.code != "" && resp.ProblemCode(t) != tt.code) {
			t.Errorf("dave, %s: %d %s, want %d %s", tt.name, resp.Code, resp.Body, tt.status, tt.code)
		}
		if tt.req.Method == http.MethodGet && resp.Code == http.StatusOK && (resp.Body.Len() == 0 || resp.Header().Get("ETag") != globex) {
			t.Errorf("dave, %s: %d bytes, ETag %s; want Globex's figures and its ETag %s", tt.name, resp.Body.Len(), resp.Header().Get("ETag"), globex)
		}
	}
	if got, _ := amountOf(t, env, dave, "2240-01"); got != 1 || revenueETag(t, env, dave) != globex {
		t.Errorf("after the refused writes Globex's 2240-01 is %d, ETag %s; want 1 and %s (nothing written)", got, revenueETag(t, env, dave), globex)
	}

	// If-None-Match on a write: Acme's tag is not Globex's version, so it
	// does not refuse the write.
	resp := env.Do(apitest.Request{Method: http.MethodPut, Path: "/revenue/months/2240-02", Token: dave, Body: map[string]any{"amount_cents": 2},
		Header: http.Header{"If-None-Match": {acme}}})
	if resp.Code != http.StatusCreated {
		t.Errorf("dave, PUT If-None-Match: Acme's ETag: %d %s, want 201", resp.Code, resp.Body)
	}
	// A list holding Acme's tag and Globex's own matches by the latter.
	globex = resp.Header().Get("ETag")
	if resp := env.Do(putMonth(dave, "2240-02", map[string]any{"amount_cents": 3}, acme+", "+globex)); resp.Code != http.StatusOK {
		t.Errorf("dave, PUT If-Match: Acme's ETag, Globex's: %d %s, want 200", resp.Code, resp.Body)
	}
	// Each organization's own tag still works for it. The answer, 200 or
	// 304, says that it depends on the token.
	for _, get := range []struct {
		header http.Header
		status int
	}{
		{nil, http.StatusOK},
		{http.Header{"If-None-Match": {acme}}, http.StatusNotModified},
	} {
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: carol, Header: get.header})
		if resp.Code != get.status {
			t.Errorf("carol, GET /revenue %v: %d, want %d", get.header, resp.Code, get.status)
		}
		if vary := resp.Header().Values("Vary"); !slices.Contains(vary, "Authorization") {
			t.Errorf("carol, GET /revenue %v: Vary %q, want Authorization among them", get.header, vary)
		}
	}
}

func TestPutMonthRefusesBadInput(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	tests := []struct {
		name, month string
		body        any
		status      int
		code        string
	}{
		{"month out of range", "1899-12", map[string]any{"amount_cents": 1}, 400, "invalid_parameter"},
		{"month past 2999", "3000-01", map[string]any{"amount_cents": 1}, 400, "invalid_parameter"},
		{"not a month", "2026-13", map[string]any{"amount_cents": 1}, 400, "invalid_parameter"},
		{"month with a day", "2026-01-01", map[string]any{"amount_cents": 1}, 400, "invalid_parameter"},
		{"no amount", "2026-01", map[string]any{}, 400, "invalid_request"},
		{"null amount", "2026-01", `{"amount_cents":null}`, 400, "invalid_request"},
		{"fractional cents", "2026-01", `{"amount_cents":12.5}`, 400, "invalid_json"},
		{"amount as a string", "2026-01", `{"amount_cents":"12"}`, 400, "invalid_json"},
		{"amount beyond 10^15", "2026-01", map[string]any{"amount_cents": int64(1_000_000_000_000_001)}, 400, "invalid_parameter"},
		{"amount beyond int64", "2026-01", `{"amount_cents":99999999999999999999}`, 400, "invalid_json"},
		{"an organization in the body", "2026-01", map[string]any{"amount_cents": 1, "org_id": "x"}, 400, "unknown_member"},
		{"not JSON", "2026-01", "amount=1", 400, "invalid_json"},
	}
	for _, tt := range tests {
		resp := env.Do(putMonth(carol, tt.month, tt.body))
		if resp.Code != tt.status || resp.ProblemCode(t) != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.Code, resp.Body, tt.status, tt.code)
		}
	}
	resp := env.Do(apitest.Request{Method: http.MethodPut, Path: "/revenue/months/2026-01?org_id=x", Token: carol, Body: map[string]any{"amount_cents": 1}})
	if resp.Code != http.StatusBadRequest || resp.ProblemCode(t) != "invalid_query" {
		t.Errorf("PUT with an org_id parameter: %d %s, want 400 invalid_query", resp.Code, resp.Body)
	}
	resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue/changes", Token: carol})
	if n := len(resp.JSON(t)["changes"].([]any)); n != 0 {
		t.Errorf("%d changes recorded by refused requests, want 0", n)
	}
}

func TestImportWritesAllOrNothing(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	existing, _ := amountOf(t, env, carol, lastSeededMonth(t, env, carol))
	last := lastSeededMonth(t, env, carol)

	// Dry run: counts, writes nothing.
	file := "\uFEFFmonth,amount\r\n2040-01,12345.67\r\n2040-02,-80\r\n" + last + "," + major(existing) + "\r\n"
	resp := env.Do(csvRequest(carol, "?dry_run=true", file))
	want := map[string]any{"dry_run": true, "months": float64(3), "inserted": float64(2), "updated": float64(0), "unchanged": float64(1)}
	if resp.Code != http.StatusOK || fmt.Sprint(resp.JSON(t)) != fmt.Sprint(want) {
		t.Fatalf("dry run: %d %s, want 200 %v", resp.Code, resp.Body, want)
	}
	if _, ok := amountOf(t, env, carol, "2040-01"); ok {
		t.Fatal("a dry run wrote a month")
	}

	// The real import, with a BOM and CRLF line ends.
	resp = env.Do(csvRequest(carol, "", file))
	want["dry_run"] = false
	if resp.Code != http.StatusOK || fmt.Sprint(resp.JSON(t)) != fmt.Sprint(want) {
		t.Fatalf("import: %d %s, want 200 %v", resp.Code, resp.Body, want)
	}
	if got, _ := amountOf(t, env, carol, "2040-01"); got != 1234567 {
		t.Errorf("2040-01 = %d, want 1234567", got)
	}
	if got, _ := amountOf(t, env, carol, "2040-02"); got != -8000 {
		t.Errorf("2040-02 = %d, want -8000", got)
	}

	// amount_cents header; one bad row among good ones: nothing is written.
	before := revenueETag(t, env, carol)
	resp = env.Do(csvRequest(carol, "", "month,amount_cents\n2040-01,1\n2040-03,5\n2040-04,12,5\n2040-05,oops\n"))
	if resp.Code != http.StatusBadRequest || resp.ProblemCode(t) != "invalid_csv" {
		t.Fatalf("a file with bad rows: %d %s, want 400 invalid_csv", resp.Code, resp.Body)
	}
	errs := resp.JSON(t)["errors"].([]any)
	if len(errs) != 2 || !strings.HasPrefix(errs[0].(map[string]any)["message"].(string), "line 4:") ||
		errs[1].(map[string]any)["line"] != float64(5) || errs[1].(map[string]any)["column"] != float64(9) {
		t.Errorf("errors = %s, want line 4 (three fields) and line 5 column 9 (the amount)", resp.Body)
	}
	if got, _ := amountOf(t, env, carol, "2040-01"); got != 1234567 {
		t.Errorf("2040-01 = %d after a refused import, want 1234567 still", got)
	}
	if _, ok := amountOf(t, env, carol, "2040-03"); ok || revenueETag(t, env, carol) != before {
		t.Error("a refused import wrote a month or changed the ETag")
	}

	resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue/changes?from=2040-01", Token: carol})
	for _, ch := range resp.JSON(t)["changes"].([]any) {
		if ch.(map[string]any)["source"] != "import" {
			t.Errorf("change %v: want source import", ch)
		}
	}
}

// problemMessages is a problem's detail and the messages of its errors.
func problemMessages(t *testing.T, resp apitest.Response) string {
	t.Helper()
	body := resp.JSON(t)
	out, _ := body["detail"].(string)
	errs, _ := body["errors"].([]any)
	for _, e := range errs {
		out += "\n" + e.(map[string]any)["message"].(string)
	}
	return out
}

// lastSeededMonth is the latest month of the demo figures.
func lastSeededMonth(t *testing.T, env *apitest.Env, tok string) string {
	t.Helper()
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue", Token: tok})
	return resp.JSON(t)["to"].(string)
}

func major(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func TestImportRefusesBadFiles(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	tests := []struct {
		name, body string
		wantLine   string // a message that must appear
	}{
		{"empty file", "", "line 1: the file is empty"},
		{"only a BOM", "\uFEFF", "line 1: the file is empty"},
		{"header only", "month,amount\n", "no months after the header"},
		{"wrong header", "date,value\n2026-01,1\n", `line 1: header "date,value"`},
		{"decimal comma", "month,amount\n2026-01,\"12,5\"\n", `line 2: amount "12,5": not a number with at most two decimals`},
		{"three decimals", "month,amount\n2026-01,1.234\n", `line 2: amount "1.234"`},
		{"exponent", "month,amount\n2026-01,1e3\n", `line 2: amount "1e3"`},
		{"amount too large", "month,amount\n2026-01,10000000000000.01\n", "line 2: amount \"10000000000000.01\": beyond"},
		{"cents too large", "month,amount_cents\n2026-01,-1000000000000001\n", "line 2: amount_cents"},
		{"month out of range", "month,amount\n1899-12,1\n", "line 2: month 1899-12 is outside 1900-01 to 2999-12"},
		{"month past 2999", "month,amount\n3000-01,1\n", "line 2: month 3000-01 is outside"},
		{"not a month", "month,amount\nJanuary,1\n", `line 2: month "January" is not a month`},
		{"duplicate month", "month,amount\n2026-01,1\n2026-02,2\n2026-01,3\n", "line 4: month 2026-01 appears again (first on line 2)"},
		{"missing field", "month,amount\n2026-01\n", "line 2: 1 fields; want 2"},
		{"an organization column", "month,amount,org_id\n2026-01,1,x\n", `line 1: header "month,amount,org_id"`},
		{"a stray quote", "month,amount\n2026-01,\"1\n", "line 2, column"},
	}
	before := revenueETag(t, env, carol)
	for _, tt := range tests {
		resp := env.Do(csvRequest(carol, "", tt.body))
		if resp.Code != http.StatusBadRequest || resp.ProblemCode(t) != "invalid_csv" || !strings.Contains(problemMessages(t, resp), tt.wantLine) {
			t.Errorf("%s: %d %s, want 400 invalid_csv saying %q", tt.name, resp.Code, resp.Body, tt.wantLine)
		}
	}

	// Many bad lines: a bounded number of them, and how many more.
	var b strings.Builder
	b.WriteString("month,amount\n")
	for i := range 50 {
		fmt.Fprintf(&b, "2026-%02d,x\n", i%12+1)
	}
	resp := env.Do(csvRequest(carol, "", b.String()))
	errs := resp.JSON(t)["errors"].([]any)
	if len(errs) != 21 || !strings.Contains(errs[20].(map[string]any)["message"].(string), "more mistakes") {
		t.Errorf("50 bad lines gave %d errors, want 20 and a count of the rest", len(errs))
	}

	other := []struct {
		name   string
		req    apitest.Request
		status int
		code   string
	}{
		{"JSON body", apitest.Request{Method: http.MethodPost, Path: "/revenue/imports", Token: carol, Body: map[string]any{"month": "2026-01"}}, 415, "unsupported_media_type"},
		{"Latin-1", apitest.Request{Method: http.MethodPost, Path: "/revenue/imports", Token: carol, Body: "month,amount\n2026-01,1\n",
			Header: http.Header{"Content-Type": {"text/csv; charset=iso-8859-1"}}}, 415, "unsupported_media_type"},
		{"over the limit", csvRequest(carol, "", "month,amount\n"+strings.Repeat("2026-01,1\n", revenue.MaxImportBytes/10+1)), 413, "body_too_large"},
		{"dry_run not a boolean", csvRequest(carol, "?dry_run=maybe", "month,amount\n2026-01,1\n"), 400, "invalid_parameter"},
		{"dry_run twice", csvRequest(carol, "?dry_run=true&dry_run=false", "month,amount\n2026-01,1\n"), 400, "invalid_parameter"},
		{"an org_id parameter", csvRequest(carol, "?org_id=x", "month,amount\n2026-01,1\n"), 400, "invalid_query"},
	}
	for _, tt := range other {
		resp := env.Do(tt.req)
		if resp.Code != tt.status || resp.ProblemCode(t) != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.Code, resp.Body, tt.status, tt.code)
		}
	}
	if revenueETag(t, env, carol) != before {
		t.Error("a refused import changed the figures")
	}

	// A file of every month from 1900 to 2999 fits the import limit (and
	// is far beyond REVENUE_MAX_BODY_BYTES).
	b.Reset()
	b.WriteString("month,amount\n")
	for y := 1900; y <= 2999; y++ {
		for m := 1; m <= 12; m++ {
			fmt.Fprintf(&b, "%d-%02d,1234567.89\n", y, m)
		}
	}
	resp = env.Do(csvRequest(carol, "?dry_run=1", b.String()))
	if resp.Code != http.StatusOK || resp.JSON(t)["months"] != float64(13200) {
		t.Errorf("every month of 1900-2999 (%d bytes): %d %.300s, want 200 and 13200 months", b.Len(), resp.Code, resp.Body)
	}
}

func TestRevenueChangesPages(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	for i := 1; i <= 5; i++ {
		env.Do(putMonth(carol, fmt.Sprintf("2050-%02d", i), map[string]any{"amount_cents": i}))
	}
	var months []string
	path := "/revenue/changes?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 2 for 5 changes")
		}
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: path, Token: carol})
		if resp.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.Code, resp.Body)
		}
		body := resp.JSON(t)
		for _, ch := range body["changes"].([]any) {
			months = append(months, ch.(map[string]any)["month"].(string))
		}
		path = ""
		if next, ok := body["next_cursor"].(string); ok {
			path = "/revenue/changes?limit=2&cursor=" + next
		}
	}
	if got := strings.Join(months, " "); got != "2050-05 2050-04 2050-03 2050-02 2050-01" {
		t.Errorf("pages gave %s, want the five changes newest first, each once", got)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=abc", "cursor=-1", "from=2050-13", "from=2050-05&to=2050-01", "org_id=x"} {
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue/changes?" + q, Token: carol})
		if resp.Code != http.StatusBadRequest {
			t.Errorf("GET /revenue/changes?%s: %d, want 400", q, resp.Code)
		}
	}
}

// Two organizations: nothing a client sends can read or write the other's
// revenue or see its changes.
func TestRevenueWritesStayInTheTokensOrganization(t *testing.T) {
	env := apitest.New(t)
	ctx := context.Background()
	if _, err := env.Auth.CreateUser(ctx, auth.NewUser{Organization: "Globex Inc", Email: "dave@example.com",
		Password: "dave-password-12", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	dave := env.Login("dave@example.com", "dave-password-12").AccessToken
	globexBefore := revenueETag(t, env, dave)
	last := lastSeededMonth(t, env, dave)
	globexLast, _ := amountOf(t, env, dave, last)

	env.Do(putMonth(carol, last, map[string]any{"amount_cents": 1}))
	env.Do(csvRequest(carol, "", "month,amount\n2060-01,1\n"))
	env.Do(apitest.Request{Method: http.MethodDelete, Path: "/revenue/months/" + last, Token: carol})

	if got, _ := amountOf(t, env, dave, last); got != globexLast || revenueETag(t, env, dave) != globexBefore {
		t.Errorf("Acme's admin changed Globex's figures: %s = %d, want %d", last, got, globexLast)
	}
	if _, ok := amountOf(t, env, dave, "2060-01"); ok {
		t.Error("Acme's import reached Globex")
	}
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue/changes", Token: dave})
	if n := len(resp.JSON(t)["changes"].([]any)); n != 0 {
		t.Errorf("Globex's admin sees %d changes made at Acme, want 0", n)
	}
	// Acme's If-Match is no key to Globex either: an ETag says nothing of whose figures.
	resp = env.Do(putMonth(dave, "2060-02", map[string]any{"amount_cents": 7}, revenueETag(t, env, carol)))
	if resp.Code != http.StatusPreconditionFailed {
		t.Errorf("dave's PUT with Acme's ETag: %d %s, want 412 (Globex's figures are at another version)", resp.Code, resp.Body)
	}
	if _, ok := amountOf(t, env, carol, "2060-02"); ok {
		t.Error("Globex's write reached Acme")
	}
}

// An admin whose role is taken away cannot write with the token they hold:
// the role change revokes it (and a new token lacks the scope).
func TestDowngradedAdminCannotWrite(t *testing.T) {
	env := apitest.New(t)
	tok := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	if resp := env.Do(putMonth(tok, "2070-01", map[string]any{"amount_cents": 1})); resp.Code != http.StatusCreated {
		t.Fatalf("PUT as admin: %d %s", resp.Code, resp.Body)
	}
	if err := env.Auth.SetRoles(context.Background(), apitest.CarolEmail, []string{"finance"}); err != nil {
		t.Fatal(err)
	}
	resp := env.Do(putMonth(tok, "2070-01", map[string]any{"amount_cents": 2}))
	if resp.Code != http.StatusUnauthorized || !strings.Contains(resp.Header().Get("WWW-Authenticate"), "revoked") {
		t.Errorf("PUT with the admin token after the downgrade: %d %s, want 401 revoked", resp.Code, resp.Body)
	}
	env.Clock.Advance(time.Second) // past the whole second of the user's not-before
	tok = env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	if resp := env.Do(putMonth(tok, "2070-01", map[string]any{"amount_cents": 3})); resp.Code != http.StatusForbidden {
		t.Errorf("PUT with a new token as finance: %d %s, want 403", resp.Code, resp.Body)
	}
	if got, _ := amountOf(t, env, tok, "2070-01"); got != 1 {
		t.Errorf("2070-01 = %d, want 1 (no write after the downgrade)", got)
	}
}

// Writers racing with the same If-Match: exactly one wins, the others get
// 412, and the changes record only the winner.
func TestConcurrentWritesWithTheSameETag(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	etag := revenueETag(t, env, carol)
	const writers = 8
	codes := make(chan int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			codes <- env.Do(putMonth(carol, "2080-01", map[string]any{"amount_cents": 100 + i}, etag)).Code
		})
	}
	wg.Wait()
	close(codes)
	won := 0
	for c := range codes {
		switch c {
		case http.StatusCreated:
			won++
		case http.StatusPreconditionFailed:
		default:
			t.Errorf("a racing PUT answered %d, want 201 or 412", c)
		}
	}
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue/changes?from=2080-01", Token: carol})
	if n := len(resp.JSON(t)["changes"].([]any)); won != 1 || n != 1 {
		t.Errorf("%d writers won and %d changes were recorded, want 1 and 1", won, n)
	}
}

// The organization's figures may not add up beyond 2^53 − 1 cents in
// absolute value (exact in int64 and in a JavaScript number), whatever
// each month's own bound allows: the write that would pass it is refused.
func TestRevenueTotalStaysExact(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	var file strings.Builder
	file.WriteString("month,amount_cents\n")
	for m := 1; m <= 10; m++ {
		fmt.Fprintf(&file, "2200-%02d,1000000000000000\n", m)
	}
	for _, q := range []string{"?dry_run=true", ""} {
		resp := env.Do(csvRequest(carol, q, file.String()))
		if resp.Code != http.StatusBadRequest || resp.ProblemCode(t) != "invalid_parameter" || !strings.Contains(problemMessages(t, resp), "add up") {
			t.Errorf("import%s of ten months of 10^15 cents: %d %s, want 400 invalid_parameter saying the total is too large", q, resp.Code, resp.Body)
		}
	}
	if _, ok := amountOf(t, env, carol, "2200-01"); ok {
		t.Fatal("a refused import wrote a month")
	}
	for m := 1; m <= 9; m++ { // 9 × 10^15 and the demo figures: just under 2^53
		if resp := env.Do(putMonth(carol, fmt.Sprintf("2200-%02d", m), map[string]any{"amount_cents": int64(1e15)})); resp.Code != http.StatusCreated {
			t.Fatalf("PUT month %d of 10^15 cents: %d %s", m, resp.Code, resp.Body)
		}
	}
	resp := env.Do(putMonth(carol, "2200-10", map[string]any{"amount_cents": int64(1e15)}))
	if resp.Code != http.StatusBadRequest || resp.ProblemCode(t) != "invalid_parameter" {
		t.Errorf("the PUT past the bound: %d %s, want 400 invalid_parameter", resp.Code, resp.Body)
	}
	resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue?from=2200-01", Token: carol})
	if total := resp.JSON(t)["total_cents"].(float64); total != 9e15 {
		t.Errorf("total_cents = %.0f, want 9e15 (the refused month not in it)", total)
	}
}

// leadingZero spells tag's version with a leading zero: "rev-…-07" for
// "rev-…-7".
func leadingZero(tag string) string {
	i := strings.LastIndex(tag, "-")
	return tag[:i] + "-0" + tag[i+1:]
}

func TestRevenueWriteConditionsAndEncodings(t *testing.T) {
	env := apitest.New(t)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	last := lastSeededMonth(t, env, carol)
	createOnly := func(month string) apitest.Request {
		r := putMonth(carol, month, map[string]any{"amount_cents": 5})
		r.Header = http.Header{"If-None-Match": {"*"}}
		return r
	}
	if resp := env.Do(createOnly(last)); resp.Code != http.StatusPreconditionFailed {
		t.Errorf("PUT If-None-Match: * on an existing month: %d %s, want 412", resp.Code, resp.Body)
	}
	if resp := env.Do(createOnly("2210-01")); resp.Code != http.StatusCreated {
		t.Errorf("PUT If-None-Match: * on a new month: %d %s, want 201", resp.Code, resp.Body)
	}
	current := revenueETag(t, env, carol)
	tests := []struct {
		name   string
		req    apitest.Request
		status int
		code   string
	}{
		{"If-None-Match of the current version", apitest.Request{Method: http.MethodPut, Path: "/revenue/months/2210-02", Token: carol,
			Body: map[string]any{"amount_cents": 1}, Header: http.Header{"If-None-Match": {current}}}, 412, "precondition_failed"},
		{"If-Match with a leading zero", putMonth(carol, "2210-02", map[string]any{"amount_cents": 1}, leadingZero(current)), 412, "precondition_failed"},
		{"an empty dry_run", csvRequest(carol, "?dry_run=", "month,amount\n2210-03,1\n"), 400, "invalid_parameter"},
		{"a gzip import", apitest.Request{Method: http.MethodPost, Path: "/revenue/imports", Token: carol, Body: "\x1f\x8b\x08",
			Header: http.Header{"Content-Type": {"text/csv"}, "Content-Encoding": {"gzip"}}}, 415, "unsupported_media_type"},
		{"a gzip JSON body", apitest.Request{Method: http.MethodPut, Path: "/revenue/months/2210-02", Token: carol, Body: `{"amount_cents":1}`,
			Header: http.Header{"Content-Encoding": {"gzip"}}}, 415, "unsupported_media_type"},
	}
	for _, tt := range tests {
		resp := env.Do(tt.req)
		if resp.Code != tt.status || resp.ProblemCode(t) != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, resp.Code, resp.Body, tt.status, tt.code)
		}
	}
	if _, ok := amountOf(t, env, carol, "2210-03"); ok {
		t.Error("an import with an empty dry_run wrote")
	}
	// Lines a spreadsheet calls blank are skipped; a line with too many
	// fields names the column where the extra one starts.
	resp := env.Do(csvRequest(carol, "", "month,amount\n2210-04,1\n   \n,\n\t\n2210-05,2\n"))
	if resp.Code != http.StatusOK || resp.JSON(t)["months"] != float64(2) {
		t.Errorf("a file with blank-looking lines: %d %s, want 200 and 2 months", resp.Code, resp.Body)
	}
	resp = env.Do(csvRequest(carol, "", "month,amount\n2210-06,1,x\n"))
	if errs, _ := resp.JSON(t)["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["column"] != float64(11) {
		t.Errorf("three fields: %s, want one error at column 11", resp.Body)
	}
}

// globexAdmin creates a second organization, Globex Inc, with an admin,
// dave, and returns dave's access token.
func globexAdmin(t *testing.T, env *apitest.Env) string {
	t.Helper()
	if _, err := env.Auth.CreateUser(context.Background(), auth.NewUser{Organization: "Globex Inc", Email: "dave@example.com",
		Password: "dave-password-12", Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	return env.Login("dave@example.com", "dave-password-12").AccessToken
}

// Change numbers count per organization: one organization's ids and
// cursors say nothing of how much another writes.
func TestRevenueChangeIdsArePerOrganization(t *testing.T) {
	env := apitest.New(t)
	dave := globexAdmin(t, env)
	carol := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	env.Do(csvRequest(carol, "", "month,amount\n2220-01,1\n2220-02,2\n2220-03,3\n"))
	env.Do(putMonth(dave, "2220-01", map[string]any{"amount_cents": 9}))
	resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/revenue/changes", Token: dave})
	changes := resp.JSON(t)["changes"].([]any)
	if len(changes) != 1 || changes[0].(map[string]any)["id"] != "1" {
		t.Errorf("Globex's first change after Acme's three: %s, want id 1", resp.Body)
	}
}

// An admin token past its lifetime cannot write, whatever the role.
func TestExpiredAdminTokenCannotWrite(t *testing.T) {
	env := apitest.New(t)
	tok := env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken
	env.Clock.Advance(env.Config.AccessTokenTTL + env.Config.ClockLeeway + time.Second)
	resp := env.Do(putMonth(tok, "2230-01", map[string]any{"amount_cents": 1}))
	if resp.Code != http.StatusUnauthorized || resp.ProblemCode(t) != "invalid_token" {
		t.Errorf("PUT with an expired admin token: %d %s, want 401 invalid_token", resp.Code, resp.Body)
	}
	if _, ok := amountOf(t, env, env.Login(apitest.CarolEmail, apitest.CarolPassword).AccessToken, "2230-01"); ok {
		t.Error("the expired token wrote")
	}
}
