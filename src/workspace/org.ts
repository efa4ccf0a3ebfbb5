/**
 * Loading a research org from the command line: `--org orgs/NAME` (a directory holding
 * program.md) or `--org path/to/program.md`. The org's name is its directory's name, or
 * "default" for the top-level program.md.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { LabError } from "../lab/errors.ts";
import { checkRefComponent } from "../lab/names.ts";
import { CodedError } from "../util/errors.ts";

export class OrgError extends CodedError<"ORG_INVALID"> {
  constructor(message: string) {
    super("ORG_INVALID", message);
  }
}

export interface OrgSource {
  name: string;
  path: string;
  programMd: string;
}

export function loadOrg(given: string): OrgSource {
  let path = resolve(given);
  if (!existsSync(path)) throw new OrgError(`--org ${given}: no such file or directory; give a program.md or a directory holding one`);
  if (statSync(path).isDirectory()) path = join(path, "program.md");
  if (!existsSync(path)) throw new OrgError(`--org ${given}: the directory has no program.md`);
  const programMd = readFileSync(path, "utf8");
  if (programMd.trim().length === 0) throw new OrgError(`--org ${given}: program.md is empty`);
  const dir = basename(dirname(path));
  const isTopLevel = existsSync(join(dirname(path), "package.json"));
  const name = isTopLevel || basename(path) !== "program.md" ? "default" : dir;
  if (name.length > 64) throw new OrgError(`--org ${given}: the org name '${name}' is longer than 64 characters`);
  try {
    checkRefComponent("org", name); // the name becomes part of git branch names
  } catch (err) {
    if (err instanceof LabError) throw new OrgError(`--org ${given}: ${err.message} (it names the run's git branches)`);
    throw err;
  }
  return { name, path, programMd };
}
