#!/usr/bin/env node
// Generates synthetic CloudTrail in the two shapes users have: JSON Lines (one record per line,
// as CloudWatch Logs / lookup pipelines write it) and S3 delivery files ({"Records":[...]} .json.gz
// under AWSLogs/…). Deterministic; realistic mix of data and management events, role sessions
// with issuance (AssumeRole* → session keys → uses), IAM users with long-lived keys, errors.
//   node bench/gen-cloudtrail.mjs <outdir> [records=1000000] [--s3-per-file=1000]
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const out = process.argv[2];
const n = Number(process.argv[3] ?? 1_000_000);
const perFile = Number((process.argv.find((a) => a.startsWith('--s3-per-file=')) ?? '--s3-per-file=1000').split('=')[1]);
if (!out) {
  process.stderr.write('usage: gen-cloudtrail.mjs <outdir> [records] [--s3-per-file=N]\n');
  process.exit(2);
}
const ACCT = '111122223333';
const T0 = Date.UTC(2026, 2, 1);
const services = [
  ['s3.amazonaws.com', ['GetObject', 'PutObject', 'ListObjects', 'HeadObject']],
  ['ec2.amazonaws.com', ['DescribeInstances', 'DescribeVolumes', 'RunInstances']],
  ['iam.amazonaws.com', ['GetUser', 'ListRoles', 'CreateAccessKey']],
  ['kms.amazonaws.com', ['Decrypt', 'GenerateDataKey']],
  ['sts.amazonaws.com', ['GetCallerIdentity']],
];
const key = (p, i) => `${p}${String(i).padStart(16, '0')}`;

function record(i) {
  const t = new Date(T0 + i * 37).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const session = i % 500;
  const role = `role-${session % 20}`;
  if (i % 50 === 0) {
    return {
      eventVersion: '1.09',
      userIdentity: { type: 'WebIdentityUser', principalId: `oidc:sts.amazonaws.com:system:serviceaccount:ns${session % 10}:sa${session}`, userName: `system:serviceaccount:ns${session % 10}:sa${session}`, identityProvider: `arn:aws:iam::${ACCT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE` },
      eventTime: t, eventSource: 'sts.amazonaws.com', eventName: 'AssumeRoleWithWebIdentity', awsRegion: 'us-east-1', sourceIPAddress: `198.51.100.${session % 250}`,
      userAgent: 'aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 api/sts#1.28.4',
      requestParameters: { roleArn: `arn:aws:iam::${ACCT}:role/${role}`, roleSessionName: `s-${session}`, durationSeconds: 3600 },
      responseElements: { credentials: { accessKeyId: key('ASIA', session), sessionToken: '<token>', expiration: 'Mar 1, 2026, 11:00:00 PM' }, subjectFromWebIdentityToken: `system:serviceaccount:ns${session % 10}:sa${session}`, assumedRoleUser: { assumedRoleId: `AROAEXAMPLE:s-${session}`, arn: `arn:aws:sts::${ACCT}:assumed-role/${role}/s-${session}` }, audience: 'sts.amazonaws.com' },
      requestID: `req-${i}`, eventID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, readOnly: true, eventType: 'AwsApiCall', managementEvent: true, recipientAccountId: ACCT, eventCategory: 'Management',
    };
  }
  const [src, names] = services[i % services.length];
  const name = names[(i >> 3) % names.length];
  const human = i % 13 === 0;
  const ui = human
    ? { type: 'IAMUser', principalId: `AIDAEXAMPLE${i % 40}`, arn: `arn:aws:iam::${ACCT}:user/user${i % 40}`, accountId: ACCT, accessKeyId: key('AKIA', i % 40), userName: `user${i % 40}` }
    : { type: 'AssumedRole', principalId: `AROAEXAMPLE:s-${session}`, arn: `arn:aws:sts::${ACCT}:assumed-role/${role}/s-${session}`, accountId: ACCT, accessKeyId: key('ASIA', session), sessionContext: { sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLE', arn: `arn:aws:iam::${ACCT}:role/${role}`, accountId: ACCT, userName: role }, webIdFederationData: {}, attributes: { creationDate: t, mfaAuthenticated: 'false' } } };
  const rec = {
    eventVersion: '1.09', userIdentity: ui, eventTime: t, eventSource: src, eventName: name, awsRegion: i % 7 === 0 ? 'eu-west-1' : 'us-east-1',
    sourceIPAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, userAgent: 'aws-cli/2.15.30 Python/3.11.8 Linux/6.1.79 exe/x86_64.ubuntu.22 prompt/off',
    requestParameters: src.startsWith('s3') ? { bucketName: `bucket-${i % 30}`, key: `data/${i % 1000}/object-${i}.json`, Host: `bucket-${i % 30}.s3.us-east-1.amazonaws.com` } : { maxResults: 100, filterSet: {} },
    responseElements: null, requestID: `req-${i}`, eventID: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, readOnly: !name.startsWith('Put') && !name.startsWith('Create'), eventType: 'AwsApiCall',
    managementEvent: !src.startsWith('s3'), recipientAccountId: ACCT, eventCategory: src.startsWith('s3') ? 'Data' : 'Management',
    tlsDetails: { tlsVersion: 'TLSv1.3', cipherSuite: 'TLS_AES_128_GCM_SHA256', clientProvidedHostHeader: `${src.split('.')[0]}.us-east-1.amazonaws.com` },
  };
  if (src.startsWith('s3')) {
    rec.additionalEventData = { SignatureVersion: 'SigV4', CipherSuite: 'TLS_AES_128_GCM_SHA256', bytesTransferredIn: 0, AuthenticationMethod: 'AuthHeader', 'x-amz-id-2': 'EXAMPLE+id2/abcdefghijklmnopqrstuvwxyz0123456789=', bytesTransferredOut: 1234 };
    rec.resources = [{ type: 'AWS::S3::Object', ARN: `arn:aws:s3:::bucket-${i % 30}/data/${i % 1000}/object-${i}.json` }, { accountId: ACCT, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::bucket-${i % 30}` }];
  }
  if (i % 97 === 0) {
    rec.errorCode = 'AccessDenied';
    rec.errorMessage = 'User is not authorized to perform this action';
  }
  return rec;
}

mkdirSync(out, { recursive: true });
const jsonl = createWriteStream(join(out, 'cloudtrail.jsonl'));
const s3dir = join(out, 'AWSLogs', ACCT, 'CloudTrail', 'us-east-1', '2026', '03', '01');
mkdirSync(s3dir, { recursive: true });
let batch = [];
let lines = [];
let file = 0;
for (let i = 0; i < n; i++) {
  const r = record(i);
  const text = JSON.stringify(r);
  lines.push(text);
  batch.push(r);
  if (lines.length === 10000) {
    if (!jsonl.write(lines.join('\n') + '\n')) await new Promise((res) => jsonl.once('drain', res));
    lines = [];
  }
  if (batch.length === perFile) {
    writeFileSync(join(s3dir, `${ACCT}_CloudTrail_us-east-1_20260301T${String(file).padStart(6, '0')}Z_bench.json.gz`), gzipSync(JSON.stringify({ Records: batch }), { level: 6 }));
    batch = [];
    file++;
  }
}
if (lines.length) jsonl.write(lines.join('\n') + '\n');
if (batch.length) writeFileSync(join(s3dir, `${ACCT}_CloudTrail_us-east-1_20260301T${String(file).padStart(6, '0')}Z_bench.json.gz`), gzipSync(JSON.stringify({ Records: batch })));
await new Promise((res) => jsonl.end(res));
process.stdout.write(`${n} records: ${join(out, 'cloudtrail.jsonl')} and ${file + (batch.length ? 1 : 0)} S3 delivery files under ${join(out, 'AWSLogs')}\n`);
