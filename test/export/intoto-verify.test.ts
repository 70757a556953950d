// The issue's "done when" for exports: a store with the seed's three steps, linked by
// content (debootstrap -> apt_install -> build_iso), exported with `asl export` and
// checked by Debian's in-toto-verify against a layout whose MATCH rules tie each step's
// materials to the previous step's products. It must pass; an edited link, or a
// build_iso whose input root differs from apt_install's output, must fail.
//
// To stay quick the debootstrap step copies the cached real debootstrap minbase root
// (test/fixtures.ts; e2e-seed.test.ts runs debootstrap itself); apt_install installs a
// package with apt-get inside the chroot, offline; build_iso packs the root into a tar.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import { cp, lstat, mkdir, readFile, readdir, readlink, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { bookwormMinbaseRoot, ensureDebianPackages } from '../fixtures.js';
import { runAsl, tempDir, type RunResult } from '../helpers.js';

const skip = process.getuid?.() !== 0 ? 'needs root (chroot, device nodes in the root)' : false;

const DEB = 'asl-export-fixture_1.0_all.deb';

function run(program: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(program, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err
        ? typeof (err as { code?: unknown }).code === 'number'
          ? (err as { code: number }).code
          : 127
        : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === 127 ? err.message : '') });
    });
  });
}

const describe = (r: RunResult) =>
  `exit ${r.code}\n--- stdout\n${r.stdout.slice(-2000)}\n--- stderr\n${r.stderr.slice(-2000)}`;

async function aslOk(args: string[], cwd?: string): Promise<RunResult> {
  const r = await runAsl(args, cwd ? { cwd } : {});
  assert.equal(r.code, 0, `asl ${args.join(' ')}: ${describe(r)}`);
  return r;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** What in-toto should see of a directory, computed here from the files themselves. */
async function walkFiles(root: string, rel = '', out = new Map<string, string>()): Promise<Map<string, string>> {
  for (const name of (await readdir(join(root, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, r));
    if (st.isDirectory()) await walkFiles(root, r, out);
    else if (st.isFile()) out.set(r, sha256(await readFile(join(root, r))));
    else if (st.isSymbolicLink())
      out.set(r, sha256(Buffer.from(await readlink(join(root, r), { encoding: 'buffer' }))));
  }
  return out;
}

interface Link {
  signatures: Array<{ keyid: string; sig: string }>;
  signed: {
    _type: string;
    name: string;
    command: string[];
    materials: Record<string, { sha256: string }>;
    products: Record<string, { sha256: string }>;
    byproducts: { stdout: string; stderr: string; 'return-value': number };
    environment: { workdir: string; asl: { receipt: string } };
  };
}

/** A tiny real Debian package (gzip control, no dependencies) for apt-get to install offline. */
async function makeDeb(dir: string): Promise<string> {
  const src = join(dir, 'deb-src');
  await mkdir(join(src, 'DEBIAN'), { recursive: true });
  await mkdir(join(src, 'usr', 'share', 'asl-export-fixture'), { recursive: true });
  await writeFile(join(src, 'usr', 'share', 'asl-export-fixture', 'README'), 'installed by the apt_install step\n');
  await writeFile(
    join(src, 'DEBIAN', 'control'),
    'Package: asl-export-fixture\nVersion: 1.0\nArchitecture: all\nMaintainer: ASL tests <tests@example.invalid>\nDescription: package for the export test\n',
  );
  await mkdir(join(dir, 'debs'));
  const r = await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', src, join(dir, 'debs', DEB)]);
  assert.equal(r.code, 0, r.stderr);
  return join(dir, 'debs', DEB);
}

function layoutFor(storeKey: Record<string, unknown>, keyid: string): unknown {
  const step = (name: string, materials: string[][], products: string[][]) => ({
    _type: 'step',
    name,
    threshold: 1,
    pubkeys: [keyid],
    expected_command: [],
    expected_materials: materials,
    expected_products: products,
  });
  // Paths are relative to the image root (--base ISO_ROOT); host files (programs, the
  // .deb, the receipts folder, out/) stay absolute, so "[!/]*" is "inside the image".
  return {
    signatures: [],
    signed: {
      _type: 'layout',
      expires: '2099-01-01T00:00:00Z',
      readme: 'ASL seed steps: debootstrap -> apt_install -> build_iso',
      keys: { [keyid]: { ...storeKey, keyid } },
      inspect: [],
      steps: [
        step(
          'debootstrap',
          [
            ['ALLOW', '/*'],
            ['DISALLOW', '*'],
          ],
          [
            ['CREATE', '[!/]*'],
            ['DISALLOW', '*'],
          ],
        ),
        step(
          'apt_install',
          [
            ['MATCH', '[!/]*', 'WITH', 'PRODUCTS', 'FROM', 'debootstrap'],
            ['ALLOW', '/*'],
            ['DISALLOW', '*'],
          ],
          [['ALLOW', '*']],
        ),
        step(
          'build_iso',
          [
            ['MATCH', '[!/]*', 'WITH', 'PRODUCTS', 'FROM', 'apt_install'],
            ['ALLOW', '/*'],
            ['DISALLOW', '*'],
          ],
          [['ALLOW', '*']],
        ),
      ],
    },
  };
}

async function captureStep(work: string, name: string, outdir: string, args: string[]): Promise<string> {
  await aslOk(
    ['capture', '--store', 'store', '--name', name, '--no-auto-watch', '--outdir', `store/per/${outdir}`, ...args],
    work,
  );
  // The envelope file holds exactly the receipt object's bytes: its sha256 is the receipt id.
  return `sha256:${sha256(await readFile(join(work, 'store', 'per', outdir, 'per.dsse.json')))}`;
}

test("asl export: in-toto-verify accepts the seed steps' links, refuses an edited link and a broken chain; SLSA v1 statements are signed and complete", {
  skip,
  timeout: 10 * 60_000,
}, async (t: TestContext) => {
  await ensureDebianPackages('in-toto');
  const fixture = await bookwormMinbaseRoot();
  const work = await tempDir(t, 'asl-export-');
  const iso = join(work, 'iso_root');
  await aslOk(['init', '--store', join(work, 'store')]);
  await mkdir(join(work, 'store', 'per'), { recursive: true });
  const deb = await makeDeb(work);

  const t0 = Date.now();
  const ids = {
    debootstrap: await captureStep(work, 'debootstrap', 'debootstrap', [
      '--watch',
      'iso_root',
      '--cmd',
      `cp -a ${fixture} iso_root`,
    ]),
    apt_install: await captureStep(work, 'apt_install', 'apt_install', [
      '--watch',
      'iso_root',
      '--input',
      deb,
      '--cmd',
      `cp ${deb} iso_root/tmp/ && chroot iso_root /bin/bash -c 'apt-get install -y /tmp/${DEB}'`,
    ]),
    build_iso: await captureStep(work, 'build_iso', 'build_iso', [
      '--input',
      'iso_root',
      '--artifact-inputs',
      'store/per',
      '--watch',
      'out',
      '--cmd',
      'mkdir -p out && tar --sort=name --numeric-owner -C iso_root -cf out/rootfs.tar . && cd out && sha256sum rootfs.tar > rootfs.tar.sha256',
    ]),
  };
  t.diagnostic(`three captures: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const tar = join(work, 'out', 'rootfs.tar');
  const tarDigest = sha256(await readFile(tar));

  // --- Export, with paths relative to the image root.
  const links = join(work, 'links');
  const t1 = Date.now();
  const exported = JSON.parse(
    (
      await aslOk(
        [
          'export',
          '--store',
          'store',
          '--format',
          'intoto-link',
          '--base',
          'iso_root',
          '-o',
          links,
          '--json',
          'debootstrap',
          'apt_install',
          ids.build_iso,
        ],
        work,
      )
    ).stdout,
  ) as {
    files: Array<{ step: string; file: string; bytes: number; materials: number; products: number }>;
    keyId: string;
    publicKeyFile: string;
  };
  t.diagnostic(
    `asl export --format intoto-link (3 steps): ${Date.now() - t1} ms; ${exported.files.map((f) => `${f.step} ${f.file} ${(f.bytes / 1024).toFixed(0)} KiB, ${f.materials} materials, ${f.products} products`).join('; ')}`,
  );
  const keyid = exported.keyId;
  assert.match(keyid, /^[0-9a-f]{64}$/);
  assert.deepEqual(
    exported.files.map((f) => f.file),
    ['debootstrap', 'apt_install', 'build_iso'].map((s) => `${s}.${keyid.slice(0, 8)}.link`),
  );
  const storeKey = JSON.parse(await readFile(join(links, exported.publicKeyFile), 'utf8')) as {
    keytype: string;
    scheme: string;
    keyval: { public: string };
  };
  // The key is the store's own Ed25519 key, and the keyid is securesystemslib's for it.
  const jwk = createPublicKey(await readFile(join(work, 'store', 'keys', 'signing.pub'))).export({ format: 'jwk' });
  assert.equal(storeKey.keyval.public, Buffer.from(jwk.x!, 'base64url').toString('hex'));
  const sslibKeyid = await run('/usr/bin/python3', [
    '-c',
    'import sys,json; from securesystemslib import keys; k=json.load(open(sys.argv[1])); print(keys.format_metadata_to_key(k)[0]["keyid"])',
    join(links, exported.publicKeyFile),
  ]);
  assert.equal(sslibKeyid.stdout.trim(), keyid, sslibKeyid.stderr);

  // --- The links' content, checked against the files themselves.
  const readLink = async (step: string) =>
    JSON.parse(await readFile(join(links, `${step}.${keyid.slice(0, 8)}.link`), 'utf8')) as Link;
  const [lDeb, lApt, lBuild] = [
    await readLink('debootstrap'),
    await readLink('apt_install'),
    await readLink('build_iso'),
  ];
  const onDisk = await walkFiles(iso);
  const rel = (m: Record<string, { sha256: string }>) =>
    new Map(
      Object.entries(m)
        .filter(([p]) => !p.startsWith('/'))
        .map(([p, d]) => [p, d.sha256]),
    );
  assert.deepEqual(
    rel(lApt.signed.products),
    onDisk,
    "apt_install's products are every file and symlink of the root as it is now",
  );
  assert.deepEqual(rel(lBuild.signed.materials), onDisk, "build_iso's materials are the same root");
  assert.deepEqual(
    rel(lApt.signed.materials),
    rel(lDeb.signed.products),
    'apt_install started from what debootstrap left',
  );
  assert.ok(onDisk.size > 5000, `a minbase root has thousands of files: ${onDisk.size}`);
  assert.equal(
    lApt.signed.products['usr/share/asl-export-fixture/README']?.sha256,
    sha256('installed by the apt_install step\n'),
  );
  assert.equal(lApt.signed.materials['usr/share/asl-export-fixture/README'], undefined);
  assert.equal(
    lApt.signed.materials[deb]?.sha256,
    sha256(await readFile(deb)),
    'the declared .deb is a material at its host path',
  );
  assert.equal(
    lApt.signed.materials['usr/bin/bash']?.sha256,
    sha256(await readFile(join(iso, 'usr', 'bin', 'bash'))),
    "the chroot's bash, inside the image",
  );
  assert.ok(lApt.signed.materials['/usr/sbin/chroot'], "the host's chroot program, absolute");
  assert.equal(lBuild.signed.products[tar]?.sha256, tarDigest);
  assert.equal(
    lBuild.signed.materials[join(work, 'store', 'per', 'apt_install', 'per.dsse.json')]?.sha256,
    ids.apt_install.slice(7),
    'the receipts folder holds the earlier receipts',
  );
  assert.equal(lDeb.signed.materials['etc/passwd'], undefined);
  assert.deepEqual(lApt.signed.command, [
    '/bin/sh',
    '-c',
    `cp ${deb} iso_root/tmp/ && chroot iso_root /bin/bash -c 'apt-get install -y /tmp/${DEB}'`,
  ]);
  assert.equal(lApt.signed.byproducts['return-value'], 0);
  assert.equal(
    lApt.signed.byproducts.stdout,
    await readFile(join(work, 'store', 'per', 'apt_install', 'stdout.log'), 'utf8'),
  );
  assert.match(lApt.signed.byproducts.stdout, /Setting up asl-export-fixture \(1\.0\)/);
  assert.equal(lApt.signed.environment.workdir, work);
  assert.equal(lApt.signed.environment.asl.receipt, ids.apt_install);

  // --- in-toto-verify with a layout signed by its owner's key.
  const owner = join(work, 'owner');
  assert.equal((await run('in-toto-keygen', ['-t', 'ed25519', owner])).code, 0);
  const layout = join(work, 'root.layout');
  await writeFile(layout, JSON.stringify(layoutFor(storeKey, keyid), null, 1));
  const signed = await run('in-toto-sign', ['-f', layout, '-k', owner, '-t', 'ed25519', '-o', layout]);
  assert.equal(signed.code, 0, signed.stderr);
  const verify = (dir: string) =>
    run('in-toto-verify', [
      '--layout',
      layout,
      '--layout-keys',
      `${owner}.pub`,
      '--key-types',
      'ed25519',
      '--link-dir',
      dir,
      '-v',
    ]);
  const t2 = Date.now();
  const good = await verify(links);
  t.diagnostic(`in-toto-verify: ${Date.now() - t2} ms`);
  assert.equal(good.code, 0, `in-toto-verify refused ASL's links:\n${good.stdout}\n${good.stderr}`);
  assert.match(
    good.stdout + good.stderr,
    /Verifying 'MATCH \[!\/\]\* WITH PRODUCTS FROM debootstrap'[\s\S]*The software product passed all verification/,
  );

  // --- An edited link: one product digest changed, signature left as it was.
  const edited = join(work, 'links-edited');
  await cp(links, edited, { recursive: true });
  const aptFile = join(edited, `apt_install.${keyid.slice(0, 8)}.link`);
  const forged = await readLink('apt_install');
  forged.signed.products['usr/share/asl-export-fixture/README'] = { sha256: sha256('something else\n') };
  await writeFile(aptFile, JSON.stringify(forged, null, 1));
  const bad = await verify(edited);
  assert.equal(bad.code, 1, `in-toto-verify accepted an edited link:\n${bad.stderr}`);
  t.diagnostic(`edited link: ${bad.stderr.trim().split('\n').pop()}`);
  assert.match(bad.stderr, /signature/i);
  assert.match(bad.stderr, /apt_install|Invalid signature/);

  // --- A broken chain: the root changes between apt_install and build_iso, outside any step.
  await appendFile(join(iso, 'etc', 'motd'), 'changed after apt_install, by nobody ASL watched\n');
  const tampered = await captureStep(work, 'build_iso', 'build_iso_again', [
    '--input',
    'iso_root',
    '--watch',
    'out',
    '--cmd',
    'tar --sort=name --numeric-owner -C iso_root -cf out/rootfs.tar .',
  ]);
  // Two receipts are now step build_iso: the step name is ambiguous, the id is not.
  const ambiguous = await runAsl(
    ['export', '--store', 'store', '--format', 'intoto-link', '-o', join(work, 'x'), 'build_iso'],
    { cwd: work },
  );
  assert.equal(ambiguous.code, 2, describe(ambiguous));
  assert.match(ambiguous.stderr, /^asl: build_iso: step name is ambiguous, 2 receipts have it .*; name one by id\n$/);
  const broken = join(work, 'links-broken');
  await aslOk(
    [
      'export',
      '--store',
      'store',
      '--format',
      'intoto-link',
      '--base',
      'iso_root',
      '-o',
      broken,
      ids.debootstrap,
      ids.apt_install,
      tampered,
    ],
    work,
  );
  const refused = await verify(broken);
  assert.equal(
    refused.code,
    1,
    `in-toto-verify accepted a build_iso whose input root is not apt_install's output:\n${refused.stderr}`,
  );
  t.diagnostic(`broken chain: ${refused.stderr.trim().split('\n').pop()}`);
  assert.match(refused.stderr, /etc\/motd/, 'in-toto names the file that does not match');
  assert.match(refused.stderr, /build_iso/);

  // --- SLSA Provenance v1 in DSSE, signed with the store key.
  const slsaDir = join(work, 'slsa');
  const t3 = Date.now();
  const slsa = JSON.parse(
    (
      await aslOk(
        [
          'export',
          '--store',
          'store',
          '--format',
          'slsa',
          '--base',
          'iso_root',
          '-o',
          slsaDir,
          '--json',
          ids.debootstrap,
          ids.apt_install,
          ids.build_iso,
        ],
        work,
      )
    ).stdout,
  ) as { files: Array<{ file: string; step: string; receipt: string; bytes: number }>; keyId: string };
  t.diagnostic(
    `asl export --format slsa (3 steps): ${Date.now() - t3} ms; ${slsa.files.map((f) => `${f.step} ${(f.bytes / 1024).toFixed(0)} KiB`).join('; ')}`,
  );
  const pub = createPublicKey(await readFile(join(work, 'store', 'keys', 'signing.pub')));
  const aslKeyId = sha256(pub.export({ type: 'spki', format: 'der' }));
  assert.equal(slsa.keyId, aslKeyId);
  const statements: Record<
    string,
    {
      subject: Array<{ name: string; digest: { sha256: string } }>;
      predicateType: string;
      _type: string;
      predicate: any;
    }
  > = {};
  for (const f of slsa.files) {
    assert.equal(f.file, `${f.step}.${f.receipt.slice(7, 19)}.slsa.dsse.json`);
    const env = JSON.parse(await readFile(join(slsaDir, f.file), 'utf8')) as {
      payloadType: string;
      payload: string;
      signatures: Array<{ keyid: string; sig: string }>;
    };
    assert.equal(env.payloadType, 'application/vnd.in-toto+json');
    assert.equal(env.signatures.length, 1);
    assert.equal(env.signatures[0]!.keyid, aslKeyId);
    const payload = Buffer.from(env.payload, 'base64');
    const type = Buffer.from(env.payloadType);
    const pae = Buffer.concat([
      Buffer.from(`DSSEv1 ${type.length} `),
      type,
      Buffer.from(` ${payload.length} `),
      payload,
    ]);
    assert.ok(
      edVerify(null, pae, pub, Buffer.from(env.signatures[0]!.sig, 'base64')),
      `${f.file}: DSSE signature verifies with the store key`,
    );
    const flipped = Buffer.from(payload);
    flipped[flipped.length - 2] ^= 1;
    const paeBad = Buffer.concat([
      Buffer.from(`DSSEv1 ${type.length} `),
      type,
      Buffer.from(` ${flipped.length} `),
      flipped,
    ]);
    assert.ok(
      !edVerify(null, paeBad, pub, Buffer.from(env.signatures[0]!.sig, 'base64')),
      'and not over altered bytes',
    );
    statements[f.step] = JSON.parse(payload.toString('utf8'));
  }
  const sApt = statements.apt_install!;
  const sBuild = statements.build_iso!;
  assert.equal(sApt._type, 'https://in-toto.io/Statement/v1');
  assert.equal(sApt.predicateType, 'https://slsa.dev/provenance/v1');
  assert.deepEqual(
    new Map(sApt.subject.filter((s) => !s.name.startsWith('/')).map((s) => [s.name, s.digest.sha256])),
    onDisk,
    'subjects: the product files',
  );
  const bd = sApt.predicate.buildDefinition;
  assert.equal(bd.buildType, 'https://asl.dev/slsa/capture-command/v1');
  assert.deepEqual(bd.externalParameters, { command: lApt.signed.command[2], cwd: work });
  assert.deepEqual(bd.internalParameters.argv, lApt.signed.command);
  const deps = new Map(
    (bd.resolvedDependencies as Array<{ name: string; digest: { sha256: string } }>).map((d) => [
      d.name,
      d.digest.sha256,
    ]),
  );
  assert.equal(deps.get(deb), sha256(await readFile(deb)), 'the .deb is a resolved dependency');
  assert.equal(deps.get('etc/passwd'), lDeb.signed.products['etc/passwd']!.sha256);
  const rd = sApt.predicate.runDetails;
  assert.equal(rd.builder.id, 'https://asl.dev/asl-capture');
  assert.match(rd.builder.version.asl, /^\d+\.\d+\.\d+/);
  const per = JSON.parse(await readFile(join(work, 'store', 'per', 'apt_install', 'per.json'), 'utf8'));
  assert.equal(rd.metadata.startedOn, per.predicate.run.startedOn);
  assert.equal(rd.metadata.finishedOn, per.predicate.run.finishedOn);
  const by = new Map(
    (rd.byproducts as Array<{ name: string; digest?: { sha256: string }; content?: string }>).map((b) => [b.name, b]),
  );
  assert.equal(
    by.get('stdout')!.digest!.sha256,
    sha256(await readFile(join(work, 'store', 'per', 'apt_install', 'stdout.log'))),
  );
  assert.equal(by.get('asl-receipt')!.digest!.sha256, ids.apt_install.slice(7));
  assert.deepEqual(JSON.parse(Buffer.from(by.get('exit-status')!.content!, 'base64').toString()), {
    code: 0,
    kind: 'exited',
  });
  assert.equal(
    sBuild.subject.find((s) => s.name === tar)?.digest.sha256,
    tarDigest,
    'the image is a subject of build_iso',
  );
});
