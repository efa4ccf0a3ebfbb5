/**
 * Types for the npm package nlp-corpus (it ships none): the embedded default corpus of short
 * English texts that embedded.ts reads. Declares only what nightshift uses.
 */
declare module "nlp-corpus" {
  const corpus: {
    /** Every text of the corpus (100,000 in version 4.4). */
    all(): string[];
    /** The first `max` texts. */
    some(max?: number): string[];
  };
  export default corpus;
}
