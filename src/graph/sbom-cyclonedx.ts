/**
 * A CycloneDX 1.6 JSON BOM of an audited image (docs/audit-and-sbom.md): the image
 * as the `operating-system` component of the metadata, every Debian package dpkg
 * lists as a component (purl, the recorded .deb's SHA-256), each with the files it
 * installed as nested `file` components (SHA-256 and SHA-1), the files no package
 * lists at the top level, and the receipts the image came from as `attestation`
 * references of the image (the ASL receipt itself by its digest, and the SLSA
 * Provenance `asl export` writes of it).
 */
import { VERSION } from '../version.js';
import type { AuditEntry, AuditResult } from './audit.js';
import { debPurl } from './deb-purl.js';
import { slsaExportName, type SbomContext } from './sbom-context.js';

type Json = Record<string, unknown>;

const hex = (d: string) => d.slice(7);

function prop(name: string, value: string | number): Json {
  return { name, value: String(value) };
}

function fileComponent(e: AuditEntry): Json {
  return {
    type: 'file',
    'bom-ref': `file:${e.path}`,
    name: `/${e.path}`,
    hashes: [{ alg: 'SHA-256', content: hex(e.digest!) }, ...(e.sha1 ? [{ alg: 'SHA-1', content: e.sha1 }] : [])],
    properties: [
      prop('asl:class', e.class),
      ...(e.step ? [prop('asl:step', `#${e.step.seq} ${e.step.step}`), prop('asl:receipt', e.step.receipt)] : []),
      ...(e.package && e.package.check !== 'match' ? [prop('asl:dpkg:check', e.package.check)] : []),
    ],
  };
}

export function cyclonedxBom(result: AuditResult, ctx: SbomContext): Json {
  const t = result.target;
  const filesOf = new Map<string, AuditEntry[]>();
  const unowned: AuditEntry[] = [];
  for (const e of result.entries) {
    if (e.type !== 'file') continue;
    if (e.package) {
      const key = `${e.package.name}\0${e.package.architecture ?? ''}`;
      const list = filesOf.get(key);
      if (list) list.push(e);
      else filesOf.set(key, [e]);
    } else unowned.push(e);
  }
  const packages = result.packages
    .filter((p) => p.listed)
    .map((p) => {
      const purl = debPurl(
        { name: p.name, version: p.version ?? '', ...(p.architecture ? { architecture: p.architecture } : {}) },
        ctx.os.id,
      );
      const files = filesOf.get(`${p.name}\0${p.architecture ?? ''}`) ?? [];
      return {
        type: 'library',
        'bom-ref': purl,
        ...(p.maintainer ? { publisher: p.maintainer } : {}),
        name: p.name,
        ...(p.version ? { version: p.version } : {}),
        ...(p.summary ? { description: p.summary } : {}),
        ...(p.deb ? { hashes: [{ alg: 'SHA-256', content: hex(p.deb.digest) }] } : {}),
        purl,
        ...(p.homepage && /^https?:\/\//.test(p.homepage)
          ? { externalReferences: [{ type: 'website', url: p.homepage }] }
          : {}),
        properties: [
          ...(p.status ? [prop('asl:dpkg:status', p.status)] : []),
          ...(p.source ? [prop('asl:dpkg:source', p.source)] : []),
          ...(p.deb
            ? [
                prop('asl:deb', p.deb.digest),
                prop('asl:deb:name', p.deb.name),
                prop('asl:deb:receipt', p.deb.receipt),
                prop('asl:deb:step', `#${p.deb.seq} ${p.deb.step}`),
              ]
            : [prop('asl:deb', 'not recorded')]),
          prop('asl:files', p.files),
          prop('asl:files:differ', p.differs),
        ],
        ...(files.length > 0 ? { components: files.map(fileComponent) } : {}),
      };
    });
  const s = result.summary;
  const attestations = ctx.receipts.flatMap((r) => [
    {
      type: 'attestation',
      url: r.receipt,
      comment: `ASL receipt #${r.seq} ${r.step}: an in-toto Statement v1 (predicate https://asl.dev/per/v1) in a DSSE envelope, signed; \`asl show --store STORE ${r.receipt}\``,
      hashes: [{ alg: 'SHA-256', content: hex(r.receipt) }],
    },
    {
      type: 'attestation',
      url: slsaExportName(r),
      comment: `SLSA Provenance v1 of receipt #${r.seq} ${r.step} as \`asl export --store STORE --format slsa -o DIR ${r.receipt}\` writes it`,
    },
  ]);
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${ctx.uuid}`,
    version: 1,
    metadata: {
      timestamp: ctx.recordedOn,
      tools: { components: [{ type: 'application', name: 'asl', version: VERSION }] },
      component: {
        type: 'operating-system',
        'bom-ref': 'image',
        name: ctx.os.id,
        ...(ctx.os.versionId ? { version: ctx.os.versionId } : {}),
        description: `${ctx.os.prettyName ?? ctx.os.name ?? ctx.os.id} image, ASL tree ${t.tree}${t.receipt ? ` (${t.receipt.as} ${t.root ?? ''} of receipt #${t.receipt.seq} ${t.receipt.step})` : ''}`,
        externalReferences: attestations,
        properties: [
          prop('asl:tree', t.tree),
          ...(t.receipt
            ? [prop('asl:receipt', t.receipt.receipt), prop('asl:step', `#${t.receipt.seq} ${t.receipt.step}`)]
            : []),
          ...(t.root ? [prop('asl:root', t.root)] : []),
          prop('asl:audit:files', s.files),
          prop('asl:audit:package', s.package),
          prop('asl:audit:control', s.control),
          prop('asl:audit:ingested', s.ingested),
          prop('asl:audit:generated', s.generated),
          prop('asl:audit:unattributed', s.unattributed),
          prop('asl:audit:differs', s.differs),
        ],
      },
    },
    components: [...packages, ...unowned.map(fileComponent)],
  };
}
