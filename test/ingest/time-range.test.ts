import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingestAndRead } from '../helpers/bundle.js';
import { quarantined } from '../helpers/cloud-samples.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

describe('times the event model cannot hold', () => {
  it('a record dated year 9999 is quarantined instead of failing the whole ingest; an expiry in 9999 is dropped', async () => {
    const dir = tmp();
    const base = { eventVersion: '1.08', eventSource: 'sts.amazonaws.com', userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/u' }, sourceIPAddress: '192.0.2.1' };
    const file = join(dir, 'ct.jsonl');
    writeFileSync(
      file,
      [
        { ...base, eventName: 'GetCallerIdentity', eventTime: '9999-01-01T00:00:00Z', eventID: 'far-future' },
        { ...base, eventName: 'GetCallerIdentity', eventTime: '1500-01-01T00:00:00Z', eventID: 'far-past' },
        {
          ...base,
          eventName: 'AssumeRole',
          eventTime: '2024-05-01T00:00:00Z',
          eventID: 'ok',
          requestParameters: { roleArn: 'arn:aws:iam::111122223333:role/r', roleSessionName: 's' },
          responseElements: { credentials: { accessKeyId: 'ASIAEXAMPLEEXAMPLE01', expiration: 'Dec 31, 9999, 11:59:59 PM' } },
        },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const { bundle, summary, rows } = await ingestAndRead(dir, [file]);
    expect(summary.files[0]).toMatchObject({ source: 'cloudtrail', accepted: 1, quarantined: 2 });
    expect(quarantined(bundle).map((q) => [q.line, String(q.reason).replace(/\(.*\)/, '(…)')])).toEqual([
      [1, 'time is out of range (…)'],
      [2, 'time is out of range (…)'],
    ]);
    expect(rows[0]).toMatchObject({ source_event_id: 'ok', issued_credential_id: 'ASIAEXAMPLEEXAMPLE01', issued_credential_expires: null });
  });
});
