// The table verify keeps every object's size in: against a Map on random digests (sets,
// overwrites, lookups of absent ones, growth through many doublings, colliding first bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Digest } from '../../src/core/digest.js';
import { DigestSizes } from '../../src/store/digest-sizes.js';
import { prng, testSeed } from '../helpers.js';

const digestOf = (n: number) => `sha256:${createHash('sha256').update(String(n)).digest('hex')}` as Digest;

test('DigestSizes answers as a Map would, through growth and collisions', (t) => {
  const random = prng(testSeed(t));
  const table = new DigestSizes(4);
  const model = new Map<Digest, number>();
  for (let k = 0; k < 60_000; k++) {
    const d = digestOf(Math.floor(random() * 40_000));
    const size = Math.floor(random() * 2 ** 40);
    table.set(d, size);
    model.set(d, size);
  }
  // Same first four bytes, different rest: they probe past each other.
  const twins = ['00000000', '00000000'].map((p, i) => `sha256:${p}${String(i).repeat(56)}` as Digest);
  for (const d of twins) {
    table.set(d, 7);
    model.set(d, 7);
  }
  table.set(twins[1]!, 0);
  model.set(twins[1]!, 0);
  assert.equal(table.size, model.size);
  for (const [d, size] of model) assert.equal(table.get(d), size, d);
  for (let k = 40_000; k < 45_000; k++) {
    assert.equal(table.has(digestOf(k)), false);
    assert.equal(table.get(digestOf(k)), undefined);
  }
  assert.equal(table.get(twins[1]!), 0, 'a size of 0 is a size, not absence');
  assert.throws(() => table.set(digestOf(1), -1), RangeError);
});
