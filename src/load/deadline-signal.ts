/**
 * A signal that aborts when any of `signals` does or when `ms` have passed, whichever comes
 * first; clear() stops its timer once the work it bounds has settled.
 *
 * Not AbortSignal.any([...signals, AbortSignal.timeout(ms)]): on Node 20 the composite holds the
 * timeout signal only weakly, a garbage collection takes it, and its timer is cleared with it,
 * so the composite never aborts (nodejs/node#57736). An encode worker's puts to a service that
 * had stopped answering then waited forever instead of going back to the main thread after the
 * deadline; test/load/deadline-signal.test.ts forces the collection. Here the controller is held
 * by the timer's closure until the timer fires or is cleared.
 */
export function deadlineSignal(signals: readonly AbortSignal[], ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
  return {
    signal: AbortSignal.any([...signals, controller.signal]),
    clear: () => clearTimeout(timer),
  };
}
