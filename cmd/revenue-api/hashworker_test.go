package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/revenue-api/revenue-api/internal/passwordhash"
)

// replacedBinaryEnv makes this test binary run hashAfterReplacingSelf
// (TestMain) instead of the tests.
const replacedBinaryEnv = "REVENUE_TEST_REPLACE_SELF"

// hashAfterReplacingSelf runs in the copy started above: it replaces its own
// file with a script that fails, then hashes through a worker process.
func hashAfterReplacingSelf(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		return err
	}
	start, err := hashWorkerCommand()
	if err != nil {
		return err
	}
	h, err := passwordhash.New(passwordhash.Params{MemoryKiB: 8192, Iterations: 1, Parallelism: 1}, 1, 0,
		passwordhash.InWorkerProcesses(start, slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		return fmt.Errorf("hash worker after the binary was replaced: %w", err)
	}
	h.Close()
	return nil
}
