/**
 * EngineError: every failure of the engine — a bad shape, a wrong dtype, a disposed tensor,
 * a native kernel's own check — surfaces as this class with a stable `code`.
 */
import { CodedError } from "../util/errors.ts";
export type EngineErrorCode =
  | "INVALID_ARGUMENT" // a shape, dtype or option the op cannot accept
  | "DISPOSED" // a tensor used after dispose() or after its scope ended
  | "GRAPH_FREED" // backward() through a graph an earlier backward() released
  | "OUT_OF_MEMORY"
  | "NOT_BUILT" // the native addon is missing
  | "NATIVE"; // any other error raised by a native kernel

export class EngineError extends CodedError<EngineErrorCode> {}

/** Classifies an error thrown by the addon (whose message already names the op and shapes). */
export function fromNativeError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const message = err instanceof Error ? err.message : String(err);
  let code: EngineErrorCode = "NATIVE";
  if (/disposed/.test(message)) code = "DISPOSED";
  else if (/already freed/.test(message)) code = "GRAPH_FREED";
  else if (/out of memory/.test(message)) code = "OUT_OF_MEMORY";
  else if (/must|expected|mismatch|incompatible|out of range|out of bounds|cannot|invalid|needs/.test(message))
    code = "INVALID_ARGUMENT";
  return new EngineError(code, message, { cause: err });
}
