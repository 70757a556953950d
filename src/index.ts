/**
 * ASL's public library API (the seed's "libasl-capture"). The CLI is a thin layer
 * over these functions: each command parses its flags, calls one of them and prints
 * the result. The README has an example.
 */
export { VERSION } from './version.js';
export { AslError, type AslErrorCode } from './core/errors.js';
export { digestBytes, isDigest, shortDigest, type Digest } from './core/digest.js';
export { canonicalize, canonicalBytes } from './core/canonical-json.js';
export { preAuthEncoding, type DsseEnvelope, type DsseSignature } from './core/dsse.js';

// Layer 2: the store.
export { initStore, openStore, type Store, type InitResult } from './store/store.js';
export { putPath } from './store/put.js';
export { ObjectBatch, writeObject, objectExists } from './store/object-batch.js';
export { readObject, openObjectStream } from './store/object-read.js';
export { snapshot, type SnapshotOptions, type SnapshotResult } from './store/snapshot.js';
export { restore, type RestoreOptions, type RestoreResult } from './store/restore.js';
export { readTree, resolveTreePath } from './store/tree-lookup.js';
export { diffTrees, type TreeChange } from './store/tree-diff.js';
export { encodeTree, decodeTree, type Tree, type TreeEntry } from './store/tree-model.js';
export { verifyStore, type VerifyReport, type VerifyProblem } from './store/verify.js';
export { withLock } from './store/lock.js';

// Layer 3: receipts, their log and the keys they are checked against.
export { readReceiptLog, verifyLog, appendReceiptLog } from './receipt/receipt-log.js';
export { listTrustedKeys, loadTrustedKeys, trustKey, exportPublicKey } from './receipt/trusted-keys.js';
export * from './receipt/types.js';
export { buildStatement, coreDigest } from './receipt/statement.js';
export { signStatement, storeSigner, keySigner, type Signer } from './receipt/sign.js';
export { verifyEnvelope, ReceiptVerifyError } from './receipt/verify.js';
export { writeReceipt, readReceipt, listReceipts } from './receipt/store-receipt.js';
export { verifyStoreFully, referencedArtifacts } from './receipt/verify-receipts.js';
export {
  exportReceipts,
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportOptions,
  type ExportResult,
} from './receipt/export/export.js';
export {
  buildLink,
  signLink,
  sslibPublicKey,
  linkFileName,
  type InTotoLink,
  type LinkMetablock,
} from './receipt/export/intoto-link.js';
export { buildSlsaStatement, SLSA_PROVENANCE_V1, type SlsaStatement } from './receipt/export/slsa.js';
export { olpcCanonicalize } from './core/olpc-canonical-json.js';

// Layer 4: capture.
export { captureCommand, type CommandCaptureOptions } from './capture/capture-command.js';
export { captureFile, type FileCaptureOptions, type CaptureResult } from './capture/capture-file.js';

// Layer 5: queries.
export { receiptHistory, type HistoryItem } from './graph/log.js';
export {
  why,
  type WhyResult,
  type WhyStep,
  type WhyOwner,
  type WhyStart,
  type WhyChangeKind,
  type TreeFrom,
  type HostPathMatch,
  type DebMatch,
} from './graph/why.js';
export { renderDag, formatOfPath, DAG_FORMATS, type DagFormat, type DagOptions, type DagResult } from './graph/dag.js';
export {
  audit,
  auditEntries,
  type AuditSink,
  type AuditReport,
  type AuditResult,
  type AuditOptions,
  type AuditEntry,
  type AuditPackage,
  type AuditSummary,
  type AuditTarget,
  type AuditClass,
  type StepRef,
} from './graph/audit.js';
export { sbom, SBOM_FORMATS, type SbomFormat, type SbomResult } from './graph/sbom.js';

// Layer 6: seeding an image's store, bundles across an air gap (docs/transfer.md).
export { seedStore, type SeedOptions, type SeedResult } from './transfer/seed.js';
export {
  exportBundle,
  type ExportOptions as BundleExportOptions,
  type ExportResult as BundleExportResult,
} from './transfer/bundle-export.js';
export {
  importBundle,
  type ImportOptions as BundleImportOptions,
  type ImportResult as BundleImportResult,
} from './transfer/bundle-import.js';

// Layer 6: sharing history through an OCI registry (docs/registry.md).
export { pushClosure, type PushOptions, type PushResult, type RegistryOptions } from './transfer/oci-push.js';
export { pullClosure, type PullOptions, type PullResult } from './transfer/oci-pull.js';
export { parseOciReference, formatOciReference, type OciReference } from './transfer/oci-reference.js';
export { resolveCredentials, dockerConfigPath } from './transfer/oci-credentials.js';
export type { Credentials } from './transfer/oci-client.js';
