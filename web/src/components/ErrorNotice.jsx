import { describeError, isRetryable } from '../messages.js';

// An error in words, with a "Try again" button when trying again can help.
// `retrying`: the page tries a 503 again by itself, and says so. `context`:
// what failed, said first.
export default function ErrorNotice({ error, onRetry, testId, retrying = false, context = null }) {
  return (
    <div className="notice notice-error" role="alert" data-testid={testId}>
      <p>
        {context && `${context} `}
        {describeError(error, { retrying })}
      </p>
      {onRetry && isRetryable(error) && (
        <button type="button" onClick={onRetry} data-testid="retry">
          Try again
        </button>
      )}
    </div>
  );
}
