// The server reports absolute percentages; vscode.Progress wants increments.
// No `vscode` import: unit-testable.

export class PercentageTracker {
  private reported = 0;

  /** The increment that brings the progress bar from what was reported so far to `percentage`. */
  advance(percentage: number | undefined): number {
    if (percentage === undefined || !Number.isFinite(percentage)) {
      return 0;
    }
    const target = Math.min(100, Math.max(0, percentage));
    const increment = Math.max(0, target - this.reported);
    this.reported += increment;
    return increment;
  }
}
