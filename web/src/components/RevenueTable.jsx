import { tableRows } from '../figures.js';
import { formatAmount, formatMonth } from '../format.js';

const COLUMNS = [
  { key: 'month', label: 'Month', className: '' },
  { key: 'amount', label: 'Revenue', className: 'amount' },
];

// Months, sortable by month or amount (`sort`, changed through onSort); in
// month order each quarter and year closes with its subtotal. The header
// stays in view while the page scrolls.
export default function RevenueTable({ months, currency, totalCents, sort, onSort, renderAmount }) {
  const rows = tableRows(months, sort);

  function toggle(key) {
    const direction = sort.key === key && sort.direction === 'asc' ? 'desc' : 'asc';
    onSort({ key, direction });
  }

  return (
    <table className="revenue-table" data-testid="revenue-table">
      <caption>
        Revenue by month ({currency})
        {sort.key !== 'month' && <span className="caption-note"> · subtotals appear when sorted by month</span>}
      </caption>
      <thead>
        <tr>
          {COLUMNS.map((column) => {
            const current = sort.key === column.key;
            const ariaSort = current ? (sort.direction === 'asc' ? 'ascending' : 'descending') : 'none';
            return (
              <th key={column.key} scope="col" className={column.className} aria-sort={ariaSort}>
                <button
                  type="button"
                  className="sort-button"
                  onClick={() => toggle(column.key)}
                  data-testid={`sort-${column.key}`}
                >
                  {column.label}
                  <span className="sort-mark" aria-hidden="true">
                    {current ? (sort.direction === 'asc' ? ' ▲' : ' ▼') : ' ↕'}
                  </span>
                </button>
              </th>
            );
          })}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) =>
          row.type === 'month' ? (
            <tr key={row.key} data-testid="revenue-row" data-month={row.month}>
              <th scope="row">{formatMonth(row.month, undefined, { month: 'long', year: 'numeric' })}</th>
              <td className="amount">
                {renderAmount ? renderAmount(row) : formatAmount(row.amount_cents, currency)}
              </td>
            </tr>
          ) : (
            <tr key={row.key} className={`subtotal subtotal-${row.type}`} data-testid={`subtotal-${row.type}`}>
              <th scope="row">
                {row.label} {row.type === 'quarter' ? 'subtotal' : 'total'}
                {row.partial && (
                  <span className="subtotal-note">
                    {' '}
                    ({row.months} {row.months === 1 ? 'month' : 'months'})
                  </span>
                )}
              </th>
              <td className="amount">{formatAmount(row.amount_cents, currency)}</td>
            </tr>
          ),
        )}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total</th>
          <td className="amount">{formatAmount(totalCents, currency)}</td>
        </tr>
      </tfoot>
    </table>
  );
}
