// One status bar item for deep-think runs: a spinner and the agents' progress while runs are
// going (a click cancels them), then how the last one ended, until the next run begins.
import { Disposable, StatusBarAlignment, StatusBarItem, window } from 'vscode';
import { statusText } from './statusText';

const END_SHOWN_MS = 15_000; // how long the item tells how the last run ended

export const CANCEL_COMMAND_ID = 'deepthink.cancelRuns';
export const SHOW_RESULT_COMMAND_ID = 'deepthink.showResult';

export class RunStatusBar implements Disposable {
    private readonly item: StatusBarItem;
    /** The latest message of each running job, by progress token, in the order they began. */
    private readonly running = new Map<string | number, string>();
    private hideTimer: NodeJS.Timeout | undefined;

    constructor() {
        this.item = window.createStatusBarItem('deepthink.runs', StatusBarAlignment.Left, 50);
        this.item.name = 'Deep think';
    }

    begin(token: string | number, title: string): void {
        // A new run replaces whatever the item said about the previous one.
        clearTimeout(this.hideTimer);
        this.running.set(token, title);
        this.showRunning();
    }

    report(token: string | number, message: string | undefined): void {
        if (this.running.has(token) && message) {
            this.running.set(token, message);
            this.showRunning();
        }
    }

    end(token: string | number, message: string | undefined): void {
        if (!this.running.delete(token)) {
            return;
        }
        if (this.running.size > 0) {
            this.showRunning();
            return;
        }
        const ended = statusText.ended(message);
        this.item.text = ended.text;
        this.item.tooltip = ended.tooltip;
        this.item.command = ended.canOpen ? SHOW_RESULT_COMMAND_ID : undefined;
        this.item.show();
        this.hideTimer = setTimeout(() => this.item.hide(), END_SHOWN_MS);
    }

    private showRunning(): void {
        const running = statusText.running([...this.running.values()]);
        this.item.text = running.text;
        this.item.tooltip = running.tooltip;
        this.item.command = CANCEL_COMMAND_ID;
        this.item.show();
    }

    dispose(): void {
        clearTimeout(this.hideTimer);
        this.item.dispose();
    }
}
