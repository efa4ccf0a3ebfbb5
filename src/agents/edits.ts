/**
 * Applying an agent's search/replace edits: each `search` must occur exactly once in the file
 * as it stands when the edit is applied (edits apply in order), and only train.ts may be
 * edited. Anything else is an EditError the loop records and may send back to the agent.
 */
import type { SearchReplaceEdit } from "./types.ts";
import { CodedError } from "../util/errors.ts";

export type EditErrorCode = "EDIT_WRONG_FILE" | "EDIT_NOT_FOUND" | "EDIT_AMBIGUOUS" | "EDIT_EMPTY";

export class EditError extends CodedError<EditErrorCode> {
  /** Index of the failing edit in the proposal. */
  readonly index: number;
  constructor(code: EditErrorCode, index: number, message: string) {
    super(code, message);
    this.index = index;
  }
}

export const EDITABLE_FILE = "train.ts";

export function applyEdits(source: string, edits: readonly SearchReplaceEdit[]): string {
  if (edits.length === 0) throw new EditError("EDIT_EMPTY", -1, "the proposal has no edits");
  let text = source;
  edits.forEach((edit, i) => {
    const file = edit.file.replace(/^\.\//, "");
    if (file !== EDITABLE_FILE)
      throw new EditError("EDIT_WRONG_FILE", i, `edit ${i + 1} targets '${edit.file}'; only ${EDITABLE_FILE} may change`);
    if (edit.search.length === 0) throw new EditError("EDIT_EMPTY", i, `edit ${i + 1} has an empty search string`);
    const at = text.indexOf(edit.search);
    if (at < 0)
      throw new EditError(
        "EDIT_NOT_FOUND",
        i,
        `edit ${i + 1}: the search text was not found in ${EDITABLE_FILE} (it must match exactly, whitespace included): ${preview(edit.search)}`,
      );
    if (text.indexOf(edit.search, at + 1) >= 0)
      throw new EditError(
        "EDIT_AMBIGUOUS",
        i,
        `edit ${i + 1}: the search text occurs more than once in ${EDITABLE_FILE}; include more context: ${preview(edit.search)}`,
      );
    text = text.slice(0, at) + edit.replace + text.slice(at + edit.search.length);
  });
  return text;
}

function preview(s: string): string {
  const line = s.split("\n")[0]!;
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line);
}
