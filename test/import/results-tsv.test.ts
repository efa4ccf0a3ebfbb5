/**
 * results.tsv as autoresearch writes it is read row by row; anything else is refused with the
 * file, the line and what was expected, never guessed at.
 */
import { describe, expect, it } from "vitest";
import { parseResultsTsv } from "../../src/import/results-tsv.ts";

const HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription";
const file = (...rows: string[]) => `${HEADER}\n${rows.join("\n")}\n`;

describe("parseResultsTsv", () => {
  it("reads autoresearch's rows with their line numbers", () => {
    const rows = parseResultsTsv(
      file("a1b2c3d\t0.997900\t44.0\tkeep\tbaseline", "B2C3D4E\t0.993200\t44.2\tkeep\tincrease LR to 0.04", "c3d4e5f\t0.000000\t0.0\tcrash\tdouble model width (OOM)"),
      "results.tsv",
    );
    expect(rows).toEqual([
      { line: 2, commit: "a1b2c3d", valBpb: 0.9979, memoryGb: 44, status: "keep", description: "baseline" },
      { line: 3, commit: "b2c3d4e", valBpb: 0.9932, memoryGb: 44.2, status: "keep", description: "increase LR to 0.04" },
      { line: 4, commit: "c3d4e5f", valBpb: 0, memoryGb: 0, status: "crash", description: "double model width (OOM)" },
    ]);
  });

  it("takes Windows line ends, a byte-order mark and an empty description", () => {
    const text = `\uFEFF${HEADER}\r\na1b2c3d\t0.997900\t44.0\tkeep\t\r\n`;
    expect(parseResultsTsv(text, "r.tsv")).toEqual([{ line: 2, commit: "a1b2c3d", valBpb: 0.9979, memoryGb: 44, status: "keep", description: "" }]);
  });

  it.each([
    ["an empty file", "", /^r\.tsv:1: the file is empty/],
    ["another header", "commit,val_bpb,memory_gb,status,description\n", /^r\.tsv:1: the header must be commit, val_bpb, memory_gb, status, description/],
    ["a header alone", `${HEADER}\n`, /^r\.tsv:1: the file has a header but no rows/],
    ["a missing field", file("a1b2c3d\t0.99\tkeep\tbaseline"), /^r\.tsv:2: 4 tab-separated fields, expected 5/],
    ["a tab in a description", file("a1b2c3d\t0.99\t1.0\tkeep\tbase\tline"), /^r\.tsv:2: 6 tab-separated fields, expected 5 .*a tab inside the description\?/],
    ["a short hash", file("a1b2c3d\t0.99\t1.0\tkeep\tbaseline", "a1b2\t0.99\t1.0\tdiscard\tx"), /^r\.tsv:3: commit "a1b2" is not a commit hash/],
    ["an unknown status", file("a1b2c3d\t0.99\t1.0\tkept\tbaseline"), /^r\.tsv:2: status "kept" is not one of keep, discard, crash/],
    ["a bpb that is no number", file("a1b2c3d\tnan\t1.0\tkeep\tbaseline"), /^r\.tsv:2: val_bpb "nan" is not a plain non-negative decimal number/],
    ["a negative memory", file("a1b2c3d\t0.99\t-1.0\tkeep\tbaseline"), /^r\.tsv:2: memory_gb "-1.0" is not a plain non-negative decimal/],
    ["a keep without a result", file("a1b2c3d\t0.99\t1.0\tkeep\tbaseline", "b1b2c3d\t0.000000\t0.0\tkeep\tx"), /^r\.tsv:3: a keep with val_bpb 0\.000000: that is what autoresearch writes for a crash/],
    ["a blank line among the rows", `${HEADER}\na1b2c3d\t0.99\t1.0\tkeep\tbaseline\n\nb1b2c3d\t0.98\t1.0\tkeep\tx\n`, /^r\.tsv:3: an empty line among the rows/],
    ["NUL bytes", `${HEADER}\n\0\0`, /^r\.tsv:1: the file holds NUL bytes/],
  ])("refuses %s, naming the line", (_name, text, message) => {
    expect(() => parseResultsTsv(text, "r.tsv")).toThrow(message);
  });
});
