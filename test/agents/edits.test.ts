import { describe, expect, it } from "vitest";
import { EditError, applyEdits } from "../../src/agents/edits.ts";

const src = "const LR = 0.04;\nconst WD = 0.2;\nconst LR2 = 0.04;\n";
const edit = (search: string, replace: string, file = "train.ts") => ({ file, search, replace });

describe("applyEdits", () => {
  it("applies edits in order, each matching exactly once", () => {
    const out = applyEdits(src, [edit("WD = 0.2", "WD = 0.1"), edit("const WD = 0.1;", "const WD = 0.15;")]);
    expect(out).toBe("const LR = 0.04;\nconst WD = 0.15;\nconst LR2 = 0.04;\n");
  });

  it("accepts ./train.ts", () => {
    expect(applyEdits(src, [edit("WD = 0.2", "WD = 0", "./train.ts")])).toContain("WD = 0;");
  });

  it.each([
    ["another file", [edit("x", "y", "prepare.ts")], "EDIT_WRONG_FILE", /only train.ts may change/],
    ["text not present", [edit("const BETA", "x")], "EDIT_NOT_FOUND", /was not found/],
    ["text present twice", [edit("0.04", "0.05")], "EDIT_AMBIGUOUS", /more than once/],
    ["an empty search", [edit("", "x")], "EDIT_EMPTY", /empty search/],
    ["no edits", [], "EDIT_EMPTY", /no edits/],
  ])("rejects %s", (_name, edits, code, message) => {
    let err: unknown;
    try {
      applyEdits(src, edits);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EditError);
    expect((err as EditError).code).toBe(code);
    expect((err as EditError).message).toMatch(message);
  });

  it("reports which edit failed, leaving the source untouched", () => {
    let err: EditError | undefined;
    try {
      applyEdits(src, [edit("WD = 0.2", "WD = 0.1"), edit("nope", "x")]);
    } catch (e) {
      err = e as EditError;
    }
    expect(err?.index).toBe(1);
    expect(src).toContain("WD = 0.2");
  });
});
