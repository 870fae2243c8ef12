package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// refreshChains is the POST /token/refresh load: conns parallel chains,
// each presenting the refresh token its previous refresh returned, as a
// client does. The chains' current tokens live in a file: the harness tops
// it up with logins before each run (a chain ends when a run stops with its
// request in flight), wrk reads it at start and writes the tokens it holds
// back when done.
type refreshChains struct {
	url    string // the server's base URL
	file   string
	conns  int
	logins int // logins made to start chains
}

func newRefreshChains(ctx context.Context, dir, url string, conns int) (*refreshChains, load, error) {
	c := &refreshChains{url: url, file: dir + "/refresh-chains.txt", conns: conns}
	// One chain of its own for checkOK, which spends its first token.
	_, first, err := loginPair(ctx, http.DefaultClient, url)
	if err != nil {
		return nil, load{}, err
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": first})
	l := load{method: http.MethodPost, url: url + "/token/refresh", body: string(body),
		headers: map[string]string{"Content-Type": "application/json"}, conns: conns,
		lua: fmt.Sprintf(luaRefreshChains, c.file)}
	return c, l, nil
}

// topUp makes sure the file holds a token for every connection.
func (c *refreshChains) topUp(ctx context.Context) error {
	var tokens []string
	if b, err := os.ReadFile(c.file); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" {
				tokens = append(tokens, t)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for len(tokens) < c.conns {
		_, t, err := loginPair(ctx, http.DefaultClient, c.url)
		if err != nil {
			return err
		}
		tokens = append(tokens, t)
		c.logins++
	}
	return os.WriteFile(c.file, []byte(strings.Join(tokens, "\n")+"\n"), 0o600)
}

// luaRefreshChains keeps a pool of current refresh tokens: each request
// takes one, each answer puts the new one back, so a token is presented
// once, right after it was issued. wrk calls request() once before the
// connections start, to check the script: that call spends no token.
// Appended after luaDone, whose threads list it uses.
const luaRefreshChains = `
local chains_file = %q
pool = {}
local checked = false
function init(args)
  for line in io.lines(chains_file) do
    if line ~= "" then table.insert(pool, line) end
  end
end
function request()
  local t = "none"
  if checked then
    t = table.remove(pool) or "none"
  end
  checked = true
  return wrk.format(nil, nil, nil, '{"refresh_token":"' .. t .. '"}')
end
function response(status, headers, body)
  local t = body:match('"refresh_token":"([^"]+)"')
  if t then table.insert(pool, t) end
end
local summarise = done
function done(summary, latency, requests)
  summarise(summary, latency, requests)
  local f = assert(io.open(chains_file, "w"))
  for _, t in ipairs(threads) do
    local p = t:get("pool")
    if type(p) == "table" then
      for _, tok in ipairs(p) do f:write(tok, "\n") end
    end
  end
  f:close()
end
`
