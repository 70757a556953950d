import { resolve } from 'node:path';
import { AslError, fsError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/write-file-atomic.js';
import { sbom, SBOM_FORMATS } from '../../graph/sbom.js';
import { STORE_MODES } from '../../store/store-modes.js';
import { STORE_FLAG, boolOpt, requireStore, stringOpt, writeJson, type Command } from '../command.js';
import { formatBytes } from '../progress.js';

const USAGE =
  'asl sbom --store S TREE|RECEIPT|STEP --format cyclonedx|spdx -o FILE   e.g. asl sbom --store work/asl-preimage-store image_root --format cyclonedx -o image.cdx.json';

export const command: Command = {
  usage: USAGE,
  summary:
    'Write the image a tree or receipt records as a CycloneDX 1.6 or SPDX 2.3 JSON SBOM: its Debian packages (purl, .deb sha256), its files (sha256) and the receipts as provenance.',
  options: { store: { type: 'string' }, format: { type: 'string' }, output: { type: 'string', short: 'o' } },
  help: {
    details: [
      'TREE, RECEIPT or STEP as for `asl audit` (the SBOM is built from its audit). Every Debian package with its purl ' +
        "(pkg:deb/debian/NAME@VERSION?arch=ARCH) and its .deb's sha256, every file with its sha256, the receipts as provenance. " +
        'docs/audit-and-sbom.md.',
    ],
    flags: {
      store: STORE_FLAG,
      format: ['FORMAT', 'cyclonedx (CycloneDX 1.6 JSON) or spdx (SPDX 2.3 JSON)'],
      output: ['FILE', 'where the document is written (-o FILE)'],
    },
    examples: [
      'asl sbom --store $PRESTORE image_root --format cyclonedx -o image.cdx.json',
      'asl sbom --store $PRESTORE image_root --format spdx -o image.spdx.json',
    ],
  },
  async run(args, io) {
    const format = stringOpt(args, 'format');
    const out = stringOpt(args, 'output');
    if (!format)
      throw new AslError('USAGE', `sbom: --format is required, one of ${SBOM_FORMATS.join(', ')} (usage: ${USAGE})`);
    if (!out) throw new AslError('USAGE', `sbom: -o FILE is required (usage: ${USAGE})`);
    if (args.positionals.length !== 1)
      throw new AslError('USAGE', `sbom: expected one TREE, RECEIPT or STEP (usage: ${USAGE})`);
    const store = await requireStore(args, 'sbom');
    const { document, audit } = await sbom(store, args.positionals[0]!, format);
    const bytes = Buffer.from(`${JSON.stringify(document, null, 1)}\n`);
    const path = resolve(out);
    try {
      await writeFileAtomic(path, bytes, { durable: 'file', mode: STORE_MODES.file });
    } catch (err) {
      throw fsError(path, err, 'cannot write');
    }
    const s = audit.summary;
    const packages = audit.packages.filter((p) => p.listed).length;
    if (boolOpt(args, 'json'))
      writeJson(io, {
        format,
        file: path,
        bytes: bytes.length,
        tree: audit.target.tree,
        packages,
        files: s.files,
        unattributed: s.unattributed,
      });
    else
      io.stdout.write(
        `${path}: ${format} SBOM, ${formatBytes(bytes.length)}: ${packages} packages, ${s.files} files (${s.unattributed} unattributed) of tree ${audit.target.tree}\n`,
      );
    return 0;
  },
};
