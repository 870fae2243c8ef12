package token

import "context"

// RefetchAskedFor does, synchronously, what Run does when a lookup missed:
// it reports whether a refetch was asked for and, if so, runs it (subject to
// the refetch interval). Tests use it instead of timing Run's goroutine.
func (r *RemoteKeys) RefetchAskedFor(ctx context.Context) bool {
	select {
	case <-r.unknownKid:
		_ = r.refresh(ctx, true)
		return true
	default:
		return false
	}
}
