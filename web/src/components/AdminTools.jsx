import { useEffect, useId, useRef, useState } from 'react';
import { majorUnits, parseCsvLines, parseMajorUnits } from '../csv.js';
import { formatAmount, formatMonth } from '../format.js';
import { describeError } from '../messages.js';
import { isMonth } from '../months.js';

const longMonth = (month) => formatMonth(month, undefined, { month: 'long', year: 'numeric' });
const count = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;

// Whether the signed-in user may change the figures (role admin).
export function canWriteRevenue(user) {
  const scopes = user?.scopes ?? String(user?.scope ?? '').split(' ');
  return scopes.includes('revenue:write');
}

// One month's amount in the table, with an Edit button that turns it into a
// field: Enter or Save writes it (If-Match the figures shown), Escape or
// Cancel leaves it. With onRemove, a Remove button asks first (the focus on
// Cancel, Escape cancels); only "Remove" then calls onRemove(month, cents),
// which says how it went itself (the row may be gone by then).
export function EditableAmount({ entry, currency, onSave, onRemove }) {
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState(null);
  const [pending, setPending] = useState(false);
  const editButton = useRef(null);
  const removeButton = useRef(null);
  const cancelRemoveButton = useRef(null);
  const errorId = useId();
  const questionId = useId();
  const name = longMonth(entry.month);

  function open() {
    setText(majorUnits(entry.amount_cents, currency));
    setError(null);
    setEditing(true);
  }

  function close() {
    setEditing(false);
    // Back to the button, so the keyboard stays where it was.
    setTimeout(() => editButton.current?.focus(), 0);
  }

  async function save() {
    const cents = parseMajorUnits(text, currency);
    if (cents === null) {
      setError('Enter an amount like 12345.67 (at most two decimals, no currency sign).');
      return;
    }
    setPending(true);
    setError(null);
    try {
      await onSave(entry.month, cents);
      close();
    } catch (saveError) {
      setError(describeError(saveError));
    } finally {
      setPending(false);
    }
  }

  // Asked to remove: the focus on Cancel, so that a second Enter does not
  // remove. (Not autoFocus: React reuses the Remove button's element for it.)
  useEffect(() => {
    if (confirming) cancelRemoveButton.current?.focus();
  }, [confirming]);

  function keep() {
    setConfirming(false);
    setTimeout(() => removeButton.current?.focus(), 0);
  }

  async function remove() {
    setPending(true);
    try {
      await onRemove(entry.month, entry.amount_cents);
    } finally {
      setPending(false);
      setConfirming(false);
    }
  }

  if (confirming) {
    return (
      <span
        className="remove-confirm"
        role="group"
        aria-labelledby={questionId}
        onKeyDown={(event) => {
          if (event.key === 'Escape' && !pending) keep();
        }}
        data-testid="remove-confirmation"
      >
        <span id={questionId}>
          Remove {name} ({formatAmount(entry.amount_cents, currency)})?
        </span>
        <button
          type="button"
          className="danger small"
          onClick={remove}
          disabled={pending}
          aria-label={`Remove ${name}`}
          data-testid="remove-confirm"
        >
          {pending ? 'Removing…' : 'Remove'}
        </button>
        <button
          type="button"
          className="secondary small"
          ref={cancelRemoveButton}
          onClick={keep}
          disabled={pending}
          data-testid="remove-cancel"
        >
          Cancel
        </button>
      </span>
    );
  }

  if (!editing) {
    return (
      <span className="editable-amount">
        {formatAmount(entry.amount_cents, currency)}
        <button
          type="button"
          className="secondary small"
          ref={editButton}
          onClick={open}
          aria-label={`Edit ${name}`}
          data-testid="edit-month"
        >
          Edit
        </button>
        {onRemove && (
          <button
            type="button"
            className="secondary small"
            ref={removeButton}
            onClick={() => setConfirming(true)}
            aria-label={`Remove ${name}`}
            data-testid="remove-month"
          >
            Remove
          </button>
        )}
      </span>
    );
  }
  return (
    <form
      className="amount-editor"
      onSubmit={(event) => {
        event.preventDefault();
        save();
      }}
      onKeyDown={(event) => {
        if (event.key === 'Escape') close();
      }}
    >
      <input
        type="text"
        inputMode="decimal"
        value={text}
        onChange={(event) => setText(event.target.value)}
        aria-label={`Revenue for ${name} in ${currency}`}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errorId : undefined}
        autoFocus
        data-testid="edit-amount"
      />
      <button type="submit" className="small" disabled={pending} data-testid="save-month">
        {pending ? 'Saving…' : 'Save'}
      </button>
      <button type="button" className="secondary small" onClick={close} data-testid="cancel-edit">
        Cancel
      </button>
      {error && (
        <span className="field-error" id={errorId} role="alert" data-testid="edit-error">
          {error}
        </span>
      )}
    </form>
  );
}

// For admins, under the figures: set any month (one not in the table too),
// and import a CSV file after a preview that the server checked (a dry run)
// with every mistake on its line. Nothing is written before "Import".
// `onChanged(etag)`: the figures changed (an import: `etag`, their new
// version) or were found changed (no etag): load them again.
export default function AdminTools({ api, currency, onSave, onChanged }) {
  return (
    <section className="admin-tools" aria-labelledby="admin-tools-title" data-testid="admin-tools">
      <h3 id="admin-tools-title">Change the figures</h3>
      <SetMonthForm currency={currency} onSave={onSave} />
      <CsvImport api={api} currency={currency} onChanged={onChanged} />
    </section>
  );
}

function SetMonthForm({ currency, onSave }) {
  const [month, setMonth] = useState('');
  const [amount, setAmount] = useState('');
  const [message, setMessage] = useState(null);
  const [pending, setPending] = useState(false);

  async function submit(event) {
    event.preventDefault();
    const cents = parseMajorUnits(amount, currency);
    if (!isMonth(month) || cents === null) {
      setMessage({ error: true, text: 'Choose a month and enter an amount like 12345.67.' });
      return;
    }
    setPending(true);
    setMessage(null);
    try {
      await onSave(month, cents);
      setMessage({ error: false, text: `Saved ${longMonth(month)}: ${formatAmount(cents, currency)}.` });
      setAmount('');
    } catch (saveError) {
      setMessage({ error: true, text: describeError(saveError) });
    } finally {
      setPending(false);
    }
  }

  return (
    <form className="set-month" onSubmit={submit} aria-label="Set a month">
      <label>
        Month
        <input type="month" value={month} onChange={(event) => setMonth(event.target.value)} data-testid="set-month" />
      </label>
      <label>
        Amount ({currency})
        <input
          type="text"
          inputMode="decimal"
          placeholder="12345.67"
          value={amount}
          onChange={(event) => setAmount(event.target.value)}
          data-testid="set-amount"
        />
      </label>
      <button type="submit" disabled={pending} data-testid="set-save">
        {pending ? 'Saving…' : 'Save month'}
      </button>
      {message && (
        <p
          className={`notice${message.error ? ' notice-error' : ''}`}
          role={message.error ? 'alert' : 'status'}
          data-testid="set-message"
        >
          {message.text}
        </p>
      )}
    </form>
  );
}

// A preview line's amount in minor units, or null when it cannot be read.
function amountOf(text, inCents, currency) {
  if (!inCents) return parseMajorUnits(text, currency);
  return /^\s*-?\d+\s*$/.test(text) ? Number(text) : null;
}

function CsvImport({ api, currency, onChanged }) {
  // {name, text, lines, check: {result, etag} | {error}} for the chosen file.
  const [file, setFile] = useState(null);
  const [pending, setPending] = useState(false);
  const [outcome, setOutcome] = useState(null);
  const inputRef = useRef(null);

  // The server's dry run: the counts, or every mistake. Its ETag is what the
  // import is then sent If-Match with, so the file is written only onto the
  // figures it was checked against.
  async function check(name, text, note = null) {
    setPending(true);
    const lines = parseCsvLines(text);
    try {
      const result = await api.importCsv(text, { dryRun: true });
      setFile({ name, text, lines, result, note });
    } catch (error) {
      setFile({ name, text, lines, error, note });
    } finally {
      setPending(false);
    }
  }

  async function choose(event) {
    const chosen = event.target.files?.[0];
    setOutcome(null);
    if (!chosen) {
      setFile(null);
      return;
    }
    await check(chosen.name, await chosen.text());
  }

  async function importFile() {
    setPending(true);
    try {
      const result = await api.importCsv(file.text, { etag: file.result.etag });
      setOutcome(
        `Imported ${file.name}: ${count(result.months, 'month')} (${result.inserted} new, ${result.updated} changed, ${result.unchanged} unchanged).`,
      );
      setFile(null);
      if (inputRef.current) inputRef.current.value = '';
      onChanged(result.etag);
    } catch (error) {
      if (error.code === 'precondition_failed') {
        onChanged();
        await check(file.name, file.text, describeError(error));
        return;
      }
      setFile({ ...file, importError: error });
    } finally {
      setPending(false);
    }
  }

  const mistakes = file?.error?.errors ?? [];
  const inCents = file?.lines[0]?.fields[1]?.trim().toLowerCase() === 'amount_cents';
  const byLine = new Map();
  for (const mistake of mistakes) byLine.set(mistake.line, [...(byLine.get(mistake.line) ?? []), mistake.message]);

  return (
    <div className="csv-import">
      <h4>Import a CSV file</h4>
      <p className="hint">
        A header <code>month,amount</code> (amounts like <code>12345.67</code>) or <code>month,amount_cents</code>, one
        month a line. All lines are written or none; you see a preview first.
      </p>
      <label>
        CSV file
        <input
          type="file"
          accept=".csv,text/csv"
          ref={inputRef}
          onChange={choose}
          disabled={pending}
          data-testid="import-file"
        />
      </label>
      {pending && !file && (
        <p role="status" className="updating">
          Checking the file…
        </p>
      )}
      {outcome && (
        <p className="notice" role="status" data-testid="import-done">
          {outcome}
        </p>
      )}
      {file && (
        <div className="import-preview" data-testid="import-preview">
          {file.note && (
            <p className="notice notice-error" role="alert">
              {file.note}
            </p>
          )}
          {file.result ? (
            <p className="notice" role="status" data-testid="import-summary">
              {file.name}: {count(file.result.months, 'month')}: {file.result.inserted} new, {file.result.updated}{' '}
              changed, {file.result.unchanged} unchanged. Nothing is written until you import.
            </p>
          ) : (
            <div className="notice notice-error" role="alert" data-testid="import-problem">
              <p>
                {file.name}: {describeError(file.error)}
              </p>
              {mistakes.length > 0 && (
                <ul data-testid="import-errors">
                  {mistakes.map((mistake) => (
                    <li key={`${mistake.line}-${mistake.column}-${mistake.message}`} data-testid="import-error">
                      {mistake.message}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          )}
          <table className="preview-table">
            <caption>Preview of {file.name}</caption>
            <thead>
              <tr>
                <th scope="col">Line</th>
                <th scope="col">Month</th>
                <th scope="col" className="amount">
                  Amount
                </th>
                <th scope="col">Check</th>
              </tr>
            </thead>
            <tbody>
              {file.lines.slice(1, 201).map(({ line, fields }) => {
                const problems = byLine.get(line);
                const cents = amountOf(fields[1] ?? '', inCents, currency);
                return (
                  <tr key={line} className={problems ? 'preview-bad' : undefined} data-testid="preview-row">
                    <td>{line}</td>
                    <td>{fields[0]}</td>
                    <td className="amount">{cents === null ? fields[1] : formatAmount(cents, currency)}</td>
                    <td>{problems ? problems.join('; ') : file.result ? 'ok' : ''}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {file.lines.length > 201 && <p className="hint">Showing the first 200 lines of {file.lines.length - 1}.</p>}
          {file.importError && (
            <p className="notice notice-error" role="alert">
              {describeError(file.importError)}
            </p>
          )}
          <div className="actions">
            {file.result && (
              <button type="button" onClick={importFile} disabled={pending} data-testid="import-confirm">
                {pending ? 'Importing…' : `Import ${count(file.result.months, 'month')}`}
              </button>
            )}
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setFile(null);
                if (inputRef.current) inputRef.current.value = '';
              }}
              data-testid="import-cancel"
            >
              Cancel
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
