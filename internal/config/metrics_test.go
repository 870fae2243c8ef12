package config

import (
	"strings"
	"testing"
)

// By default /metrics is served nowhere: no metrics listener and not on the
// main address. Serving it on the main address takes an explicit opt-in.
func TestMetricsSettings(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "" || c.MetricsOnMain {
		t.Errorf("default metrics settings: addr %q, on main %v; want none and false", c.MetricsAddr, c.MetricsOnMain)
	}
	c, err = Load(env(map[string]string{"REVENUE_METRICS_ON_MAIN": "true", "REVENUE_METRICS_ADDR": "127.0.0.1:9464"}))
	if err != nil || !c.MetricsOnMain || c.MetricsAddr != "127.0.0.1:9464" {
		t.Errorf("opt-in: %+v, %v", c, err)
	}
	for name, settings := range map[string]map[string]string{
		"REVENUE_METRICS_ON_MAIN": {"REVENUE_METRICS_ON_MAIN": "yes please"},
		"REVENUE_METRICS_ADDR":    {"REVENUE_METRICS_ADDR": ":8080"},
	} {
		if _, err := Load(env(settings)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v, want one naming %s", settings, err, name)
		}
	}
}
