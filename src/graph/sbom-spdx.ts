/**
 * An SPDX 2.3 JSON document of an audited image (docs/audit-and-sbom.md): the image as
 * an OPERATING_SYSTEM package, every Debian package dpkg lists (purl, the recorded
 * .deb's SHA-256 as the package checksum, its files with the verification code SPDX
 * derives from their SHA-1s), every regular file (SHA-1, which SPDX 2.3 requires, and
 * SHA-256), the image CONTAINS relationships, and the receipts the image came from as
 * external references of the image package.
 */
import { createHash } from 'node:crypto';
import { VERSION } from '../version.js';
import type { AuditEntry, AuditResult } from './audit.js';
import { debPurl } from './deb-purl.js';
import { slsaExportName, type SbomContext } from './sbom-context.js';

type Json = Record<string, unknown>;

const hex = (d: string) => d.slice(7);
const spdxId = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-');

/** SPDX wants seconds, no fraction: 2024-05-01T12:00:00Z. */
function spdxTime(rfc3339: string): string {
  return new Date(rfc3339).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** SPDX 2.3 section 7.9: SHA-1 over the sorted, concatenated SHA-1s (hex) of the package's files. */
function packageVerificationCode(sha1s: readonly string[]): string {
  return createHash('sha1')
    .update([...sha1s].sort().join(''))
    .digest('hex');
}

export function spdxDocument(result: AuditResult, ctx: SbomContext): Json {
  const t = result.target;
  const files = result.entries.filter(
    (e): e is AuditEntry & { digest: string; sha1: string } =>
      e.type === 'file' && e.digest !== undefined && e.sha1 !== undefined,
  );
  const fileIds = new Map<AuditEntry, string>(files.map((e, i) => [e, `SPDXRef-File-${i + 1}`]));
  const filesOf = new Map<string, typeof files>();
  for (const e of files) {
    if (!e.package) continue;
    const key = `${e.package.name}\0${e.package.architecture ?? ''}`;
    const list = filesOf.get(key);
    if (list) list.push(e);
    else filesOf.set(key, [e]);
  }
  const supplier = `Organization: ${ctx.os.name ?? ctx.os.id}`;
  const packages: Json[] = [];
  const relationships: Json[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Image' },
  ];
  result.packages
    .filter((p) => p.listed)
    .forEach((p, i) => {
      const id = `SPDXRef-Package-deb-${i + 1}-${spdxId(p.name)}${p.architecture ? `-${spdxId(p.architecture)}` : ''}`;
      const own = filesOf.get(`${p.name}\0${p.architecture ?? ''}`) ?? [];
      const debFile = p.deb?.path ? p.deb.path.slice(p.deb.path.lastIndexOf('/') + 1) : undefined;
      packages.push({
        SPDXID: id,
        name: p.name,
        ...(p.version ? { versionInfo: p.version } : {}),
        ...(debFile ? { packageFileName: debFile } : {}),
        supplier,
        downloadLocation: 'NOASSERTION',
        filesAnalyzed: own.length > 0,
        ...(own.length > 0
          ? {
              packageVerificationCode: {
                packageVerificationCodeValue: packageVerificationCode(own.map((e) => e.sha1)),
              },
              hasFiles: own.map((e) => fileIds.get(e)!),
            }
          : {}),
        ...(p.deb ? { checksums: [{ algorithm: 'SHA256', checksumValue: hex(p.deb.digest) }] } : {}),
        ...(p.homepage && /^https?:\/\//.test(p.homepage) ? { homepage: p.homepage } : {}),
        ...(p.source ? { sourceInfo: `built from Debian source package ${p.source}` } : {}),
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        copyrightText: 'NOASSERTION',
        ...(p.summary ? { summary: p.summary } : {}),
        comment: p.deb
          ? `.deb ${p.deb.digest} (${p.deb.name}) recorded as downloaded by ASL receipt #${p.deb.seq} ${p.deb.step} ${p.deb.receipt}; dpkg status: ${p.status ?? 'unknown'}`
          : `no receipt recorded this package's .deb; dpkg status: ${p.status ?? 'unknown'}`,
        externalRefs: [
          {
            referenceCategory: 'PACKAGE-MANAGER',
            referenceType: 'purl',
            referenceLocator: debPurl(
              { name: p.name, version: p.version ?? '', ...(p.architecture ? { architecture: p.architecture } : {}) },
              ctx.os.id,
            ),
          },
        ],
      });
      relationships.push({ spdxElementId: 'SPDXRef-Image', relationshipType: 'CONTAINS', relatedSpdxElement: id });
    });
  for (const e of files)
    if (!e.package)
      relationships.push({
        spdxElementId: 'SPDXRef-Image',
        relationshipType: 'CONTAINS',
        relatedSpdxElement: fileIds.get(e)!,
      });

  const s = result.summary;
  const image: Json = {
    SPDXID: 'SPDXRef-Image',
    name: ctx.os.prettyName ?? ctx.os.name ?? ctx.os.id,
    ...(ctx.os.versionId ? { versionInfo: ctx.os.versionId } : {}),
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'OPERATING_SYSTEM', // the JSON schema's spelling (the spec's text says OPERATING-SYSTEM)
    comment: `ASL tree ${t.tree}${t.receipt ? `, ${t.receipt.as} ${t.root ?? ''} of receipt #${t.receipt.seq} ${t.receipt.step} ${t.receipt.receipt}` : ''}; audit: ${s.files} files, ${s.package} package, ${s.control} control, ${s.ingested} ingested, ${s.generated} generated, ${s.unattributed} unattributed, ${s.differs} differ from their package`,
    externalRefs: ctx.receipts.flatMap((r) => [
      {
        referenceCategory: 'OTHER',
        referenceType: 'asl-receipt',
        referenceLocator: r.receipt,
        comment: `ASL receipt #${r.seq} ${r.step}: an in-toto Statement v1 in a DSSE envelope, signed`,
      },
      {
        referenceCategory: 'OTHER',
        referenceType: 'slsa-provenance',
        referenceLocator: slsaExportName(r),
        comment: `SLSA Provenance v1 of receipt #${r.seq} ${r.step}, as asl export --format slsa names it`,
      },
    ]),
  };
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${ctx.os.prettyName ?? ctx.os.id} image ${t.tree.slice(0, 19)}`,
    documentNamespace: `https://asl.dev/spdx/${hex(t.tree)}-${ctx.uuid}`,
    creationInfo: { created: spdxTime(ctx.recordedOn), creators: [`Tool: asl-${VERSION}`] },
    packages: [image, ...packages],
    files: files.map((e) => ({
      SPDXID: fileIds.get(e)!,
      fileName: `./${e.path}`,
      checksums: [
        { algorithm: 'SHA1', checksumValue: e.sha1 },
        { algorithm: 'SHA256', checksumValue: hex(e.digest) },
      ],
      comment: `asl: ${e.class}${e.step ? `, written by #${e.step.seq} ${e.step.step}` : ''}${e.package && e.package.check !== 'match' ? `, dpkg check ${e.package.check}` : ''}`,
    })),
    relationships,
  };
}
