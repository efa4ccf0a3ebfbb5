/**
 * Argument checks shared by the engine's TypeScript face: they run before any native call so
 * that a wrong type or an unknown option is reported by name, with a suggestion.
 */
import { EngineError } from "./errors.ts";
import { unknownOption } from "../util/suggest.ts";
import { Tensor } from "./tensor.ts";

export function invalid(message: string): never {
  throw new EngineError("INVALID_ARGUMENT", message);
}

export function assertTensor(op: string, what: string, v: unknown): asserts v is Tensor {
  if (!(v instanceof Tensor)) invalid(`${op}: ${what} must be a Tensor, got ${describe(v)}`);
}

export function assertInt(op: string, what: string, v: unknown): asserts v is number {
  if (typeof v !== "number" || !Number.isInteger(v)) invalid(`${op}: ${what} must be an integer, got ${describe(v)}`);
}

export function assertFinite(op: string, what: string, v: unknown): asserts v is number {
  if (typeof v !== "number" || !Number.isFinite(v)) invalid(`${op}: ${what} must be a finite number, got ${describe(v)}`);
}

export function assertShape(op: string, shape: unknown): asserts shape is number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= -1))
    invalid(`${op}: shape must be an array of non-negative integers, got ${describe(shape)}`);
}

/** Rejects option keys the op does not know, suggesting the closest known one. */
export function checkOptions(op: string, options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null) invalid(`${op}: options must be an object`);
  const problem = unknownOption(options, known);
  if (problem) invalid(`${op}: ${problem}`);
}

export function describe(v: unknown): string {
  if (v instanceof Tensor) return v.toString();
  if (Array.isArray(v)) return `[${v.map(describe).join(", ")}]`;
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}
