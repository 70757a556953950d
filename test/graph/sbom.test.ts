// `asl sbom` of a real Debian root (the bookworm minbase fixture, copied into a watched
// directory by a captured step): CycloneDX 1.6 validated by the CycloneDX project's own
// library (its bundled schemas, strict), SPDX 2.3 checked against the spec's rules and,
// where the SPDX project's JSON schema is available, validated by it; in both, the package
// list equals dpkg-query's on the same root, purls equal the reference implementation's
// (packageurl-js), package checksums are the .debs' sha256 and every file's digests are
// re-computed from the live root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { bookwormMinbaseRoot } from '../fixtures.js';
import { REPO_ROOT, runAsl } from '../helpers.js';
import { aslOk, describeRun, digestOf, workWithStore } from '../capture/e2e-helpers.js';

const require = createRequire(import.meta.url);
const skip = process.getuid?.() !== 0 ? 'needs root (the debootstrap fixture)' : false;
/** SPDX publishes its 2.3 JSON schema in its spec repository only (no npm package ships it): used when present. */
const SPDX_SCHEMA = process.env.ASL_SPDX_SCHEMA ?? join(REPO_ROOT, 'test', 'schemas', 'spdx-schema-2.3.json');

interface CdxComponent {
  type: string;
  'bom-ref': string;
  name: string;
  version?: string;
  purl?: string;
  hashes?: Array<{ alg: string; content: string }>;
  components?: CdxComponent[];
  properties?: Array<{ name: string; value: string }>;
}
interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  checksums?: Array<{ algorithm: string; checksumValue: string }>;
  externalRefs?: Array<{ referenceCategory: string; referenceType: string; referenceLocator: string }>;
  hasFiles?: string[];
  packageVerificationCode?: { packageVerificationCodeValue: string };
  filesAnalyzed?: boolean;
  primaryPackagePurpose?: string;
}
interface SpdxFile {
  SPDXID: string;
  fileName: string;
  checksums: Array<{ algorithm: string; checksumValue: string }>;
}
interface SpdxDoc {
  spdxVersion: string;
  SPDXID: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  files: SpdxFile[];
  relationships: Array<{ spdxElementId: string; relationshipType: string; relatedSpdxElement: string }>;
}

const hashFile = async (alg: string, path: string) =>
  createHash(alg)
    .update(await readFile(path))
    .digest('hex');

test("SBOMs of a captured Debian root: schemas, dpkg's package list, purls, digests", {
  skip,
  timeout: 15 * 60_000,
}, async (t) => {
  const fixture = await bookwormMinbaseRoot();
  const { work, store } = await workWithStore(t);
  const root = join(work, 'root');
  await mkdir(root);
  const outdir = join(store, 'per', 'install');
  const cap = await runAsl(
    ['--store', store, '--cmd', `cp -a ${fixture}/. root/`, '--watch', 'root', '--no-auto-watch', '--outdir', outdir],
    { program: 'asl-capture', cwd: work },
  );
  assert.equal(cap.code, 0, describeRun(cap));
  const receipt = digestOf(await readFile(join(outdir, 'per.dsse.json')));

  const dpkgList = execFileSync(
    'dpkg-query',
    [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W', '-f=${Package} ${Version} ${Architecture}\\n'],
    { encoding: 'utf8' },
  )
    .trim()
    .split('\n')
    .sort();
  const archives = join(fixture, 'var/cache/apt/archives');
  const debNames = (await readdir(archives)).filter((n) => n.endsWith('.deb'));
  const debDigests = new Set(await Promise.all(debNames.map((n) => hashFile('sha256', join(archives, n)))));
  const { PackageURL } = require('packageurl-js') as {
    PackageURL: new (
      type: string,
      ns: string,
      name: string,
      version: string,
      q: Record<string, string>,
    ) => { toString(): string };
  };
  const refPurl = (line: string) => {
    const [n, v, a] = line.split(' ');
    return new PackageURL('deb', 'debian', n!, v!, { arch: a! }).toString();
  };
  const regularFiles = execFileSync('find', [root, '-type', 'f', '-printf', '%P\\n'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
    .trim()
    .split('\n')
    .sort();

  // --- CycloneDX 1.6
  const cdxFile = join(work, 'image.cdx.json');
  const made = await aslOk(['sbom', '--store', store, receipt, '--format', 'cyclonedx', '-o', cdxFile]);
  assert.match(
    made.stdout,
    new RegExp(
      `^${cdxFile}: cyclonedx SBOM, .*: ${dpkgList.length} packages, ${regularFiles.length} files \\(0 unattributed\\)`,
    ),
  );
  const cdxText = await readFile(cdxFile, 'utf8');
  const CDX = require('@cyclonedx/cyclonedx-library') as {
    Validation: { JsonStrictValidator: new (v: unknown) => { validate(s: string): Promise<unknown> } };
    Spec: { Version: { v1dot6: unknown } };
  };
  assert.equal(
    await new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6).validate(cdxText),
    null,
    'valid against CycloneDX 1.6 (strict)',
  );
  // The validator does reject what is wrong: a component without a name.
  const broken = JSON.parse(cdxText) as { components: CdxComponent[] };
  delete (broken.components[0] as Partial<CdxComponent>).name;
  assert.notEqual(
    await new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6).validate(JSON.stringify(broken)),
    null,
  );

  const bom = JSON.parse(cdxText) as {
    specVersion: string;
    metadata: {
      component: {
        type: string;
        externalReferences: Array<{ type: string; url: string; hashes?: Array<{ content: string }> }>;
        properties: Array<{ name: string; value: string }>;
      };
    };
    components: CdxComponent[];
  };
  assert.equal(bom.specVersion, '1.6');
  const libs = bom.components.filter((c) => c.type === 'library');
  const arch = (purl: string) => new URL(purl.replace(/^pkg:/, 'pkg://x/')).searchParams.get('arch');
  assert.deepEqual(libs.map((c) => `${c.name} ${c.version} ${arch(c.purl!)}`).sort(), dpkgList);
  assert.deepEqual(libs.map((c) => c.purl).sort(), dpkgList.map(refPurl).sort(), 'purls as packageurl-js writes them');
  assert.deepEqual(
    new Set(libs.map((c) => c.hashes!.find((h) => h.alg === 'SHA-256')!.content)),
    debDigests,
    "each package's hash is its .deb's sha256",
  );
  const cdxFiles = [...libs.flatMap((c) => c.components ?? []), ...bom.components.filter((c) => c.type === 'file')];
  assert.deepEqual(cdxFiles.map((f) => f.name.slice(1)).sort(), regularFiles);
  const bash = libs.find((c) => c.name === 'bash')!;
  const bashBin = bash.components!.find((f) => f.name === '/usr/bin/bash')!;
  assert.equal(
    bashBin.hashes!.find((h) => h.alg === 'SHA-256')!.content,
    await hashFile('sha256', join(root, 'usr/bin/bash')),
  );
  assert.equal(
    bashBin.hashes!.find((h) => h.alg === 'SHA-1')!.content,
    await hashFile('sha1', join(root, 'usr/bin/bash')),
  );
  const att = bom.metadata.component.externalReferences;
  assert.deepEqual(
    att.find((r) => r.url === receipt)?.hashes?.[0]?.content,
    receipt.slice(7),
    'the receipt, by its digest',
  );
  assert.ok(att.some((r) => r.type === 'attestation' && r.url === `install.${receipt.slice(7, 19)}.slsa.dsse.json`));
  assert.equal(bom.metadata.component.type, 'operating-system');
  // Deterministic: the same receipt gives the same bytes.
  const again = join(work, 'again.cdx.json');
  await aslOk(['sbom', '--store', store, 'install', '--format', 'cyclonedx', '-o', again]);
  assert.equal(await readFile(again, 'utf8'), cdxText);

  // --- SPDX 2.3
  const spdxFile = join(work, 'image.spdx.json');
  await aslOk(['sbom', '--store', store, receipt, '--format', 'spdx', '-o', spdxFile]);
  const doc = JSON.parse(await readFile(spdxFile, 'utf8')) as SpdxDoc;
  await t.test('SPDX 2.3 JSON schema (the published one, test/schemas/)', async () => {
    const Ajv = require('ajv') as new (
      o: object,
    ) => { compile(s: object): ((d: unknown) => boolean) & { errors?: unknown } };
    const schema = JSON.parse(await readFile(SPDX_SCHEMA, 'utf8')) as { $schema?: string };
    const ajv = schema.$schema?.includes('2019-09')
      ? new (require('ajv/dist/2019').default)({ strict: false, allErrors: true })
      : new Ajv({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    assert.ok(validate(doc), JSON.stringify(validate.errors));
  });
  // The spec's own rules (SPDX 2.3 chapters 6-8, 11), checked here whatever the schema.
  assert.equal(doc.spdxVersion, 'SPDX-2.3');
  assert.equal(doc.SPDXID, 'SPDXRef-DOCUMENT');
  assert.match(doc.creationInfo.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.deepEqual(doc.creationInfo.creators, [
    `Tool: asl-${JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).version}`,
  ]);
  assert.match(doc.documentNamespace, /^https:\/\/[^#]+$/);
  const ids = [doc.SPDXID, ...doc.packages.map((p) => p.SPDXID), ...doc.files.map((f) => f.SPDXID)];
  assert.equal(new Set(ids).size, ids.length, 'SPDX ids are unique');
  for (const id of ids) assert.match(id, /^SPDXRef-[A-Za-z0-9.-]+$/);
  for (const r of doc.relationships)
    for (const id of [r.spdxElementId, r.relatedSpdxElement]) assert.ok(ids.includes(id), `relationship names ${id}`);
  const image = doc.packages.find((p) => p.SPDXID === 'SPDXRef-Image')!;
  assert.equal(image.primaryPackagePurpose, 'OPERATING_SYSTEM');
  assert.ok(image.externalRefs!.some((r) => r.referenceType === 'asl-receipt' && r.referenceLocator === receipt));
  const debs = doc.packages.filter((p) => p !== image);
  const purlOf = (p: SpdxPackage) => p.externalRefs!.find((r) => r.referenceType === 'purl')!.referenceLocator;
  assert.deepEqual(debs.map((p) => `${p.name} ${p.versionInfo} ${arch(purlOf(p))}`).sort(), dpkgList);
  assert.deepEqual(debs.map(purlOf).sort(), dpkgList.map(refPurl).sort());
  assert.deepEqual(
    new Set(debs.map((p) => p.checksums!.find((c) => c.algorithm === 'SHA256')!.checksumValue)),
    debDigests,
  );
  // Every regular file once, with exactly one SHA1 (required) and the SHA-256, both re-computed from the live root.
  assert.deepEqual(doc.files.map((f) => f.fileName.slice(2)).sort(), regularFiles);
  const sha1ById = new Map<string, string>();
  for (const f of doc.files) {
    const sha1 = f.checksums.filter((c) => c.algorithm === 'SHA1');
    assert.equal(sha1.length, 1, f.fileName);
    assert.equal(sha1[0]!.checksumValue, await hashFile('sha1', join(root, f.fileName)), f.fileName);
    assert.equal(
      f.checksums.find((c) => c.algorithm === 'SHA256')!.checksumValue,
      await hashFile('sha256', join(root, f.fileName)),
      f.fileName,
    );
    sha1ById.set(f.SPDXID, sha1[0]!.checksumValue);
  }
  // Package verification codes, re-computed as SPDX 2.3 section 7.9 says.
  for (const p of debs.filter((x) => x.filesAnalyzed)) {
    const code = createHash('sha1')
      .update(
        p
          .hasFiles!.map((id) => sha1ById.get(id)!)
          .sort()
          .join(''),
      )
      .digest('hex');
    assert.equal(p.packageVerificationCode!.packageVerificationCodeValue, code, p.name);
  }
  // Each file a package owns is in its hasFiles; bash's /usr/bin/bash (listed as /bin/bash).
  const bashPkg = debs.find((p) => p.name === 'bash')!;
  const bashFile = doc.files.find((f) => f.fileName === './usr/bin/bash')!;
  assert.ok(bashPkg.hasFiles!.includes(bashFile.SPDXID));

  // Bad usage: one line, exit 2, nothing written.
  for (const [args, re] of [
    [
      ['sbom', '--store', store, receipt, '-o', join(work, 'x.json')],
      /^asl: sbom: --format is required, one of cyclonedx, spdx/,
    ],
    [['sbom', '--store', store, receipt, '--format', 'cyclonedx'], /^asl: sbom: -o FILE is required/],
    [
      ['sbom', '--store', store, receipt, '--format', 'swid', '-o', join(work, 'x.json')],
      /^asl: sbom: unknown --format "swid" \(one of cyclonedx, spdx\)/,
    ],
  ] as const) {
    const r = await runAsl([...args]);
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, re);
    assert.equal(existsSync(join(work, 'x.json')), false);
  }
});
