import { formatAmount, formatMonth } from '../format.js';

export default function RevenueTable({ months, currency, totalCents }) {
  return (
    <table className="revenue-table" data-testid="revenue-table">
      <caption>Revenue by month ({currency})</caption>
      <thead>
        <tr>
          <th scope="col">Month</th>
          <th scope="col" className="amount">
            Revenue
          </th>
        </tr>
      </thead>
      <tbody>
        {months.map((entry) => (
          <tr key={entry.month} data-testid="revenue-row">
            <th scope="row">{formatMonth(entry.month, undefined, { month: 'long', year: 'numeric' })}</th>
            <td className="amount">{formatAmount(entry.amount_cents, currency)}</td>
          </tr>
        ))}
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
