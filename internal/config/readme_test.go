package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every setting the code reads is in the README's settings table, so the
// table cannot fall behind the code.
func TestEverySettingIsDocumented(t *testing.T) {
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`"((?:REVENUE_[A-Z0-9_]+)|DATABASE_URL)"`).FindAllStringSubmatch(string(src), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d settings in config.go", len(names))
	}
	for _, m := range names {
		if !strings.Contains(string(readme), "| `"+m[1]+"` |") {
			t.Errorf("%s is read by config.go but has no row in the README's settings table", m[1])
		}
	}
}
