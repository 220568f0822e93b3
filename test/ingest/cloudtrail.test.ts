import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCloudTrailExpiry } from '../../src/ingest/sources/cloudtrail.js';
import { ingestAndRead, rowAt } from '../helpers/bundle.js';
import { SAMPLES, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const CT = join(SAMPLES, 'aws_cloudtrail');

function lines(file: string): number {
  return readFileSync(join(CT, file), 'utf8').split('\n').filter((l) => l.trim()).length;
}

describe('CloudTrail parser on public samples', () => {
  it('accounts for every record of every sample file: accepted + quarantined = records', async () => {
    const files: [string, number][] = [
      ['awsdocs_iam_cloudtrail_examples_valid.jsonl', lines('awsdocs_iam_cloudtrail_examples_valid.jsonl')],
      ['otel_cloudtrail_log_Records_wrapper.json', JSON.parse(readFileSync(join(CT, 'otel_cloudtrail_log_Records_wrapper.json'), 'utf8')).Records.length],
      ['otrf_ec2_proxy_s3_exfiltration_2020-09-14011940.json', lines('otrf_ec2_proxy_s3_exfiltration_2020-09-14011940.json')],
      ['panther_AWS_CloudTrail_rule_tests.jsonl', lines('panther_AWS_CloudTrail_rule_tests.jsonl')],
      ['panther_test_scenarios_AWS_CloudTrail.jsonl', lines('panther_test_scenarios_AWS_CloudTrail.jsonl')],
      ['plaso_aws_cloudtrail_lookup_events.jsonl', lines('plaso_aws_cloudtrail_lookup_events.jsonl')],
    ];
    const { summary } = await ingestAndRead(tmp(), files.map(([f]) => join(CT, f)));
    for (const [file, records] of files) {
      const f = summary.files.find((x) => x.input.endsWith(file))!;
      expect(f.source, file).toBe('cloudtrail');
      expect(f.accepted + f.quarantined, file).toBe(records);
    }
    expect(files.map(([, n]) => n)).toEqual([7, 7, 103, 441, 27, 6]);
    // Panther's rule tests hold deliberately partial records: those without eventTime or eventName are quarantined, never dropped.
    const panther = summary.files.find((x) => x.input.endsWith('panther_AWS_CloudTrail_rule_tests.jsonl'))!;
    expect(panther.quarantined).toBe(24);
    expect(summary.reasons.map((r) => r.reason)).toContain('not a CloudTrail record: no eventTime');
  });

  it('reads the S3 delivery shape field by field', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(CT, 'otel_cloudtrail_log_Records_wrapper.json')]);
    const start = rowAt(rows, 'otel_cloudtrail_log_Records_wrapper.json', 1, '/Records/0');
    expect(start).toMatchObject({
      time: '2023-07-19T21:17:28Z',
      action: 'ec2:StartInstances',
      category: 'api',
      outcome: 'success',
      actor_id: 'arn:aws:iam::123456789012:user/Mateo',
      actor_name: 'Mateo',
      credential_id: 'AKIAIOSFODNN7EXAMPLE',
      credential_type: 'aws_access_key',
      host: '123456789012',
    });
    const failed = rowAt(rows, 'otel_cloudtrail_log_Records_wrapper.json', 1, '/Records/4');
    expect(failed.action).toBe('cloudtrail:UpdateTrail');
    expect(failed.outcome).toBe('failure');
    expect(failed.reason).toMatch(/^TrailNotFoundException/);
    const insight = rows.find((r) => r.action.startsWith('insight:'))!;
    expect(insight.actor_id).toBeNull();
    const internal = rowAt(rows, 'otel_cloudtrail_log_Records_wrapper.json', 1, '/Records/6');
    expect(internal.action).toBe('kms:RotateKey');
    expect(internal.attrs?.invoked_by).toBe('AWS Internal');
  });

  it('reads lookup-events JSON Lines (CloudTrailEvent as a JSON string) as plaso does', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(CT, 'plaso_aws_cloudtrail_lookup_events.jsonl')]);
    const first = rowAt(rows, 'plaso_aws_cloudtrail_lookup_events.jsonl', 1);
    // plaso's expected values for this record (plaso_aws_cloudtrail_lookup_events.expected_test.py)
    expect(first).toMatchObject({
      source_event_id: '0828c0d2-3589-4390-b954-c78b4a7df44b',
      time: '2022-02-07T22:23:37Z',
      action: 'ec2:DescribeInstances',
      credential_id: '0123456789ABCDEFGHIJ',
      src_ip: '1.2.3.4',
      actor_id: 'arn:aws:iam::012345678901:user/fakeusername',
      actor_name: 'fakeusername',
    });
    expect(first.attrs?.event_source).toBe('ec2.amazonaws.com');
  });

  it('keeps the issued credential, assumed role user, web identity subject and expiry', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(CT, 'awsdocs_iam_cloudtrail_examples_valid.jsonl')]);
    const assume = rowAt(rows, 'awsdocs_iam_cloudtrail_examples_valid.jsonl', 2);
    expect(assume).toMatchObject({
      category: 'credential',
      action: 'sts:AssumeRole',
      actor_id: 'arn:aws:iam::777788889999:user/JohnDoe',
      credential_id: 'AKIAQRSTUVWXYZEXAMPLE',
      issued_credential_id: 'AKIAQRSTUVWXYZEXAMPLE',
      issued_to: 'arn:aws:sts::111122223333:assumed-role/EC2-dev/JohnDoe-EC2-dev',
      issued_credential_expires: '2023-07-18T16:07:39Z',
      target: 'arn:aws:iam::111122223333:role/EC2-dev',
      src_ip: '192.0.2.101',
    });
    const chained = rowAt(rows, 'awsdocs_iam_cloudtrail_examples_valid.jsonl', 4);
    expect(chained).toMatchObject({ actor_type: 'role_session', issued_credential_id: 'ASIAWHOJDLGPOEXAMPLE', session_issuer: 'arn:aws:iam::111111111111:role/JohnRole1' });
    const login = rowAt(rows, 'awsdocs_iam_cloudtrail_examples_valid.jsonl', 6);
    expect(login).toMatchObject({ category: 'auth', action: 'signin:ConsoleLogin', outcome: 'failure' });
  });

  it('reads a Logstash-shipped real capture (@timestamp, no eventTime) and derives the EC2 session ARN', async () => {
    const { rows } = await ingestAndRead(tmp(), [join(CT, 'otrf_ec2_proxy_s3_exfiltration_2020-09-14011940.json')]);
    expect(rows).toHaveLength(103);
    const issuing = rows.filter((r) => r.issued_credential_id === 'ASIA5FLZVX4OPVKKVBMX');
    expect(issuing).toHaveLength(1);
    expect(issuing[0]).toMatchObject({
      time: '2020-09-14T00:48:30Z',
      actor_id: 'ec2.amazonaws.com',
      actor_type: 'agent',
      issued_to: 'arn:aws:sts::123456789123:assumed-role/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40',
      issued_credential_expires: '2020-09-14T07:10:27Z',
    });
  });

  it('parses CloudTrail expirations in both formats it writes', () => {
    expect(parseCloudTrailExpiry('Sep 14, 2020, 7:01:26 AM')).toBe(1600066886000000000n);
    expect(parseCloudTrailExpiry('Jul 18, 2023, 4:07:39 PM')).toBe(1689696459000000000n);
    expect(parseCloudTrailExpiry('Mar 10, 2026, 12:02:15 PM')).toBe(1773144135000000000n);
    expect(parseCloudTrailExpiry('2026-03-10T11:02:15Z')).toBe(1773140535000000000n);
    expect(parseCloudTrailExpiry('soon')).toBeNull();
  });
});
