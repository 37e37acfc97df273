/**
 * Tasks in flight, at most `limit` at once; a task may push more. The limit may change while it
 * runs (the copy's adaptive concurrency). Last in, first out: the walk goes depth first, so the
 * queue holds one directory's children at a time rather than the whole tree's.
 */
export class TaskPool<T> {
  private readonly queue: T[] = [];
  private running = 0;
  private stopped = false;
  private idle: Array<() => void> = [];
  completed = 0;

  constructor(
    private readonly runTask: (task: T) => Promise<void>,
    private limit: number,
    private readonly onError: (err: unknown, task: T) => void,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.queue.length;
  }

  get currentLimit(): number {
    return this.limit;
  }

  push(task: T): void {
    if (this.stopped) return;
    this.queue.push(task);
    this.pump();
  }

  setLimit(n: number): void {
    this.limit = Math.max(1, Math.round(n));
    this.pump();
  }

  /** Drop what is queued; the tasks in flight finish. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.check();
  }

  /** Resolves when nothing is queued or running. */
  drained(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < this.limit && this.queue.length > 0) {
      const task = this.queue.pop()!;
      this.running += 1;
      this.runTask(task)
        .catch((err: unknown) => this.onError(err, task))
        .finally(() => {
          this.running -= 1;
          this.completed += 1;
          this.pump();
          this.check();
        });
    }
  }

  private check(): void {
    if (this.running === 0 && this.queue.length === 0) {
      const waiting = this.idle;
      this.idle = [];
      for (const w of waiting) w();
    }
  }
}

/**
 * Hill climbing on work done per second: grow the limit while that rises, back off when it
 * falls. Too many threads slow a copy down over a network mount as surely as too few.
 */
export class AdaptiveLimit {
  private last = 0;
  private direction = 1;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly pool: { setLimit(n: number): void; currentLimit: number },
    private readonly work: () => number,
    private readonly min: number,
    private readonly max: number,
    intervalMs = 500,
  ) {
    let before = work();
    this.timer = setInterval(() => {
      const now = work();
      const rate = now - before;
      before = now;
      if (rate === 0) return;
      if (rate < this.last * 0.95) this.direction = -this.direction;
      this.last = rate;
      const cur = this.pool.currentLimit;
      const next = this.direction > 0 ? Math.ceil(cur * 1.5) : Math.floor(cur / 1.5);
      this.pool.setLimit(Math.min(this.max, Math.max(this.min, next)));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
