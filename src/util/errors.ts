/**
 * CodedError: the base of every error nightshift raises on purpose — bad input, a missing
 * dataset, a git or store failure — each with a stable `code` and a one-line message that says
 * what to do. The CLI prints these without a stack; anything else is a bug and shows one.
 */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
