/** Where nightshift keeps prepared data: $NIGHTSHIFT_HOME, default ~/.cache/nightshift. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export function nightshiftHome(): string {
  const env = process.env.NIGHTSHIFT_HOME;
  return env ? resolve(env) : join(homedir(), ".cache", "nightshift");
}

/** The directory of prepared datasets. */
export function datasetsDir(home = nightshiftHome()): string {
  return join(home, "datasets");
}
