/**
 * What the meta-agent reads. The system text of a breeding is the tournament's current meta
 * prompt (data in the store, DEFAULT_META_PROMPT at first, rewritten now and then by a
 * hyper-mutation under HYPER_MUTATION_PROMPT); the user text carries the facts: the parent's
 * program.md, its night (results.tsv: kept, discarded, crashed), the night's leaderboard, and
 * the rules a child must obey. Long parts are cut so that one breeding stays a few k tokens.
 *
 * A child's program.md is at most MAX_PROGRAM_MD_CHARS characters: every research prompt of
 * its runs carries it whole (it is never cut, see ../llm/prompt.ts), so an org that grew its
 * instructions generation by generation would make every proposal dearer. The rules below say
 * so; the tournament refuses a longer answer with its length and asks again.
 */

export const DEFAULT_META_PROMPT = `You breed research organizations. An org is a program.md: the instructions an autonomous
research agent follows all night to lower val_bpb of a small GPT's training recipe (train.ts),
plus a \`nightshift-strategy\` JSON block that steers the offline builtin agent (which knobs of
train.ts it searches, their ranges, step size, exploration rate, how many knobs per experiment).

You are given a parent org that did well, the log of its last night (what it kept, discarded
and crashed) and the night's leaderboard. Write its child: a program.md that should make faster
verified progress per device-hour than the parent. Learn from the log: move the search toward
what was kept, away from what was discarded or crashed; borrow from orgs that ranked higher.
Change the strategy block as well as the prose (the builtin agent reads only the block): shift
knob ranges toward promising values, add or drop knobs, adjust step size and exploration.
Keep the house rules (what may and may not be edited, the keep rule, the goal) as they are.
Make one coherent change of direction, not many random ones.`;

export const HYPER_MUTATION_PROMPT = `You improve the instructions given to a meta-agent that breeds research organizations
(program.md files that steer an autonomous ML research agent). You are given the current
instructions and the leaderboard of the night just finished. Rewrite the instructions so that
the orgs they breed make faster verified progress: sharper guidance on reading a night's log,
on which strategy changes pay off, on how bold a child should be. Keep them self-contained and
under 4000 characters; they must still ask for a complete program.md with a
\`nightshift-strategy\` block.`;

export interface LeaderboardRow {
  rank: number;
  org: string;
  verdict: string | null;
  claimedGain: number;
  verifiedGain: number;
  experiments: number;
  score: number;
}

export interface BreedingFacts {
  parentName: string;
  parentProgramMd: string;
  night: number;
  /** The parent's run of the night as results.tsv ("" when it ran nothing). */
  resultsTsv: string;
  leaderboard: LeaderboardRow[];
  /** Names of the constants train.ts defines that a knob may name (the champion's recipe). */
  knobNames: string[];
}

const MAX_TSV_CHARS = 6_000;

/** The longest program.md a meta-agent may submit (characters, before the lineage line is added). */
export const MAX_PROGRAM_MD_CHARS = 12_000;

/** Why a submitted program.md is too long, as the refusal the meta-agent reads; undefined if it fits. */
export function programMdTooLong(text: string): string | undefined {
  const length = text.trimEnd().length;
  if (length <= MAX_PROGRAM_MD_CHARS) return undefined;
  return `it is ${length.toLocaleString("en-US")} characters long, over the cap of ${MAX_PROGRAM_MD_CHARS.toLocaleString("en-US")}: shorten it by at least ${(length - MAX_PROGRAM_MD_CHARS).toLocaleString("en-US")} characters (cut repetition, examples and commentary; keep the house rules and the nightshift-strategy block)`;
}

export function leaderboardText(rows: readonly LeaderboardRow[]): string {
  const head = "rank\torg\tverdict\tclaimed_gain\tverified_gain\texperiments\tscore_per_hour";
  return [head, ...rows.map((r) => [r.rank, r.org, r.verdict ?? "no claim", r.claimedGain.toFixed(5), r.verifiedGain.toFixed(5), r.experiments, r.score.toFixed(5)].join("\t"))].join("\n");
}

export function breedingMessage(f: BreedingFacts, refused: readonly string[]): string {
  let tsv = f.resultsTsv.trim() || "(no experiments)";
  if (tsv.length > MAX_TSV_CHARS) tsv = `${tsv.slice(0, 400)}\n… (${tsv.length - MAX_TSV_CHARS} characters of older rows cut) …\n${tsv.slice(-(MAX_TSV_CHARS - 400))}`;
  const parts = [
    `## The parent: \`${f.parentName}\`\n\n<program.md>\n${f.parentProgramMd}\n</program.md>`,
    `## Its night ${f.night} (results.tsv; status keep / discard / crash / skipped)\n\n${tsv}`,
    `## The leaderboard of night ${f.night}\n\n${leaderboardText(f.leaderboard)}`,
    `## Rules for the child\n\n- Submit the complete program.md with submit_program, and a one-line note saying what you changed and why.\n- It must keep one \`\`\`nightshift-strategy block of valid JSON whose knobs name constants of train.ts: ${f.knobNames.join(", ") || "(see the parent's block)"}.\n- Its strategy must differ from the parent's and from every existing org's: a child with the same normalized strategy block is refused as a near-duplicate.\n- At most ${MAX_PROGRAM_MD_CHARS.toLocaleString("en-US")} characters in all (the parent's has ${f.parentProgramMd.trimEnd().length.toLocaleString("en-US")}); a longer one is refused. Every research prompt carries it whole, so say what matters, briefly.`,
  ];
  if (refused.length > 0) parts.push(`## Your earlier answers were refused\n\n${refused.map((r, i) => `${i + 1}. ${r}`).join("\n")}\n\nFix that in this answer.`);
  return parts.join("\n\n");
}

export function hyperMutationMessage(currentPrompt: string, night: number, leaderboard: readonly LeaderboardRow[]): string {
  return `## The current meta prompt\n\n<prompt>\n${currentPrompt}\n</prompt>\n\n## The leaderboard of night ${night}\n\n${leaderboardText(leaderboard)}\n\nSubmit the rewritten meta prompt with submit_prompt.`;
}
