/**
 * Sizes the chunks of a resumable job from the time the last chunk took: each chunk aims at `targetMs` (or a third of
 * the time left, when that is less), grows at most twofold per step, and stays within [min, max]. Short chunks keep a
 * killed run's lost work small and the single-flight lease fresh; long ones cut round trips.
 */
export interface ChunkSizeOptions {
  initial: number;
  min: number;
  max: number;
  targetMs: number;
}

export class ChunkSizer {
  private readonly options: ChunkSizeOptions;
  private current: number;
  private msPerItem: number | undefined;

  constructor(options: ChunkSizeOptions) {
    this.options = options;
    this.current = clamp(options.initial, options.min, options.max);
  }

  /** The size the next chunk should have. */
  get size(): number {
    return this.current;
  }

  /** Records the last chunk (`items` done in `ms`) and resizes the next one for the time left. */
  record(items: number, ms: number, timeLeftMs: number): void {
    if (items <= 0) return;
    this.msPerItem = Math.max(ms, 1) / items;
    const target = Math.min(this.options.targetMs, timeLeftMs / 3);
    const ideal = Math.floor(target / this.msPerItem);
    this.current = clamp(Math.min(ideal, this.current * 2), this.options.min, this.options.max);
  }

  /** How long a chunk of `items` is expected to take (0 before the first measurement). */
  estimateMs(items: number): number {
    return this.msPerItem === undefined ? 0 : this.msPerItem * items;
  }
}

function clamp(n: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.floor(n)));
}
