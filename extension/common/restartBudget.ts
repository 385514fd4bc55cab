// How often a crashed server may be restarted: at most `maxRestarts` within `windowMs`.
// No `vscode` import: unit-testable.

export class RestartBudget {
  private restarts: number[] = [];

  constructor(
    readonly maxRestarts = 5,
    readonly windowMs = 3 * 60 * 1000,
  ) {}

  /** Records a restart at `now` and tells whether it is allowed. */
  tryRestart(now: number): boolean {
    this.restarts = this.restarts.filter((time) => now - time < this.windowMs);
    if (this.restarts.length >= this.maxRestarts) {
      return false;
    }
    this.restarts.push(now);
    return true;
  }

  reset(): void {
    this.restarts = [];
  }
}
