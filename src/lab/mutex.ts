/**
 * Per-key serialization inside one process: two calls on the same worktree (a late discard and
 * a recover, say) must not interleave their git commands, while two slots run in parallel.
 * It does not guard against other processes; a lab has one owner process at a time.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs fn once every earlier call on `key` has settled; calls on other keys run alongside. */
  async with<R>(key: string, fn: () => Promise<R>): Promise<R> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      // Forget the key once nobody queued behind us, so the map does not grow per call.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
