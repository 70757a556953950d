/** What `asl-capture --cmd` is asked to do (captureCommand's options, read by each of its stages). */
export interface CommandCaptureOptions {
  cmd: string;
  /** The command's exact bytes when they are not UTF-8 (`cmd` then holds U+FFFD in their place): run and recorded as given. */
  cmdBytes?: Buffer;
  outdir: string;
  name?: string;
  artifactInputs?: string[];
  inputs?: string[];
  outputs?: string[];
  watch?: string[];
  /** Watch paths named on the command line and the working directory (default true). */
  autoWatch?: boolean;
  /** Run under strace and record files read outside the watched roots. */
  trace?: boolean;
  /** With trace: store the bytes of every observed file, packaged ones too (default false). */
  keepObserved?: boolean;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Where the command's output is streamed live (the terminal). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Progress and notices ("watching …") for the user. */
  onInfo?: (line: string) => void;
}
