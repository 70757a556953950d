/**
 * `asl sbom`: the image a tree (or a receipt's root) is, as an SBOM that auditors'
 * tools read (Dependency-Track, GUAC, grype): CycloneDX 1.6 JSON or SPDX 2.3 JSON.
 * Built from one audit (audit.ts) with SHA-1s computed alongside, so the package
 * list is the tree's own dpkg database, each file has its digests and its class,
 * and the receipts are the provenance. Deterministic: the same tree and receipt
 * give the same bytes.
 */
import { AslError } from '../core/errors.js';
import type { Store } from '../store/store.js';
import { audit, type AuditResult } from './audit.js';
import { cyclonedxBom } from './sbom-cyclonedx.js';
import { sbomContext } from './sbom-context.js';
import { spdxDocument } from './sbom-spdx.js';

export const SBOM_FORMATS = ['cyclonedx', 'spdx'] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

export interface SbomResult {
  format: SbomFormat;
  document: Record<string, unknown>;
  audit: AuditResult;
}

export async function sbom(store: Store, target: string, format: string): Promise<SbomResult> {
  if (!(SBOM_FORMATS as readonly string[]).includes(format)) {
    throw new AslError('USAGE', `sbom: unknown --format ${JSON.stringify(format)} (one of ${SBOM_FORMATS.join(', ')})`);
  }
  const result = await audit(store, target, { hashes: true });
  const ctx = await sbomContext(store, result);
  const document = format === 'cyclonedx' ? cyclonedxBom(result, ctx) : spdxDocument(result, ctx);
  return { format: format as SbomFormat, document, audit: result };
}
