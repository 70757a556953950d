/**
 * A receipt as a SLSA Provenance v1 statement (in-toto Statement v1, predicateType
 * https://slsa.dev/provenance/v1). Subjects are the step's product files;
 * externalParameters is what the operator asked for (the command line and its
 * working directory, or the ingested path); internalParameters is what ASL
 * decided or observed (argv, watched roots, environment as recorded, the
 * receipt's own artifact list); resolvedDependencies are the material files and
 * the packages the step downloaded; byproducts are the logs, the exit status and
 * the ASL receipt itself.
 */
import { canonicalBytes } from '../../core/canonical-json.js';
import { digestHex, type Digest } from '../../core/digest.js';
import { STATEMENT_TYPE, type ArtifactRef, type PerCore, type PerRun } from '../types.js';
import type { FileDigests } from './artifact-files.js';
import { rebuildNotExported } from './intoto-link.js';

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** ASL's build types: a command captured by asl capture --cmd, a path taken in by --file. */
const ASL_BUILD_TYPE_COMMAND = 'https://asl.dev/slsa/capture-command/v1';
const ASL_BUILD_TYPE_INGEST = 'https://asl.dev/slsa/capture-file/v1';
/** The builder: ASL's capture, which ran the step and signed what it saw. */
const ASL_BUILDER_ID = 'https://asl.dev/asl-capture';

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  content?: string;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

export interface SlsaProvenance {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters: Record<string, unknown>;
    resolvedDependencies: ResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string; version: Record<string, string> };
    metadata: { invocationId?: string; startedOn: string; finishedOn: string };
    byproducts: ResourceDescriptor[];
  };
}

export interface SlsaStatement {
  _type: typeof STATEMENT_TYPE;
  subject: Array<{ name: string; digest: { sha256: string } }>;
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: SlsaProvenance;
}

function files(map: FileDigests): Array<{ name: string; digest: { sha256: string } }> {
  return [...map.keys()].sort().map((name) => ({ name, digest: { sha256: map.get(name)! } }));
}

function artifactSummary(a: ArtifactRef): Record<string, unknown> {
  return {
    name: a.name,
    role: a.role,
    kind: a.kind,
    digest: a.digest,
    ...(a.path ? { path: a.path } : {}),
    ...(a.package ? { package: a.package } : {}),
  };
}

export function buildSlsaStatement(
  receiptId: Digest,
  core: PerCore,
  coreDigest: Digest,
  run: PerRun,
  materials: FileDigests,
  products: FileDigests,
  pathOf: (hostPath: string) => string,
): SlsaStatement {
  const logs = core.outputs.filter((o) => o.kind === 'log');
  // in-toto requires a subject: a step that wrote no files still has its logs.
  const subject =
    products.size > 0 ? files(products) : logs.map((l) => ({ name: l.name, digest: { sha256: digestHex(l.digest) } }));
  const downloaded: ResourceDescriptor[] = core.inputs
    .filter((i) => i.role === 'downloaded')
    .map((i) => ({
      name: i.path ? pathOf(i.path) : i.name,
      digest: { sha256: digestHex(i.digest) },
      ...(i.kind === 'package' ? { mediaType: 'application/vnd.debian.binary-package' } : {}),
      annotations: { role: 'downloaded', ...(i.package ? { package: i.package } : {}) },
    }));
  const byproducts: ResourceDescriptor[] = logs.map((l) => ({
    name: l.name,
    digest: { sha256: digestHex(l.digest) },
    mediaType: 'text/plain',
  }));
  byproducts.push({
    name: 'asl-receipt',
    digest: { sha256: digestHex(receiptId) },
    mediaType: 'application/vnd.dsse.envelope.v1+json',
    annotations: { predicateType: 'https://asl.dev/per/v1', coreDigest },
  });
  let buildType: string;
  let externalParameters: Record<string, unknown>;
  const internalParameters: Record<string, unknown> = {
    step: core.step,
    aslArtifacts: { inputs: core.inputs.map(artifactSummary), outputs: core.outputs.map(artifactSummary) },
  };
  if (core.kind === 'command') {
    buildType = ASL_BUILD_TYPE_COMMAND;
    externalParameters = { command: core.command.shell, cwd: core.command.cwd };
    Object.assign(internalParameters, {
      argv: core.command.argv,
      environment: core.environment.variables,
      watched: core.watched,
      programs: core.program,
      traced: core.traced,
    });
    byproducts.push({
      name: 'exit-status',
      content: canonicalBytes(core.exit).toString('base64'),
      mediaType: 'application/json',
      annotations: { ...core.exit },
    });
  } else if (core.kind === 'rebuild') {
    throw rebuildNotExported(receiptId);
  } else {
    buildType = ASL_BUILD_TYPE_INGEST;
    externalParameters = { source: core.source.path };
    internalParameters.source = core.source;
  }
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType,
        externalParameters,
        internalParameters,
        resolvedDependencies: [...files(materials), ...downloaded],
      },
      runDetails: {
        builder: { id: ASL_BUILDER_ID, version: { asl: run.asl.version } },
        metadata: {
          ...(run.invocationId ? { invocationId: run.invocationId } : {}),
          startedOn: run.startedOn,
          finishedOn: run.finishedOn,
        },
        byproducts,
      },
    },
  };
}
