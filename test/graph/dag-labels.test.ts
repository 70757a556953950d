// The text the pictures print: shortened commands, wrapped lines, Mermaid-safe text,
// DOT-safe strings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, shortCommand, wrap } from '../../src/graph/dag-labels.js';
import { dotString } from '../../src/graph/render-dot.js';
import { mermaidText } from '../../src/graph/render-mermaid.js';

test('shortCommand keeps the last component of long absolute paths and cuts at the limit', () => {
  assert.equal(
    shortCommand("chroot /srv/build/work/seed-workflow/iso_root /bin/bash -c 'apt-get update'"),
    "chroot …/iso_root /bin/bash -c 'apt-get update'",
  );
  assert.equal(
    shortCommand('debootstrap --arch=amd64 bookworm /x/y/z/root http://deb.debian.org/debian'),
    'debootstrap --arch=amd64 bookworm …/root http://deb.debian.org/debian',
    'URLs are left alone',
  );
  assert.equal(shortCommand('make   -C\tsrc\n all'), 'make -C src all');
  assert.equal(shortCommand('x'.repeat(100), 20), `${'x'.repeat(19)}…`);
  assert.equal(shortCommand("cat '/a/b/c/d' > /e/f/g"), "cat '…/d' > …/g");
});

test('wrap breaks at spaces, then after slashes, and marks what it cuts', () => {
  assert.deepEqual(wrap('alpha beta gamma delta', 11, 3), ['alpha beta', 'gamma delta']);
  assert.deepEqual(wrap('bookworm …/iso_root http://deb.debian.org/debian', 44, 3), [
    'bookworm …/iso_root http://deb.debian.org/',
    'debian',
  ]);
  assert.deepEqual(
    wrap('http://deb.debian.org/debian/pool', 20, 3),
    ['http://deb.debian.or', 'g/debian/pool'],
    'no break in the second half: cut at the width',
  );
  assert.deepEqual(wrap('see http://deb.debian.org/debian/pool', 22, 2), ['see http://', 'deb.debian.org/debian…']);
  assert.ok(wrap('a'.repeat(200), 40, 3).every((l) => l.length <= 40));
  assert.deepEqual(wrap('', 10), []);
});

test('formatBytes uses decimal units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1500), '1.5 KB');
  assert.equal(formatBytes(321_659_488), '321.7 MB');
});

test('Mermaid and DOT text escape what their grammars reserve', () => {
  assert.equal(
    mermaidText('a "b" <c> & #d | e[f](g){h}`'),
    'a #34;b#34; #60;c#62; #38; #35;d #124; e#91;f#93;#40;g#41;#123;h#125;#96;',
  );
  assert.equal(dotString('say "hi"\\n\nnext'), '"say \\"hi\\"\\\\n\\nnext"');
});
