import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import {
  captureEnvironment,
  childEnvironment,
  classifyVariable,
  environmentKeyId,
} from '../../src/capture/environment.js';

const KEY = randomBytes(32);

test('allowlisted names verbatim, others as HMAC-SHA256 of the value, secrets by name only; keys sorted', () => {
  const env = {
    PATH: '/usr/sbin:/usr/bin',
    LC_ALL: 'C.UTF-8',
    TZ: 'UTC',
    SOURCE_DATE_EPOCH: '1700000000',
    DEBIAN_FRONTEND: 'noninteractive',
    DEB_BUILD_OPTIONS: 'nocheck',
    EDITOR: 'vi',
    GITHUB_TOKEN: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
    AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    PGPASSWORD: 'hunter2',
    MYSQL_PWD: 'pw1',
    DEB_SIGN_KEYID: 'ABCDEF0123456789',
    apiKey: 'k3',
    UNSET: undefined,
  };
  const rec = captureEnvironment(env, KEY);
  assert.deepEqual(Object.keys(rec.variables), [
    'AWS_SECRET_ACCESS_KEY',
    'DEBIAN_FRONTEND',
    'DEB_BUILD_OPTIONS',
    'DEB_SIGN_KEYID',
    'EDITOR',
    'GITHUB_TOKEN',
    'LC_ALL',
    'MYSQL_PWD',
    'PATH',
    'PGPASSWORD',
    'SOURCE_DATE_EPOCH',
    'TZ',
    'apiKey',
  ]);
  assert.deepEqual(rec.variables.PATH, { mode: 'verbatim', value: '/usr/sbin:/usr/bin' });
  assert.deepEqual(rec.variables.LC_ALL, { mode: 'verbatim', value: 'C.UTF-8' });
  assert.deepEqual(rec.variables.DEB_BUILD_OPTIONS, { mode: 'verbatim', value: 'nocheck' });
  assert.deepEqual(rec.variables.EDITOR, {
    mode: 'hashed',
    hmac: `hmac-sha256:${createHmac('sha256', KEY).update('vi').digest('hex')}`,
  });
  for (const name of [
    'GITHUB_TOKEN',
    'AWS_SECRET_ACCESS_KEY',
    'PGPASSWORD',
    'MYSQL_PWD',
    'DEB_SIGN_KEYID',
    'apiKey',
  ] as const) {
    assert.deepEqual(rec.variables[name], { mode: 'secret' }, name);
  }
  // No trace of a secret value, in any encoding, anywhere in the record.
  const json = JSON.stringify(rec);
  for (const secret of [
    'ghp_abcdefghijklmnopqrstuvwxyz0123456789',
    'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'hunter2',
    'pw1',
    'ABCDEF0123456789',
    'k3',
  ]) {
    assert.ok(!json.includes(secret), secret);
    assert.ok(!json.includes(createHmac('sha256', KEY).update(secret).digest('hex')), `hmac of ${secret}`);
    assert.ok(!json.includes(Buffer.from(secret).toString('base64')), `base64 of ${secret}`);
  }
});

test('credential-shaped values are secret whatever the name', () => {
  const rec = captureEnvironment(
    {
      HTTP_PROXY: 'http://alice:s3cr3t@proxy:3128',
      UPLOAD_URL: 'https://example.org/up?sig=abc&x=1',
      SOME_PEM: '-----BEGIN OPENSSH PRIVATE KEY-----\nabc',
      LANG: 'https://u:p@h/', // even an allowlisted name
      PLAIN_URL: 'http://deb.debian.org/debian',
    },
    KEY,
  );
  assert.deepEqual(rec.variables.HTTP_PROXY, { mode: 'secret' });
  assert.deepEqual(rec.variables.UPLOAD_URL, { mode: 'secret' });
  assert.deepEqual(rec.variables.SOME_PEM, { mode: 'secret' });
  assert.deepEqual(rec.variables.LANG, { mode: 'secret' });
  assert.equal(rec.variables.PLAIN_URL!.mode, 'hashed');
  assert.ok(!JSON.stringify(rec).includes('s3cr3t'));
});

test('classification of borderline names errs on the side of secrecy', () => {
  assert.equal(classifyVariable('PWD', '/work'), 'allowlisted');
  assert.equal(classifyVariable('HOME', '/root'), 'allowlisted');
  assert.equal(classifyVariable('SSH_AUTH_SOCK', '/tmp/agent'), 'secret-name');
  assert.equal(classifyVariable('APT_AUTH_TOKEN', 'x'), 'secret-name');
  assert.equal(classifyVariable('SESSION_ID', 'x'), 'secret-name');
  assert.equal(classifyVariable('db.password', 'x'), 'secret-name');
  assert.equal(classifyVariable('githubPat', 'x'), 'secret-name');
  assert.equal(classifyVariable('EDITOR', 'vim'), 'hashed');
  assert.equal(classifyVariable('DPKG_COLORS', 'always'), 'allowlisted');
});

test('equal values hash equal across runs with the same key, differently with another key', () => {
  const a = captureEnvironment({ X: 'value' }, KEY);
  const b = captureEnvironment({ X: 'value' }, Buffer.from(KEY));
  const c = captureEnvironment({ X: 'value' }, randomBytes(32));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(environmentKeyId(KEY), environmentKeyId(Buffer.from(KEY)));
  assert.match(environmentKeyId(KEY), /^sha256:[0-9a-f]{64}$/);
});

test('a short key is refused', () => {
  assert.throws(() => captureEnvironment({}, Buffer.alloc(8)), { code: 'BAD_INPUT' });
});

test('the child environment is the real one, unmodified, as a copy', () => {
  const env: NodeJS.ProcessEnv = { GITHUB_TOKEN: 'real-token', PATH: '/bin', GONE: undefined };
  const child = childEnvironment(env);
  assert.deepEqual(child, { GITHUB_TOKEN: 'real-token', PATH: '/bin' });
  env.PATH = '/changed';
  assert.equal(child.PATH, '/bin');
});
