import { AslError } from '../../core/errors.js';
import type { Command } from '../command.js';

export const command: Command = {
  usage: 'asl sbom --store S TREE|RECEIPT|STEP --format cyclonedx|spdx -o FILE',
  summary: 'Write a CycloneDX 1.6 or SPDX 2.3 JSON SBOM of a stored image.',
  options: { store: { type: 'string' }, format: { type: 'string' }, o: { type: 'string', short: 'o' }, output: { type: 'string' } },
  async run() {
    throw new AslError('UNSUPPORTED', 'sbom: not yet');
  },
};
