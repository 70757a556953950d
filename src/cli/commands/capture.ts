import { AslError } from '../../core/errors.js';
import { captureCommand } from '../../capture/capture-command.js';
import { captureFile, type CaptureResult } from '../../capture/capture-file.js';
import { openStore } from '../../store/store.js';
import { rawOptionBytes } from '../raw-argv.js';
import { boolOpt, listOpt, stringOpt, storeDirOpt, writeJson, STORE_FLAG, type Command } from '../command.js';

export const command: Command = {
  usage:
    'asl capture --store S (--cmd "STRING" | --file PATH) --outdir DIR [--name STEP] [--artifact-inputs PATH]... [--input PATH]... [--output PATH]... [--watch PATH]... [--no-auto-watch] [--trace [--keep-observed]] [--json]   (alias: asl-capture)',
  summary:
    "Run a command (or ingest a file) and record its inputs, outputs, logs and environment as artifacts with a signed receipt (PER). Exits with the command's status (128+N for signal N).",
  options: {
    store: { type: 'string' },
    cmd: { type: 'string' },
    file: { type: 'string' },
    outdir: { type: 'string' },
    name: { type: 'string' },
    'artifact-inputs': { type: 'string', multiple: true },
    input: { type: 'string', multiple: true },
    output: { type: 'string', multiple: true },
    watch: { type: 'string', multiple: true },
    'no-auto-watch': { type: 'boolean' },
    trace: { type: 'boolean' },
    'keep-observed': { type: 'boolean' },
  },
  help: {
    details: [
      'What is watched: a watched root is snapshotted before and after the run and the difference recorded. Watched automatically ' +
        'are only the paths named on the command line (arguments, redirection targets, NAME=PATH values; inside `chroot R`, ' +
        'relative to R) and the working directory, unless it is / or a system directory (its parent for dpkg-buildpackage, which ' +
        'writes the .deb there). Paths the command computes at run time outside those are not seen: name them with --watch (or use ' +
        '--trace for reads). Never watched: / and the system directories themselves, /proc /sys /dev /run, the home directory, the ' +
        'programs run, the store and the outdir (docs/capture-rules.md).',
      'Outputs: the files a step wrote in a watched root are listed one by one as products (up to 64 per root; a .deb it built is a ' +
        "product of kind package, one in apt's archive cache a downloaded input). A capture that records no output besides its logs " +
        'prints a warning.',
      'Inputs: --input PATH snapshots PATH before the run as a declared input. --artifact-inputs PATH does the same and also takes ' +
        "every receipt envelope found in it (per.dsse.json, NAME.per.dsse.json) as a receipt input: that is how the seed's build " +
        'step, given $PRESTORE/per, links to the steps before it. --watch PATH adds a root snapshotted before and after; ' +
        '--output PATH records PATH after the run as a declared output.',
    ],
    flags: {
      store: STORE_FLAG,
      cmd: ['STRING', 'the command line, run by /bin/sh -c; quote it as one argument'],
      file: ['PATH', 'ingest a file or directory instead of running a command (a receipt of kind ingest)'],
      outdir: [
        'DIR',
        'where the receipt (per.json, per.dsse.json) and stdout.log, stderr.log are written, e.g. $PRESTORE/per/STEP',
      ],
      name: ['STEP', 'the step name (default: the last component of --outdir)'],
      'artifact-inputs': [
        'PATH',
        'a declared input as --input, and every receipt envelope in it becomes a receipt input linking this step to the step that made it',
      ],
      input: [
        'PATH',
        'snapshot PATH before the run and record it as a declared input; what the run changes in it is not recorded',
      ],
      output: ['PATH', 'snapshot PATH after the run and record it as a declared output'],
      watch: ['PATH', 'add a watched root: snapshotted before and after the run, the difference recorded'],
      'no-auto-watch':
        'turn off the automatic roots (the paths on the command line, the working directory): only --watch roots are watched',
      trace:
        "follow the command with strace and record every file it read as an input (Debian package strace; slower): files a package ships unchanged as that package, dpkg's database summed up, the rest with their bytes",
      'keep-observed': 'with --trace, store the bytes of every file read, packaged ones too',
    },
    examples: [
      'asl capture --store $PRESTORE --cmd "debootstrap --arch=amd64 bookworm $ISO_ROOT $MIRROR" --outdir $PRESTORE/per/debootstrap',
      'asl capture --store $PRESTORE --cmd "./build_asl_auth_host_iso.sh" --artifact-inputs $PRESTORE/per --outdir $PRESTORE/per/build_iso',
      'asl capture --store $PRESTORE --file overlay/etc/motd --outdir $PRESTORE/per/overlay',
    ],
  },
  async run(args, io) {
    const storeDir = storeDirOpt(args);
    const cmd = stringOpt(args, 'cmd');
    const file = stringOpt(args, 'file');
    const outdir = stringOpt(args, 'outdir');
    const name = stringOpt(args, 'name');
    if (!storeDir) throw new AslError('USAGE', 'capture: --store S is required');
    if (!outdir) throw new AslError('USAGE', 'capture: --outdir DIR is required');
    if ((cmd === undefined) === (file === undefined))
      throw new AslError('USAGE', 'capture: give exactly one of --cmd "STRING" or --file PATH');
    if (args.positionals.length > 0)
      throw new AslError(
        'USAGE',
        `capture: unexpected argument "${args.positionals[0]}" (quote the command: --cmd "…")`,
      );
    if (cmd !== undefined && cmd.trim() === '') throw new AslError('USAGE', 'capture: --cmd is empty');
    const store = await openStore(storeDir);
    const json = boolOpt(args, 'json');
    if (boolOpt(args, 'keep-observed') && !boolOpt(args, 'trace'))
      throw new AslError('USAGE', 'capture: --keep-observed applies to --trace');
    let result: CaptureResult;
    if (file !== undefined) {
      for (const flag of ['artifact-inputs', 'input', 'output', 'watch', 'trace', 'keep-observed']) {
        if (args.values[flag] !== undefined)
          throw new AslError('USAGE', `capture: --${flag} applies to --cmd, not --file`);
      }
      result = await captureFile(store, { file, outdir, ...(name ? { name } : {}) });
    } else {
      const cmdBytes = rawOptionBytes('cmd', cmd!);
      result = await captureCommand(store, {
        cmd: cmd!,
        ...(cmdBytes ? { cmdBytes } : {}),
        outdir,
        ...(name ? { name } : {}),
        artifactInputs: listOpt(args, 'artifact-inputs'),
        inputs: listOpt(args, 'input'),
        outputs: listOpt(args, 'output'),
        watch: listOpt(args, 'watch'),
        autoWatch: !boolOpt(args, 'no-auto-watch'),
        trace: boolOpt(args, 'trace'),
        keepObserved: boolOpt(args, 'keep-observed'),
        stdout: io.stdout,
        stderr: io.stderr,
        onInfo: (line) => io.stderr.write(`asl-capture: ${line}\n`),
      });
    }
    const core = result.statement.predicate.core;
    if (json) {
      writeJson(io, {
        receipt: result.receiptId,
        step: core.step,
        kind: core.kind,
        exitCode: result.exitCode,
        coreDigest: result.statement.predicate.coreDigest,
        files: result.files,
      });
    } else {
      io.stderr.write(
        `asl-capture: step ${core.step}: ${core.kind === 'command' ? `exit ${result.exitCode}, ` : ''}${core.inputs.length} inputs, ${core.outputs.length} outputs, receipt ${result.receiptId}\n`,
      );
    }
    return result.exitCode;
  },
};
