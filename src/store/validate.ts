/**
 * Argument checks at the store's boundary: every value is checked in TypeScript before it
 * reaches SQL, so a bad call fails with a StoreError naming the argument, not a constraint
 * violation deep in SQLite (the CHECK constraints are the second line, not the first).
 */
import { invalid } from "./errors.ts";

const COMMIT_HASH = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function checkId(where: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)
    invalid(`${where}: ${name} must be a positive integer id, got ${show(value)}`);
  return value;
}

export function checkCommit(where: string, name: string, value: unknown): string {
  if (typeof value !== "string" || !COMMIT_HASH.test(value))
    invalid(`${where}: ${name} must be a full lowercase hex commit hash, got ${show(value)}`);
  return value;
}

export function checkText(where: string, name: string, value: unknown, { nonEmpty = false } = {}): string {
  if (typeof value !== "string") invalid(`${where}: ${name} must be a string, got ${show(value)}`);
  if (nonEmpty && value.trim() === "") invalid(`${where}: ${name} must not be empty`);
  return value;
}

export function optionalText(where: string, name: string, value: unknown): string | null {
  return value === undefined || value === null ? null : checkText(where, name, value);
}

export function checkCount(where: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    invalid(`${where}: ${name} must be a non-negative integer, got ${show(value)}`);
  return value;
}

export function checkSeed(where: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value))
    invalid(`${where}: seed must be an integer, got ${show(value)}`);
  return value;
}

export function checkAmount(where: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0)
    invalid(`${where}: ${name} must be a finite number >= 0, got ${show(value)}`);
  return value;
}

export function checkOneOf<T extends string>(where: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value))
    invalid(`${where}: ${name} must be one of ${allowed.join(", ")}, got ${show(value)}`);
  return value as T;
}

/** A value as it should appear in an error message: short, one line. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined)
    return String(value);
  return Array.isArray(value) ? "an array" : `a ${typeof value}`;
}
