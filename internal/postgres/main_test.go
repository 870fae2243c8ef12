package postgres_test

import (
	"testing"

	"github.com/revenue-api/revenue-api/internal/apitest"
)

func TestMain(m *testing.M) { apitest.Main(m) }
