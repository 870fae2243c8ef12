//go:build !linux

package passwordhash

// lowerPriorityWithoutIdleClass is lowerProcessPriority where there is no
// SCHED_IDLE to refuse.
func lowerPriorityWithoutIdleClass() error { return lowerProcessPriority() }
