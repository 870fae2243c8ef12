import { useEffect, useState } from 'react';
import { matchQuickRange, quickRanges, rangeProblem } from '../ranges.js';

// A quick range, or any two months. The pickers start with the range shown
// and follow it (Back, a quick range); a pair of months that cannot be asked
// for stays in the pickers with a message and is not applied.
export default function RangeControls({ range, today, onChange, onReload, loading }) {
  const [draft, setDraft] = useState(range);
  useEffect(() => setDraft(range), [range]);
  const problem = rangeProblem(draft);
  const quick = matchQuickRange(range, today);
  const all = quickRanges(today);

  function pick(field, value) {
    const next = { ...draft, [field]: value };
    setDraft(next);
    if (!rangeProblem(next)) onChange(next, { coalesce: true });
  }

  function choose(id) {
    const chosen = all.find((candidate) => candidate.id === id);
    if (chosen) onChange({ from: chosen.from, to: chosen.to });
  }

  return (
    <div className="range-controls">
      <label className="range-quick">
        Range
        <select
          value={quick && !problem ? quick.id : 'custom'}
          onChange={(event) => choose(event.target.value)}
          data-testid="quick-range"
        >
          <option value="custom" disabled>
            Custom
          </option>
          {[
            ['Periods', false],
            ['Quarters', true],
          ].map(([group, quarter]) => (
            <optgroup key={group} label={group}>
              {all
                .filter((candidate) => Boolean(candidate.quarter) === quarter)
                .map((candidate) => (
                  <option key={candidate.id} value={candidate.id}>
                    {candidate.label}
                  </option>
                ))}
            </optgroup>
          ))}
        </select>
      </label>
      <MonthInput label="From" value={draft.from} onChange={(from) => pick('from', from)} testId="revenue-from" />
      <MonthInput label="To" value={draft.to} onChange={(to) => pick('to', to)} testId="revenue-to" />
      <button type="button" className="secondary" onClick={onReload} disabled={loading} data-testid="revenue-reload">
        Reload
      </button>
      {problem && (
        <p className="notice notice-error range-error" role="alert" data-testid="range-error">
          {problem}
        </p>
      )}
    </div>
  );
}

function MonthInput({ label, value, onChange, testId }) {
  return (
    <label>
      {label}
      <input
        type="month"
        value={value ?? ''}
        min="1900-01"
        max="9999-12"
        onChange={(event) => onChange(event.target.value)}
        data-testid={testId}
      />
    </label>
  );
}
