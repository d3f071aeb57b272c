/** Keeps the n largest items seen (by a numeric key), in descending order, in O(n) memory. */
export class TopN<T> {
  readonly #items: T[] = [];
  constructor(
    private readonly limit: number,
    private readonly key: (t: T) => number,
    private readonly tie: (a: T, b: T) => number = () => 0,
  ) {}

  #before(a: T, b: T): boolean {
    const d = this.key(a) - this.key(b);
    return d > 0 || (d === 0 && this.tie(a, b) < 0);
  }

  add(item: T): void {
    const items = this.#items;
    if (this.limit <= 0) return;
    if (items.length === this.limit && !this.#before(item, items[items.length - 1]!)) return;
    // binary search for the insertion point
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#before(item, items[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    items.splice(lo, 0, item);
    if (items.length > this.limit) items.pop();
  }

  values(): T[] {
    return [...this.#items];
  }
}

export const byPath = <T extends { path: string }>(left: T, right: T): number => (left.path < right.path ? -1 : left.path > right.path ? 1 : 0);
