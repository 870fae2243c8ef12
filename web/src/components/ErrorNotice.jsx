import { describeError, isRetryable } from '../messages.js';

// An error in words, with a "Try again" button when trying again can help.
export default function ErrorNotice({ error, onRetry, testId }) {
  return (
    <div className="notice notice-error" role="alert" data-testid={testId}>
      <p>{describeError(error)}</p>
      {onRetry && isRetryable(error) && (
        <button type="button" onClick={onRetry} data-testid="retry">
          Try again
        </button>
      )}
    </div>
  );
}
