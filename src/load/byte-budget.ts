/**
 * Bounds the bytes held by in-flight segment writes (the Azure SDK's BufferScheduler idea):
 * a writer acquires before reading a segment and releases once the segment is stored, so
 * memory stays bounded whatever the file sizes and the request concurrency.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(readonly limitBytes: number) {}

  async acquire(n: number): Promise<void> {
    if (this.used === 0 || (this.waiters.length === 0 && this.used + n <= this.limitBytes)) {
      this.used += n;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Take n bytes only if that needs no waiting (for callers already holding some: no hold-and-wait). */
  tryAcquire(n: number): boolean {
    if (this.waiters.length > 0 || (this.used !== 0 && this.used + n > this.limitBytes)) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    this.used -= n;
    while (this.waiters.length > 0) {
      const next = this.waiters[0]!;
      if (this.used !== 0 && this.used + next.n > this.limitBytes) break;
      this.waiters.shift();
      this.used += next.n;
      next.resolve();
    }
  }
}
