/** `nightshift prepare`: data and tokenizer, once, into $NIGHTSHIFT_HOME. */
import type { CommandModule } from "yargs";
import { prepare } from "../harness/data/prepare.ts";
import { resolveProfile, withProfile } from "./common.ts";

interface PrepareArgs {
  data?: string[];
  profile?: string;
  "vocab-size"?: number;
  verify: boolean;
  force: boolean;
  "max-docs"?: number;
  json: boolean;
}

export const prepareCommand: CommandModule<object, PrepareArgs> = {
  command: "prepare",
  describe: "Prepare the training data and tokenizer (embedded corpus by default; a no-op when already done)",
  builder: (y) =>
    withProfile(y)
      .option("data", {
        type: "string",
        array: true,
        describe: "your own .txt / .jsonl (text field) / .parquet (text column) files or directories",
      })
      .option("vocab-size", { type: "number", describe: "tokenizer vocabulary, specials included (default: the profile's)" })
      .option("verify", { type: "boolean", default: false, describe: "check every cached file's SHA-256 before reusing it" })
      .option("force", { type: "boolean", default: false, describe: "rebuild even if a valid dataset exists" })
      .option("max-docs", { type: "number", describe: "use at most this many documents per source (quick trials)" })
      .option("json", { type: "boolean", default: false, describe: "print the result as JSON" })
      .example("$0 prepare", "the embedded corpus, for this machine's profile")
      .example("$0 prepare --data ./my-texts --data notes.jsonl", "your own data") as never,
  handler: async (argv) => {
    const result = await prepare({
      profile: resolveProfile(argv.profile),
      ...(argv.data ? { data: argv.data } : {}),
      ...(argv["vocab-size"] !== undefined ? { vocabSize: argv["vocab-size"] } : {}),
      ...(argv["max-docs"] !== undefined ? { maxDocs: argv["max-docs"] } : {}),
      verify: argv.verify,
      force: argv.force,
      quiet: argv.json,
    });
    if (argv.json) console.log(JSON.stringify({ dir: result.dir, reused: result.reused, warnings: result.warnings, manifest: result.manifest }));
  },
};
