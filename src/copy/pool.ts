/**
 * Tasks in flight, at most `limit` at once; a task may push more. The limit may change while it
 * runs (the copy's adaptive concurrency).
 *
 * Tasks come in groups (the copy: the directory an entry is created in), at most `perGroup` of
 * a group in flight. A kernel serializes the creates in one directory (the VFS holds the
 * directory's lock across the lookup and the create, a round trip each over NFS or FUSE), so
 * many files in flight in one directory wait on each other: spread over directories they do
 * not. Groups are served newest first, so the walk stays depth first and the queue holds the
 * children of the directories being copied rather than the whole tree's.
 */
interface Group<T> {
  key: string;
  tasks: T[];
  running: number;
  ready: boolean;
}

export class TaskPool<T> {
  private readonly groups = new Map<string, Group<T>>();
  /** groups with tasks and room to run one, newest last */
  private readonly ready: Array<Group<T>> = [];
  private running = 0;
  private queuedCount = 0;
  private stopped = false;
  private idle: Array<() => void> = [];
  completed = 0;

  constructor(
    private readonly runTask: (task: T) => Promise<void>,
    private limit: number,
    private readonly onError: (err: unknown, task: T) => void,
    private readonly groupOf: (task: T) => string = () => '',
    private readonly perGroup = Number.MAX_SAFE_INTEGER,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.queuedCount;
  }

  get currentLimit(): number {
    return this.limit;
  }

  push(task: T): void {
    if (this.stopped) return;
    const key = this.groupOf(task);
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { key, tasks: [], running: 0, ready: false };
      this.groups.set(key, g);
    }
    g.tasks.push(task);
    this.queuedCount += 1;
    this.makeReady(g);
    this.pump();
  }

  setLimit(n: number): void {
    this.limit = Math.max(1, Math.round(n));
    this.pump();
  }

  /** Drop what is queued; the tasks in flight finish. */
  stop(): void {
    this.stopped = true;
    for (const g of this.groups.values()) g.tasks.length = 0;
    this.queuedCount = 0;
    this.ready.length = 0;
    this.check();
  }

  /** Resolves when nothing is queued or running. */
  drained(): Promise<void> {
    if (this.running === 0 && this.queuedCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private makeReady(g: Group<T>): void {
    if (!g.ready && g.tasks.length > 0 && g.running < this.perGroup) {
      g.ready = true;
      this.ready.push(g);
    }
  }

  private pump(): void {
    while (this.running < this.limit && this.ready.length > 0) {
      const g = this.ready[this.ready.length - 1]!;
      if (g.tasks.length === 0 || g.running >= this.perGroup) {
        this.ready.pop();
        g.ready = false;
        if (g.tasks.length === 0 && g.running === 0) this.groups.delete(g.key);
        continue;
      }
      const task = g.tasks.pop()!;
      this.queuedCount -= 1;
      g.running += 1;
      this.running += 1;
      this.runTask(task)
        .catch((err: unknown) => this.onError(err, task))
        .finally(() => {
          this.running -= 1;
          g.running -= 1;
          this.completed += 1;
          if (g.tasks.length === 0 && g.running === 0 && !g.ready) this.groups.delete(g.key);
          else this.makeReady(g);
          this.pump();
          this.check();
        });
    }
  }

  private check(): void {
    if (this.running === 0 && this.queuedCount === 0) {
      const waiting = this.idle;
      this.idle = [];
      for (const w of waiting) w();
    }
  }
}

/**
 * Concurrency that adapts to the work done per window: climb while a higher limit does at least
 * about as well as the best seen, settle at the best when one does clearly worse, and probe one
 * step up again after a hold that doubles each time a probe fails. Too many tasks in flight slow
 * a copy down over a network mount as surely as too few.
 *
 * Only a clear loss (more than `tolerance`) sends the limit back, and only to the best level
 * measured: on a busy machine one window's rate moves by 10% or more on its own, and the hill
 * climbing this replaces turned round on every such dip and then kept going the wrong way while
 * the rate recovered (it settled near 28 where 64 ran 25% faster). The first climb doubles (the
 * start of a run is where most of a short copy's time goes), later probes go up by half.
 */
export class AdaptiveLimit {
  private timer: NodeJS.Timeout | undefined;
  private bestLimit = 0;
  private bestRate = 0;
  private holding = false;
  private holdLeft = 0;
  private hold: number;
  private climbing = true;

  constructor(
    private readonly pool: { setLimit(n: number): void; currentLimit: number },
    private readonly work: () => number,
    private readonly min: number,
    private readonly max: number,
    intervalMs = 500,
    private readonly tolerance = 0.12,
    private readonly minHold = 4,
    private readonly maxHold = 64,
  ) {
    this.hold = minHold;
    if (intervalMs <= 0) return;
    let before = work();
    this.timer = setInterval(() => {
      const now = work();
      this.step(now - before);
      before = now;
    }, intervalMs);
    this.timer.unref();
  }

  /** One window's work at the current limit (the timer calls it; tests call it directly). */
  step(rate: number): void {
    if (rate <= 0) return;
    const cur = this.pool.currentLimit;
    if (this.holding) {
      // the best level's rate follows the run (a tree's parts differ): a moving mean
      if (cur === this.bestLimit) this.bestRate = 0.5 * this.bestRate + 0.5 * rate;
      this.holdLeft -= 1;
      if (this.holdLeft <= 0 && cur < this.max) {
        this.holding = false;
        this.set(Math.ceil(cur * 1.5));
      }
      return;
    }
    if (rate >= this.bestRate * (1 - this.tolerance)) {
      // as good as the best within the noise: this level is the one to keep, and the next is tried
      this.bestLimit = cur;
      this.bestRate = Math.max(rate, this.bestRate * (1 - this.tolerance / 2));
      if (cur < this.max) {
        this.set(this.climbing ? cur * 2 : Math.ceil(cur * 1.5));
        return;
      }
      this.settle(false);
      return;
    }
    // clearly worse: back to the best, and wait longer before the next probe
    this.set(this.bestLimit);
    this.settle(true);
  }

  private settle(failed: boolean): void {
    this.climbing = false;
    this.holding = true;
    this.hold = failed ? Math.min(this.maxHold, this.hold * 2) : this.hold;
    this.holdLeft = this.hold;
  }

  private set(n: number): void {
    this.pool.setLimit(Math.min(this.max, Math.max(this.min, n)));
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}

/**
 * Whether a kind of source call is cheap enough to make synchronously on the main thread.
 *
 * Each asynchronous file call is a hand-off to libuv's thread pool and back (a queue lock, a
 * thread woken, its answer posted to the event loop): in the copy's CPU profile that hand-off is
 * the main thread's largest cost per small file, larger than the call itself when the source is
 * a local disk (an lstat, open or close there takes a few µs, warm or cold). So those calls are
 * made synchronously while they stay cheap, and go to the pool for a pause as soon as they are
 * not: a call longer than `blockUs` (the source waited for a disk or a network), the first call
 * after a pause longer than `limitUs`, or most of a window of `window` calls longer than
 * `limitUs` (most, not the mean: a call the scheduler preempted on a busy machine is slow once,
 * a source that blocks is slow every time). A pause that follows the one before it without a
 * good window between doubles, up to `maxPauseMs`. Being wrong towards the pool costs some CPU
 * for a pause; towards the main thread it stalls the copy, hence the asymmetry. The clock is
 * injected so tests need no timing.
 */
export class SyncGate {
  private seen = 0;
  private slow = 0;
  private until = -Infinity;
  private pause: number;
  /** no good window since the last pause */
  private resumed = false;
  /** the next call is the first after a pause */
  private probing = false;

  constructor(
    private readonly limitUs = 40,
    private readonly window = 16,
    private readonly minPauseMs = 500,
    private readonly maxPauseMs = 8000,
    private readonly now: () => number = () => performance.now(),
    private readonly blockUs = 1000,
  ) {
    this.pause = minPauseMs;
  }

  /** Whether the next call is made synchronously. */
  get sync(): boolean {
    return this.until === -Infinity || this.now() >= this.until;
  }

  /** Runs `fn` (a synchronous call) and learns from its time, less `allowUs` its size accounts for. */
  time<T>(fn: () => T, allowUs = 0): T {
    const t0 = this.now();
    try {
      return fn();
    } finally {
      this.learn((this.now() - t0) * 1000 - allowUs);
    }
  }

  /** One synchronous call took `us` microseconds. */
  learn(us: number): void {
    const slow = us > this.limitUs;
    const first = this.probing;
    this.probing = false;
    if (us > this.blockUs || (first && slow)) return this.pauseNow();
    this.seen += 1;
    if (slow) this.slow += 1;
    if (2 * this.slow > this.window) return this.pauseNow();
    if (this.seen >= this.window) {
      this.resumed = false;
      this.seen = 0;
      this.slow = 0;
    }
  }

  private pauseNow(): void {
    this.pause = this.resumed ? Math.min(this.maxPauseMs, 2 * this.pause) : this.minPauseMs;
    this.until = this.now() + this.pause;
    this.resumed = true;
    this.probing = true;
    this.seen = 0;
    this.slow = 0;
  }
}
